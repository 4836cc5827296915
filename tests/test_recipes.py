"""What every recipe shares (coursekit.recipes): the resume file, the run's card, cache names."""

import os
import time

import pytest

from coursekit import checkpoint
from coursekit.recipes import cache_path, resume_path, say_architecture, stored_architecture, write_run_card


def test_resume_state_lives_beside_the_output(tmp_path):
    assert resume_path(tmp_path / "model.pt") == tmp_path / "model.train.pt"


def test_the_architecture_comes_from_the_resume_state_then_the_init_then_the_profile(tmp_path, capsys):
    out = tmp_path / "m.pt"
    init = checkpoint.save(tmp_path / "init.pt", kind="rnn", config={"hidden": 8, "sr": 8000}, state={})
    assert stored_architecture("rnn", out) == (None, None)
    assert stored_architecture("rnn", out, resume=True) == (None, None)         # no training state yet
    assert stored_architecture("rnn", out, init=init) == (init, {"hidden": 8, "sr": 8000})
    assert stored_architecture("rnn", out, init=str(init), resume=True) == (init, {"hidden": 8, "sr": 8000})
    checkpoint.save(resume_path(out), kind="rnn", config={"hidden": 16, "sr": 8000}, state={})
    assert stored_architecture("rnn", out, init=init, resume=True) == (resume_path(out), {"hidden": 16, "sr": 8000})
    assert stored_architecture("rnn", out, init=init)[0] == init                 # without --resume: the init
    with pytest.raises(ValueError, match="holds a rnn model, not a gan model"):
        stored_architecture("gan", out, init=init)
    empty = checkpoint.save(tmp_path / "empty.pt", kind="rnn", config={}, state={})
    with pytest.raises(ValueError, match="stores no model config"):
        stored_architecture("rnn", out, init=empty)
    # one line naming what differs from the profile, nothing when nothing does
    say_architecture(init, "full", {"hidden": 32, "sr": 8000, "x": (1, 2)}, {"hidden": 8, "sr": 8000, "x": [1, 2]},
                     ("hidden", "sr", "x"))
    assert capsys.readouterr().out == (f"the architecture comes from {init} (hidden 8), "
                                       "not from the full profile (hidden 32)\n")
    say_architecture(init, "full", {"hidden": 8}, {"hidden": 8}, ("hidden",))
    assert capsys.readouterr().out == ""


def test_run_card_has_the_schema_and_the_runs_figures(tmp_path, capsys):
    out = tmp_path / "m.pt"
    out.write_bytes(b"x" * 10)
    history = [{"step": 1, "time": 0.5, "loss": 2.0}, {"step": 2, "time": 1.25, "loss": 1.0}]
    card = checkpoint.read_card(write_run_card(
        out, model="rnn", profile="smoke", data={"notes": 3}, config={"a": 1}, history=history,
        started=time.perf_counter(), metrics={"loss": 1.0}, initialized_from=tmp_path / "start.pt"))
    assert set(checkpoint.CARD_KEYS) <= set(card)
    assert card["steps"] == 2 and card["training_time_s"] == 1.2 and card["size_bytes"] == 10
    assert card["initialized_from"] == str(tmp_path / "start.pt") and card["metrics"] == {"loss": 1.0}
    assert "wrote" in capsys.readouterr().out


def test_cache_name_follows_the_data_and_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "nsynth-train"
    data.mkdir()
    (data / "examples.json").write_text("{}")
    first = cache_path("tokens", data, "digest|4")
    assert first.parent == tmp_path / "cache" / "tokens"
    assert cache_path("tokens", data, "digest|4") == first
    assert cache_path("tokens", data, "digest|8") != first              # other settings
    (data / "examples.json").write_text('{"a": 1}')                     # the data made again
    os.utime(data / "examples.json", ns=(1, 1))
    assert cache_path("tokens", data, "digest|4") != first


# -- The full profile on a GPU: every recipe's training with mixed precision and its data there --

def _train_on_the_gpu(model):
    """A few steps of ``model``'s training (tiny sizes) on the simulated GPU with float16
    mixed precision (a T4: autocast and a gradient scaler) and the training set on the GPU;
    returns (history, the tensors of the training set)."""
    import torch

    from coursekit.data.nsynth import FAMILIES

    kw = dict(device="cuda", amp=True, data_on_device=True, progress=False, time_budget_s=60)
    g = torch.Generator().manual_seed(0)
    if model == "rnn":
        from coursekit.models.rnn import RNNConfig, SampleRNN
        from coursekit.recipes.rnn import NoteSegments, train_rnn

        notes = {"codes": torch.randint(0, 256, (4, 4000), dtype=torch.uint8, generator=g),
                 "pitch": torch.full((4,), 60), "family": torch.zeros(4, dtype=torch.long)}
        m = SampleRNN(RNNConfig(sr=8000, hidden=16, mlp_hidden=16, emb_dim=8, families=list(FAMILIES)))
        seen = []
        get = NoteSegments.__getitem__
        NoteSegments.__getitem__ = lambda self, i: seen.append(self.notes["codes"]) or get(self, i)
        try:
            return train_rnn(m, notes, batch_size=2, segment_seconds=0.1, max_steps=2, **kw), seen
        finally:
            NoteSegments.__getitem__ = get
    if model == "gan":
        from coursekit.recipes.gan import train_gan

        notes = {"audio": 0.1 * torch.randn(4, 16384, generator=g), "pitch": torch.tensor([60, 62, 64, 66]),
                 "family": torch.zeros(4, dtype=torch.long)}
        seen = []
        real = torch.utils.data.TensorDataset.__init__
        torch.utils.data.TensorDataset.__init__ = lambda self, *t: seen.extend(t) or real(self, *t)
        try:
            return train_gan(notes, channels=8, batch_size=2, max_steps=2, **kw)[2], seen
        finally:
            torch.utils.data.TensorDataset.__init__ = real
    if model == "codec":
        from coursekit.models.codec import Codec
        from coursekit.recipes.codec import train_codec
        from coursekit.recipes.codec_data import SegmentDataset, synthetic_notes

        ds = SegmentDataset({"a": synthetic_notes(2, 16000, seconds=0.5)}, 3200, n_segments=4)
        cfg = Codec(channels=4, max_channels=8, n_q=2, codebook_size=16)
        return train_codec(cfg, ds, steps=2, batch_size=2, adversarial=True, **kw)[1], ds.on_device
    if model == "transformer":
        from coursekit.models.transformer import CodecLM, LMConfig
        from coursekit.recipes.transformer import NoteSteps, train_lm

        cfg = LMConfig(n_q=2, card=16, d_model=16, n_layer=1, n_head=2, families=list(FAMILIES))
        ds = NoteSteps({"codes": torch.randint(0, 16, (4, 2, 10), generator=g), "pitch": torch.full((4,), 60),
                        "family": torch.zeros(4, dtype=torch.long), "velocity": torch.full((4,), 100)},
                       cfg.pattern, cfg.card)
        cfg.max_steps = ds.seq.shape[-1]
        return train_lm(CodecLM(cfg), ds, batch_size=2, max_steps=2, **kw), [ds.seq, *ds.cond]
    from coursekit.models.diffusion import DiffusionConfig, LatentDiffusion, latent_stats
    from coursekit.recipes.diffusion import train_diffusion
    from coursekit.recipes.diffusion_data import NoteLatents

    data = NoteLatents({"latents": torch.randn(4, 4, 8, generator=g).half(), "pitch": torch.full((4,), 60),
                        "family": torch.zeros(4, dtype=torch.long), "velocity": torch.full((4,), 100)})
    m = LatentDiffusion(DiffusionConfig(latent_dim=4, frames=8, channels=(8, 8), emb_dim=8, groups=4))
    m.set_stats(*latent_stats(data.data["latents"].float()))
    return train_diffusion(m, data, max_steps=2, batch_size=2, **kw)[1], list(data.data.values())


@pytest.mark.parametrize("model", ["rnn", "gan", "codec", "transformer", "diffusion"])
def test_full_profile_training_runs_on_a_gpu_with_mixed_precision_and_its_data_there(model):
    import math

    import torch

    from fakecuda import fake_cuda

    stepped = []                      # the optimizers that stepped through the gradient scaler
    real_step = torch.amp.GradScaler.step

    def step(self, optimizer, *a, **k):
        stepped.append(optimizer)
        return real_step(self, optimizer, *a, **k)

    with fake_cuda() as gpu:
        torch.cuda.is_bf16_supported = lambda *a, **k: False          # float16 and a scaler
        torch.amp.GradScaler.step = step
        try:
            history, data = _train_on_the_gpu(model)
        finally:
            torch.amp.GradScaler.step = real_step
    assert gpu.cuda_ops > 0 and len(history) == 2
    assert all(math.isfinite(v) for h in history for v in h.values())
    assert data and all(t.device.type == "cuda" for t in data if torch.is_tensor(t))
    players = 2 if model in ("gan", "codec") else 1                 # (the codec's critic too)
    assert len(stepped) == 2 * players and len({id(o) for o in stepped}) == players
