"""Data-parallel training: 2 CPU processes (torchrun, gloo) train what 1 process trains.

The same toy regression is trained for 12 steps (3 epochs of 4 global batches of 16) three ways:
in this process; under ``torchrun --nproc_per_node=2`` through :func:`coursekit.train.train`
unchanged (gradients averaged by :mod:`coursekit.distributed`), stopped after 6 steps and
resumed from rank 0's checkpoint in fresh objects; and under torchrun with the model wrapped in
DistributedDataParallel. All three must end with the same weights and losses (float tolerance).
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

REPO = Path(__file__).resolve().parents[1]
STEPS, HALF, GLOBAL_BATCH = 12, 6, 16


def _toy(seed=0):
    """Model, optimizer, loader and loss: no randomness inside a step, so runs can match."""
    from coursekit.train import seed_everything

    g = torch.Generator().manual_seed(123)
    x = torch.randn(64, 5, generator=g)
    y = torch.sin(x @ torch.randn(5, 1, generator=g))
    seed_everything(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=GLOBAL_BATCH, shuffle=True)
    return model, opt, loader


def _run(ckpt=None, max_steps=STEPS, resume=False, ddp=False, seed=0, shard=None):
    from coursekit import distributed
    from coursekit.train import make_step, train

    distributed.init()
    model, opt, loader = _toy(seed)
    net = distributed.wrap_model(model) if ddp else model

    def loss_fn(batch):
        if shard is not None:  # (rank, world): train on one rank's share only
            batch = distributed.shard_batch(batch, *shard)
        return torch.nn.functional.mse_loss(net(batch[0]), batch[1])

    step = make_step(net, opt, loss_fn, clip_grad=0.5)  # clipping must see the averaged gradient
    hist = train(step, loader, {"model": net, "opt": opt}, max_steps=max_steps,
                 time_budget_s=float("inf"), ckpt_path=ckpt, ckpt_every=3, resume=resume,
                 seed=7, progress=False)
    return model, [h["loss"] for h in hist]


def _worker(out_dir: Path) -> None:
    """Run by each of the torchrun processes."""
    from coursekit import distributed

    torch.set_num_threads(1)
    ckpt = out_dir / "run.pt"
    _run(ckpt, max_steps=HALF)                                    # "interrupted" at step 6
    model, losses = _run(ckpt, resume=True, seed=99)              # fresh objects, other seed
    ddp_model, ddp_losses = _run(ddp=True)
    if distributed.is_main():
        torch.save({"engine": model.state_dict(), "engine_losses": losses,
                    "ddp": ddp_model.state_dict(), "ddp_losses": ddp_losses,
                    "world": distributed.world_size()}, out_dir / "result.pt")
    distributed.barrier()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", __file__, str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    got = torch.load(tmp_path / "result.pt", weights_only=True)
    assert got["world"] == 2
    # only rank 0 wrote: one checkpoint, no temporary files of the other rank
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.pt", "run.pt"]
    assert torch.load(tmp_path / "run.pt", weights_only=True)["step"] == STEPS
    assert "resumed from" in proc.stdout and proc.stdout.count("resumed from") == 1

    ref, ref_losses = _run()                                      # one process, same global batch
    assert len(ref_losses) == STEPS and ref_losses[-1] < ref_losses[0]
    for route in ("engine", "ddp"):
        assert got[f"{route}_losses"] == pytest.approx(ref_losses, rel=1e-4, abs=1e-6), route
        for name, w in ref.state_dict().items():
            torch.testing.assert_close(got[route][name], w, rtol=1e-4, atol=1e-5, msg=route)
    # what one rank alone would train (half of each global batch, no averaging) is far off:
    # the tolerance above can tell the difference
    alone, _ = _run(shard=(0, 2))
    assert not torch.allclose(alone.state_dict()["0.weight"], ref.state_dict()["0.weight"], atol=1e-3)


def test_single_process_helpers():
    from coursekit import distributed as dist

    assert not dist.is_distributed() and dist.is_main() and dist.world_size() == 1
    assert dist.shard_indices(range(7), rank=2, world=3) == [2, 5]
    b = dist.shard_batch((torch.arange(6), {"y": torch.arange(6) * 10}, "tag"), rank=1, world=2)
    assert b[0].tolist() == [1, 3, 5] and b[1]["y"].tolist() == [10, 30, 50] and b[2] == "tag"
    assert dist.all_reduce_mean({"loss": 2.5}) == {"loss": 2.5}
    assert dist.any_rank(True) and not dist.any_rank(False)
    assert dist.sync_modules([torch.nn.Linear(2, 2)]) is None
    m = torch.nn.Linear(2, 2)
    assert dist.wrap_model(m) is m and dist.unwrap(m) is m
    assert dist.init() is False  # no torchrun: nothing to join


def test_init_without_torchrun_variables_says_how(monkeypatch):
    from coursekit import distributed as dist

    monkeypatch.setenv("WORLD_SIZE", "2")
    for v in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(ValueError, match="torchrun"):
        dist.init()


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
