"""Which metric agrees with the listeners: FAD, KAD, mel distance and CREPE pitch accuracy
against the ratings of a listening test, per system and per clip, with intervals.

A metric is worth what it agrees with people. :func:`metric_agreement` measures the systems of
a test (:func:`measure`) and correlates every metric with the ratings (:func:`agreement_table`)
at two levels:

- **per system**: each system's metric (over its whole folder) against its mean rating. This is
  what a paper's table compares, but with 4 to 9 systems a rank correlation is very uncertain
  (with 4 systems even a perfect Kendall tau has p = 0.083). The interval is a *cluster
  bootstrap over participants*: whole raters are redrawn, each system's mean rating recomputed
  from them and the correlation recomputed. It covers the noise of the ratings, **not** the
  choice of systems: another set of systems could agree quite differently.
- **per clip**: each rated clip's mean rating against that clip's own metric, pooled over the
  systems. Many more points, but what a metric says about one clip is noisier than what it says
  about a set, and part of the agreement is the systems' differences again. The interval is a
  bootstrap over clips (redrawn with their mean ratings).

The metrics and their direction (``better`` in :data:`METRICS`):

- ``fad`` (lower is better): per system, the FAD of the system's frames against the reference;
  per clip, the clip's share of its system's FAD: that FAD minus the FAD without the clip.
- ``kad`` (lower is better): per system, the KAD of the system's clips against the reference;
  per clip, the KAD of the clip alone (:func:`~coursekit.eval.kad.kad_per_clip`).
- ``mel_distance`` (lower is better): the mean absolute log-mel difference of a note from the
  real note of the same file name (``paired``; the stand-ins are copies of real notes); per
  system, the mean over its notes.
- ``pitch`` (higher is better): per system, the share of notes whose CREPE pitch is within 50
  cents of the asked pitch (notes asked outside CREPE's range are not judged); per clip, 1 or 0.

**Sign convention**: every correlation is reported as *agreement*: Spearman's rho and Kendall's
tau of ``sign x metric`` with the rating, ``sign = -1`` for a metric where lower is better. So a
positive value always means "the metric orders the systems (clips) as the listeners do", for all
four alike.

The metrics judge the systems' files as they are; the listeners heard them cut to the test's
length and aligned in loudness. With simulated raters the ratings only repeat the qualities that
were assumed for them: the table then checks the code path, not the metrics.

Example
-------
>>> rows = agreement_table({"system": {"fad": {"a": 1.0, "b": 5.0, "c": 9.0}}},
...                        "runs/ch08/simulated.jsonl")                      # doctest: +SKIP
>>> print(format_agreement(rows))                                           # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ..outputs import UserError
from . import listening_stats as ls

__all__ = ["METRICS", "rated_clips", "measure", "agreement_table", "metric_agreement",
           "format_agreement", "plot_agreement", "correlation_rows"]

METRICS = {  # name: (label, which direction is better)
    "fad": ("FAD", "lower"),
    "kad": ("KAD", "lower"),
    "mel_distance": ("mel distance", "lower"),
    "pitch": ("CREPE pitch acc.", "higher"),
}
_CHUNK = 128  # bootstrap replicates whose Kendall sign matrices are held at once


# ---------------------------------------------------------------------------------------------
# Rank correlations of many bootstrap replicates at once
# ---------------------------------------------------------------------------------------------

def _ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a, axis=1)  # ties share their average rank, as ls.rank_average


def correlation_rows(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's rho and Kendall's tau-b of each row of ``x`` with the same row of ``y``.

    The same statistics as :func:`~coursekit.eval.listening_stats.spearman` and
    :func:`~coursekit.eval.listening_stats.kendall_tau` (without p-values), for a whole
    bootstrap at once. Rows where one of the two is constant give NaN.

    Parameters
    ----------
    x, y : array_like, shape (B, n)

    Returns
    -------
    (rho, tau) : arrays of shape (B,)

    Example
    -------
    >>> rho, tau = correlation_rows([[1, 2, 3, 4]], [[10, 30, 20, 40]])
    >>> float(rho[0]), round(float(tau[0]), 4)
    (0.8, 0.6667)
    """
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    x, y = np.broadcast_arrays(x, y)
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, (rx * ry).sum(axis=1) / np.where(den > 0, den, 1), np.nan)
    tau = np.empty(len(x))
    for s in range(0, len(x), _CHUNK):  # sums over all ordered pairs: 2 (C - D), 2 (n0 - T)
        sx = np.sign(x[s:s + _CHUNK, :, None] - x[s:s + _CHUNK, None, :])
        sy = np.sign(y[s:s + _CHUNK, :, None] - y[s:s + _CHUNK, None, :])
        d = np.sqrt((sx * sx).sum(axis=(1, 2)) * (sy * sy).sum(axis=(1, 2)))
        with np.errstate(invalid="ignore", divide="ignore"):
            tau[s:s + _CHUNK] = np.where(d > 0, (sx * sy).sum(axis=(1, 2)) / np.where(d > 0, d, 1), np.nan)
    return rho, tau


def _interval(draws: np.ndarray, level: float) -> list:
    ok = draws[np.isfinite(draws)]
    if ok.size < max(10, draws.size // 2):  # most replicates undefined: no honest interval
        return [None, None]
    lo, hi = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def _empty_row(level_name: str, metric: str, notes: list) -> dict:
    label, better = METRICS.get(metric, (metric, "lower"))
    return {"level": level_name, "metric": metric, "label": label, "better": better, "n": 0,
            "spearman": None, "spearman_p": None, "spearman_ci": [None, None], "kendall": None,
            "kendall_p": None, "kendall_ci": [None, None], "points": [], "notes": list(notes)}


def _row(level_name: str, metric: str, labels, x, y, sign: float, boot_xy, level: float) -> dict:
    """One line of the table: point estimates with p-values, intervals from ``boot_xy``."""
    row = _empty_row(level_name, metric, [])
    row["n"] = len(labels)
    row["points"] = [(str(k), float(a), float(b)) for k, a, b in zip(labels, x, y)]
    try:
        row["spearman"], row["spearman_p"] = ls.spearman(sign * np.asarray(x), y)
        row["kendall"], row["kendall_p"] = ls.kendall_tau(sign * np.asarray(x), y)
    except ValueError:
        what = "the metric" if np.ptp(x) == 0 else "the mean rating"
        row["notes"].append(f"not computed: {what} is the same for all {len(labels)} {level_name}s")
        row["spearman"] = row["kendall"] = row["spearman_p"] = row["kendall_p"] = None
        return row
    bx, by = boot_xy
    rho, tau = correlation_rows(sign * bx, by)
    row["spearman_ci"], row["kendall_ci"] = _interval(rho, level), _interval(tau, level)
    return row


# ---------------------------------------------------------------------------------------------
# The table from metric values and ratings
# ---------------------------------------------------------------------------------------------

def _check_level(level: float, n_boot: int) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    if n_boot < 10:
        raise ValueError(f"n_boot={n_boot} is too few resamples; use at least a few hundred")


def _system_rows(values: dict, res, level, n_boot, rng) -> list:
    from .listening_trials import RESERVED

    rated = [s for s in res.systems if s not in RESERVED]
    who = res.participants
    pi = {p: i for i, p in enumerate(who)}
    out = []
    for metric, per_system in values.items():
        notes = []
        finite = {s: float(v) for s, v in per_system.items() if v is not None and math.isfinite(v)}
        for s in sorted(set(per_system) - set(res.systems)):
            notes.append(f"left out {s!r}: it has no ratings (rated: {', '.join(rated)})")
        for s in rated if finite else ():  # no value at all: said once, below
            if s not in finite:
                notes.append(f"left out {s!r}: no {METRICS.get(metric, (metric,))[0]} value for it")
        systems = [s for s in rated if s in finite]
        if len(systems) < 3:
            out.append(_empty_row("system", metric, notes + [
                f"not computed: needs at least 3 rated systems with a value, has {len(systems)} "
                f"({', '.join(systems) or 'none'})"]))
            continue
        # sums and counts of each participant's ratings of each system: a resample of whole
        # participants then gives every system's mean rating in one weighted sum
        sums = np.zeros((len(who), len(systems)))
        counts = np.zeros_like(sums)
        col = {s: j for j, s in enumerate(systems)}
        for r in res.rows:
            if r["system"] in col:
                sums[pi[r["participant"]], col[r["system"]]] += r["rating"]
                counts[pi[r["participant"]], col[r["system"]]] += 1
        means = sums.sum(axis=0) / counts.sum(axis=0)
        w = np.stack([np.bincount(rng.integers(0, len(who), len(who)), minlength=len(who))
                      for _ in range(n_boot)]).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = (w @ sums) / (w @ counts)  # NaN where no drawn rater rated a system
        x = np.array([finite[s] for s in systems])
        sign = -1.0 if METRICS.get(metric, (metric, "lower"))[1] == "lower" else 1.0
        row = _row("system", metric, systems, x, means, sign, (x[None, :], boot), level)
        row["notes"] = notes + row["notes"]
        row["resampled"] = f"{len(who)} participants"
        out.append(row)
    return out


def _clip_rows(values: dict, res, level, n_boot, rng) -> list:
    cells: dict = {}
    for r in res.rows:
        cells.setdefault((r["system"], r["item"]), []).append(r["rating"])
    out = []
    for metric, per_clip in values.items():
        keys = [k for k in sorted(cells) if per_clip.get(k) is not None
                and math.isfinite(per_clip[k])]
        notes = []
        missing = [k for k in cells if k not in keys and k[0] in {s for s, _ in per_clip}]
        if missing:
            notes.append(f"left out {len(missing)} rated clip(s) without a "
                         f"{METRICS.get(metric, (metric,))[0]} value (e.g. {missing[0][0]}/{missing[0][1]})")
        better = METRICS.get(metric, (metric, "lower"))[1]
        if len(keys) < 3:
            out.append(_empty_row("clip", metric, notes + [
                f"not computed: needs at least 3 rated clips with a value, has {len(keys)}"]))
            continue
        x = np.array([float(per_clip[k]) for k in keys])
        y = np.array([float(np.mean(cells[k])) for k in keys])
        idx = rng.integers(0, len(keys), size=(n_boot, len(keys)))
        sign = -1.0 if better == "lower" else 1.0
        row = _row("clip", metric, [f"{s}/{i}" for s, i in keys], x, y, sign, (x[idx], y[idx]), level)
        row["notes"] = notes + row["notes"]
        row["resampled"] = f"{len(keys)} clips"
        out.append(row)
    return out


def agreement_table(values: dict, results, level: float = 0.95, n_boot: int = 2000,
                    seed: int = 0) -> list[dict]:
    """Rank agreement of each metric with the listeners, per system and per clip.

    Parameters
    ----------
    values : dict
        ``{"system": {metric: {system: value}}, "clip": {metric: {(system, item): value}}}``
        (either level may be missing), as :func:`measure` returns. A metric not in
        :data:`METRICS` is taken as lower-is-better.
    results : Results or results file(s)
        The ratings (:func:`~coursekit.eval.listening_analysis.load_results`).
    level : float
    n_boot : int
        Bootstrap replicates: over participants (per system), over clips (per clip).
    seed : int

    Returns
    -------
    list of dict
        One a (level, metric): ``level`` ('system' | 'clip'), ``metric``, ``label``,
        ``better`` ('lower' | 'higher'), ``n`` (systems or clips correlated), ``spearman``,
        ``spearman_p``, ``spearman_ci``, ``kendall``, ``kendall_p``, ``kendall_ci`` (the
        correlations signed so that **positive = agrees with the listeners**; None where not
        computed), ``points`` (label, metric, mean rating) and ``notes`` (one line each: what
        was left out and why).

    Raises
    ------
    UserError
        When no system with a metric value was rated at all (a wrong results file, or systems
        named differently).

    Example
    -------
    >>> rows = agreement_table({"system": {"fad": {"a": 1.0, "b": 5.0, "c": 9.0, "d": 20.0}}},
    ...                        results)                                     # doctest: +SKIP
    >>> rows[0]["spearman"]                                                  # doctest: +SKIP
    1.0
    """
    from .listening_analysis import _as_results

    _check_level(level, n_boot)
    res = _as_results(results)
    if not res.rows:
        raise UserError("no ratings to compare the metrics with")
    named = {s for per in values.get("system", {}).values() for s in per}
    named |= {k[0] for per in values.get("clip", {}).values() for k in per}
    if named and not named & set(res.systems):
        raise UserError(f"none of the systems with metric values ({', '.join(sorted(named))}) was "
                        f"rated; the results rate {', '.join(res.systems)}")
    rng = np.random.default_rng(seed)
    return (_system_rows(values.get("system", {}), res, level, n_boot, rng)
            + _clip_rows(values.get("clip", {}), res, level, n_boot, rng))


# ---------------------------------------------------------------------------------------------
# Measuring the systems: which file each rated clip is, and the four metrics
# ---------------------------------------------------------------------------------------------

def rated_clips(results, systems: dict, test=None) -> dict:
    """The audio file behind each rated ``(system, item)`` of ``results``.

    With ``test`` (the :class:`~coursekit.eval.listening_trials.ListeningTest` or its folder),
    from the sources it recorded (when they are still where they were). Otherwise from the
    systems' folders: an item is named by the way
    :func:`~coursekit.eval.listening_trials.match_items` paired it (a file name, ``pitch-PPP``
    or ``index-NNN``), so the folders are listed again and each system's items looked up the
    same way (the first of name, pitch and index that finds all of them).

    Returns
    -------
    dict
        ``{(system, item): Path}`` for every rated clip of a system in ``systems``.

    Example
    -------
    >>> rated_clips("runs/ch08/simulated.jsonl", {"real": "standins/real"})  # doctest: +SKIP
    {('real', 'brass_acoustic_046-060-100'): PosixPath('standins/real/audio/brass_...wav'), ...}
    """
    from .listening_analysis import _as_results
    from .listening_trials import ListeningTest, _by_strategy, list_samples, load_test

    res = _as_results(results)
    wanted: dict = {}
    for r in res.rows:
        if r["system"] in systems:
            wanted.setdefault(r["system"], set()).add(r["item"])
    out = {}
    if test is not None:
        test = test if isinstance(test, ListeningTest) else load_test(test)
        for s in test.stimuli.values():
            if s["role"] == "system" and s["item"] in wanted.get(s["system"], ()):
                out[(s["system"], s["item"])] = Path(s["source"])
        if all(p.exists() for p in out.values()):  # else (built elsewhere): match as below
            return out
        out = {}
    for name, items in wanted.items():
        samples = list_samples(systems[name])
        for strategy in ("name", "pitch", "index"):
            keyed = _by_strategy(samples, strategy)
            if items <= set(keyed):
                out.update({(name, i): Path(keyed[i]["path"]) for i in items})
                break
        else:
            raise UserError(f"the rated items of {name!r} ({', '.join(sorted(items)[:3])} ...) are "
                            f"not in {systems[name]}: is it the folder the test was built from?")
    return out


def _stride(clips, max_frames: int) -> int:
    return max(1, math.ceil(sum(len(c) for c in clips) / max_frames))


def _distances(out, listed, rated, reference, embedding, metrics, cache, progress) -> None:
    """FAD and KAD of each system and of each rated clip, into ``out`` (see :func:`measure`)."""
    from .clips import embed_folder
    from .evaluate import KAD_MAX_FRAMES, kad_with_ci
    from .fad import frechet_distance
    from .kad import kad_per_clip
    from .listening_trials import list_samples

    ref_samples = list_samples(reference)
    ref = embed_folder([s["path"] for s in ref_samples], embedding, cache, progress)
    ref_pool = np.concatenate(ref)
    stride = _stride(ref, KAD_MAX_FRAMES)
    for name, samples in listed.items():
        gen = embed_folder([s["path"] for s in samples], embedding, cache, progress)
        pooled = np.concatenate(gen)
        if "fad" in metrics:
            fad = float(frechet_distance(ref_pool, pooled))
            out["system"]["fad"][name] = fad
            for item, j in rated[name]:  # the FAD this system loses without the clip
                rest = np.concatenate([g for k, g in enumerate(gen) if k != j]) if len(gen) > 1 else None
                out["clip"]["fad"][(name, item)] = (fad - float(frechet_distance(ref_pool, rest))
                                                    if rest is not None else float("nan"))
        if "kad" in metrics:
            out["system"]["kad"][name] = float(kad_with_ci(ref, gen, n_boot=0)["kad"])
            if rated[name]:
                per = kad_per_clip([c[::stride] for c in ref], [gen[j][::stride] for _, j in rated[name]])
                out["clip"]["kad"].update({(name, item): float(v) for (item, _), v in zip(rated[name], per)})



def measure(systems: dict, reference, clips: dict | None = None, paired=None,
            embedding: str = "mel", metrics=tuple(METRICS), cache=True, progress: bool = False) -> dict:
    """Each system's FAD, KAD, mel distance and CREPE pitch accuracy, and each rated clip's.

    Parameters
    ----------
    systems : dict
        ``{name: folder}``, the folders the test was built from.
    reference : folder
        Real notes other than the systems' (the reference of FAD and KAD).
    clips : dict, optional
        ``{(system, item): path}`` of the rated clips (:func:`rated_clips`); without it only the
        per-system values are measured.
    paired : folder, optional
        Real notes with the same file names as the systems' notes (the notes degraded copies were
        made from): the mel distance of a note is to the real note of its name. Without it, or
        for a system none of whose names it holds, there is no mel distance (said in ``notes``).
    embedding : str
        The embedding of FAD and KAD (``'mel'`` runs anywhere).
    metrics : sequence of str
        Which of :data:`METRICS` to measure.
    cache, progress : bool

    Returns
    -------
    dict
        ``{"system": {metric: {system: value}}, "clip": {metric: {(system, item): value}},
        "notes": {metric: [str]}}``. ``notes`` says, one line each, what could not be
        measured. A note CREPE hears no pitch in counts as wrong; one asked outside CREPE's
        range is not judged (NaN for its clip).

    Example
    -------
    >>> v = measure({"real": "standins/real", "noisy": "standins/noisy"}, "nsynth-valid",
    ...             paired="nsynth-test")                                # doctest: +SKIP
    >>> v["system"]["mel_distance"]["real"]                              # doctest: +SKIP
    0.0
    """
    from .. import audio as A
    from ..recipes.codec import mel_distance
    from .clips import embed_folder
    from .evaluate import judge_pitch
    from .fad import RankDeficientWarning
    from .listening_trials import list_samples

    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {', '.join(METRICS)}")
    clips = clips or {}
    out = {"system": {m: {} for m in metrics}, "clip": {m: {} for m in metrics},
           "notes": {m: [] for m in metrics}}
    listed = {name: list_samples(folder) for name, folder in systems.items()}
    where = {name: {Path(s["path"]).resolve(): i for i, s in enumerate(samples)}
             for name, samples in listed.items()}
    rated = {name: [(item, where[name].get(Path(p).resolve())) for (s, item), p in clips.items()
                    if s == name] for name in systems}
    lost = [f"{s}/{i}" for s, items in rated.items() for i, j in items if j is None]
    if lost:
        raise UserError(f"rated clip(s) {', '.join(lost[:3])} are not files of their system's "
                        "folder; give the folders the test was built from")

    if {"fad", "kad"} & set(metrics):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always", RankDeficientWarning)
            _distances(out, listed, rated, reference, embedding, metrics, cache, progress)
        if any(issubclass(w.category, RankDeficientWarning) for w in said):
            out["notes"]["fad"].append("some FADs rest on fewer frames than the embedding has "
                                       "dimensions (rank-deficient covariance): unreliable, "
                                       "strongly biased; use more notes per system")


    if "mel_distance" in metrics:
        if paired is None:
            out["notes"]["mel_distance"].append("no paired real notes given (paired=...), so none")
        else:
            real = {s["key"]: s["path"] for s in list_samples(paired)}
            for name, samples in listed.items():
                d = {}
                for i, s in enumerate(samples):
                    if s["key"] in real:
                        y_real, _ = A.load(real[s["key"]], sr=16000)
                        y, _ = A.load(s["path"], sr=16000)
                        d[i] = mel_distance(y_real, y, sr=16000)
                if not d:
                    out["notes"]["mel_distance"].append(f"no note of {name!r} shares a file name with "
                                        f"the paired real notes in {paired}, so none")
                    continue
                out["system"]["mel_distance"][name] = float(np.mean(list(d.values())))
                for item, j in rated[name]:
                    out["clip"]["mel_distance"][(name, item)] = d.get(j, float("nan"))

    if "pitch" in metrics:
        from .embeddings import EmbeddingUnavailable

        try:
            for name, samples in listed.items():
                asked = [s["pitch"] for s in samples]
                if all(a is None for a in asked):
                    out["notes"]["pitch"].append(f"the notes of {name!r} have no asked pitch "
                                        "(no examples.json, no ..._NNN-PPP-VVV names), so none")
                    continue
                frames = embed_folder([s["path"] for s in samples], "crepe", cache, progress)
                verdict = [judge_pitch(f, a)[0] if a is not None else "out_of_range"
                           for f, a in zip(frames, asked)]
                judged = [v for v in verdict if v != "out_of_range"]
                out["system"]["pitch"][name] = (sum(v == "ok" for v in judged) / len(judged)
                                                if judged else float("nan"))
                for item, j in rated[name]:
                    out["clip"]["pitch"][(name, item)] = (float(verdict[j] == "ok")
                                                          if verdict[j] != "out_of_range" else float("nan"))
        except EmbeddingUnavailable as err:
            out["notes"]["pitch"].append(f"CREPE is not available ({err}), so none")
    return out


def metric_agreement(results, systems: dict, reference, paired=None, test=None,
                     embedding: str = "mel", metrics=tuple(METRICS), level: float = 0.95,
                     n_boot: int = 2000, seed: int = 0, progress: bool = False) -> list[dict]:
    """Which metric agrees with the listeners: :func:`measure` then :func:`agreement_table`.

    Parameters
    ----------
    results : Results or results file(s)
        The ratings (simulated or a class's: the same code reads both).
    systems : dict
        ``{name: folder}``: the folders the test was built from.
    reference : folder
        Other real notes, the reference of FAD and KAD.
    paired : folder, optional
        Real notes of the same file names, for the mel distance (see :func:`measure`).
    test : ListeningTest or folder, optional
        The test, to find each rated clip's file exactly (else matched as the test did).
    embedding, metrics, level, n_boot, seed, progress
        See :func:`measure` and :func:`agreement_table`.

    Returns
    -------
    list of dict
        :func:`agreement_table`'s rows; the notes of :func:`measure` are added to the
        per-system row of their metric.

    Example
    -------
    >>> rows = metric_agreement("runs/ch08/simulated.jsonl", {"real": "...", "noisy": "..."},
    ...                         reference="nsynth-valid", paired="nsynth-test")  # doctest: +SKIP
    >>> print(format_agreement(rows))                                          # doctest: +SKIP
    """
    from .listening_analysis import _as_results

    res = _as_results(results)
    clips = rated_clips(res, systems, test)
    values = measure(systems, reference, clips, paired=paired, embedding=embedding,
                     metrics=metrics, progress=progress)
    rows = agreement_table(values, res, level=level, n_boot=n_boot, seed=seed)
    for row in rows:
        if row["level"] == "system":  # what could not be measured, said once a metric
            said = values["notes"].get(row["metric"], [])
            row["notes"] = said + [n for n in row["notes"] if not any(  # the reason is said
                n.startswith(f"left out {s!r}: no ") for s in systems if f"{s!r}" in " ".join(said))]
        if row["metric"] in ("fad", "kad"):
            row["embedding"] = embedding
    return rows


# ---------------------------------------------------------------------------------------------
# Printing and plotting
# ---------------------------------------------------------------------------------------------

def _ci(v, ci) -> str:
    if v is None:
        return f"{'-':>6} {'':15}"
    lo, hi = ci
    return f"{v:+6.2f} " + (f"[{lo:+.2f}, {hi:+.2f}]" if lo is not None else f"{'[no interval]':15}")


def format_agreement(rows: list[dict]) -> str:
    """The table of :func:`agreement_table` (or :func:`metric_agreement`) as text.

    Example
    -------
    >>> print(format_agreement([]))                                   # doctest: +ELLIPSIS
    Which metric agrees with the listeners...
    """
    lines = ["Which metric agrees with the listeners: rank correlation with the mean rating, "
             "signed so that + = agrees",
             f"{'level':<7} {'metric':<17} {'better':<7} {'n':>3}  {'Spearman [95 % CI]':<22} "
             f"{'Kendall [95 % CI]':<22} resampled"]
    for r in rows:
        label = r["label"] + (f" ({r['embedding']})" if r.get("embedding") else "")
        lines.append(f"{r['level']:<7} {label:<17} {r['better']:<7} {r['n']:>3}  "
                     f"{_ci(r['spearman'], r['spearman_ci']):<22} {_ci(r['kendall'], r['kendall_ci']):<22} "
                     f"{r.get('resampled', '')}")
    notes = [f"  {r['level']} / {r['label']}: {n}" for r in rows for n in r["notes"]]
    if notes:
        lines += ["notes:"] + notes
    return "\n".join(lines)


def plot_agreement(rows: list[dict], ax=None):
    """Each metric's agreement (Spearman) with its interval, per system and per clip.

    Example
    -------
    >>> plot_agreement(metric_agreement(results, systems, "nsynth-valid"))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.5 * len(rows) + 1.2))
    labels = []
    for i, r in enumerate(rows):
        labels.append(f"{r['label']} ({r['level']})")
        if r["spearman"] is None:
            ax.text(0, i, "not computed", ha="center", va="center", fontsize=8, color="0.4")
            continue
        color = "#2171b5" if r["level"] == "system" else "#d6604d"
        lo, hi = r["spearman_ci"]
        if lo is not None:
            ax.plot([lo, hi], [i, i], color=color, lw=2)
        ax.plot([r["spearman"]], [i], "o", color=color)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_yticks(range(len(rows)), labels)
    ax.set_xlim(-1.05, 1.05)
    ax.invert_yaxis()
    ax.set_xlabel("Spearman agreement with the mean rating (+ = agrees), 95 % interval")
    return ax
