"""The listening test (chapter 08): statistics against scipy, building, blinding, the results
file (append, resume, corruption, merge), simulated raters and the analysis.

Everything here runs in-process on tiny synthetic systems (a few hundred ms of audio), in a few
seconds. The kernel-kill test and the browser test live in their own files.
"""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import stats

from coursekit.eval import listening as lt
from coursekit.eval import listening_stats as ls

SR = 16000
# System names that cannot occur by chance in the ids (ids use lowercase letters without i, l, o)
QUALITY = {"sys_alpha": 0.85, "sys_beta": 0.55, "sys_gamma": 0.25}


# ---------------------------------------------------------------------------------------------
# Statistics agree with scipy.stats
# ---------------------------------------------------------------------------------------------

def test_t_interval_matches_scipy():
    x = np.array([3, 4, 4, 5, 2, 4, 3, 5, 4, 4], dtype=float)
    mean, lo, hi = ls.t_interval(x, level=0.95)
    ref = stats.t.interval(0.95, df=x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(ref, rel=1e-12)
    lo90, hi90 = ls.t_interval(x, level=0.90)[1:]
    assert lo < lo90 < hi90 < hi


def test_bootstrap_interval_close_to_scipy_percentile():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, 60).astype(float)
    _, lo, hi = ls.bootstrap_interval(x, n_boot=4000, seed=0)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile",
                          random_state=1).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.08)
    assert hi == pytest.approx(ref.high, abs=0.08)
    # the cluster bootstrap is wider when raters differ in leniency
    groups = np.repeat(np.arange(6), 10)
    y = x + np.repeat(rng.normal(0, 1.0, 6), 10)
    plain = ls.bootstrap_interval(y, n_boot=2000, seed=0)
    cluster = ls.bootstrap_interval(y, n_boot=2000, seed=0, groups=groups)
    assert cluster[2] - cluster[1] > plain[2] - plain[1]


@pytest.mark.parametrize("kind", ["continuous", "likert", "mushra"])
def test_friedman_matches_scipy(kind):
    rng = np.random.default_rng(5)
    if kind == "continuous":
        m = rng.normal(size=(12, 4)) + [0, 0.3, 0.6, 0.9]
    elif kind == "likert":  # many ties within blocks
        m = rng.integers(1, 6, (15, 3)).astype(float)
    else:
        m = np.clip(rng.normal([80, 60, 40, 40], 15, (20, 4)).round(-1), 0, 100)
    ours = ls.friedman_test(m)
    ref = stats.friedmanchisquare(*m.T)
    assert ours["statistic"] == pytest.approx(ref.statistic, rel=1e-10)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert 0 <= ours["kendall_w"] <= 1


@pytest.mark.parametrize("n, kind", [(8, "continuous"), (30, "continuous"), (60, "continuous"),
                                     (10, "ties"), (25, "ties"), (12, "zeros"), (40, "zeros")])
def test_wilcoxon_matches_scipy(n, kind):
    rng = np.random.default_rng(n)
    if kind == "continuous":
        x, y = rng.normal(0.4, 1, n), rng.normal(0, 1, n)
    elif kind == "ties":
        x, y = rng.integers(1, 6, n).astype(float), rng.integers(1, 5, n).astype(float)
    else:
        x = rng.integers(0, 101, n).astype(float)
        y = np.where(rng.random(n) < 0.3, x, x - rng.integers(-4, 10, n))
    ours = ls.wilcoxon_signed_rank(x, y)
    ref = stats.wilcoxon(x, y)
    assert ours["statistic"] == pytest.approx(ref.statistic)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    for method in ("exact", "asymptotic"):
        if method == "exact" and kind != "continuous":
            continue  # scipy's 'exact' refuses ties; ours enumerates the tied ranks
        o = ls.wilcoxon_signed_rank(x, y, method=method)
        r = stats.wilcoxon(x, y, method=method)
        assert o["p"] == pytest.approx(r.pvalue, rel=1e-9, abs=1e-15)


def test_holm_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.20])
    # sorted: 0.005*5=0.025, 0.01*4=0.04, 0.03*3=0.09, 0.04*2=0.08 -> 0.09 (monotone), 0.20*1 -> 0.20
    expected = np.array([0.04, 0.09, 0.09, 0.025, 0.20])
    assert ls.holm(p) == pytest.approx(expected)
    assert ls.holm([0.5, 0.6]).tolist() == [1.0, 1.0]  # capped at 1
    with pytest.raises(ValueError, match="p-values"):
        ls.holm([0.1, 1.5])


def test_holm_matches_statsmodels_when_installed():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(0).random(12) ** 3
    ref = multitest.multipletests(p, method="holm")[1]
    assert ls.holm(p) == pytest.approx(ref)


@pytest.mark.parametrize("ties", [False, True])
def test_rank_correlations_match_scipy(ties):
    rng = np.random.default_rng(1 + ties)
    x = rng.integers(0, 5, 15).astype(float) if ties else rng.normal(size=15)
    y = x + rng.normal(size=15)
    rho, p = ls.spearman(x, y)
    ref = stats.spearmanr(x, y)
    assert (rho, p) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-10)
    tau, p = ls.kendall_tau(x, y)
    ref = stats.kendalltau(x, y)
    assert (tau, p) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-10)


def test_power_against_simulation():
    n, delta, sd = 15, 0.5, 0.9
    rng = np.random.default_rng(0)
    d = rng.normal(delta, sd, (3000, n))
    simulated = np.mean(stats.ttest_1samp(d, 0, axis=1).pvalue < 0.05)
    assert ls.paired_t_power(n, delta, sd) == pytest.approx(simulated, abs=0.03)
    n_needed = ls.raters_needed(delta, sd, power=0.8)
    assert ls.paired_t_power(n_needed, delta, sd) >= 0.8 > ls.paired_t_power(n_needed - 1, delta, sd)


# ---------------------------------------------------------------------------------------------
# Test systems: tiny folders of synthetic notes
# ---------------------------------------------------------------------------------------------

def _note(pitch, quality, rng, seconds=0.4):
    t = np.arange(int(seconds * SR)) / SR
    f0 = 440 * 2 ** ((pitch - 69) / 12)
    saw = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, int(7800 / f0)))  # bright
    y = 0.2 * saw * np.exp(-2 * t)
    return (y + (1 - quality) * 0.05 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def systems(tmp_path_factory):
    """Three NSynth-format systems and a plain-folder reference, the same 4 notes in each."""
    root = tmp_path_factory.mktemp("systems")
    rng = np.random.default_rng(0)
    folders = {}
    for name, q in list(QUALITY.items()) + [("ref_plain", 1.0)]:
        d = root / name
        meta = {}
        for pitch in (60, 62, 64, 67):
            key = f"keyboard_acoustic_004-{pitch:03d}-100"
            if name == "ref_plain":  # a plain folder of audio files
                (d / "notes").mkdir(parents=True, exist_ok=True)
                sf.write(d / "notes" / f"{key}.wav", _note(pitch, q, rng), SR)
            else:
                (d / "audio").mkdir(parents=True, exist_ok=True)
                sf.write(d / "audio" / f"{key}.wav", _note(pitch, q, rng), SR)
                meta[key] = {"pitch": pitch, "velocity": 100, "instrument_family_str": "keyboard"}
        if meta:
            (d / "examples.json").write_text(json.dumps(meta))
        folders[name] = d
    return folders


@pytest.fixture(scope="module")
def mos_test(systems, tmp_path_factory):
    sys3 = {k: v for k, v in systems.items() if k in QUALITY}
    return lt.build_test(sys3, tmp_path_factory.mktemp("t") / "mos", protocol="mos", n_items=3,
                         seconds=0.3, verbose=False)


@pytest.fixture(scope="module")
def mushra_test(systems, tmp_path_factory):
    sys3 = {k: v for k, v in systems.items() if k in QUALITY}
    return lt.build_test(sys3, tmp_path_factory.mktemp("t") / "mushra", protocol="mushra",
                         reference=systems["ref_plain"], n_items=3, seconds=0.3, verbose=False)


def test_list_samples_reads_both_layouts(systems):
    nsynth = lt.list_samples(systems["sys_alpha"])
    plain = lt.list_samples(systems["ref_plain"])
    assert [s["key"] for s in nsynth] == [f"keyboard_acoustic_004-{p:03d}-100" for p in (60, 62, 64, 67)]
    assert [s["pitch"] for s in plain] == [60, 62, 64, 67]
    assert plain[0]["key"].startswith("notes/")


def test_bad_inputs_say_what_is_wrong(systems, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio found"):
        lt.list_samples(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        lt.build_test({"a": tmp_path / "nope"}, tmp_path / "t")
    with pytest.raises(ValueError, match="needs a reference"):
        lt.build_test({"a": systems["sys_alpha"]}, tmp_path / "t", protocol="mushra")
    with pytest.raises(ValueError, match="reserved"):
        lt.build_test({"anchor": systems["sys_alpha"]}, tmp_path / "t", protocol="mushra",
                      reference=systems["ref_plain"])
    with pytest.raises(ValueError, match="protocol"):
        lt.build_test({"a": systems["sys_alpha"]}, tmp_path / "t", protocol="abx")


def test_matching_by_name_pitch_and_index(systems):
    s = {k: lt.list_samples(v) for k, v in systems.items()}
    items, how = lt.match_items({"a": s["sys_alpha"], "b": s["sys_beta"]}, n_min=4)
    assert how == "name" and len(items) == 4
    # the plain reference has other keys (notes/...): matched by pitch
    items, how = lt.match_items({"a": s["sys_alpha"]}, reference=s["ref_plain"], n_min=4)
    assert how == "pitch" and len(items) == 4 and items[0]["reference"] is not None
    items, how = lt.match_items({"a": s["sys_alpha"]}, s["ref_plain"], by="index")
    assert how == "index" and len(items) == 4


def test_build_mos_and_mushra(mos_test, mushra_test, systems):
    assert mos_test.protocol == "mos" and mos_test.n_trials == 3 * 3
    assert all(len(t["stimuli"]) == 1 and t["reference"] is None for t in mos_test.trials)
    assert mushra_test.n_trials == 3
    key = mushra_test.key()
    for t in mushra_test.trials:
        roles = sorted(key[s]["role"] for s in t["stimuli"])
        assert roles == ["anchor", "hidden_reference", "system", "system", "system"]
        assert key[t["reference"]]["role"] == "reference"
    assert set(mushra_test.systems) == set(QUALITY) | {"reference", "anchor"}
    # rebuilding the same design finds the same test; another design in the folder is refused
    again = lt.build_test({k: v for k, v in systems.items() if k in QUALITY}, mos_test.folder,
                          protocol="mos", n_items=3, seconds=0.3, verbose=False)
    assert again.test_id == mos_test.test_id
    with pytest.raises(lt.TestFolderTaken, match="another test"):
        lt.build_test({"sys_alpha": systems["sys_alpha"]}, mos_test.folder, n_items=2, seconds=0.3,
                      verbose=False)


def _spectrum_above(y, sr, hz):
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / sr)
    return spec[f > hz].sum() / spec.sum()


def test_anchor_is_the_reference_low_passed(mushra_test):
    import io

    key = mushra_test.key()
    t = mushra_test.trials[0]
    by_role = {key[s]["role"]: s for s in t["stimuli"]}
    read = lambda sid: sf.read(io.BytesIO(mushra_test.stimulus_bytes(sid)))[0]  # noqa: E731
    ref, hidden, anchor = read(t["reference"]), read(by_role["hidden_reference"]), read(by_role["anchor"])
    assert np.abs(ref - hidden).max() < 3 / 32768  # the same audio, up to the dither
    assert mushra_test.stimulus_bytes(t["reference"]) != mushra_test.stimulus_bytes(by_role["hidden_reference"])
    assert _spectrum_above(ref, SR, 4000) > 20 * _spectrum_above(anchor, SR, 4000)
    # loudness aligned: every stimulus near -20 dBFS RMS
    for sid in t["stimuli"]:
        y = read(sid)
        assert 20 * np.log10(np.sqrt(np.mean(y ** 2))) == pytest.approx(-20, abs=1.5)


def test_order_is_per_participant_and_stable(mos_test, mushra_test):
    a1, a2, b = (mos_test.order(p) for p in ("P01", "P01", "P02"))
    assert a1 == a2
    assert [t["id"] for t in a1] != [t["id"] for t in b]
    assert sorted(t["id"] for t in a1) == sorted(t["id"] for t in mos_test.trials)
    orders = {tuple(mushra_test.order(p)[0]["stimuli"]) for p in ("P01", "P02", "P03", "P04", "P05")}
    assert len(orders) > 1  # systems shuffled within a trial


# ---------------------------------------------------------------------------------------------
# Blinding: nothing the page receives names a system or a file
# ---------------------------------------------------------------------------------------------

def _secrets(test, systems):
    out = set(QUALITY) | {"ref_plain", str(test.folder), test.folder.name, "stimuli"}
    for s in test.stimuli.values():
        out |= {s["source"], Path(s["source"]).stem, s["item"]}
    out |= {str(p) for p in systems.values()}
    return out


@pytest.mark.parametrize("which", ["mos_test", "mushra_test"])
def test_blinding_in_every_page(which, request, systems, tmp_path):
    test = request.getfixturevalue(which)
    app = lt.ListeningApp(test, tmp_path / "r.jsonl", participant="blind01")
    secrets = _secrets(test, systems)
    pages = 0
    while not app.done:
        strings = lt.widget_strings(app.widget)
        text = "\n".join(strings)
        assert "Trial" in text and (len(strings) > 10)
        for s in secrets:
            assert s not in text, f"{s!r} is visible to the participant"
        for sid, _ in app.controls:  # stimulus ids stay in the kernel too
            assert sid not in text
        players = [w for w in _all_widgets(app.widget) if type(w).__name__ == "Audio"]
        assert len(players) == len(app.controls) + (test.protocol == "mushra")
        for p in players:
            data = bytes(p.value)
            assert data[:4] == b"RIFF" and data[36:40] == b"data"  # 44-byte header, no metadata chunk
            assert b"LIST" not in data[:64] and b"INFO" not in data[:64]
        for i in range(len(app.controls)):
            app.rate(i, 3)
        previous = list(players) + [c for _, c in app.controls]
        app.next_button.click()
        assert all(w.comm is None for w in previous), "the last trial's widgets were not closed"
        pages += 1
    assert pages == test.n_trials
    assert "Thank you" in "\n".join(lt.widget_strings(app.widget))


def _all_widgets(root):
    from ipywidgets import Widget

    out, stack = [], [root]
    while stack:
        w = stack.pop()
        out.append(w)
        for name in w.keys:
            v = getattr(w, name, None)
            stack.extend(x for x in (v if isinstance(v, (list, tuple)) else [v]) if isinstance(x, Widget))
    return out


def test_stimulus_files_are_opaque(mushra_test):
    names = [p.name for p in (mushra_test.folder / "stimuli").iterdir()]
    assert all(re.fullmatch(r"s[a-z2-9]{10}\.wav", n) for n in names)
    assert all(re.fullmatch(r"t[a-z2-9]{10}", t["id"]) for t in mushra_test.trials)


# ---------------------------------------------------------------------------------------------
# The results file
# ---------------------------------------------------------------------------------------------

def _answer_lines(path):
    return [r for r in lt.read_records(path) if r.get("type") == "answer"]


def test_each_answer_is_on_disk_at_once_and_sessions_resume(mos_test, tmp_path):
    results = tmp_path / "r.jsonl"
    app = lt.ListeningApp(mos_test, results, participant="P07")
    header = lt.read_records(results)[0]
    assert header["type"] == "header" and header["protocol"] == "mos"
    assert header["test_id"] == mos_test.test_id and header["test_version"] == mos_test.version
    assert {v["system"] for v in header["key"].values()} == set(QUALITY)
    # an unanswered trial is not recorded, and the participant is told
    app.next_button.click()
    assert _answer_lines(results) == [] and "Please rate" in app.message.value
    for k in range(4):
        app.rate(0, k % 5 + 1)
        app.next_button.click()
        assert len(_answer_lines(results)) == k + 1  # written before the next page shows
    # a new session of the same participant (a restarted kernel) resumes at trial 5
    again = lt.ListeningApp(mos_test, results, participant="P07")
    assert again.position == 4
    assert again.order[4]["id"] not in {r["trial"] for r in _answer_lines(results)}
    assert "Welcome back" in again.message.value
    # another participant starts at the beginning
    assert lt.ListeningApp(mos_test, results, participant="P08").position == 0


def test_corrupted_last_line_is_tolerated(mos_test, tmp_path):
    results = tmp_path / "r.jsonl"
    lt.simulate_raters(mos_test, 2, QUALITY, results=results, seed=1)
    n = len(_answer_lines(results))
    with open(results, "ab") as f:  # a writer killed mid-line
        f.write(b'{"type":"answer","participant":"P09","ratings":{"s')
    with pytest.warns(UserWarning, match="last line is incomplete"):
        assert len(_answer_lines(results)) == n
    # the next append closes the broken line: nothing after it is lost either
    with pytest.warns(UserWarning, match="last line is incomplete"):
        app = lt.ListeningApp(mos_test, results, participant="P09")
    app.rate(0, 4)
    app.next_button.click()
    with pytest.warns(UserWarning, match="line .* is not a valid record"):
        answers = _answer_lines(results)
    assert len(answers) == n + 1 and answers[-1]["participant"] == "P09"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(lt.load_results(results).rows) == n + 1


def test_results_of_another_test_are_refused(mos_test, mushra_test, tmp_path):
    results = tmp_path / "r.jsonl"
    lt.open_results(results, mos_test)
    with pytest.raises(ValueError, match="use a new results file"):
        lt.ListeningApp(mushra_test, results, participant="P01")


def test_participants_and_files_merge(mos_test, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    lt.simulate_raters(mos_test, 2, QUALITY, results=a, seed=1)
    lt.simulate_raters(mos_test, 3, QUALITY, results=b, seed=2)
    merged = lt.load_results([a, b])
    assert len(merged.participants) == 5
    assert len(merged.rows) == 5 * mos_test.n_trials
    # the same participant answering a trial twice (two open pages): the later answer counts
    dup = lt.ListeningApp(mos_test, a, participant="sim-1-00")
    assert dup.done
    rec = _answer_lines(a)[0]
    lt.append_record(a, dict(rec, ratings={k: 1 for k in rec["ratings"]}))
    with pytest.warns(UserWarning, match="answered twice"):
        res = lt.load_results(a)
    assert len(res.rows) == 2 * mos_test.n_trials
    assert [r["rating"] for r in res.rows if r["trial"] == rec["trial"] and r["participant"] == "sim-1-00"] == [1.0]


def test_participant_code_is_validated(mos_test, tmp_path):
    with pytest.raises(ValueError, match="participant code"):
        lt.ListeningApp(mos_test, tmp_path / "r.jsonl", participant="../etc/passwd")
    app = lt.ListeningApp(mos_test, tmp_path / "r.jsonl")  # asks for a code on the page
    app.code.value = "bad code!"
    app.start_button.click()
    assert app.participant is None and "participant code" in app.message.value
    app.code.value = "P11"
    app.start_button.click()
    assert app.participant == "P11" and len(app.controls) == 1


# ---------------------------------------------------------------------------------------------
# Simulated raters and the analysis
# ---------------------------------------------------------------------------------------------

def test_simulated_raters_recover_the_ordering_mos(mos_test, tmp_path):
    results = lt.simulate_raters(mos_test, 12, QUALITY, noise=0.15, seed=0, results=tmp_path / "r.jsonl")
    res = lt.load_results(results)
    assert res.simulated == res.participants and len(res.participants) == 12
    table = lt.mos_table(res, n_boot=300)
    assert [r["system"] for r in table] == ["sys_alpha", "sys_beta", "sys_gamma"]
    for r in table:
        assert r["t_low"] < r["mean"] < r["t_high"] and r["boot_low"] < r["mean"] < r["boot_high"]
        assert r["mean"] == pytest.approx(1 + 4 * QUALITY[r["system"]], abs=0.4)
    # the table's t interval is scipy's, on the same ratings
    x = res.ratings("sys_beta")
    ref = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    beta = next(r for r in table if r["system"] == "sys_beta")
    assert (beta["t_low"], beta["t_high"]) == pytest.approx(ref)
    f = lt.friedman(res)
    m, systems, _ = res.matrix("participant")
    assert f["statistic"] == pytest.approx(stats.friedmanchisquare(*m.T).statistic)
    assert f["p"] < 0.01 and f["n_blocks"] == 12
    pw = lt.pairwise_wilcoxon(res)
    assert len(pw) == 3 and all(r["p_holm"] < 0.05 for r in pw)
    assert all(r["p_holm"] >= r["p"] for r in pw)


def test_mushra_screening_catches_careless_raters(mushra_test, tmp_path):
    q = {"sys_alpha": 0.8, "sys_beta": 0.5, "sys_gamma": 0.3}
    results = lt.simulate_raters(mushra_test, 10, q, careless=3, seed=4, results=tmp_path / "r.jsonl")
    screening = lt.screen_mushra(results)
    excluded = sorted(s["participant"] for s in screening if s["excluded"])
    assert excluded == [f"sim-4-0{i}" for i in range(3)]
    report = lt.analyse(results, fad={"sys_alpha": 1.0, "sys_beta": 2.5, "sys_gamma": 6.0,
                                      "anchor": 9.0}, n_boot=200)
    assert report["excluded"] == excluded
    order = [r["system"] for r in report["table"]]
    assert order == ["reference", "sys_alpha", "sys_beta", "sys_gamma", "anchor"]
    assert report["friedman"]["systems"] == ["sys_alpha", "sys_beta", "sys_gamma"]
    assert report["friedman"]["p"] < 0.01
    c = report["fad_correlation"]
    assert c["spearman"] == pytest.approx(-1.0) and c["kendall"] == pytest.approx(-1.0)
    text = lt.format_report(report)
    assert "3 excluded" in text and "Friedman" in text and "Spearman" in text


def test_rank_correlation_matches_scipy():
    fad = {"a": 1.0, "b": 2.0, "c": 3.5, "d": 3.0, "e": 8.0}
    mean = {"a": 4.1, "b": 3.0, "c": 3.2, "d": 2.5, "e": 1.5}
    c = lt.rank_correlation(fad, mean)
    x, y = [fad[s] for s in c["systems"]], [mean[s] for s in c["systems"]]
    assert c["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert c["kendall_p"] == pytest.approx(stats.kendalltau(x, y).pvalue)
    with pytest.raises(ValueError, match="at least 3"):
        lt.rank_correlation({"a": 1.0, "b": 2.0}, mean)


def test_plots(mos_test, mushra_test, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    r1 = lt.simulate_raters(mos_test, 3, QUALITY, results=tmp_path / "a.jsonl")
    r2 = lt.simulate_raters(mushra_test, 3, QUALITY, results=tmp_path / "b.jsonl")
    assert lt.plot_ratings(r1, n_boot=100).get_ylabel() == "MOS"
    assert lt.plot_ratings(r2, n_boot=100).get_ylabel() == "MUSHRA score"
    ax = lt.plot_fad_vs_rating({"sys_alpha": 1.0, "sys_beta": 2.0, "sys_gamma": 3.0}, r1)
    assert "Spearman" in ax.get_title()


def test_cli_analyse(mos_test, tmp_path, capsys):
    from coursekit.cli import main

    results = lt.simulate_raters(mos_test, 4, QUALITY, results=tmp_path / "r.jsonl")
    fad = tmp_path / "fad.json"
    fad.write_text(json.dumps({"sys_alpha": {"fad": 1.0}, "sys_beta": {"fad": 2.0}, "sys_gamma": 4.0}))
    assert main(["listening", "analyse", str(results), "--fad", str(fad), "--n-boot", "100"]) == 0
    out = capsys.readouterr().out
    assert "sys_alpha" in out and "Friedman" in out and "Spearman" in out
    assert main(["listening", "analyse", str(results), "--json", "--n-boot", "100"]) == 0
    assert json.loads(capsys.readouterr().out)["participants"] == 4
    assert main(["listening", "analyse", str(tmp_path / "missing.jsonl")]) == 2


def test_cli_serve_says_what_is_missing(mos_test, tmp_path, capsys):
    from coursekit.cli import main

    assert main(["listening", "serve", "--results", str(tmp_path / "r.jsonl")]) == 2
    assert "no test built there yet" in capsys.readouterr().err
    # a folder holding another test is refused with one line, not a traceback
    one_system = mos_test.spec["systems"]["sys_alpha"]
    assert main(["listening", "serve", "--systems", one_system, "--results",
                 str(tmp_path / "r.jsonl"), "--test-dir", str(mos_test.folder), "--n-items", "2"]) == 2
    assert "holds another test" in capsys.readouterr().err


def test_app_from_config(mos_test, tmp_path, monkeypatch):
    cfg = lt.write_config(tmp_path / "cfg.json", mos_test, tmp_path / "r.jsonl")
    monkeypatch.setenv(lt.CONFIG_ENV, str(cfg))
    monkeypatch.setenv("QUERY_STRING", "participant=Q01&x=1")
    app = lt.app_from_config()
    assert app.participant == "Q01" and app.position == 0
    monkeypatch.setenv("QUERY_STRING", "participant=../../x")  # not a valid code: ask on the page
    assert lt.app_from_config().participant is None
    monkeypatch.delenv(lt.CONFIG_ENV)
    with pytest.raises(ValueError, match=lt.CONFIG_ENV):
        lt.app_from_config()
    with pytest.raises(ValueError, match="lacks"):
        lt.app_from_config({"test": str(mos_test.folder)})
