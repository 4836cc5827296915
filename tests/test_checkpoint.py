"""One checkpoint layout and one card schema (coursekit.checkpoint)."""

import json
import os

import pytest
import torch

from coursekit import checkpoint


def test_save_is_atomic_and_load_gives_it_back(tmp_path, monkeypatch):
    model = torch.nn.Linear(3, 2)
    path = tmp_path / "m.pt"
    checkpoint.save(path, kind="lin", config={"lr": 0.1}, state={"model": model}, step=1)
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        checkpoint.save(path, kind="lin", config={}, state={"model": model}, step=2)
    assert path.read_bytes() == before  # the good checkpoint survives a failed write
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left
    monkeypatch.undo()
    ckpt = checkpoint.load(path, kind="lin")
    assert ckpt["format"] == checkpoint.FORMAT and ckpt["step"] == 1 and ckpt["config"] == {"lr": 0.1}
    assert torch.equal(ckpt["state"]["model"]["weight"], model.weight)


def test_half_stores_float16_weights(tmp_path):
    model = torch.nn.Linear(3, 2)
    checkpoint.save(tmp_path / "h.pt", kind="lin", config={}, state={"model": model}, half=True)
    sd = checkpoint.load(tmp_path / "h.pt")["state"]["model"]
    assert sd["weight"].dtype == torch.float16
    assert checkpoint.float_weights(sd)["weight"].dtype == torch.float32


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(TypeError):
        checkpoint.save(tmp_path / "x.pt", kind="lin", config={"f": object()}, state={})
    with pytest.raises(FileNotFoundError, match="missing.pt: no such checkpoint"):
        checkpoint.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt: not a coursekit checkpoint"):
        checkpoint.load(tmp_path / "junk.pt")
    checkpoint.save(tmp_path / "y.pt", kind="gan", config={}, state={"model": torch.nn.Linear(1, 1)})
    with pytest.raises(ValueError, match="holds a gan model, not a rnn model"):
        checkpoint.load(tmp_path / "y.pt", kind="rnn")


@pytest.mark.parametrize("layout", [
    {"model": {"w": torch.ones(1)}, "config": {"a": 1}, "kind": "rnn"},          # rnn, transformer
    {"G": {"w": torch.ones(1)}, "config": {"a": 1}, "kind": "gan"},              # the GAN's generator
    {"state": {"model": {"w": torch.ones(1)}}, "config": {"a": 1}, "step": 3},   # loop, codec, diffusion
])
def test_earlier_layouts_are_read_as_the_one_layout(tmp_path, layout):
    torch.save(layout, tmp_path / "old.pt")
    ckpt = checkpoint.load(tmp_path / "old.pt")
    assert ckpt["format"] == checkpoint.FORMAT and ckpt["config"] == {"a": 1}
    assert torch.equal(ckpt["state"]["model"]["w"], torch.ones(1))


def test_every_shipped_checkpoint_has_the_one_layout_and_a_full_card():
    for pt in sorted(checkpoint.CHECKPOINT_DIR.glob("*.pt")):
        raw = torch.load(pt, weights_only=True, map_location="cpu")
        assert raw.get("format") == checkpoint.FORMAT and "model" in raw["state"], pt.name
        card = checkpoint.read_card(pt.with_suffix(".json"))
        missing = [k for k in checkpoint.CARD_KEYS if k not in card]
        assert not missing, f"{pt.with_suffix('.json').name} lacks {missing}"
        assert card["model"] == raw["kind"], pt.name


def test_command_line_is_what_ran_or_the_fallback(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/x/coursekit/__main__.py", "train", "codec", "--out", "a b.pt",
                                     "--time-budget", "30", "--resume"])
    assert checkpoint.command_line("fallback") == ("python -m coursekit train codec --out 'a b.pt' "
                                                   "--time-budget 30 --resume")
    monkeypatch.setattr("sys.argv", ["/usr/bin/pytest", "tests"])
    assert checkpoint.command_line("python -m coursekit train x") == "python -m coursekit train x"


def test_write_card_has_every_key(tmp_path):
    path = checkpoint.write_card(tmp_path / "card.json", command="python -m coursekit train x",
                                 metrics={"acc": 0.9})
    card = json.loads(path.read_text())
    assert card["metrics"] == {"acc": 0.9} and set(checkpoint.CARD_KEYS) <= set(card)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_an_optimizers_state_on_the_gpu_is_saved_on_the_cpu(tmp_path):
    from fakecuda import cpu_only_machine, fake_cuda

    with fake_cuda():
        model = torch.nn.Linear(3, 2).to("cuda")
        opt = torch.optim.Adam(model.parameters())
        model(torch.randn(4, 3, device="cuda")).sum().backward()
        opt.step()
        sd = checkpoint.state_dict(opt)
        moments = [v for s in sd["state"].values() for v in s.values() if torch.is_tensor(v)]
        assert moments and all(v.device.type == "cpu" for v in moments)
        checkpoint.save(tmp_path / "t.pt", kind="x", config={}, state={"model": model, "opt": opt})
    with cpu_only_machine():     # no map_location needed: nothing in the file is on the GPU
        torch.load(tmp_path / "t.pt", weights_only=True)


class _CallsSystem:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_defect04_load_gives_one_line_for_whatever_torch_cannot_read(tmp_path):
    """Empty, random, truncated, JSON, a folder, a list, a malicious pickle: one ValueError naming
    the file and what to do, never torch's UnpicklingError text or its weights_only advice."""
    import io
    import pickle

    marker = tmp_path / "RAN"
    good = tmp_path / "good.pt"
    checkpoint.save(good, kind="rnn", config={"a": 1}, state={"model": torch.nn.Linear(40, 40)})
    buf = io.BytesIO()
    torch.save({"state": {"model": _CallsSystem(marker)}}, buf)
    files = {"empty.pt": b"", "random.pt": os.urandom(2048), "truncated.pt": good.read_bytes()[:3000],
             "card.json": b'{"model": "rnn"}', "evil.pt": buf.getvalue(),
             "evil.pkl": pickle.dumps(_CallsSystem(marker), protocol=2)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    torch.save([1, 2], tmp_path / "list.pt")
    (tmp_path / "folder.pt").mkdir()
    for name in [*files, "list.pt", "folder.pt"]:
        with pytest.raises(ValueError) as err:
            checkpoint.load(tmp_path / name, kind="rnn")
        msg = str(err.value)
        assert str(tmp_path / name) in msg and "\n" not in msg, msg
        assert "weights_only" not in msg and "Unpickling" not in msg, msg
        assert msg.endswith("give a checkpoint written by `python -m coursekit train rnn`"), msg
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"it asks to run or build `posix\.system`"):
        checkpoint.load(tmp_path / "evil.pt")


def test_defect04_build_names_what_does_not_fit(tmp_path):
    """Rebuilding a model from a checkpoint's config and state: a missing entry, weights of other
    shapes, a config value of the wrong type are one ValueError naming the file."""
    from dataclasses import dataclass

    @dataclass
    class Cfg:
        width: int = 4

    sd = torch.nn.Linear(3, 2).state_dict()

    def make(cfg, state):
        model = torch.nn.Linear(checkpoint.checked(cfg).width, 2)
        model.load_state_dict(state)
        return model

    assert checkpoint.build("ok.pt", "lin", lambda: make(Cfg(3), sd)).in_features == 3
    cases = {"no entry 'model'": lambda: make(Cfg(3), {}["model"]),
             "weight is [2, 3] in the file, [2, 4] in the model": lambda: make(Cfg(4), sd),
             "no weights for bias": lambda: make(Cfg(3), {"weight": sd["weight"]}),
             "its config's width is 'x', not a number": lambda: make(Cfg("x"), sd)}
    for reason, fn in cases.items():
        with pytest.raises(ValueError) as err:
            checkpoint.build(tmp_path / "m.pt", "lin", fn)
        assert str(err.value) == (f"{tmp_path / 'm.pt'}: its weights do not fit a lin model ({reason}); "
                                  "give a checkpoint written by `python -m coursekit train lin`")
