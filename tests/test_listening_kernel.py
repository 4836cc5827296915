"""Killing the kernel in the middle of a listening session loses no answered trial.

A real kernel (jupyter_client) runs the interface; this test plays the browser's part: it sends
the same comm messages a front-end sends when a rating button is pressed (a state update of
the ToggleButtons) and when Next is clicked (a custom ``click`` event). After ``K`` answered
trials and one rated-but-not-submitted trial, the kernel is killed with SIGKILL. A new kernel
reopens the test for the same participant: the ``K`` answers are in the file, and the session
resumes at trial ``K + 1``.
"""

import json
import os
import signal
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from coursekit.eval import listening as lt

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")

K = 3
SR = 16000


@pytest.fixture
def test_and_results(tmp_path):
    rng = np.random.default_rng(0)
    folders = {}
    for name in ("sys_a", "sys_b"):
        d = tmp_path / name
        d.mkdir()
        for pitch in (60, 64, 67):
            t = np.arange(int(0.3 * SR)) / SR
            y = 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t) + 0.01 * rng.normal(size=t.size)
            sf.write(d / f"note-{pitch:03d}-100.wav", y.astype(np.float32), SR)
        folders[name] = d
    test = lt.build_test(folders, tmp_path / "test", protocol="mos", n_items=3, seconds=0.25,
                         verbose=False)
    return test, tmp_path / "results.jsonl"


def _start_kernel():
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=dict(os.environ))
    kc = km.blocking_client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def _run(kc, code: str) -> str:
    """Execute ``code`` in the kernel; return its stdout, raise if it failed."""
    out, errors = [], []

    def hook(msg):
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=60, output_hook=hook)
    if reply["content"]["status"] != "ok" or errors:
        raise AssertionError(f"kernel error running {code!r}:\n" + "\n".join(errors))
    return "".join(out)


def _comm_msg(kc, comm_id: str, data: dict) -> None:
    """Send a comm message to a widget in the kernel, as the browser's widget manager does."""
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    kc.shell_channel.send(msg)


def _page(kc) -> dict:
    return json.loads(_run(kc, "import json; print(json.dumps({'position': app.position, "
                               "'rating': app.controls[0][1].model_id if app.controls else None, "
                               "'next': app.next_button.model_id}))"))


def _stop(km, kc):
    try:
        kc.stop_channels()
    finally:
        if km.is_alive():
            km.shutdown_kernel(now=True)


@pytest.mark.timeout(300)
def test_kill_kernel_mid_session_loses_nothing(test_and_results):
    test, results = test_and_results
    open_code = (f"from coursekit.eval.listening import ListeningApp\n"
                 f"app = ListeningApp({str(test.folder)!r}, {str(results)!r}, participant='K01')\n"
                 f"app")
    km, kc = _start_kernel()
    try:
        _run(kc, open_code)
        pid = int(_run(kc, "import os; print(os.getpid())"))
        sent = []
        for k in range(K):
            page = _page(kc)
            assert page["position"] == k
            rating = k % 5 + 1
            # a ToggleButtons view syncs the index of the pressed button (Bad = 0 ... Excellent = 4)
            _comm_msg(kc, page["rating"], {"method": "update", "state": {"index": rating - 1},
                                           "buffer_paths": []})
            _comm_msg(kc, page["next"], {"method": "custom", "content": {"event": "click"}})
            sent.append(rating)
        page = _page(kc)  # processed in order: all K answers are in
        assert page["position"] == K
        # rate trial K+1 but do not press Next, then kill the kernel without warning
        _comm_msg(kc, page["rating"], {"method": "update", "state": {"index": 4}, "buffer_paths": []})
        _run(kc, "assert app.controls[0][1].value == 5")
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 30
        while km.is_alive() and time.time() < deadline:
            time.sleep(0.1)
        assert not km.is_alive(), "the kernel survived SIGKILL"
    finally:
        _stop(km, kc)

    answers = [r for r in lt.read_records(results) if r.get("type") == "answer"]
    assert [r["participant"] for r in answers] == ["K01"] * K
    assert [list(r["ratings"].values())[0] for r in answers] == sent
    order = test.order("K01")
    assert [r["trial"] for r in answers] == [t["id"] for t in order[:K]]

    km, kc = _start_kernel()
    try:
        _run(kc, open_code)
        state = json.loads(_run(kc, "import json; print(json.dumps({'position': app.position, "
                                    "'trial': app.order[app.position]['id'], "
                                    "'value': app.controls[0][1].value}))"))
        assert state["position"] == K  # resumes at trial K+1 (0-based K)
        assert state["trial"] == order[K]["id"]
        assert state["value"] is None  # the unsubmitted rating was not kept
    finally:
        _stop(km, kc)
    assert len([r for r in lt.read_records(results) if r.get("type") == "answer"]) == K
