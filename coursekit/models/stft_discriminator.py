"""A multi-scale STFT discriminator (EnCodec, Defossez et al. 2022) for the codec's optional
adversarial loss.

Each scale reads the (real, imaginary) STFT of the audio through a few 2-D convolutions and
gives a map of real/fake logits and its intermediate features. The discriminator learns with a
hinge loss (:func:`discriminator_loss`); the codec's decoder learns to fool it and to match its
features on real audio (:func:`generator_loss`), which makes the decoded sound sharper than the
spectral losses alone. Training alternates the two (:func:`coursekit.recipes.codec.train_codec`
with ``adversarial=True``): the discriminator's step first, then the decoder's.

Example
-------
>>> import torch
>>> disc = STFTDiscriminator(scales=(256, 128), channels=4)
>>> x, x_hat = torch.randn(2, 1, 3200), torch.randn(2, 1, 3200)
>>> [tuple(logits.shape) for logits, _ in disc(x)]         # [B, 1, frames, F / 4]
[(2, 1, 51, 33), (2, 1, 101, 17)]
>>> bool(discriminator_loss(disc, x_hat, x) > 0), bool(generator_loss(disc, x_hat, x) > 0)
(True, True)
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .codec import stft


class STFTDiscriminator(nn.Module):
    """One small 2-D conv stack a STFT size: x [B, 1, N] -> a list of (logits, [features])."""

    def __init__(self, scales=(1024, 512, 256), channels: int = 16):
        super().__init__()
        self.scales = scales
        c = channels
        self.nets = nn.ModuleList(nn.ModuleList([   # (real, imag) -> c -> c (F / 2) -> c (F / 4) -> c -> 1
            nn.Conv2d(2, c, (3, 9), padding=(1, 4)), nn.Conv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4)),
            nn.Conv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4)), nn.Conv2d(c, c, 3, padding=1),
            nn.Conv2d(c, 1, 3, padding=1)]) for _ in scales)

    def forward(self, x: torch.Tensor):
        """x [B, 1, N] -> list over scales of (logits, [features])."""
        x = x.reshape(-1, x.shape[-1])
        outs = []
        for n_fft, convs in zip(self.scales, self.nets):
            with torch.autocast(x.device.type, enabled=False):           # the FFT in float32
                S = stft(x.float(), n_fft)                                  # [B, F, frames]
                h = torch.stack([S.real, S.imag], dim=1).transpose(2, 3)  # [B, 2, frames, F]
            feats = []
            for conv in convs[:-1]:
                h = F.leaky_relu(conv(h), 0.2)
                feats.append(h)
            outs.append((convs[-1](h), feats))
        return outs


def discriminator_loss(disc: STFTDiscriminator, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator: real ``x`` above +1, decoded ``x_hat`` (detached) below -1."""
    return sum(F.relu(1 - lr).mean() + F.relu(1 + lf).mean()
               for (lr, _), (lf, _) in zip(disc(x), disc(x_hat.detach()))) / len(disc.scales)


def generator_loss(disc: STFTDiscriminator, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The decoder's adversarial hinge loss + 2 x feature matching (L1 between the discriminator's
    features of ``x_hat`` and of ``x``, relative to the latter's mean magnitude)."""
    with torch.no_grad():
        real = disc(x)
    fake = disc(x_hat)
    adv = sum(F.relu(1 - lf).mean() for lf, _ in fake) / len(fake)
    fm = sum(sum((ff - fr).abs().mean() / (fr.abs().mean() + 1e-5) for ff, fr in zip(feat_f, feat_r))
             / len(feat_r) for (_, feat_f), (_, feat_r) in zip(fake, real)) / len(fake)
    return adv + 2 * fm
