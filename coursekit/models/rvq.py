"""Residual vector quantization (SoundStream, Zeghidour et al. 2021), the quantizer of the course codec.

A :class:`VectorQuantizer` replaces each vector of ``D`` numbers by the nearest of its ``K``
codebook entries: ``log2(K)`` bits. :class:`ResidualVQ` stacks ``n_q`` of them, each one
quantizing what the previous ones left over (the residual)::

    z --VQ_1--> q_1,  z - q_1 --VQ_2--> q_2,  ...   z_q = q_1 + q_2 + ... + q_n

VQ-VAE (van den Oord et al. 2017) trains with ``||x - dec(z_q)||^2 + ||sg[z] - e||^2 +
beta ||z - sg[e]||^2`` (sg: stop-gradient). Here the codebooks learn without gradients, in place
of the middle (codebook) term: k-means on the first batch, then exponential moving averages
(EMA) of the vectors each code was given, and a code nobody chooses for a while is restarted on
a vector of the batch. The encoder learns through the straight-through estimator
(``z_q = z + sg[q - z]``: the value is ``q``, ``z``'s gradient passes on unchanged) and the
commitment term, the mean over the quantizers of ``||r_i - sg[q_i]||^2`` (``r_i`` what quantizer
``i`` codes), weighted by the codec's ``commitment`` (beta).

Example
-------
>>> import torch
>>> rvq = ResidualVQ(dim=8, codebook_size=16, n_q=4).train()
>>> z = torch.randn(2, 8, 50)                    # [B, D, T]
>>> z_q, codes, commit = rvq(z)                  # the first training pass runs k-means
>>> tuple(z_q.shape), tuple(codes.shape)         # codes [B, n_q, T]
((2, 8, 50), (2, 4, 50))
>>> tuple(rvq.decode(codes[:, :2]).shape)        # any number of codebooks decodes
(2, 8, 50)
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def kmeans(x: torch.Tensor, k: int, iters: int = 10, seed: int = 0) -> torch.Tensor:
    """Plain k-means on vectors ``x`` [N, D]; returns ``k`` centroids [k, D]."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(x.shape[0], generator=g)[:k]
    if idx.numel() < k:  # fewer vectors than codes: repeat some
        idx = idx[torch.randint(0, idx.numel(), (k,), generator=g)]
    centroids = x[idx].clone()
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(dim=1)                  # [N]
        counts = torch.bincount(assign, minlength=k).float()            # [k]
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)      # [k, D]
        moved = counts > 0
        centroids[moved] = sums[moved] / counts[moved, None]
    return centroids


class VectorQuantizer(nn.Module):
    """One codebook of ``K`` vectors of size ``D``, learnt by k-means then exponential moving averages.

    After each training batch every code moves toward the mean of the vectors assigned to it
    (EMA, ``decay``), and a code whose EMA count falls below ``dead_threshold`` is restarted on a
    random vector of the batch.
    """

    def __init__(self, dim: int, size: int, decay: float = 0.99, dead_threshold: float = 0.5):
        super().__init__()
        self.size, self.decay, self.dead_threshold = size, decay, dead_threshold
        self.register_buffer("codebook", torch.zeros(size, dim))         # [K, D]
        self.register_buffer("ema_count", torch.ones(size))              # [K]
        self.register_buffer("ema_sum", torch.zeros(size, dim))          # [K, D]
        self.register_buffer("initialized", torch.tensor(False))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the closest code for each row of ``x`` [N, D] -> [N]."""
        dist = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.codebook.t()
                + self.codebook.pow(2).sum(1)[None])                     # [N, K]
        return dist.argmin(dim=1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Codes ``idx`` [...] -> their vectors [..., D]."""
        return F.embedding(idx, self.codebook)

    @torch.no_grad()
    def update(self, x: torch.Tensor, idx: torch.Tensor) -> None:
        """One EMA step on the vectors ``x`` [N, D] that were assigned codes ``idx`` [N]."""
        if not bool(self.initialized):
            self.codebook.copy_(kmeans(x, self.size))
            self.ema_sum.copy_(self.codebook)
            self.ema_count.fill_(1.0)
            self.initialized.fill_(True)
            return
        onehot = F.one_hot(idx, self.size).type_as(x)                    # [N, K]
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ x, alpha=1 - self.decay)
        # Laplace smoothing keeps counts > 0, so the division below is safe
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + self.size * 1e-5) * n
        self.codebook.copy_(self.ema_sum / count[:, None])
        # dead-code restart: codes that nobody chose for a while jump onto real data
        dead = self.ema_count < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(0, x.shape[0], (n_dead,), device=x.device)
            self.codebook[dead] = x[pick]
            self.ema_sum[dead] = x[pick] * 2 * self.dead_threshold
            self.ema_count[dead] = 2 * self.dead_threshold


def check_codes(codes, n_q_max: int, codebook_size: int) -> torch.Tensor:
    """Return ``codes`` as a long tensor [B, n_q, T], or raise ValueError saying what is wrong."""
    codes = torch.as_tensor(codes)
    codes = codes[None] if codes.ndim == 2 else codes
    if codes.ndim != 3:
        raise ValueError(f"codes: expected shape [B, n_q, T], got {tuple(codes.shape)}")
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise ValueError(f"codes must be integers (got {codes.dtype}); pass what encode() returned")
    if not 1 <= codes.shape[1] <= n_q_max:
        raise ValueError(f"codes have {codes.shape[1]} quantizer rows; this codec has 1 to {n_q_max}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= codebook_size):
        raise ValueError(f"codes must lie in [0, {codebook_size - 1}] (codebook size {codebook_size}), "
                         f"got values in [{int(codes.min())}, {int(codes.max())}]; were they made by "
                         "another codec, or sampled past the vocabulary?")
    return codes.long()


class ResidualVQ(nn.Module):
    """``n_q`` quantizers in a row, each quantizing what the previous ones left over.

    Set ``frozen = True`` to keep the codebooks still while training (no EMA, no restart).
    """

    def __init__(self, dim: int, codebook_size: int, n_q: int, decay: float = 0.99,
                 dead_threshold: float = 0.5):
        super().__init__()
        self.layers = nn.ModuleList(VectorQuantizer(dim, codebook_size, decay, dead_threshold)
                                    for _ in range(n_q))
        self.frozen = False

    def forward(self, z: torch.Tensor, n_q=None):
        """Quantize latents ``z`` [B, D, T] with the first ``n_q`` codebooks.

        ``n_q`` is an int (the same for the batch; default: all) or a tensor [B] of counts per
        example (quantizer dropout). Returns ``z_q`` [B, D, T] (straight-through gradients),
        ``codes`` [B, n_q, T] and the commitment loss (0 outside training).
        """
        with torch.autocast(z.device.type, enabled=False):  # distances and EMA sums in float32
            return self._quantize(z.float(), n_q)

    def _quantize(self, z: torch.Tensor, n_q):
        B, D, T = z.shape
        if n_q is None:
            n_q = len(self.layers)
        if isinstance(n_q, int):
            n_used = n_q
            n_q = torch.full((B,), n_q, dtype=torch.long, device=z.device)
        else:
            n_used = int(n_q.max())
        z_flat = z.transpose(1, 2).reshape(B * T, D)                       # [B*T, D]
        residual = z_flat.detach()
        quantized = torch.zeros_like(residual)
        codes, commit = [], z.new_zeros(())
        active_per_frame = n_q.repeat_interleave(T)                        # [B*T]
        for i, layer in enumerate(self.layers[:n_used]):
            active = active_per_frame > i                                  # [B*T] bool
            if self.training and not self.frozen:
                layer.update(residual[active], layer.nearest(residual[active]))
            idx = layer.nearest(residual)                                  # [B*T]
            q = layer.lookup(idx) * active[:, None]
            if self.training:
                # commitment: this layer's input (which carries the encoder's gradient) toward its code
                r = (z_flat - quantized)[active]
                commit = commit + F.mse_loss(r, q[active]) / n_used
            quantized = quantized + q
            residual = residual - q
            codes.append(idx.view(B, T))
        z_q = z_flat + (quantized - z_flat).detach()                       # straight-through
        z_q = z_q.view(B, T, D).transpose(1, 2)                            # [B, D, T]
        return z_q, torch.stack(codes, dim=1), commit

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, n_q, T] -> quantized latents [B, D, T] (the sum of the looked-up codes)."""
        out = 0
        for i in range(codes.shape[1]):
            out = out + self.layers[i].lookup(codes[:, i])                 # [B, T, D]
        return out.transpose(1, 2)
