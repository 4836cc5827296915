"""Evaluation: Frechet distance, embeddings, the note classifier, the listening test."""
