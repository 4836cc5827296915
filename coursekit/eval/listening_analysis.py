"""The analysis of a listening test's results: decoded with the blinding key, tabulated, tested.

:func:`load_results` reads one or several results files (several participants, several files
merge) into :class:`Results`; then :func:`mos_table` (mean with t and bootstrap 95 %
intervals), :func:`friedman`, :func:`pairwise_wilcoxon` (Holm-corrected), :func:`screen_mushra`
(BS.1534 post-screening), :func:`rank_correlation` (FAD against mean rating), the plots
:func:`plot_ratings` and :func:`plot_fad_vs_rating`, and :func:`analyse` /
:func:`format_report` for everything at once; :func:`cli_analyse` is
``python -m coursekit listening analyse`` (with ``--systems``, also the table of
:mod:`coursekit.eval.metric_agreement`: which metric agrees with the ratings). The statistics
themselves are in :mod:`coursekit.eval.listening_stats`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ..outputs import UserError
from . import listening_stats as ls
from .listening_store import read_records
from .listening_trials import MOS_LABELS, MUSHRA_LABELS, RESERVED

__all__ = [
    "Results", "load_results", "mos_table", "friedman", "pairwise_wilcoxon", "screen_mushra",
    "rank_correlation", "analyse", "format_report", "plot_ratings", "plot_fad_vs_rating",
    "read_fad", "cli_analyse",
]


class Results:
    """The answers of one test, decoded with the blinding key: one row per rating.

    Attributes
    ----------
    protocol, test_id, version : str
    rows : list of dict
        ``participant, trial, item, system, role, rating, position, elapsed_s``.
    files : list of Path
    """

    def __init__(self, protocol: str, test_id: str, version: str, rows: list, files: list,
                 systems: list | None = None):
        self.protocol, self.test_id, self.version = protocol, test_id, version
        self.rows, self.files = rows, files
        present = {r["system"] for r in rows}
        order = [s for s in (systems or []) if s in present]
        self.systems = order + sorted(present - set(order))

    def __repr__(self) -> str:
        return (f"Results({self.protocol}, {len(self.participants)} participants, "
                f"{len(self.rows)} ratings, systems {self.systems})")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def participants(self) -> list[str]:
        return sorted({r["participant"] for r in self.rows})

    @property
    def simulated(self) -> list[str]:
        """Participants whose code starts with ``sim-`` (written by
        :func:`~coursekit.eval.listening_sim.simulate_raters`)."""
        return [p for p in self.participants if p.startswith("sim-")]

    def ratings(self, system: str | None = None, participant: str | None = None) -> np.ndarray:
        """The ratings (of one system and/or participant) as an array."""
        return np.array([r["rating"] for r in self.rows
                         if (system is None or r["system"] == system)
                         and (participant is None or r["participant"] == participant)], dtype=float)

    def exclude(self, participants) -> "Results":
        """The same results without ``participants``."""
        drop = set(participants)
        return Results(self.protocol, self.test_id, self.version,
                       [r for r in self.rows if r["participant"] not in drop], self.files, self.systems)

    def only(self, participants) -> "Results":
        """The same results restricted to ``participants``."""
        keep = set(participants)
        return Results(self.protocol, self.test_id, self.version,
                       [r for r in self.rows if r["participant"] in keep], self.files, self.systems)

    def matrix(self, blocks: str = "auto", systems=None) -> tuple[np.ndarray, list, list]:
        """A complete (blocks, systems) matrix of ratings for the rank tests.

        ``blocks``: ``'participant'`` (each participant's mean rating of each system: MOS),
        ``'trial'`` (each participant's ratings in one trial: MUSHRA, where a trial holds every
        system), ``'item'`` (mean over participants per item), or ``'auto'`` (trial for MUSHRA,
        participant for MOS). Blocks missing a system are dropped.

        Returns
        -------
        (matrix, systems, block_labels)
        """
        if blocks == "auto":
            blocks = "trial" if self.protocol == "mushra" else "participant"
        if blocks not in ("participant", "trial", "item"):
            raise ValueError(f"blocks must be 'auto', 'participant', 'trial' or 'item', got {blocks!r}")
        if blocks == "trial" and self.protocol != "mushra":
            raise ValueError("blocks='trial' needs every system in a trial (MUSHRA); a MOS trial "
                             "holds one sample: use 'participant' or 'item'")
        systems = list(systems) if systems is not None else self.systems
        unknown = [s for s in systems if s not in self.systems]
        if unknown:
            raise ValueError(f"no ratings of {unknown}; systems are {self.systems}")
        field = {"participant": lambda r: r["participant"], "item": lambda r: r["item"],
                 "trial": lambda r: (r["participant"], r["trial"])}[blocks]
        cells: dict = {}
        for r in self.rows:
            if r["system"] in systems:
                cells.setdefault(field(r), {}).setdefault(r["system"], []).append(r["rating"])
        labels = sorted(b for b, c in cells.items() if all(s in c for s in systems))
        m = np.array([[np.mean(cells[b][s]) for s in systems] for b in labels], dtype=float)
        return m.reshape(len(labels), len(systems)), systems, labels


def load_results(paths, test_id: str | None = None) -> Results:
    """Read one or several results files of the same test and decode them with the key.

    Several files (or several participants in one file) merge. If a participant answered a
    trial twice (two open pages), the later answer counts, with a warning. Files of different
    tests are refused (:class:`~coursekit.outputs.UserError`): their ratings are of different
    stimuli and cannot be pooled; analyse each on its own.

    Parameters
    ----------
    paths : path or list of paths
    test_id : str, optional
        The test whose results these are (default: the test of the first file); every file
        must hold results of it.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list({Path(p).absolute(): Path(p) for p in paths}.values())  # each file once
    if not paths:
        raise ValueError("load_results: no results file given")
    header, answers = None, {}
    duplicates = 0
    first = None  # the file that fixed the test, when test_id was not given
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such results file")
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            records = read_records(path)
        heads = [r for r in records if r.get("type") == "header"]
        if not heads:
            raise ValueError(f"{path}: no header record; is this a coursekit listening results file?")
        for w in said:  # damaged lines of a results file; nothing to say of a file of something else
            warnings.warn(w.message, stacklevel=2)
        if test_id is None:
            test_id, first = heads[0].get("test_id"), path
        if not any(h.get("test_id") == test_id for h in heads):
            ids = ", ".join(sorted({str(h.get("test_id")) for h in heads}))
            theirs = f"{first} holds test {test_id}" if first else f"test {test_id} was asked for"
            raise UserError(f"{path} holds results of test {ids}, but {theirs}; results of "
                            "different tests cannot be merged: analyse each file on its own")
        for h in heads:
            if h.get("test_id") == test_id:
                if header is None:
                    header = h
                elif h.get("test_version") != header.get("test_version"):
                    raise ValueError(f"{path}: version {h.get('test_version')} of test {test_id}, "
                                     f"other files have {header.get('test_version')}; do not merge them")
        for r in records:
            if r.get("type") == "answer" and r.get("test_id") == test_id:
                k = (r["participant"], r["trial"])
                duplicates += k in answers
                answers[k] = r
    if header is None:
        raise ValueError(f"no results of test {test_id} in {', '.join(map(str, paths))}")
    if duplicates:
        warnings.warn(f"{duplicates} trial(s) were answered twice by the same participant; "
                      "the later answer is kept")
    key, items = header["key"], header.get("trials", {})
    rows = []
    for (participant, trial), r in answers.items():
        for sid, rating in r["ratings"].items():
            k = key.get(sid)
            if k is None:
                raise ValueError(f"stimulus {sid} of participant {participant} is not in the key; "
                                 "the results file is damaged")
            rows.append({"participant": participant, "trial": trial, "item": items.get(trial, k["item"]),
                         "system": k["system"], "role": k["role"], "rating": float(rating),
                         "position": r.get("position"), "elapsed_s": r.get("elapsed_s")})
    return Results(header["protocol"], test_id, header.get("test_version"), rows, paths,
                   header.get("systems"))


def _as_results(results) -> Results:
    return results if isinstance(results, Results) else load_results(results)


def mos_table(results, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
              unit: str = "rating") -> list[dict]:
    """Mean rating of each system with its t and bootstrap confidence intervals.

    Parameters
    ----------
    results : Results or results file(s)
    level : float
    n_boot : int
    unit : {'rating', 'participant'}
        ``'rating'``: every rating counts as one observation (as MOS tables usually report; too
        narrow when raters differ in leniency). ``'participant'``: the t interval is taken
        over participants' means and the bootstrap resamples whole participants.

    Returns
    -------
    list of dict
        ``system, n, n_participants, mean, sd, t_low, t_high, boot_low, boot_high``, best first.
    """
    res = _as_results(results)
    if unit not in ("rating", "participant"):
        raise ValueError(f"unit must be 'rating' or 'participant', got {unit!r}")
    out = []
    for s in res.systems:
        rows = [r for r in res.rows if r["system"] == s]
        x = np.array([r["rating"] for r in rows])
        who = np.array([r["participant"] for r in rows])
        entry = {"system": s, "n": int(x.size), "n_participants": int(np.unique(who).size),
                 "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else float("nan")}
        if unit == "rating":
            t = ls.t_interval(x, level) if x.size > 1 else (x.mean(), np.nan, np.nan)
            b = ls.bootstrap_interval(x, level, n_boot, seed) if x.size > 1 else t
        else:
            means = np.array([x[who == p].mean() for p in np.unique(who)])
            t = ls.t_interval(means, level) if means.size > 1 else (x.mean(), np.nan, np.nan)
            b = ls.bootstrap_interval(x, level, n_boot, seed, groups=who) if means.size > 1 else t
        entry.update(t_low=float(t[1]), t_high=float(t[2]), boot_low=float(b[1]), boot_high=float(b[2]))
        out.append(entry)
    return sorted(out, key=lambda e: -e["mean"])


def _test_systems(res: Results, systems) -> list:
    if systems is not None:
        return list(systems)
    return [s for s in res.systems if s not in RESERVED] if res.protocol == "mushra" else res.systems


def friedman(results, blocks: str = "auto", systems=None) -> dict:
    """Friedman's test over the systems (for MUSHRA, default: without reference and anchor).

    Returns :func:`~coursekit.eval.listening_stats.friedman_test`'s dict plus ``systems`` and
    ``blocks``.
    """
    res = _as_results(results)
    m, systems, labels = res.matrix(blocks, _test_systems(res, systems))
    out = ls.friedman_test(m)
    out.update(systems=systems, blocks=blocks if blocks != "auto" else
               ("trial" if res.protocol == "mushra" else "participant"))
    return out


def pairwise_wilcoxon(results, blocks: str = "auto", systems=None) -> list[dict]:
    """Wilcoxon signed-rank test for every pair of systems, p-values Holm-adjusted.

    Returns
    -------
    list of dict
        ``a, b, n, median_diff (a - b), statistic, p, p_holm``.
    """
    res = _as_results(results)
    m, systems, _ = res.matrix(blocks, _test_systems(res, systems))
    if m.shape[0] < 2:
        raise ValueError(f"only {m.shape[0]} complete block(s); need more participants or trials")
    out = []
    for i in range(len(systems)):
        for j in range(i + 1, len(systems)):
            d = m[:, i] - m[:, j]
            if np.all(d == 0):
                w = {"statistic": float("nan"), "p": 1.0, "n": 0}
            else:
                w = ls.wilcoxon_signed_rank(m[:, i], m[:, j])
            out.append({"a": systems[i], "b": systems[j], "n": w["n"],
                        "median_diff": float(np.median(d)), "statistic": w["statistic"], "p": w["p"]})
    if out:
        for row, adj in zip(out, ls.holm([r["p"] for r in out])):
            row["p_holm"] = float(adj)
    return out


def screen_mushra(results, threshold: float = 90.0, max_fraction: float = 0.15) -> list[dict]:
    """MUSHRA post-screening (ITU-R BS.1534-3): who rated the hidden reference too low too often?

    A participant is excluded when they rated the hidden reference below ``threshold`` in more
    than ``max_fraction`` of their trials.

    Returns
    -------
    list of dict
        One per participant: ``participant, n_trials, n_low, fraction, excluded``.
    """
    res = _as_results(results)
    if res.protocol != "mushra":
        raise ValueError("post-screening by the hidden reference applies to MUSHRA results only")
    out = []
    for p in res.participants:
        hidden = np.array([r["rating"] for r in res.rows
                           if r["participant"] == p and r["role"] == "hidden_reference"])
        n_low = int((hidden < threshold).sum())
        frac = n_low / hidden.size if hidden.size else 0.0
        out.append({"participant": p, "n_trials": int(hidden.size), "n_low": n_low,
                    "fraction": frac, "excluded": bool(frac > max_fraction)})
    return out


def rank_correlation(fad: dict, ratings) -> dict:
    """Spearman's rho and Kendall's tau between each system's FAD and its mean rating.

    Lower FAD means closer to the real data, so agreement with listeners shows as a
    *negative* correlation.

    Parameters
    ----------
    fad : dict
        ``{system: FAD}``.
    ratings : Results, results file(s), or dict ``{system: mean rating}``
    """
    if not isinstance(ratings, dict):
        ratings = {row["system"]: row["mean"] for row in mos_table(ratings, n_boot=10)}
    systems = [s for s in fad if s in ratings and np.isfinite(fad[s])]
    if len(systems) < 3:
        raise ValueError(f"need FAD and ratings of at least 3 systems, have {systems}")
    x = [float(fad[s]) for s in systems]
    y = [float(ratings[s]) for s in systems]
    rho, p_rho = ls.spearman(x, y)
    tau, p_tau = ls.kendall_tau(x, y)
    return {"systems": systems, "fad": x, "rating": y, "spearman": rho, "spearman_p": p_rho,
            "kendall": tau, "kendall_p": p_tau}


def analyse(results, fad: dict | None = None, level: float = 0.95, n_boot: int = 2000,
            seed: int = 0, screen: bool = True) -> dict:
    """Everything at once: MUSHRA screening, table, Friedman, pairwise tests, FAD correlation.

    With ``screen`` (MUSHRA only), excluded participants are left out of what follows.
    Steps that cannot be computed (too few systems or participants) are reported as a string
    under their key instead of failing the whole analysis.
    """
    res = _as_results(results)
    out: dict = {"protocol": res.protocol, "test_id": res.test_id, "version": res.version,
                 "participants": len(res.participants), "simulated": len(res.simulated),
                 "ratings": len(res.rows)}
    if res.protocol == "mushra":
        out["screening"] = screen_mushra(res)
        dropped = [s["participant"] for s in out["screening"] if s["excluded"]]
        out["excluded"] = dropped
        if screen and dropped:
            res = res.exclude(dropped)
    if not res.rows:
        raise ValueError("no ratings left to analyse")
    out["table"] = mos_table(res, level=level, n_boot=n_boot, seed=seed)
    for name, fn in (("friedman", friedman), ("pairwise", pairwise_wilcoxon)):
        try:
            out[name] = fn(res)
        except ValueError as err:
            out[name] = f"not computed: {err}"
    if fad:
        try:
            out["fad_correlation"] = rank_correlation(fad, {r["system"]: r["mean"] for r in out["table"]})
        except ValueError as err:
            out["fad_correlation"] = f"not computed: {err}"
    return out


def format_report(report: dict) -> str:
    """A printable summary of :func:`analyse`'s result."""
    scale = "MOS (1-5)" if report["protocol"] == "mos" else "MUSHRA (0-100)"
    lines = [f"{report['protocol'].upper()} test {report['test_id']} (version {report['version']}): "
             f"{report['participants']} participants ({report['simulated']} simulated), "
             f"{report['ratings']} ratings"]
    if "screening" in report:
        ex = report["excluded"]
        lines.append(f"post-screening (hidden reference < 90 in > 15 % of trials): "
                     f"{len(ex)} excluded" + (f" ({', '.join(ex)})" if ex else ""))
    lines.append(f"{'system':<12} {'n':>5} {scale:>15} {'95% t interval':>18} {'95% bootstrap':>18}")
    for r in report["table"]:
        lines.append(f"{r['system']:<12} {r['n']:>5} {r['mean']:>15.2f} "
                     f"{'[%.2f, %.2f]' % (r['t_low'], r['t_high']):>18} "
                     f"{'[%.2f, %.2f]' % (r['boot_low'], r['boot_high']):>18}")
    f = report.get("friedman")
    if isinstance(f, dict):
        lines.append(f"Friedman over {f['n_blocks']} {f['blocks']} blocks, {len(f['systems'])} systems: "
                     f"chi2({f['df']}) = {f['statistic']:.2f}, p = {f['p']:.3g}, Kendall's W = {f['kendall_w']:.2f}")
    elif f:
        lines.append(f"Friedman: {f}")
    pw = report.get("pairwise")
    if isinstance(pw, list):
        lines.append("pairwise Wilcoxon signed-rank, Holm-adjusted:")
        for r in pw:
            star = " *" if r["p_holm"] < 0.05 else ""
            lines.append(f"  {r['a']:>10} vs {r['b']:<10} median diff {r['median_diff']:+6.2f}  "
                         f"p = {r['p']:.3g}  p_holm = {r['p_holm']:.3g}{star}")
    elif pw:
        lines.append(f"pairwise: {pw}")
    c = report.get("fad_correlation")
    if isinstance(c, dict):
        lines.append(f"FAD vs mean rating over {len(c['systems'])} systems: Spearman rho = "
                     f"{c['spearman']:+.2f} (p = {c['spearman_p']:.2g}), Kendall tau = "
                     f"{c['kendall']:+.2f} (p = {c['kendall_p']:.2g}); negative = agreement")
    elif c:
        lines.append(f"FAD vs rating: {c}")
    return "\n".join(lines)


def plot_ratings(results, ax=None, level: float = 0.95, n_boot: int = 2000, unit: str = "rating"):
    """MOS: bars with the t interval (thick) and bootstrap interval (thin). MUSHRA: box plots."""
    import matplotlib.pyplot as plt

    res = _as_results(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * len(res.systems) + 2, 3.2))
    if res.protocol == "mos":
        table = mos_table(res, level=level, n_boot=n_boot, unit=unit)
        x = np.arange(len(table))
        means = [r["mean"] for r in table]
        ax.bar(x, means, color="#9ecae1", width=0.6)
        ax.errorbar(x - 0.08, means, yerr=[[r["mean"] - r["t_low"] for r in table],
                                           [r["t_high"] - r["mean"] for r in table]],
                    fmt="none", ecolor="k", elinewidth=2, capsize=4, label=f"{level:.0%} t")
        ax.errorbar(x + 0.08, means, yerr=[[r["mean"] - r["boot_low"] for r in table],
                                           [r["boot_high"] - r["mean"] for r in table]],
                    fmt="none", ecolor="#d6604d", elinewidth=1, capsize=3, label=f"{level:.0%} bootstrap")
        ax.set_xticks(x, [r["system"] for r in table])
        ax.set_ylim(1, 5)
        ax.set_yticks(range(1, 6), [f"{i} {lab}" for i, lab in enumerate(MOS_LABELS, 1)])
        ax.set_ylabel("MOS")
        ax.legend(loc="upper right", fontsize=8)
    else:
        systems = [r["system"] for r in mos_table(res, n_boot=10)]
        data = [res.ratings(s) for s in systems]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(np.arange(1, len(systems) + 1), systems)
        ax.set_ylim(0, 100)
        for v, name in MUSHRA_LABELS:
            ax.axhline(v, color="0.85", lw=0.8, zorder=0)
            ax.text(len(systems) + 0.55, v + 10, name, fontsize=7, va="center", color="0.4")
        ax.set_ylabel("MUSHRA score")
    ax.set_title(f"{res.protocol.upper()}: {len(res.participants)} participants")
    return ax


def plot_fad_vs_rating(fad: dict, results, ax=None):
    """Each system as a point: its FAD (x) against its mean rating (y), with the rank correlation."""
    import matplotlib.pyplot as plt

    c = rank_correlation(fad, results)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.scatter(c["fad"], c["rating"])
    for s, x, y in zip(c["systems"], c["fad"], c["rating"]):
        ax.annotate(s, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("FAD (lower is closer to real)")
    ax.set_ylabel("mean rating")
    ax.set_title(f"Spearman {c['spearman']:+.2f}, Kendall {c['kendall']:+.2f}")
    return ax



# ---------------------------------------------------------------------------------------------
# Command line: python -m coursekit listening analyse
# ---------------------------------------------------------------------------------------------

_FAD_FORMAT = 'a JSON object {system: fad}, e.g. {"rnn": 12.3, "gan": 8.1}'


def _fad_value(value) -> float | None:
    if isinstance(value, dict):
        value = value.get("fad")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_fad(path, option: str = "fad file") -> dict:
    """The FAD of each system from a JSON file ``{system: fad}`` (or ``{system: {"fad": ...}}``).

    Raises :class:`~coursekit.outputs.UserError` naming ``option`` and the file, and the
    format expected, when the file cannot be read or is not of that shape.
    """
    path = Path(path)
    where = f"{option} {path}"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{where}: no such file; it should hold {_FAD_FORMAT}") from None
    except IsADirectoryError:
        raise UserError(f"{where}: is a folder; give a file holding {_FAD_FORMAT}") from None
    except UnicodeDecodeError:
        raise UserError(f"{where}: not a text file; it should hold {_FAD_FORMAT}") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: not valid JSON ({err}); it should hold {_FAD_FORMAT}") from None
    except OSError as err:
        raise UserError(f"{where}: cannot be read ({err.strerror}); it should hold "
                        f"{_FAD_FORMAT}") from None
    if not isinstance(raw, dict) or not raw:
        what = "an empty object" if raw == {} else f"a JSON {type(raw).__name__}"
        raise UserError(f"{where}: holds {what}; it should hold {_FAD_FORMAT}")
    fad = {str(k): _fad_value(v) for k, v in raw.items()}
    bad = [k for k, v in fad.items() if v is None]
    if bad:
        raise UserError(f"{where}: the FAD of {bad[0]!r} is not a number ({raw[bad[0]]!r:.40}); it "
                        f"should hold {_FAD_FORMAT}")
    return fad


def cli_analyse(args) -> int:
    """``listening analyse RESULTS... [--fad FILE.json] [--systems DIR... --real DIR [--paired
    DIR] [--test-dir DIR]] [--json]``: print the analysis, and with ``--systems`` the table of
    :func:`~coursekit.eval.metric_agreement.metric_agreement`."""
    fad = read_fad(args.fad, option="--fad") if args.fad else None
    systems = getattr(args, "systems", None)
    if systems and not getattr(args, "real", None):
        raise UserError("--systems needs --real DIR: other real notes, the reference of FAD and KAD")
    res = load_results(args.results)
    report = analyse(res, fad=fad, n_boot=args.n_boot, screen=not args.no_screen)
    if systems:
        from .listening_trials import _system_folders
        from .metric_agreement import metric_agreement

        if not args.no_screen:
            res = res.exclude(report.get("excluded", []))
        report["metric_agreement"] = metric_agreement(
            res, _system_folders(systems), args.real, paired=args.paired,
            test=args.test_dir, n_boot=args.n_boot, progress=not args.json)
    if args.json:
        print(json.dumps(report, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    else:
        print(format_report(report))
        if systems:
            from .metric_agreement import format_agreement

            print(format_agreement(report["metric_agreement"]))
    return 0
