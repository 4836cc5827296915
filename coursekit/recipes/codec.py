"""The codec's recipe (being filled in: the loaders live in the model file until they move here)."""
from ..models.codec import latent_digest, load_codec  # noqa: F401
