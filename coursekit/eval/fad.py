"""Frechet distance between two sets of embeddings: the measuring stick of chapter 07.

Fit a Gaussian to each set of embeddings (one embedding per audio clip), then measure how far
apart the two Gaussians are with the Frechet (2-Wasserstein) distance:

.. math::

    FD = \\lVert \\mu_1 - \\mu_2 \\rVert^2 + \\operatorname{Tr}\\Sigma_1 + \\operatorname{Tr}\\Sigma_2
         - 2 \\operatorname{Tr}\\sqrt{\\Sigma_1^{1/2}\\,\\Sigma_2\\,\\Sigma_1^{1/2}}

With audio embeddings (VGGish, CLAP, the course's own classifier) this is the Frechet Audio
Distance, FAD. This module gathers chapter 07's FAD tools under one name; they are defined in
three modules, built bottom-up in the order the chapter walks through them:

- :mod:`coursekit.eval.fad_core`: the distance.

  1. :func:`gaussian_stats` and :class:`RunningStats`: mean and covariance (float64,
     ``ddof=1``), one-shot or streamed batch by batch.
  2. :func:`trace_sqrt_product`: the only hard term, :math:`\\operatorname{Tr}\\sqrt{\\cdot}`,
     by two symmetric eigendecompositions (``method='eigh'``), or the classic
     ``scipy.linalg.sqrtm`` formula (``method='sqrtm'``) for comparison.
  3. :func:`frechet_distance_from_stats` and :func:`frechet_distance`: the distance itself.

- :mod:`coursekit.eval.fad_stats`: what a single number hides.

  4. :func:`fad_inf` (the bias that depends on the sample size, extrapolated away),
     :func:`bootstrap_ci` (how much the number moves if we had drawn other clips) and
     :func:`per_sample_scores` (which generated clips push the distance up).

- :mod:`coursekit.eval.kad`, beside it: the Kernel Audio Distance, which compares the two sets
  through a kernel instead of fitting Gaussians (no sample-size bias: about 0 for one
  distribution at any size), with its bootstrap over clips and per-clip scores.

- :mod:`coursekit.eval.embedding_cache`:

  5. :class:`EmbeddingCache`: embeddings are slow to compute, so they are kept on disk, keyed by
     the content of the audio file and the name of the embedding.

Example
-------
>>> import numpy as np
>>> from coursekit.eval.fad import frechet_distance
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(2000, 8))
>>> y = rng.normal(loc=1.0, size=(2000, 8))      # every mean shifted by 1: true FD = 8
>>> round(frechet_distance(x, y))
8
"""

from . import embedding_cache, fad_core, fad_stats
from .embedding_cache import EmbeddingCache  # noqa: F401
from .fad_core import (  # noqa: F401
    METHODS,
    RankDeficientWarning,
    RunningStats,
    _as_embeddings,
    _check_stats,
    _clip_fd,
    _psd_eigh,
    _psd_sqrt,
    _trace_sqrtm,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    trace_sqrt_product,
)
from .fad_stats import (  # noqa: F401
    FADInfResult,
    _fit_line,
    bootstrap_ci,
    fad_inf,
    per_sample_scores,
)

__all__ = fad_core.__all__ + fad_stats.__all__ + embedding_cache.__all__
