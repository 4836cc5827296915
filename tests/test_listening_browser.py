"""End to end: the listening test served by Voila, rated in a real (headless) browser.

``coursekit.eval.listening.serve`` starts Voila on localhost; Debian's Chromium, driven by
Playwright, opens the page as a remote rater would, answers every trial of a MOS and of a
MUSHRA test with the mouse and keyboard, and the ratings are then found in the results file.
The page is also checked for blinding: its HTML and its audio URLs name no system and no file.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``); skipped with a reason without it.
Every wait has a timeout and Voila is stopped in a ``finally``, so the test cannot hang.
"""

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from coursekit.eval import listening as lt

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SR = 16000
SYSTEMS = ("sys_north", "sys_south")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: the "
                                "browser test needs Debian's chromium (apt-get install chromium)")


def _folders(root: Path) -> dict:
    rng = np.random.default_rng(1)
    out = {}
    for name in SYSTEMS + ("ref_real",):
        d = root / "systems" / name
        d.mkdir(parents=True)
        for pitch in (60, 67):
            t = np.arange(int(0.3 * SR)) / SR
            y = 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t) + 0.02 * rng.normal(size=t.size)
            sf.write(d / f"mallet_acoustic_007-{pitch:03d}-100.wav", y.astype(np.float32), SR)
        out[name] = d
    return out


def _rate_mos(page, n_trials: int, check) -> list[int]:
    given = []
    for k in range(n_trials):
        page.get_by_text(f"Trial {k + 1} of {n_trials}").wait_for(timeout=30_000)
        check()
        score = k % 5 + 1
        page.get_by_role("button", name=lt.MOS_LABELS[score - 1], exact=True).click()
        page.get_by_role("button", name="Next").click()
        given.append(score)
    return given


def _rate_mushra(page, n_trials: int, n_stimuli: int, check) -> list[list[int]]:
    given = []
    for k in range(n_trials):
        page.get_by_text(f"Trial {k + 1} of {n_trials}").wait_for(timeout=30_000)
        readouts = page.locator(".widget-hslider .widget-readout")
        readouts.nth(n_stimuli - 1).wait_for(timeout=30_000)
        check()
        assert readouts.count() == n_stimuli
        values = [10 + 15 * i + k for i in range(n_stimuli)]
        for i, v in enumerate(values):  # type each value into the slider's editable readout
            box = readouts.nth(i)
            box.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(str(v))
            page.keyboard.press("Enter")
            page.wait_for_function(
                "([i, v]) => document.querySelectorAll('.widget-hslider .widget-readout')[i]"
                ".textContent.trim() === String(v)", arg=[i, v], timeout=10_000)
        page.get_by_role("button", name="Next").click()
        given.append(values)
    return given


def _check_blinding(page, test, folders, tmp_root):
    html = page.content()
    secrets = set(SYSTEMS) | {"ref_real", str(test.folder), str(tmp_root)}
    for s in test.stimuli.values():
        secrets |= {s["source"], Path(s["source"]).stem}
    secrets |= {str(p) for p in folders.values()} | set(test.stimuli)
    for s in secrets:
        assert s not in html, f"{s!r} appears in the page"
    srcs = page.eval_on_selector_all("audio", "els => els.map(e => e.currentSrc || e.src)")
    assert srcs, "no audio players on the page"
    for src in srcs:
        assert src.startswith(("blob:", "data:")), f"an audio URL that could name a file: {src}"


@pytest.mark.timeout(420)
def test_browser_rates_every_trial(tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("voila")
    folders = _folders(tmp_path)
    systems = {k: folders[k] for k in SYSTEMS}
    mos = lt.build_test(systems, tmp_path / "mos", protocol="mos", n_items=2, seconds=0.25, verbose=False)
    mushra = lt.build_test(systems, tmp_path / "mushra", protocol="mushra", reference=folders["ref_real"],
                           n_items=2, seconds=0.25, verbose=False)
    t0 = time.time()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            for test, participant in ((mos, "B01"), (mushra, "B02")):
                results = tmp_path / f"{test.protocol}.jsonl"
                log_path = tmp_path / f"voila-{test.protocol}.log"
                proc = None
                with open(log_path, "wb") as log:
                    try:
                        proc, url = lt.serve(test, results, port=0, wait=False, timeout=90, log=log)
                        page = browser.new_page()
                        page.set_default_timeout(60_000)
                        page.goto(f"{url}?participant={participant}", timeout=90_000)
                        try:
                            page.get_by_text(f"Trial 1 of {test.n_trials}").wait_for(timeout=120_000)
                        except playwright_api.TimeoutError:
                            pytest.fail("the test never appeared on the page; voila log:\n"
                                        + log_path.read_text(errors="replace")[-3000:])
                        def check(page=page, test=test):  # on every trial's page
                            _check_blinding(page, test, folders, tmp_path)

                        if test.protocol == "mos":
                            given = _rate_mos(page, test.n_trials, check)
                        else:
                            given = _rate_mushra(page, test.n_trials, len(test.trials[0]["stimuli"]), check)
                        page.get_by_text("Thank you").wait_for(timeout=30_000)
                        page.close()
                    finally:
                        if proc is not None:
                            proc.terminate()
                            try:
                                proc.wait(timeout=15)
                            except subprocess.TimeoutExpired:
                                proc.kill()
                                proc.wait(timeout=15)
                answers = [r for r in lt.read_records(results) if r.get("type") == "answer"]
                assert [r["participant"] for r in answers] == [participant] * test.n_trials
                order = test.order(participant)
                assert [r["trial"] for r in answers] == [t["id"] for t in order]
                for r, g in zip(answers, given):
                    # the shown order of the stimuli is recorded; the ratings follow it
                    got = [r["ratings"][sid] for sid in r["order"]]
                    assert got == ([g] if test.protocol == "mos" else g)
                res = lt.load_results(results)
                assert res.participants == [participant] and len(res.rows) == sum(
                    len(t["stimuli"]) for t in test.trials)
        finally:
            browser.close()
    print(f"browser test: {time.time() - t0:.1f} s for {mos.n_trials} MOS + {mushra.n_trials} MUSHRA trials")
