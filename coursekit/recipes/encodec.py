"""EnCodec (Defossez et al. 2022) behind the course codec's interface.

The ``encodec`` package's 24 kHz model: 75 frames a second, codebooks of 1024 entries
(10 bits), up to 32 quantizers (1.5 to 24 kbps). :class:`EncodecCodec` gives it the methods of
:class:`coursekit.models.codec.NeuralCodec` (``encode``/``decode``, ``encode_latent``/
``decode_latent``, ``frame_rate``, ``codebook_size``, ``bitrate(n_q)``, ``reconstruct``) so a
notebook or a tokenizer can swap one for the other. Audio at another sample rate is resampled
to EnCodec's 24 kHz (:func:`coursekit.recipes.codec.prepare_audio`).

The pretrained weights come from Meta's servers (about 90 MB, cached by torch.hub). Offline,
:func:`load_encodec` prints one line saying so and returns ``None``; the chapter then uses the
course's own codec. ``EncodecCodec(pretrained=False)`` builds the same network with random
weights, without any download (that is how the tests exercise this code).

Example
-------
>>> from coursekit.recipes.encodec import EncodecCodec
>>> codec = EncodecCodec(pretrained=False)       # random weights, no download
>>> codec.frame_rate, codec.codebook_size, codec.bitrate(8)
(75.0, 1024, 6000.0)
"""

from __future__ import annotations

import math
import socket
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..models.rvq import check_codes
from .codec import prepare_audio, reconstruct

CHECKPOINT_NAME = "encodec_24khz-d7cc33bc.th"
HOST = "dl.fbaipublicfiles.com"


def cached_weights() -> Path:
    """Where torch.hub keeps EnCodec's 24 kHz weights once downloaded."""
    return Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINT_NAME


def weights_available(timeout: float = 2.0) -> tuple[bool, str]:
    """``(True, how)`` when the pretrained weights are cached or their server answers."""
    if cached_weights().exists():
        return True, f"cached in {cached_weights()}"
    try:
        with socket.create_connection((HOST, 443), timeout=timeout):
            return True, f"downloadable from {HOST}"
    except OSError:
        return False, f"not cached in {cached_weights().parent} and {HOST} cannot be reached (offline)"


class EncodecCodec(nn.Module):
    """EnCodec 24 kHz with the course codec's interface.

    Parameters
    ----------
    pretrained : bool
        Load Meta's weights (downloaded once, then cached); ``False`` keeps random weights.
    """

    def __init__(self, pretrained: bool = True):
        super().__init__()
        from encodec import EncodecModel

        self.model = EncodecModel.encodec_model_24khz(pretrained=pretrained).eval()
        self.pretrained = pretrained

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)                      # 24000

    @property
    def frame_rate(self) -> float:
        return float(self.model.frame_rate)                     # 75

    @property
    def hop(self) -> int:
        return int(np.prod(self.model.encoder.ratios))          # 320

    @property
    def codebook_size(self) -> int:
        return int(self.model.quantizer.bins)                   # 1024

    @property
    def n_q(self) -> int:
        return int(self.model.quantizer.n_q)                    # 32

    @property
    def latent_dim(self) -> int:
        return int(self.model.quantizer.dimension)              # 128

    def bitrate(self, n_q: int | None = None) -> float:
        n_q = self.n_q if n_q is None else n_q
        return self.frame_rate * n_q * math.log2(self.codebook_size)

    def bitrates(self) -> dict[int, float]:
        """The bitrates EnCodec was trained for: 2, 4, 8, 16, 32 quantizers (1.5 to 24 kbps)."""
        return {n: self.bitrate(n) for n in (2, 4, 8, 16, 32)}

    def _check_n_q(self, n_q):
        n_q = 8 if n_q is None else int(n_q)                    # 6 kbps, EnCodec's usual setting
        if not 1 <= n_q <= self.n_q:
            raise ValueError(f"n_q={n_q}: EnCodec has 1 to {self.n_q} quantizers")
        return n_q

    def _device(self):
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, audio, sr: int | None = None, n_q: int | None = None) -> torch.Tensor:
        """audio -> codes [B, n_q, T] at 75 frames/s (default n_q=8, 6 kbps)."""
        n_q = self._check_n_q(n_q)
        x = prepare_audio(audio, sr, self.sample_rate).to(self._device())
        emb = self.model.encoder(x)                             # [B, 128, T]
        return self.model.quantizer.vq.encode(emb, n_q=n_q).transpose(0, 1)   # [B, n_q, T]

    @torch.no_grad()
    def decode(self, codes) -> torch.Tensor:
        """codes [B, n_q, T] -> audio [B, 1, T * 320] at 24 kHz."""
        codes = check_codes(codes, self.n_q, self.codebook_size).to(self._device())
        emb = self.model.quantizer.vq.decode(codes.transpose(0, 1))
        return self.model.decoder(emb)

    @torch.no_grad()
    def encode_latent(self, audio, sr: int | None = None) -> torch.Tensor:
        x = prepare_audio(audio, sr, self.sample_rate).to(self._device())
        return self.model.encoder(x)                            # [B, 128, T]

    @torch.no_grad()
    def decode_latent(self, latents, n_q: int | None = None) -> torch.Tensor:
        z = torch.as_tensor(latents).float().to(self._device())
        if z.ndim != 3 or z.shape[1] != self.latent_dim:
            raise ValueError(f"latents: expected [B, {self.latent_dim}, T], got {tuple(z.shape)}")
        if n_q is not None:
            codes = self.model.quantizer.vq.encode(z, n_q=self._check_n_q(n_q))
            z = self.model.quantizer.vq.decode(codes)
        return self.model.decoder(z)

    def reconstruct(self, y, sr: int | None = None, n_q: int | None = None) -> np.ndarray:
        return reconstruct(self, y, sr=sr, n_q=n_q)


def load_encodec(verbose: bool = True) -> EncodecCodec | None:
    """The pretrained EnCodec when its weights can be had, else ``None`` (with one line saying why).

    Example
    -------
    >>> encodec = load_encodec()          # doctest: +SKIP
    EnCodec is not available: ... (offline); using the course codec instead.
    """
    ok, how = weights_available()
    if ok:
        try:
            return EncodecCodec(pretrained=True)
        except Exception as err:  # download interrupted, checksum mismatch, ...
            how = f"loading failed ({type(err).__name__}: {err})"
    if verbose:
        print(f"EnCodec's pretrained weights are not available: {how}; using the course codec instead.")
    return None
