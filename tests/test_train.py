"""The training loop: resume gives the same weights, checkpoints are atomic, devices, cards."""

import json
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from coursekit import train as T


@pytest.fixture(autouse=True)
def one_thread():
    """Small models: extra threads only add synchronisation (very slow on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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


def test_checkpoint_is_atomic(tmp_path, monkeypatch):
    model = torch.nn.Linear(3, 2)
    path = tmp_path / "m.pt"
    T.save_checkpoint(path, {"model": model}, step=1, config={"lr": 0.1})
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        T.save_checkpoint(path, {"model": model}, step=2)
    assert path.read_bytes() == before  # the good checkpoint survives a failed write
    monkeypatch.undo()
    other = torch.nn.Linear(3, 2)
    ckpt = T.load_checkpoint(path, {"model": other})
    assert ckpt["step"] == 1 and ckpt["config"] == {"lr": 0.1}
    assert torch.equal(other.weight, model.weight)


def test_checkpoint_rejects_non_json_config(tmp_path):
    with pytest.raises(TypeError):
        T.save_checkpoint(tmp_path / "x.pt", {"m": torch.nn.Linear(1, 1)}, config={"f": object()})
    with pytest.raises(FileNotFoundError):
        T.load_checkpoint(tmp_path / "missing.pt")
    T.save_checkpoint(tmp_path / "y.pt", {"m": torch.nn.Linear(1, 1)})
    with pytest.raises(ValueError, match="has no entry 'opt'"):
        T.load_checkpoint(tmp_path / "y.pt", {"opt": torch.nn.Linear(1, 1)})


def test_pick_device(monkeypatch):
    monkeypatch.delenv("COURSEKIT_DEVICE", raising=False)
    assert T.pick_device("cpu").type == "cpu"
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


def test_command_line_is_what_ran_or_the_fallback(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/x/coursekit/__main__.py", "train", "codec", "--out", "a b.pt",
                                     "--time-budget", "30", "--resume"])
    assert T.command_line("fallback") == ("python -m coursekit train codec --out 'a b.pt' "
                                          "--time-budget 30 --resume")
    monkeypatch.setattr("sys.argv", ["/usr/bin/pytest", "tests"])
    assert T.command_line("python -m coursekit train codec --out x.pt") == "python -m coursekit train codec --out x.pt"


def test_write_card(tmp_path):
    path = T.write_card(tmp_path / "card.json", command="python -m coursekit train x",
                        metrics={"acc": 0.9})
    card = json.loads(path.read_text())
    assert card["metrics"] == {"acc": 0.9} and "hardware" in card and "git_commit" in card
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]
