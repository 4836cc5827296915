"""The training loop: resume gives the same weights, checkpoints are atomic, devices, cards."""

import json
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from coursekit import train as T


pytestmark = pytest.mark.usefixtures("one_thread")


class Boom(RuntimeError):
    pass


def _setup(seed=0):
    """A tiny model with dropout, shuffled data with random noise: every RNG matters."""
    T.seed_everything(seed)
    g = torch.Generator().manual_seed(123)
    x, y = torch.randn(40, 6, generator=g), torch.randn(40, 1, generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_fn(batch):
        xb, yb = batch
        xb = xb + 0.1 * torch.randn_like(xb) + float(np.random.randn()) * 0.01
        return torch.nn.functional.mse_loss(model(xb), yb)

    return model, opt, loader, T.make_step(model, opt, loss_fn)


def _run(tmp_path, max_steps, ckpt, resume=False, fail_at=None, eval_fn=None, seed=0):
    model, opt, loader, step_fn = _setup(seed)

    def step(batch, i):
        if fail_at is not None and i == fail_at:
            raise Boom("simulated crash")
        return step_fn(batch, i)

    hist = T.train(step, loader, {"model": model, "opt": opt}, max_steps=max_steps,
                   time_budget_s=float("inf"), ckpt_path=ckpt, ckpt_every=3, resume=resume,
                   eval_fn=eval_fn, eval_every=2, seed=seed, progress=False)
    return model, hist


def test_resume_after_crash_gives_identical_weights(tmp_path):
    # 13 steps cross an epoch boundary (5 batches an epoch) after the resume point
    ref, ref_hist = _run(tmp_path, 13, tmp_path / "ref.pt")
    ckpt = tmp_path / "crash.pt"
    with pytest.raises(Boom):
        _run(tmp_path, 13, ckpt, fail_at=7)  # crashes in step 8; last checkpoint at step 6
    assert torch.load(ckpt, weights_only=True)["step"] == 6
    resumed, hist = _run(tmp_path, 13, ckpt, resume=True)
    for a, b in zip(ref.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert [h["loss"] for h in hist] == [h["loss"] for h in ref_hist]
    assert [h["step"] for h in hist] == list(range(1, 14))


def test_eval_hook_does_not_change_training(tmp_path):
    calls = []

    def eval_fn(step):
        calls.append(step)
        torch.rand(100)  # consumes randomness: must not leak into training
        np.random.rand(3)
        return {"val": float(step)}

    a, ha = _run(tmp_path, 6, None)
    b, hb = _run(tmp_path, 6, None, eval_fn=eval_fn)
    assert calls == [2, 4, 6]
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb]
    assert hb.series("val")[0].tolist() == [2, 4, 6]
    with pytest.raises(KeyError):
        ha.series("val")


def test_time_budget_stops_and_history_records_time(tmp_path):
    model, opt, loader, step_fn = _setup()
    hist = T.train(step_fn, loader, {"model": model}, max_steps=None, time_budget_s=0.0,
                   progress=False)
    assert len(hist) == 0
    hist = T.train(step_fn, loader, {"model": model}, max_steps=4, time_budget_s=60, progress=False)
    assert len(hist) == 4 and all(h["time"] >= 0 for h in hist)


def test_pick_device(monkeypatch):
    monkeypatch.delenv("COURSEKIT_DEVICE", raising=False)
    assert T.pick_device("cpu").type == "cpu"
    assert T.pick_device(torch.device("cpu")) == torch.device("cpu")
    best = T.pick_device()
    assert best.type == ("cuda" if torch.cuda.is_available() else best.type)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="not available"):
        T.pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        T.pick_device("tpu")
    monkeypatch.setenv("COURSEKIT_DEVICE", "cpu")
    assert T.pick_device().type == "cpu"


def test_seed_everything_repeats():
    T.seed_everything(5)
    a = (torch.rand(3), np.random.rand(3))
    T.seed_everything(5)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_infinite_loader_plain_iterable_and_empty():
    it = T.InfiniteLoader([1, 2, 3])
    assert [next(it) for _ in range(7)] == [1, 2, 3, 1, 2, 3, 1]
    with pytest.raises(ValueError, match="no batches"):
        next(T.InfiniteLoader([]))


def test_to_device_moves_every_tensor():
    from collections import namedtuple

    Pair = namedtuple("Pair", "x y")
    batch = {"a": torch.zeros(1), "b": [torch.ones(1), 3], "c": Pair(torch.zeros(2), "s")}
    moved = T.to_device(batch, torch.device("cpu"))
    assert isinstance(moved["c"], Pair) and moved["b"][1] == 3 and moved["c"].y == "s"
    assert torch.equal(moved["b"][0], torch.ones(1))


def test_warmup_cosine_schedule_sets_the_learning_rate():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    step = T.make_step(model, opt, lambda b: model(b[0]).pow(2).mean())
    data = [(torch.randn(4, 2),)]
    hist = T.train(step, data, {"model": model, "opt": opt}, max_steps=10, time_budget_s=60,
                   schedule=T.warmup_cosine(warmup=5, floor=0.1), progress=False)
    lrs = [h["lr"] for h in hist]
    assert lrs[0] == pytest.approx(0.2) and max(lrs) <= 1.0
    assert lrs[-1] == pytest.approx(T.warmup_cosine(5, 0.1)(9, 0.9))
    assert lrs[4] > lrs[-1] > 0.1


def test_train_moves_the_model_to_the_asked_device():
    model = torch.nn.Linear(2, 1).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def loss_fn(batch):
        seen.append(batch[0].device)
        return model(batch[0].double()).pow(2).mean()

    T.train(T.make_step(model, opt, loss_fn), [(torch.randn(4, 2),)], {"model": model, "opt": opt},
            max_steps=2, time_budget_s=60, device="cpu", progress=False)
    assert seen == [torch.device("cpu")] * 2


def _tiny(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 4, generator=g), torch.randn(8, 1, generator=g)) for _ in range(3)]
    return model, opt, batches


def test_amp_autocasts_on_a_gpu_only():
    from fakecuda import fake_cuda

    def seen_under(device, amp):
        model, opt, batches = _tiny()
        seen = []

        def loss_fn(b):
            kind = b[0].device.type
            seen.append(torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else None)
            return torch.nn.functional.mse_loss(model(b[0]), b[1])

        T.train(T.make_step(model, opt, loss_fn), batches, {"model": model, "opt": opt},
                max_steps=2, time_budget_s=60, device=device, progress=False, amp=amp)
        return seen

    with fake_cuda():
        assert seen_under("cuda", True) == [torch.bfloat16] * 2     # the GPU has bfloat16
        assert seen_under("cuda", False) == [None] * 2
    assert seen_under("cpu", True) == [None] * 2                   # nothing changes on a CPU


def test_float16_amp_scales_the_loss_skips_overflows_and_resumes_its_scaler(tmp_path):
    from coursekit import checkpoint
    from fakecuda import fake_cuda

    def run(steps, ckpt, resume=False, blow_up_at=None):
        model, opt, batches = _tiny()
        scalers = []

        def loss_fn(b):
            scalers.append(T._SCALERS[-1]["scaler"])
            loss = torch.nn.functional.mse_loss(model(b[0]), b[1])
            return loss * 1e36 if len(scalers) == blow_up_at else loss  # finite; x65536 is not

        hist = T.train(T.make_step(model, opt, loss_fn, clip_grad=1.0), batches,
                       {"model": model, "opt": opt}, max_steps=steps, time_budget_s=60,
                       device="cuda", progress=False, amp=True, ckpt_path=ckpt, resume=resume)
        return model, hist, scalers

    with fake_cuda():
        torch.cuda.is_bf16_supported = lambda *a, **k: False   # a T4: float16 and a scaler
        model, hist, scalers = run(6, tmp_path / "ref.pt")
        assert all(isinstance(s, torch.amp.GradScaler) for s in scalers)
        half, _, _ = run(4, tmp_path / "cut.pt")
        saved = checkpoint.load(tmp_path / "cut.pt")["state"]["amp_scaler"]
        assert saved["scale"] == 65536.0 and saved["_growth_tracker"] == 4
        resumed, hist2, _ = run(6, tmp_path / "cut.pt", resume=True)
        assert [h["loss"] for h in hist2] == [h["loss"] for h in hist]
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     resumed.state_dict().values()))
        before = {k: v.cpu().clone() for k, v in _tiny()[0].state_dict().items()}
        skipped, _, _ = run(1, tmp_path / "inf.pt", blow_up_at=1)
        after = {k: v.cpu() for k, v in skipped.state_dict().items()}
        assert all(torch.equal(before[k], after[k]) for k in before)   # the step was skipped
        assert checkpoint.load(tmp_path / "inf.pt")["state"]["amp_scaler"]["scale"] == 32768.0


def test_optimizer_step_outside_a_loop_is_a_plain_step():
    model, opt, batches = _tiny()
    loss = torch.nn.functional.mse_loss(model(batches[0][0]), batches[0][1])
    w = model.weight.detach().clone()
    T.optimizer_step(loss, opt, clip_grad=1.0)
    assert not torch.equal(w, model.weight) and model.weight.grad.norm() <= 1.0 + 1e-6


def test_data_device_keeps_data_on_a_gpu_only_when_asked():
    from fakecuda import fake_cuda

    assert T.data_device("cpu", on_device=True) == torch.device("cpu")
    assert T.data_device(None, on_device=True) == torch.device("cpu")
    with fake_cuda():
        assert T.data_device("cuda", on_device=True).type == "cuda"
        assert T.data_device("cuda", on_device=False) == torch.device("cpu")
        assert T.data_device("cuda") == torch.device("cpu")     # the default profile: off
