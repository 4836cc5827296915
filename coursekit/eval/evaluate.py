"""Judge a folder of generated notes against a folder of real ones.

``python -m coursekit fad REF GEN [--embedding NAME] [--json]`` and
``python -m coursekit eval GEN --ref REF [--embeddings crepe,mel,classifier] [--json]`` call
:func:`cli_fad` and :func:`cli_eval`; notebooks and the leaderboard call
:func:`evaluate_folder`. Both folders may be NSynth-format folders (``examples.json`` +
``audio/``: real, mini or generated) or plain folders of audio files (wav, flac, ogg, ...).

What is measured
----------------
- **FAD** for each embedding (:mod:`coursekit.eval.embeddings`): frames of all clips pooled,
  Gaussians fitted, Frechet distance (:func:`coursekit.eval.fad.frechet_distance`). With it a
  95 % bootstrap interval that redraws *clips* (the frames of one clip are not independent, so
  redrawing frames would give too narrow an interval), and FAD-inf (:func:`fad_inf_clips`,
  the line fit of :func:`coursekit.eval.fad.fad_inf` over subsets of clips), the distance
  extrapolated to infinitely many clips. The draws of clips follow the clips' content, not the
  names of their files. The printouts show the basic bootstrap interval (:func:`ci_text`, which
  contains the FAD of two identical folders, 0) and FAD-inf with the R² of its line, flagged
  below :data:`POOR_FIT_R2`.
- **KAD** for each embedding (:mod:`coursekit.eval.kad`): the Kernel Audio Distance of the same
  frames, 100 x the unbiased squared MMD with a Gaussian kernel whose width is the median
  distance between reference frames; pairs of frames within one clip are left out (they are not
  independent draws), and its 95 % interval comes from a bootstrap over clips. About 0 for two
  sets of one distribution at any size (either sign), where FAD stays above 0. Above
  :data:`KAD_MAX_FRAMES` frames a set, every k-th frame of each clip is used (``frame_stride``).
- Every clip is checked first (:mod:`coursekit.eval.clips`): a file that cannot be decoded,
  has no samples or holds NaN/inf samples stops the run with one error naming all such files;
  silent clips are measured and named in a warning.
- **Pitch accuracy** when GEN has NSynth metadata (the asked pitch of each note): CREPE's
  estimate within 50 cents of the asked pitch (notes asked outside CREPE's range C1..B6 are
  not counted), and the course classifier's exact and within-one-semitone accuracy.
- **Family accuracy**: the classifier's family against the asked ``instrument_family``; and
  inception-style scores (:func:`coursekit.eval.classifier.inception_score`) of GEN.

The JSON result (schema 1, stable: new keys may be added, none renamed)
------------------------------------------------------------------------
::

    {"schema": 1,
     "gen": str, "ref": str,                    # the folders
     "gen_format": "nsynth" | "plain", "ref_format": ...,
     "n_gen": int, "n_ref": int,                # number of clips
     "fad": {NAME: {"fad": float,               # Frechet distance of the pooled frames
                    "ci95": [low, high],        # bootstrap over clips (percentile): the
                                                # spread of the FAD at this sample size
                    "ci95_basic": [low, high],  # the same bootstrap reflected around the FAD
                                                # (2 FAD - q_hi, 2 FAD - q_lo, clipped at 0):
                                                # corrects for its sample-size bias, an
                                                # interval for the infinite-sample distance
                    "fad_inf": float | null,    # extrapolated to infinitely many clips
                    "fad_inf_r2": float | null, # (fad_inf_clips; null below 8 clips a set)
                    "dim": int, "frames_gen": int, "frames_ref": int,
                    "pooling": "frames"}},
     "kad": null | {NAME: {"kad": float,        # 100 x unbiased MMD^2 (pairs within a clip left out)
                           "ci95": [low, high], # bootstrap over clips (percentile)
                           "bandwidth": float, "bandwidth_from": "reference",
                           "frames_ref": int, "frames_gen": int, "frame_stride": int,
                           "clips_ref": int, "clips_gen": int}},
     "pitch": null | {"crepe_acc": float,       # within 50 cents, over notes in CREPE's range
                      "crepe_n": int, "crepe_out_of_range": int, "crepe_unpitched": int,
                      "crepe_median_abs_cents": float | null,
                      "classifier_acc": float, "classifier_acc_1": float},
     "family": null | {"classifier_acc": float},
     "scores": null | {"is_pitch": float, "is_family": float},  # inception-style, GEN only
     "warnings": [str],
     "seconds": float}

``kad`` is null when it was not asked for (``kad=False``). ``pitch`` and ``family`` are null for a GEN folder without NSynth metadata; ``scores`` is null
when the classifier cannot be loaded. A NaN becomes null.

Example
-------
>>> from coursekit.eval.evaluate import evaluate_folder          # doctest: +SKIP
>>> r = evaluate_folder("samples/rnn", ref="datasets/mini-default/nsynth-test")  # doctest: +SKIP
>>> r["fad"]["crepe"]["fad"], r["pitch"]["crepe_acc"]            # doctest: +SKIP
(12.3, 0.41)
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings

import numpy as np

from .. import audio as A
from ..audio import AUDIO_EXTENSIONS
from ..outputs import UserError
from .clips import SILENT_RMS, _names, check_readable, embed_folder, list_audio  # noqa: F401
from .degrade import DEGRADATIONS, degrade, write_set  # noqa: F401  (chapter 07 calls them ev.*)

__all__ = ["list_audio", "check_readable", "embed_folder", "fad_with_ci", "fad_inf_clips", "kad_with_ci",
           "evaluate_folder",
           "evaluate_many", "format_report", "format_leaderboard", "degrade", "write_set",
           "DEGRADATIONS", "cli_fad", "cli_eval", "ci_text", "fad_inf_text", "kad_text", "SCHEMA",
           "AUDIO_EXTENSIONS", "SILENT_RMS", "POOR_FIT_R2"]

SCHEMA = 1
KAD_MAX_FRAMES = 20_000  # frames a set that KAD uses at most (its cost grows with their square)
MIN_CLIPS = 10  # fewer clips than this: the FAD mostly measures which clips happened to be drawn
POOR_FIT_R2 = 0.8  # FAD-inf whose line fits worse than this is flagged as unreliable


# ---------------------------------------------------------------------------------------------
# FAD with a bootstrap over clips
# ---------------------------------------------------------------------------------------------

class _ClipSums:
    """Per-clip sums of (centred) frames and their outer products, so that the mean and
    covariance of any multiset of clips costs one weighted sum, not a pass over all frames."""

    def __init__(self, clips):
        self.center = np.concatenate(clips).mean(axis=0)
        self.n = np.array([len(c) for c in clips], dtype=np.float64)
        z = [np.asarray(c, dtype=np.float64) - self.center for c in clips]
        self.s = np.stack([c.sum(axis=0) for c in z])                     # (clips, d)
        dtype = np.float64 if len(clips) * self.s.shape[1] ** 2 < 5e7 else np.float32
        self.q = np.stack([(c.T @ c).astype(dtype) for c in z])           # (clips, d, d)

    def stats(self, w):
        n = w @ self.n
        mean = (w @ self.s) / n
        m2 = np.tensordot(w, self.q, axes=1).astype(np.float64) - n * np.outer(mean, mean)
        cov = m2 / (n - 1)
        return mean + self.center, (cov + cov.T) / 2


def _content_order(clips) -> list:
    """``clips`` sorted by a hash of their values, so that seeded draws of clips depend on what
    the clips hold and not on the names or order of their files (identical clips tie, which
    cannot change a draw)."""
    def key(c):
        c = np.ascontiguousarray(c)
        return hashlib.sha1(repr((c.dtype.str, c.shape)).encode() + c.tobytes()).hexdigest()

    return sorted(clips, key=key)


def fad_inf_clips(ref_clips, gen_clips, n_sizes: int = 6, n_repeats: int = 10, replace: bool = False,
                  seed: int = 0):
    """FAD-inf for frame embeddings: the FAD extrapolated to infinitely many **clips**.

    :func:`coursekit.eval.fad.fad_inf` fits ``FD = FAD_inf + slope / n`` over subsets of ``n``
    rows. Here a row is a frame, and the frames of one clip are far from independent: drawing
    more frames of the *same* clips extrapolates to "every frame of these clips", and the
    sampling noise of which clips we have stays in. So the subsets here are subsets of clips
    (all frames of each chosen clip), ``n`` counts clips, and both sets are subsampled by the
    same fraction (``subsample_reference=True`` in the terms of ``fad_inf``). Subsets come from
    the per-clip sums of :class:`_ClipSums`, so each costs one weighted sum. The clips are put in
    an order set by their content first, so renaming or reordering files leaves the result as it is.

    Returns
    -------
    coursekit.eval.fad.FADInfResult
        ``.value`` (clipped at 0), ``.intercept``, ``.slope``, ``.r2``; ``.sizes`` in clips.
    """
    from .fad import FADInfResult, frechet_distance_from_stats

    n_x, n_y = len(ref_clips), len(gen_clips)
    if min(n_x, n_y) < 8:
        raise ValueError(f"FAD-inf over clips needs at least 8 clips in each set (got {n_x} and "
                         f"{n_y}): the line is fitted over subsets of a quarter to all of them")
    rs, gs = _ClipSums(_content_order(ref_clips)), _ClipSums(_content_order(gen_clips))
    n_min = max(n_y // 4, 2)
    sizes = np.unique(np.round(1.0 / np.linspace(1.0 / n_min, 1.0 / n_y, n_sizes)).astype(int))
    ref_sizes = np.maximum(np.round(sizes * n_x / n_y).astype(int), 2)
    rng = np.random.default_rng(seed)
    draws = np.zeros((len(sizes), n_repeats))
    for i, (n, m) in enumerate(zip(sizes, ref_sizes)):
        for r in range(n_repeats):
            wg = np.bincount(rng.choice(n_y, n, replace=replace), minlength=n_y).astype(float)
            wr = np.bincount(rng.choice(n_x, m, replace=replace), minlength=n_x).astype(float)
            draws[i, r] = frechet_distance_from_stats(*rs.stats(wr), *gs.stats(wg))
    fds = draws.mean(axis=1)
    slope, intercept = np.polyfit(1.0 / sizes, fds, 1)
    resid = fds - (intercept + slope / sizes)
    ss = float(((fds - fds.mean()) ** 2).sum())
    notes = [] if intercept >= 0 else [
        f"the fitted intercept is {intercept:.4g} < 0: the distance is below what {n_y} clips can "
        "resolve; reported as 0"]
    full = frechet_distance_from_stats(*rs.stats(np.ones(n_x)), *gs.stats(np.ones(n_y)))
    return FADInfResult(value=max(float(intercept), 0.0), slope=float(slope),
                        r2=1.0 - float((resid ** 2).sum()) / ss if ss > 0 else 1.0,
                        sizes=sizes, ref_sizes=ref_sizes, fds=fds, fd_draws=draws,
                        fd_full=float(full), replace=replace, subsample_reference=True, seed=seed,
                        intercept=float(intercept), notes=notes)


def fad_with_ci(ref_clips, gen_clips, n_boot=200, alpha=0.05, seed=0, with_fad_inf=True) -> dict:
    """FAD of pooled frames, a bootstrap interval redrawing clips, and FAD-inf.

    ``ref_clips`` and ``gen_clips`` are lists of ``(frames, dim)`` arrays (one a clip); the
    draws follow the clips' content, not their order. Returns ``(entry, warnings)``: the
    per-embedding entry of the JSON result (see the module docstring) and the warnings raised
    on the way (too few frames for the dimension, a FAD-inf line that fits poorly, ...).
    """
    from .embeddings import pool
    from threadpoolctl import threadpool_limits

    from .fad import RankDeficientWarning, frechet_distance, frechet_distance_from_stats

    ref_clips, gen_clips = _content_order(ref_clips), _content_order(gen_clips)
    x, y = pool(ref_clips), pool(gen_clips)
    notes = []
    # hundreds of small (dim x dim) eigendecompositions: one BLAS thread is fastest, and several
    # threads spinning on a busy CPU can make each one 20 times slower
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("always")
        fad = frechet_distance(x, y)
        out = {"fad": fad, "ci95": [None, None], "ci95_basic": [None, None], "fad_inf": None,
               "fad_inf_r2": None,
               "dim": int(x.shape[1]), "frames_gen": int(len(y)), "frames_ref": int(len(x)),
               "pooling": "frames"}
        if n_boot and len(ref_clips) >= 2 and len(gen_clips) >= 2:
            rs, gs = _ClipSums(ref_clips), _ClipSums(gen_clips)
            rng = np.random.default_rng(seed)
            fds = []
            for _ in range(n_boot):
                wr = np.bincount(rng.integers(0, len(ref_clips), len(ref_clips)), minlength=len(ref_clips))
                wg = np.bincount(rng.integers(0, len(gen_clips), len(gen_clips)), minlength=len(gen_clips))
                fds.append(frechet_distance_from_stats(*rs.stats(wr.astype(float)),
                                                       *gs.stats(wg.astype(float))))
            q_lo, q_hi = (float(v) for v in np.quantile(fds, [alpha / 2, 1 - alpha / 2]))
            out["ci95"] = [q_lo, q_hi]
            out["ci95_basic"] = [max(2 * fad - q_hi, 0.0), max(2 * fad - q_lo, 0.0)]
        if with_fad_inf and min(len(ref_clips), len(gen_clips)) >= 8:
            res = fad_inf_clips(ref_clips, gen_clips, seed=seed)
            out["fad_inf"], out["fad_inf_r2"] = float(res.value), float(res.r2)
            notes += res.notes
            if res.r2 < POOR_FIT_R2:
                notes.append(f"FAD-inf's line (FAD = FAD-inf + slope / clips) fits poorly (R² "
                             f"{res.r2:.2f} < {POOR_FIT_R2}): do not trust FAD-inf here; use more "
                             "clips")
    for w in caught:
        msg = str(w.message)
        if issubclass(w.category, RankDeficientWarning):
            notes.append(msg)
    return out, sorted(set(notes))


def kad_with_ci(ref_clips, gen_clips, n_boot=200, alpha=0.05, seed=0,
                max_frames: int = KAD_MAX_FRAMES) -> dict:
    """KAD of two lists of ``(frames, dim)`` clips with a bootstrap interval over clips.

    The per-embedding ``kad`` entry of the JSON result (see the module docstring): pairs of
    frames within one clip are left out, the bandwidth is the median distance of the reference
    frames, and above ``max_frames`` frames in either set every ``frame_stride``-th frame of each
    clip is used. The draws follow the clips' content, not their order.
    """
    from .kad import kad_clips

    ref_clips, gen_clips = _content_order(ref_clips), _content_order(gen_clips)
    total = max(sum(len(c) for c in ref_clips), sum(len(c) for c in gen_clips))
    stride = max(1, math.ceil(total / max_frames))
    out = kad_clips([c[::stride] for c in ref_clips], [c[::stride] for c in gen_clips],
                    n_boot=n_boot if len(ref_clips) >= 2 and len(gen_clips) >= 2 else 0,
                    alpha=alpha, seed=seed)
    out["frame_stride"] = stride
    return out


# ---------------------------------------------------------------------------------------------
# Pitch and family
# ---------------------------------------------------------------------------------------------

def judge_pitch(crepe_frames, asked_midi: float) -> tuple[str, float, float]:
    """One note's CREPE frames against the asked pitch: ``(verdict, heard_midi, voiced_fraction)``.

    ``verdict`` is ``"ok"`` (within 50 cents), ``"off"``, ``"unpitched"`` (CREPE hears no clear
    pitch; ``heard_midi`` is NaN) or ``"out_of_range"`` (the asked pitch is outside what CREPE
    estimates, so the note is not judged).
    """
    from .embeddings import CREPE_FMAX, CREPE_FMIN, pitch_from_crepe

    if not A.hz_to_midi(CREPE_FMIN) - 0.01 <= asked_midi <= A.hz_to_midi(CREPE_FMAX) + 0.01:
        return "out_of_range", float("nan"), 0.0
    midi, voiced = pitch_from_crepe(crepe_frames)
    if math.isnan(midi):
        return "unpitched", midi, voiced
    return ("ok" if 100 * abs(midi - asked_midi) <= 50 else "off"), midi, voiced


def _crepe_pitch_scores(crepe_frames, notes) -> dict:
    cents, n, out_of_range, unpitched, correct = [], 0, 0, 0, 0
    for frames, m in zip(crepe_frames, notes):
        verdict, midi, _ = judge_pitch(frames, m["pitch"])
        if verdict == "out_of_range":
            out_of_range += 1
            continue
        n += 1
        if verdict == "unpitched":
            unpitched += 1
            continue
        cents.append(100 * abs(midi - m["pitch"]))
        correct += verdict == "ok"
    return {"crepe_acc": correct / n if n else None, "crepe_n": n,
            "crepe_out_of_range": out_of_range, "crepe_unpitched": unpitched,
            "crepe_median_abs_cents": float(np.median(cents)) if cents else None}


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def evaluate_folder(gen, ref, embeddings=("crepe", "mel", "classifier"), n_boot=200,
                    with_fad_inf=True, pitch=True, classify=True, seed=0, cache=True,
                    progress=True, kad=True, fad=True) -> dict:
    """Evaluate the clips in ``gen`` against the reference clips in ``ref``.

    Parameters
    ----------
    gen, ref : str or Path
        NSynth-format folders or plain folders of audio files.
    embeddings : sequence of str
        Embeddings to compute FAD with (see :func:`coursekit.eval.embeddings.get_embedding`).
    n_boot : int
        Bootstrap rounds of the confidence interval (0 to skip).
    with_fad_inf : bool
        Also compute FAD-inf (slower).
    kad, fad : bool
        Compute the KAD, the FAD of each embedding (both by default).
    pitch : bool
        Pitch and family accuracy when ``gen`` has NSynth metadata.
    classify : bool
        Run the course classifier on ``gen`` (accuracies and inception-style scores).

    Returns
    -------
    dict
        The JSON-able result described in the module docstring.

    Raises
    ------
    ValueError
        A folder with a clip that cannot be measured (undecodable, no samples, NaN/inf samples:
        all such files named), an unknown embedding, or a pretrained one that cannot be had
        offline (:class:`~coursekit.eval.embeddings.EmbeddingUnavailable`). Silent clips and
        an embedding cache that cannot be written are reported in ``warnings``.
    """
    from .embedding_cache import CacheNotWritten, EmbeddingCache
    from .embeddings import get_embedding

    t0 = time.perf_counter()
    gen_paths, gen_meta, gen_fmt = list_audio(gen)
    ref_paths, _, ref_fmt = list_audio(ref)
    notes = []
    for label, folder, paths in (("GEN", gen, gen_paths), ("REF", ref, ref_paths)):
        silent = check_readable(paths, folder)
        if silent:
            notes.append(f"{label} {folder}: {len(silent)} silent clip(s) (RMS below {SILENT_RMS:g}),"
                         f" measured as they are: {_names(silent)}")
    models = {name: get_embedding(name) for name in embeddings}  # an unavailable one fails here
    store = EmbeddingCache() if cache is True else cache
    for name, n in (("GEN", len(gen_paths)), ("REF", len(ref_paths))):
        if n < MIN_CLIPS:
            notes.append(f"{name} has only {n} clip(s); FAD from fewer than {MIN_CLIPS} clips is "
                         "mostly noise: use more clips")
    result = {"schema": SCHEMA, "gen": str(gen), "ref": str(ref), "gen_format": gen_fmt,
              "ref_format": ref_fmt, "n_gen": len(gen_paths), "n_ref": len(ref_paths), "fad": {},
              "kad": {} if kad else None, "pitch": None, "family": None, "scores": None}
    gen_emb = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheNotWritten)  # reported once in the notes below
        for name, model in models.items():
            ref_clips = embed_folder(ref_paths, model, store, progress)
            gen_emb[name] = embed_folder(gen_paths, model, store, progress)
            if fad:
                result["fad"][name], w = fad_with_ci(ref_clips, gen_emb[name], n_boot=n_boot,
                                                     seed=seed, with_fad_inf=with_fad_inf)
                notes += [f"{name}: {m}" for m in w]
            if kad:
                try:
                    result["kad"][name] = kad_with_ci(ref_clips, gen_emb[name], n_boot=n_boot, seed=seed)
                except ValueError as err:   # e.g. a reference of identical frames: no bandwidth
                    result["kad"][name] = None
                    notes.append(f"{name}: no KAD: {err}")
        if pitch and gen_meta is not None and "crepe" not in gen_emb:
            gen_emb["crepe"] = embed_folder(gen_paths, "crepe", store, progress)
    if getattr(store, "write_error", None):
        notes.append(store.write_error)

    from .classifier import classification_metrics, predict_files

    classifier_probs = None
    if classify:
        try:
            classifier_probs = predict_files(gen_paths, progress=progress)
        except FileNotFoundError as err:
            notes.append(f"classifier unavailable, no classifier accuracy: {err}")
    if classifier_probs is not None:
        m = classification_metrics(*classifier_probs)
        result["scores"] = {"is_pitch": m["is_pitch"], "is_family": m["is_family"]}

    if pitch and gen_meta is not None:
        result["pitch"] = _crepe_pitch_scores(gen_emb["crepe"], gen_meta)
        if classifier_probs is not None:
            m = classification_metrics(*classifier_probs, [n["pitch"] for n in gen_meta],
                                       [n["instrument_family"] for n in gen_meta])
            result["pitch"].update(classifier_acc=m["pitch_acc"], classifier_acc_1=m["pitch_acc_1"])
            result["family"] = {"classifier_acc": m["family_acc"]}
    elif pitch:
        notes.append(f"{gen} has no NSynth metadata (examples.json): pitch and family accuracy "
                     "need the asked pitch and family of each clip, so they are skipped")
    result["warnings"] = notes
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return _jsonable(result)


def evaluate_many(systems: dict, ref, embeddings=("crepe", "mel", "classifier"), progress=True,
                  **kwargs) -> dict:
    """:func:`evaluate_folder` for each ``{name: folder}``, against one reference."""
    from tqdm.auto import tqdm

    return {name: evaluate_folder(folder, ref, embeddings=embeddings, progress=False, **kwargs)
            for name, folder in tqdm(systems.items(), desc="systems", disable=not progress)}


def format_leaderboard(results: dict, sort_by: str = "mean_rank") -> str:
    """One line a system: FAD [95 % interval] and KAD [95 % interval] per embedding, pitch and
    family accuracy.

    The FAD's interval is the basic bootstrap one (``ci95_basic``, see :func:`ci_text`), the
    KAD's the percentile one (KAD has no sample-size bias to reflect away).

    Sorted best first by ``sort_by``: an embedding's name (its FAD), or ``'mean_rank'`` (the
    default: the average of the system's ranks under every embedding, so that no single
    embedding decides the order).
    """
    if not results:
        return "(no systems)"
    names = list(next(iter(results.values()))["fad"])
    kad_names = list(next(iter(results.values())).get("kad") or {})
    if sort_by == "mean_rank" and names:
        ranks = {s: 0.0 for s in results}
        for n in names:
            for r, s in enumerate(sorted(results, key=lambda s: results[s]["fad"][n]["fad"])):
                ranks[s] += r / len(names)
        order = sorted(results, key=lambda s: ranks[s])
    elif sort_by in names:
        order = sorted(results, key=lambda s: results[s]["fad"][sort_by]["fad"])
    elif not names:
        order = list(results)
    else:
        raise ValueError(f"sort_by must be 'mean_rank' or one of {', '.join(names)}; got {sort_by!r}")
    rows = []
    for s in order:
        r = results[s]
        cells = [s]
        for n in names:
            f = r["fad"][n]
            low, high = _basic_ci(f)
            cells.append(f"{_num(f['fad'], '{:.4g}')} [{_num(low, '{:.3g}')}, {_num(high, '{:.3g}')}]")
        for n in kad_names:
            k = (r.get("kad") or {}).get(n) or {}
            low, high = k.get("ci95") or (None, None)
            cells.append(f"{_num(k.get('kad'), '{:.3g}')} [{_num(low, '{:.3g}')}, {_num(high, '{:.3g}')}]")
        cells.append(_num((r.get("pitch") or {}).get("crepe_acc"), "{:.2f}"))
        cells.append(_num((r.get("family") or {}).get("classifier_acc"), "{:.2f}"))
        rows.append(cells)
    head = (["system"] + [f"FAD {n} [95% CI, basic]" for n in names]
            + [f"KAD {n} [95% CI]" for n in kad_names] + ["pitch (CREPE)", "family"])
    widths = [max(len(str(row[i])) for row in rows + [head]) for i in range(len(head))]
    fmt = lambda row: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)  # noqa: E731
                                for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(head), "-" * len(fmt(head))] + [fmt(r) for r in rows])


# ---------------------------------------------------------------------------------------------
# Printing and the command line
# ---------------------------------------------------------------------------------------------

def _num(v, fmt="{:.3f}"):
    return "n/a" if v is None else fmt.format(v)


def _basic_ci(f: dict) -> tuple:
    """The basic bootstrap interval of an entry (``ci95`` for results that predate it)."""
    return tuple(f.get("ci95_basic") or f.get("ci95") or (None, None))


def ci_text(f: dict, fmt: str = "{:.4f}") -> str:
    """The interval printed beside a FAD: the basic bootstrap interval (``ci95_basic``).

    The percentile interval (``ci95``) is where the FAD of *other draws of this many clips*
    would land; it sits above the FAD by its sample-size bias, so for two identical folders it
    excludes the FAD of 0 they give. The basic interval reflects it around the FAD (clipped at
    0): an interval for the distance itself, the one to read beside the number.
    """
    low, high = _basic_ci(f)
    text = f"95% CI [{_num(low, fmt)}, {_num(high, fmt)}] (basic bootstrap over clips)"
    fad = f.get("fad")
    if None not in (fad, low, high) and not low <= fad <= high:
        # the resampled FADs sit far from the FAD: the bias of so few clips dominates the interval
        text += " [the FAD lies outside it: too few clips for the bootstrap, read FAD-inf]"
    return text


def fad_inf_text(f: dict, fmt: str = "{:.4f}") -> str:
    """FAD-inf with the fit quality (R²) of its line, or why there is none."""
    if f.get("fad_inf") is None:
        return "FAD-inf = n/a (needs 8 clips a set)"
    return f"FAD-inf = {_num(f['fad_inf'], fmt)} (fit R² {_num(f.get('fad_inf_r2'), '{:.2f}')})"


def format_report(r: dict) -> str:
    """A short human-readable table of an :func:`evaluate_folder` result."""
    lines = [f"GEN {r['gen']} ({r['n_gen']} clips, {r['gen_format']})",
             f"REF {r['ref']} ({r['n_ref']} clips, {r['ref_format']})"]
    if r["fad"]:
        lines.append(f"{'embedding':<12}{'FAD':>12}{'95% CI (basic)':>26}{'FAD-inf':>12}"
                     f"{'R²':>6}")
        for name, f in r["fad"].items():
            low, high = _basic_ci(f)
            ci = f"[{_num(low, '{:.4g}')}, {_num(high, '{:.4g}')}]"
            lines.append(f"{name:<12}{_num(f['fad'], '{:.4g}'):>12}{ci:>26}"
                         f"{_num(f['fad_inf'], '{:.4g}'):>12}{_num(f.get('fad_inf_r2'), '{:.2f}'):>6}")
    if r.get("kad"):
        lines.append(f"{'embedding':<12}{'KAD':>12}{'95% CI':>26}{'bandwidth':>12}")
        for name, k in r["kad"].items():
            if k is None:
                continue
            ci = f"[{_num(k['ci95'][0], '{:.4g}')}, {_num(k['ci95'][1], '{:.4g}')}]"
            lines.append(f"{name:<12}{_num(k['kad'], '{:.4g}'):>12}{ci:>26}{_num(k['bandwidth'], '{:.4g}'):>12}")
    p = r.get("pitch")
    if p:
        lines.append(f"pitch accuracy: CREPE (+-50 cents) {_num(p['crepe_acc'])} over {p['crepe_n']} notes"
                     f" ({p['crepe_unpitched']} without a clear pitch, {p['crepe_out_of_range']} "
                     "outside CREPE's range)")
        if "classifier_acc" in p:
            lines.append(f"pitch accuracy: classifier exact {_num(p['classifier_acc'])}, "
                         f"+-1 semitone {_num(p['classifier_acc_1'])}")
    if r.get("family"):
        lines.append(f"family accuracy (classifier): {_num(r['family']['classifier_acc'])}")
    if r.get("scores"):
        lines.append(f"inception-style scores: family {_num(r['scores']['is_family'], '{:.2f}')}, "
                     f"pitch {_num(r['scores']['is_pitch'], '{:.2f}')}")
    lines += [f"warning: {w}" for w in r.get("warnings", [])]
    return "\n".join(lines)


def _embedding_names(text: str, option: str, single: bool = False) -> list[str]:
    """The embedding names of a command-line option (comma-separated unless ``single``), or a
    :class:`UserError` naming the option and the choices."""
    from .embeddings import _FACTORIES

    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in _FACTORIES]
    if unknown or not names or (single and len(names) > 1):
        what = (f"unknown embedding {unknown[0]!r}" if unknown else "no embedding named"
                if not names else "one embedding only")
        how = "one" if single else "a comma-separated list"
        raise UserError(f"{option} {text!r}: {what}; give {how} of {', '.join(_FACTORIES)}")
    return list(dict.fromkeys(names))


def kad_text(k: dict | None, fmt: str = "{:.4f}") -> str:
    """A KAD entry in one line: the value, its interval, and the kernel's bandwidth."""
    if not k:
        return "KAD n/a"
    low, high = k.get("ci95") or (None, None)
    return (f"KAD = {_num(k['kad'], fmt)}  95% CI [{_num(low, fmt)}, {_num(high, fmt)}] (bootstrap over "
            f"clips; bandwidth {_num(k['bandwidth'], '{:.4g}')} from the reference)")


METRICS = {"both": (True, True), "fad": (True, False), "kad": (False, True)}


def cli_fad(args) -> int:
    """``python -m coursekit fad REF GEN [--embedding NAME] [--metric fad|kad|both] [--json]``."""
    (name,) = _embedding_names(args.embedding, "--embedding", single=True)
    fad, kad = METRICS[args.metric]
    r = evaluate_folder(args.gen, args.ref, embeddings=[name], pitch=False, classify=False,
                        fad=fad, kad=kad)
    f, k = r["fad"].get(name), (r["kad"] or {}).get(name)
    if args.json:
        out = {"embedding": name, "n_gen": r["n_gen"], "n_ref": r["n_ref"]}
        if fad:
            out.update(f)        # the FAD entry's keys at the top, as before KAD was added
        if kad:
            out["kad"] = k
        print(json.dumps(out | {"warnings": r["warnings"]}, indent=2))
    else:
        if fad:
            print(f"FAD ({name}) = {f['fad']:.4f}  {ci_text(f)}  {fad_inf_text(f)}  "
                  f"({r['n_ref']} reference clips, {r['n_gen']} generated)")
        if kad:
            print(f"{kad_text(k).replace('KAD', f'KAD ({name})', 1)}  "
                  f"({r['n_ref']} reference clips, {r['n_gen']} generated)")
        for w in r["warnings"]:
            print(f"warning: {w}")
    return 0


def cli_eval(args) -> int:
    """``python -m coursekit eval GEN --ref REF [--embeddings a,b] [--metric fad|kad|both] [--json]``."""
    names = _embedding_names(args.embeddings, "--embeddings")
    fad, kad = METRICS[args.metric]
    r = evaluate_folder(args.gen, args.ref, embeddings=names, fad=fad, kad=kad)
    print(json.dumps(r, indent=2) if args.json else format_report(r))
    return 0
