"""benchmarks/gpu_check.py in its smoke mode (CPU, smoke profile), the op counting of
benchmarks/gpu_projection.py, and the committed projection against the profile it describes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check  # noqa: E402
import gpu_projection  # noqa: E402


def _run(*args, timeout=180):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "gpu_check_smoke.json"
    r = _run("--smoke", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


def test_smoke_reports_every_chapter(smoke):
    from coursekit.profiles import get_profile

    p = get_profile("smoke")
    assert smoke["profile"] == "smoke" and smoke["smoke"] is True and smoke["device"] == "cpu"
    assert smoke["command"].startswith("python benchmarks/gpu_check.py --smoke")
    assert set(smoke["chapters"]) == set(gpu_check.CHAPTERS)
    steps = {"rnn": p.ch02.max_steps, "gan (stable)": p.ch03.max_steps, "gan (unstable)": p.ch03.max_steps,
             "student codec": p.ch04.student_steps, "codec (train codec command)": p.codec.steps,
             "transformer (notes)": p.ch05.max_steps, "transformer (piano)": p.ch05.max_steps,
             "diffusion (notes)": p.ch06.max_steps}
    seen = set()
    for ch, row in smoke["chapters"].items():
        in_chapter = 0.0
        for t in row["train"]:
            seen.add(t["run"])
            assert t["profile_steps"] == steps[t["run"]]
            assert t["steps_measured"] == smoke["steps_per_run"] == 3
            assert t["steps_per_s"] > 0 and all(n > 0 for n in t["parameters"].values())
            assert t["projected_train_min"] == pytest.approx(t["profile_steps"] / t["steps_per_s"] / 60, abs=0.01)
            assert t["peak_memory_gb"] is None                      # no GPU: no GPU memory
            in_chapter += 0 if t.get("outside_chapter") else t["projected_train_min"]
        for s in row["sampling"]:
            assert s["measured_s"] > 0 and s["projected_min"] >= 0
        assert row["projected_chapter_min"] >= in_chapter - 0.05
        assert row["train"] or row["sampling"]
    assert seen == set(steps)
    assert smoke["chapters"]["07"]["train"] == []                  # chapter 07 trains nothing


def test_bad_arguments_give_one_line():
    r = _run("--smoke", "--chapters", "09", timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["gpu_check: unknown chapter(s) 09; choose from 02, 03, 04, 05, 06, 07"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_a_gpu_asks_for_one():
    r = _run("--chapters", "07", timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no CUDA GPU here" in r.stderr and "--smoke" in r.stderr


def test_counter_counts_one_step_of_a_linear_model():
    from coursekit.train import make_step, train

    B, n_in, n_out = 8, 32, 16

    def run(n, device):
        model = torch.nn.Linear(n_in, n_out)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        batches = [(torch.randn(B, n_in), torch.randn(B, n_out))]
        step = make_step(model, opt, lambda b: torch.nn.functional.mse_loss(model(b[0]), b[1]), clip_grad=1.0)
        return train(step, batches, {"model": model, "opt": opt}, max_steps=n, progress=False, device=device)

    c = gpu_projection.count_step(gpu_check.Train("xx", "linear", 10, lambda: {}, run), amp=False)
    # forward x W^T and backward dW (the input needs no gradient): two products of 2 B n_in n_out FLOPs
    assert c["flops"] == 2 * 2 * B * n_in * n_out
    assert 10 < c["ops"] < 80                       # a handful of kernels, Adam on its foreach path
    for g, spec in gpu_projection.GPUS.items():
        assert c[f"{g}_s"] == pytest.approx(c["ops"] * spec["launch_s"], rel=0.05)  # launch-bound
        assert gpu_projection.simple_bound(c, g) == pytest.approx(c["ops"] * spec["launch_s"])


def test_a_recurrent_layer_is_one_launch_each_way():
    from coursekit.train import make_step, train

    def run_for(T):
        def run(n, device):
            gru = torch.nn.GRU(8, 8, batch_first=True)
            opt = torch.optim.SGD(gru.parameters(), lr=0.1)
            batches = [torch.randn(2, T, 8)]
            step = make_step(gru, opt, lambda x: gru(x)[0].square().mean())
            return train(step, batches, {"gru": gru, "opt": opt}, max_steps=n, progress=False, device=device)
        return gpu_check.Train("xx", f"gru {T}", 1, lambda: {}, run)

    short, long = (gpu_projection.count_step(run_for(T), amp=False) for T in (5, 50))
    assert long["ops"] == short["ops"]              # the time steps are inside the one cuDNN call
    assert long["flops"] > 5 * short["flops"]        # ... but their work is counted
    assert long["T4_s"] > short["T4_s"]


@pytest.mark.skipif(not (REPO / "results" / "gpu_projection.json").exists(), reason="no projection written")
def test_committed_projection_matches_the_full_profile():
    from coursekit.profiles import get_profile

    proj = json.loads((REPO / "results" / "gpu_projection.json").read_text())
    assert proj["profile"] == "full" and proj["command"].startswith("python benchmarks/gpu_projection.py")
    assert set(proj["chapters"]) == set(gpu_check.CHAPTERS)
    for ch, row in proj["chapters"].items():
        assert row["T4_min"] <= proj["budget_min_T4"] == 15.0, ch
        assert row["H100_min"] < row["T4_min"], ch
    plan = gpu_check.chapter_plan("full")
    p = get_profile("full")
    for ch, c in plan.items():
        rows = {r["run"]: r for r in proj["chapters"][ch]["train"]}
        assert set(rows) == {t.name for t in c.trains}, ch
        for t in c.trains:
            assert rows[t.name]["steps"] == t.steps, (ch, t.name)
            if ch in ("04", "05"):          # the big ones (building a GAN or the RNN costs little too)
                assert rows[t.name]["parameters"] == gpu_check.count_params(t.models()), (ch, t.name)
    assert p.train.amp is True
