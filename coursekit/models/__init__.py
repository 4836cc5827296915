"""One file a model family; each reads top to bottom."""
