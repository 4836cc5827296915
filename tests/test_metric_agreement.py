"""Which metric agrees with the listeners (coursekit.eval.metric_agreement): the rank
correlations of the bootstrap against listening_stats, a metric that follows the true quality
against one that does not (per system and per clip), what bad input says, and the whole path
from folders of notes through a simulated test to the printed table.
"""

import itertools
import json

import numpy as np
import pytest
import soundfile as sf

from coursekit.eval import listening as lt
from coursekit.eval import listening_stats as ls
from coursekit.eval import metric_agreement as ma
from coursekit.eval.listening_analysis import Results
from coursekit.outputs import UserError

SR = 16000


def _results(quality: dict, n_raters=12, n_items=4, noise=0.15, bias=0.1, item_effect=None, seed=0):
    """A MOS test's decoded ratings: rater r rates item i of system s as
    ``quality[s] + item_effect[s, i] + leniency_r + noise`` (on a 0-1 scale, times 4, plus 1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_raters):
        b = rng.normal(0, bias)
        for s, q in quality.items():
            for i in range(n_items):
                e = 0.0 if item_effect is None else item_effect[(s, f"item{i}")]
                rows.append({"participant": f"p{r:02d}", "trial": f"t-{s}-{i}", "item": f"item{i}",
                             "system": s, "role": "system", "position": None, "elapsed_s": None,
                             "rating": float(1 + 4 * (q + e + b + rng.normal(0, noise)))})
    return Results("mos", "mos-test", "v1", rows, [], list(quality))


def _contains_zero(ci):
    return ci[0] is not None and ci[0] <= 0 <= ci[1]


def test_correlation_rows_match_listening_stats():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, size=(30, 9)).astype(float)   # ties on purpose
    y = rng.normal(size=(30, 9))
    y[:, :3] = 1.0
    rho, tau = ma.correlation_rows(x, y)
    for b in range(30):
        if np.ptp(x[b]) == 0:
            assert np.isnan(rho[b]) and np.isnan(tau[b])
            continue
        assert rho[b] == pytest.approx(ls.spearman(x[b], y[b])[0], abs=1e-12)
        assert tau[b] == pytest.approx(ls.kendall_tau(x[b], y[b])[0], abs=1e-12)
    rho, tau = ma.correlation_rows([[1, 1, 1]], [[1, 2, 3]])
    assert np.isnan(rho[0]) and np.isnan(tau[0])


def _unrelated(n):
    """A ranking of n items with Spearman correlation 0 to 0, 1, ..., n-1."""
    for perm in itertools.permutations(range(n)):
        if abs(ls.spearman(np.arange(n), perm)[0]) < 1e-12:
            return np.array(perm, dtype=float)
    raise AssertionError("no permutation")


def test_per_system_monotone_metric_agrees_unrelated_one_does_not():
    names = [f"s{i}" for i in range(7)]
    quality = dict(zip(names, np.linspace(0.2, 0.8, 7)))
    res = _results(quality, n_raters=10, noise=0.25, bias=0.15)
    fad = {s: 10.0 * (1 - q) for s, q in quality.items()}          # lower is better, follows quality
    unrelated = dict(zip(names, _unrelated(7)))
    pitch = {s: q for s, q in quality.items()}                       # higher is better
    rows = ma.agreement_table({"system": {"fad": fad, "kad": unrelated, "pitch": pitch}}, res,
                              n_boot=400, seed=0)
    by = {r["metric"]: r for r in rows}
    for m in ("fad", "pitch"):  # signed: + = agrees, whichever direction is better
        assert by[m]["spearman"] > 0.8 and by[m]["spearman_ci"][0] > 0
        assert by[m]["kendall"] > 0.6 and by[m]["kendall_ci"][0] > 0
    assert _contains_zero(by["kad"]["spearman_ci"]) and _contains_zero(by["kad"]["kendall_ci"])
    assert by["fad"]["n"] == 7 and by["fad"]["resampled"] == "10 participants"
    # the resampled means are each system's mean over the drawn raters: at n_boot draws of
    # all raters the interval is that of the mean ratings, which are in 'points'
    means = {s: float(res.ratings(s).mean()) for s in names}
    assert {p[0]: p[2] for p in by["fad"]["points"]} == pytest.approx(means)


def test_per_clip_path():
    rng = np.random.default_rng(3)
    quality = {"a": 0.7, "b": 0.5, "c": 0.3}
    effect = {(s, f"item{i}"): rng.normal(0, 0.15) for s in quality for i in range(12)}
    res = _results(quality, n_raters=8, n_items=12, item_effect=effect)
    clip_q = {k: quality[k[0]] + e for k, e in effect.items()}
    values = {"clip": {"mel_distance": {k: 1 - q + rng.normal(0, 0.02) for k, q in clip_q.items()},
                       "pitch": {k: float(rng.random() < 0.5) for k in clip_q}}}
    rows = ma.agreement_table(values, res, n_boot=500, seed=0)
    by = {r["metric"]: r for r in rows}
    assert all(r["level"] == "clip" for r in rows)
    assert by["mel_distance"]["n"] == 36 and by["mel_distance"]["resampled"] == "36 clips"
    assert by["mel_distance"]["spearman"] > 0.7 and by["mel_distance"]["spearman_ci"][0] > 0
    assert _contains_zero(by["pitch"]["spearman_ci"]) and _contains_zero(by["pitch"]["kendall_ci"])
    text = ma.format_agreement(rows)
    assert "clip    mel distance" in text and "36 clips" in text


def test_bad_input_says_it_in_one_line():
    quality = {"a": 0.8, "b": 0.6, "c": 0.4, "d": 0.2}
    res = _results(quality, n_raters=5, n_items=2)
    values = {"system": {
        "fad": {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "ghost": 0.5},   # a system nobody rated
        "kad": {"a": 1.0, "b": 2.0, "c": float("nan")},                 # d missing, c NaN
        "pitch": {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}}}             # constant
    by = {r["metric"]: r for r in ma.agreement_table(values, res, n_boot=100)}
    assert by["fad"]["n"] == 4 and by["fad"]["spearman"] == pytest.approx(1.0)
    assert by["fad"]["notes"] == ["left out 'ghost': it has no ratings (rated: a, b, c, d)"]
    assert by["kad"]["spearman"] is None
    assert by["kad"]["notes"][:2] == ["left out 'c': no KAD value for it", "left out 'd': no KAD value for it"]
    assert by["kad"]["notes"][-1].startswith("not computed: needs at least 3 rated systems")
    assert by["pitch"]["notes"] == ["not computed: the metric is the same for all 4 systems"]
    text = ma.format_agreement(list(by.values()))
    assert all("\n" not in n for r in by.values() for n in r["notes"])
    assert "system / KAD: left out 'd'" in text
    with pytest.raises(UserError, match="none of the systems with metric values") as err:
        ma.agreement_table({"system": {"fad": {"x": 1.0, "y": 2.0, "z": 3.0}}}, res)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="n_boot"):
        ma.agreement_table(values, res, n_boot=2)


# ---------------------------------------------------------------------------------------------
# From folders of notes to the table
# ---------------------------------------------------------------------------------------------

def _note(pitch, quality, rng, seconds=0.5):
    t = np.arange(int(seconds * SR)) / SR
    f0 = 440 * 2 ** ((pitch - 69) / 12)
    y = 0.2 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) * np.exp(-2 * t)
    return (y + (1 - quality) * 0.08 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Three systems, degraded copies of the same 5 real notes, and other real notes."""
    root = tmp_path_factory.mktemp("agree")
    rng = np.random.default_rng(0)
    out = {}
    for name, q, pitches in [("real", 1.0, (57, 60, 62, 64, 67)), ("good", 0.8, (57, 60, 62, 64, 67)),
                             ("fair", 0.5, (57, 60, 62, 64, 67)), ("poor", 0.1, (57, 60, 62, 64, 67)),
                             ("other", 1.0, (55, 59, 61, 63, 65, 66, 68, 69, 71, 72))]:
        d = root / name
        (d / "audio").mkdir(parents=True)
        meta = {}
        for p in pitches:
            key = f"keyboard_acoustic_{'009' if name == 'other' else '004'}-{p:03d}-100"
            sf.write(d / "audio" / f"{key}.wav", _note(p, q, rng), SR)
            meta[key] = {"pitch": p, "velocity": 100, "instrument_family_str": "keyboard"}
        (d / "examples.json").write_text(json.dumps(meta))
        out[name] = d
    return out


def test_metric_agreement_from_folders(folders, tmp_path):
    systems = {k: folders[k] for k in ("good", "fair", "poor")}
    test = lt.build_test(systems, tmp_path / "mos", protocol="mos", n_items=4, seconds=0.4,
                         verbose=False)
    sim = lt.simulate_raters(test, 5, {"good": 0.8, "fair": 0.5, "poor": 0.2},
                             results=tmp_path / "sim.jsonl")
    clips = ma.rated_clips(sim, systems)
    assert clips == ma.rated_clips(sim, systems, test=test.folder)
    assert len(clips) == 12 and all(p.exists() for p in clips.values())
    rows = ma.metric_agreement(sim, systems, folders["other"], paired=folders["real"], test=test,
                               n_boot=100, progress=False)
    assert [(r["level"], r["metric"]) for r in rows] == (
        [("system", m) for m in ma.METRICS] + [("clip", m) for m in ma.METRICS])
    by = {(r["level"], r["metric"]): r for r in rows}
    assert by[("system", "mel_distance")]["spearman"] == pytest.approx(1.0)   # noise: further, worse
    assert by[("clip", "mel_distance")]["n"] == 12
    assert by[("system", "fad")]["embedding"] == "mel"
    text = ma.format_agreement(rows)
    assert text.count("\n") >= 9 and "Spearman" in text
    ma.plot_agreement(rows)
    # without the paired real notes there is no mel distance, and the table says why
    rows = ma.metric_agreement(sim, systems, folders["other"], metrics=("mel_distance",), n_boot=100)
    assert rows[0]["notes"][0] == "no paired real notes given (paired=...), so none"
    # folders that are not the test's
    with pytest.raises(UserError, match="not in"):
        ma.rated_clips(sim, {"good": folders["other"]})


def test_cli_analyse_with_systems(folders, tmp_path, capsys):
    from coursekit.cli import main

    systems = {k: folders[k] for k in ("good", "fair", "poor")}
    test = lt.build_test(list(systems.values()), tmp_path / "mos", protocol="mos", n_items=3,
                         seconds=0.4, verbose=False)
    sim = lt.simulate_raters(test, 4, {"good": 0.8, "fair": 0.5, "poor": 0.2},
                             results=tmp_path / "sim.jsonl")
    folders_args = [str(f) for f in systems.values()]
    assert main(["listening", "analyse", str(sim), "--systems", *folders_args, "--real",
                 str(folders["other"]), "--paired", str(folders["real"]), "--n-boot", "100"]) == 0
    out = capsys.readouterr().out
    assert "Friedman" in out and "Which metric agrees with the listeners" in out
    assert "system  mel distance" in out
    assert main(["listening", "analyse", str(sim), "--systems", *folders_args, "--json",
                 "--real", str(folders["other"]), "--n-boot", "100"]) == 0
    rows = json.loads(capsys.readouterr().out)["metric_agreement"]
    assert len(rows) == 8 and rows[2]["notes"] == [
        "no paired real notes given (paired=...), so none",
        "not computed: needs at least 3 rated systems with a value, has 0 (none)"]
    assert main(["listening", "analyse", str(sim), "--systems", *folders_args]) == 2
    assert "--systems needs --real" in capsys.readouterr().err
