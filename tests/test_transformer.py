"""The codec Transformer of chapter 05: cache, sampling filters, guidance, training, checkpoints, the CLI."""

import json
from argparse import Namespace

import numpy as np
import pytest
import torch

from coursekit import checkpoint
from coursekit.data.nsynth import FAMILIES
from coursekit.models import transformer as T
from coursekit.models.transformer import CodecLM, KVCache, LMConfig
from coursekit.profiles import get_profile
from coursekit.recipes import transformer as R


def tiny(pattern="delay", **kw):
    torch.manual_seed(0)
    kw = {"families": list(FAMILIES), **kw}
    cfg = LMConfig(n_q=3, card=16, d_model=32, n_layer=2, n_head=2, max_steps=40, pattern=pattern, **kw)
    return CodecLM(cfg).eval()


@pytest.mark.parametrize("pattern", ["delay", "flatten", "parallel"])
def test_kv_cache_logits_equal_full_forward(pattern):
    model = tiny(pattern)
    seq = torch.randint(0, 16, (2, model.cfg.streams, 12))
    cond = model.condition_ids([1, 2], [60, 61], [100, 50])
    full = model(seq, cond)
    assert full.shape == (2, model.cfg.streams, 13, model.cfg.vocab)
    cache = KVCache(model.cfg.n_layer)
    parts = [model(seq[:, :, :5], cond, cache)]              # prefix + 5 steps at once
    for s in range(5, 12):                                    # then one step at a time
        parts.append(model(seq[:, :, s:s + 1], None, cache))
    assert cache.length == 3 + 12
    torch.testing.assert_close(torch.cat(parts, dim=2), full, atol=1e-5, rtol=1e-4)


def test_cached_and_uncached_generation_agree():
    model = tiny()
    kw = dict(family=[1, 4], pitch=[60, 72], velocity=[100, 100], cfg_scale=2.0, seed=3,
              temperature=0.9, top_k=8)
    a = T.generate(model, 9, **kw)
    b = T.generate(model, 9, use_cache=False, **kw)
    assert a.shape == (2, 3, 9) and torch.equal(a, b)
    assert int(a.max()) < 16  # the empty token is never an output code


def test_the_future_does_not_leak():
    model = tiny()
    cond = model.condition_ids([1], [60], [100])
    seq = torch.randint(0, 16, (1, 3, 10))
    other = seq.clone()
    other[:, :, 6:] = torch.randint(0, 16, (1, 3, 4))
    a, b = model(seq, cond), model(other, cond)
    torch.testing.assert_close(a[:, :, :7], b[:, :, :7])     # outputs 0..6 read steps 0..5 only


def test_top_k_mask():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    out = T.top_k_filter(logits, 2)
    assert torch.isinf(out).tolist() == [[True, False, True, False, True]]
    assert torch.equal(T.top_k_filter(logits, 0), logits)


def test_top_p_mask():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    keep = lambda p: (~torch.isinf(T.top_p_filter(logits, p))).tolist()[0]  # noqa: E731
    assert keep(0.5) == [True, False, False, False]      # 0.5 alone reaches 0.5
    assert keep(0.6) == [True, True, False, False]
    assert keep(0.8) == [True, True, False, False]       # 0.5 + 0.3 = 0.8 reaches it
    assert keep(0.81) == [True, True, True, False]
    assert keep(0.1) == [True, False, False, False]      # the top token is always kept
    shuffled = logits[:, [2, 0, 3, 1]]                   # order of the vocabulary does not matter
    assert (~torch.isinf(T.top_p_filter(shuffled, 0.6))).tolist()[0] == [False, True, False, True]


def test_sampling_follows_the_filters():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0]).repeat(2000, 1)
    s = T.sample_logits(logits, top_k=2, generator=g)
    assert set(s.tolist()) == {1, 2}
    assert (T.sample_logits(logits[:3], temperature=0) == 1).all()


def test_cfg_combination():
    c = torch.tensor([[2.0, 0.0, -1.0]])
    u = torch.tensor([[0.0, 0.0, 0.0]])
    cl, ul = c.log_softmax(-1), u.log_softmax(-1)
    torch.testing.assert_close(T.cfg_logits(c, u, 1.0), cl)
    torch.testing.assert_close(T.cfg_logits(c, u, 0.0), ul)
    torch.testing.assert_close(T.cfg_logits(c, u, 3.0), ul + 3 * (cl - ul))
    # guidance sharpens toward what the condition adds
    assert T.cfg_logits(c, u, 3.0).softmax(-1)[0, 0] > cl.softmax(-1)[0, 0]


def test_guidance_on_logits_is_guidance_on_log_probabilities():
    torch.manual_seed(0)
    c, u = torch.randn(3, 17), torch.randn(3, 17)
    on_logits = u + 2.5 * (c - u)
    torch.testing.assert_close(on_logits.softmax(-1), T.cfg_logits(c, u, 2.5).softmax(-1))


def test_a_sampler_of_your_own_plugs_into_generate():
    model = tiny()
    kw = dict(family=[1, 2], pitch=[60, 64], velocity=[100, 90], cfg_scale=2.0, top_p=0.7, seed=3)
    ref = T.generate(model, 8, **kw)
    calls = []

    def my_top_p(logits, p):
        calls.append(p)
        return T.top_p_filter(logits, p)

    def my_sampler(logits, temperature, top_k, top_p, generator):
        return T.sample_logits(logits, temperature, top_k, top_p, generator, top_p_fn=my_top_p)

    assert torch.equal(T.generate(model, 8, sample_fn=my_sampler, **kw), ref)
    assert calls and set(calls) == {0.7}
    greedy = T.generate(model, 8, sample_fn=lambda lg, *a: lg.argmax(-1), **kw)
    assert torch.equal(greedy, T.generate(model, 8, **{**kw, "top_p": 0.0}, temperature=0))


def test_condition_dropout_and_null():
    model = tiny()
    cond = model.condition_ids([1, 2, 3, 4], [60, 61, 62, 63], [100] * 4)
    null = model.null_condition(4)
    assert torch.equal(T.drop_condition(cond, 0.0, null)["pitch"], cond["pitch"])
    torch.manual_seed(0)
    all_dropped = T.drop_condition(cond, 1.0, null)
    assert all(torch.equal(all_dropped[k], null[k]) for k in null)
    assert model.condition_ids(None, [60], None)["family"].item() == model.cfg.n_families
    assert model.condition_ids("guitar", 60, 100)["family"].item() == 3
    with pytest.raises(ValueError, match="unknown family"):
        model.condition_ids("kazoo", 60, 100)
    with pytest.raises(ValueError, match="pitch must be below"):
        model.condition_ids(1, 200, 100)


def test_prompt_is_kept_and_continued():
    model = tiny()
    prompt = torch.randint(0, 16, (1, 3, 5))
    out = T.generate(model, 12, prompt=prompt, n=2, seed=0)
    assert out.shape == (2, 3, 12) and torch.equal(out[:, :, :5], prompt.expand(2, -1, -1))
    long = T.generate(model, 60, prompt=prompt, seed=0)      # beyond max_steps: sliding window
    assert long.shape == (1, 3, 60)
    with pytest.raises(ValueError, match="codebooks"):
        T.generate(model, 12, prompt=torch.zeros(1, 2, 5, dtype=torch.long))


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model = CodecLM(LMConfig(n_q=2, card=8, d_model=32, n_layer=1, n_head=2, max_steps=12))
    # a learnable rule: every code of a note is 2 * its family id (+ 1 on the second codebook)
    family = torch.arange(32) % 4
    codes = (2 * family)[:, None, None] + torch.tensor([0, 1])[None, :, None].expand(32, 2, 11)
    tokens = {"codes": codes, "family": family, "pitch": torch.full((32,), 60),
              "velocity": torch.full((32,), 100)}
    ds = R.NoteSteps(tokens, "delay", 8)
    hist = R.train_lm(model, ds, batch_size=8, lr=5e-3, max_steps=80, time_budget_s=float("inf"),
                      progress=False)
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    model.eval()
    out = T.generate(model, 11, family=[1, 3], pitch=[60, 60], velocity=[100, 100], temperature=0.0)
    assert (out[0, 0] == 2).float().mean() > 0.9 and (out[1, 1] == 7).float().mean() > 0.9



def test_training_follows_the_warmup_cosine_schedule():
    model = CodecLM(LMConfig(n_q=2, card=8, d_model=32, n_layer=1, n_head=2, max_steps=12))
    tokens = {"codes": torch.randint(0, 8, (8, 2, 11)), "family": torch.arange(8) % 4,
              "pitch": torch.full((8,), 60), "velocity": torch.full((8,), 100)}
    hist = R.train_lm(model, R.NoteSteps(tokens, "delay", 8), batch_size=4, lr=1e-3, max_steps=100,
                      time_budget_s=float("inf"), progress=False)
    lr = hist.series("lr")[1]
    step = np.arange(100)       # 50 warm-up steps, and a cosine from lr down to lr / 10 over the run
    want = 1e-3 * np.minimum(1, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / 100)))
    np.testing.assert_allclose(lr, want, rtol=1e-6)


def test_names_of_families_need_the_config_to_name_them():
    model = tiny(families=[])
    assert model.condition_ids(3, 60, 100)["family"].item() == 3
    with pytest.raises(ValueError, match="unknown family 'guitar'"):
        model.condition_ids("guitar", 60, 100)


@pytest.fixture
def tiny_checkpoints(tmp_path):
    from coursekit.models.codec import Codec, NeuralCodec
    from coursekit.recipes.codec import save_codec

    torch.manual_seed(0)
    codec_path = save_codec(NeuralCodec(Codec(channels=4, max_channels=8, latent_dim=8, n_q=2,
                                              codebook_size=16)).eval(), tmp_path / "codec.pt")
    digest = R.load_tokenizer(str(codec_path))[1]
    cfg = dict(n_q=2, card=16, d_model=32, n_layer=1, n_head=2, tokenizer=str(codec_path),
               latent_digest=digest, families=list(FAMILIES))
    notes = R.save_model(CodecLM(LMConfig(max_steps=60, **cfg)), tmp_path / "notes.pt")
    piano = R.save_model(CodecLM(LMConfig(max_steps=40, task="piano", **cfg)), tmp_path / "piano.pt")
    return notes, piano, tmp_path


def test_save_and_load_give_the_same_model(tiny_checkpoints):
    notes_ckpt, _, _ = tiny_checkpoints
    ckpt = checkpoint.load(notes_ckpt, kind="transformer")
    assert ckpt["format"] == checkpoint.FORMAT and len(ckpt["config"]["latent_digest"]) == 16
    assert all(v.dtype == torch.float16 for v in ckpt["state"]["model"].values() if v.is_floating_point())
    model = R.load_model(notes_ckpt)
    assert model.cfg.latent_digest == ckpt["config"]["latent_digest"] and not model.training
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32 and torch.equal(v, ckpt["state"]["model"][k].float())


@pytest.mark.parametrize("task", ["notes", "piano"])
def test_the_reference_models_name_the_reference_codec(task):
    model = R.load_model(task=task)
    assert model.cfg.latent_digest == "a154e1a3873b3999" and model.cfg.task == task
    assert model.cfg.families == list(FAMILIES)     # names of families work on a shipped model
    assert R.tokenizer_for(model).codebook_size == model.cfg.card


def _sample_args(**kw):
    base = dict(n=3, out=None, checkpoint=None, seed=0, pitch=None, family=None, prompt=None,
                seconds=None, cfg=None, temperature=None, top_k=None, top_p=None, device=None,
                overwrite=False)
    return Namespace(**{**base, **kw})


def test_sample_cli_writes_a_valid_folder(tiny_checkpoints):
    from coursekit.data.nsynth import check_nsynth, read_examples

    notes_ckpt, _, tmp = tiny_checkpoints
    out = tmp / "gen"
    assert R.sample_command(_sample_args(out=str(out), checkpoint=str(notes_ckpt), pitch=64, family="flute",
                                         cfg=2.0, seconds=1.0)) == 0
    counts, problems = check_nsynth(out)
    assert problems == []
    ex = read_examples(out)
    assert len(ex) == 3
    for m in ex.values():
        assert m["pitch"] == 64 and m["instrument_family_str"] == "flute" and m["cfg_scale"] == 2.0
        assert m["top_p"] == get_profile().ch05.top_p == 0.8 and m["top_k"] == 0   # the profile's nucleus
    assert R.sample_command(_sample_args(out=str(out), checkpoint=str(notes_ckpt), top_p=0.0, top_k=5,
                                         seconds=0.5)) == 0
    assert all(m["top_p"] == 0.0 and m["top_k"] == 5 for m in read_examples(out).values())
    for bad in (dict(top_p=1.0), dict(top_p=-0.1), dict(top_k=-1)):
        with pytest.raises(ValueError, match="--top-"):
            R.sample_command(_sample_args(out=str(out), checkpoint=str(notes_ckpt), **bad))


def test_sample_cli_continues_a_prompt(tiny_checkpoints):
    from coursekit import audio
    from coursekit.data.nsynth import read_examples

    _, piano_ckpt, tmp = tiny_checkpoints
    prompt = tmp / "prompt.wav"
    audio.save(prompt, 0.3 * audio.tone(262.0, 0.5, sr=22050), 22050)
    out = tmp / "cont"
    assert R.sample_command(_sample_args(out=str(out), checkpoint=str(piano_ckpt), prompt=str(prompt),
                                         seconds=0.4, n=2)) == 0
    ex = read_examples(out)
    assert len(ex) == 2 and all(m["prompt"] == str(prompt) for m in ex.values())
    y, sr = audio.load(out / "audio" / f"{next(iter(ex))}.wav")
    assert sr == 16000 and abs(len(y) / sr - 0.9) < 0.05      # prompt (0.5 s) + 0.4 s


def test_wrong_codec_is_refused(tiny_checkpoints):
    notes_ckpt, _, _ = tiny_checkpoints
    model = R.load_model(notes_ckpt)
    model.cfg.latent_digest = "0" * 16
    with pytest.raises(ValueError, match="not the one this model"):
        R.tokenizer_for(model)
    with pytest.raises(FileNotFoundError, match="train transformer"):
        R.load_model(notes_ckpt.parent / "missing.pt")


def _train_args(**kw):
    base = dict(profile="smoke", out=None, seed=0, data=None, resume=False, task="notes", device="cpu",
                time_budget=None, init=None, codec=None)
    return Namespace(**{**base, **kw})


@pytest.mark.parametrize("task", ["notes", "piano"])
def test_train_cli_measures_the_validation_loss_on_held_out_data(task, tiny_checkpoints, mini_nsynth_root,
                                                                 tmp_path):
    # the card's val_loss must come from data the model never trains on (NSynth valid; MAESTRO's
    # validation + test performances), and say which
    from coursekit.data import make_dataset

    _, _, tmp = tiny_checkpoints
    if task == "notes":
        data = mini_nsynth_root / "nsynth-train"
    else:
        data = make_dataset("mini-maestro", tmp_path / "maestro", size="smoke", seed=0) / "maestro-v3.0.0"
    out = tmp_path / f"{task}.pt"
    assert R.train_command(_train_args(out=str(out), data=str(data), task=task, time_budget=float("inf"),
                                       codec=str(tmp / "codec.pt"))) == 0          # the smoke profile's 6 steps
    card = checkpoint.read_card(out.with_suffix(".json"))
    assert set(checkpoint.CARD_KEYS) <= set(card) and card["model"] == "transformer"
    assert card["tokenizer"]["latent_digest"] == R.load_model(out).cfg.latent_digest
    metrics = card["metrics"]
    assert metrics["val_loss"] is not None and np.isfinite(metrics["val_loss"])
    assert ("nsynth-valid" if task == "notes" else "held-out performances") in metrics["val_data"]


def test_train_cli_resumes_and_fine_tunes(tiny_checkpoints, mini_nsynth_root, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_RUNS", str(tmp_path / "runs"))
    _, _, tmp = tiny_checkpoints
    kw = dict(data=str(mini_nsynth_root / "nsynth-train"), codec=str(tmp / "codec.pt"),
              time_budget=float("inf"))
    first, whole = tmp_path / "first.pt", tmp_path / "whole.pt"
    assert R.train_command(_train_args(out=str(first), **kw)) == 0           # the smoke profile's 6 steps
    train_ckpt = tmp_path / "first.train.pt"                             # beside --out
    assert checkpoint.load(train_ckpt, kind="transformer")["step"] == 6
    assert R.train_command(_train_args(out=str(first), resume=True, **kw)) == 0   # nothing left to do
    assert checkpoint.read_card(first.with_suffix(".json"))["steps"] == 6
    assert R.train_command(_train_args(out=str(whole), init=str(first), **kw)) == 0
    assert checkpoint.read_card(whole.with_suffix(".json"))["initialized_from"] == str(first)
    bad = R.save_model(CodecLM(LMConfig(n_q=3, card=16, d_model=32, n_layer=1, n_head=2)), tmp / "bad.pt")
    with pytest.raises(ValueError, match="does not match"):
        R.train_command(_train_args(out=str(tmp_path / "x.pt"), init=str(bad), **kw))   # another layout


def test_init_takes_the_architecture_of_its_checkpoint_and_resume_keeps_it(tiny_checkpoints, mini_nsynth_root,
                                                                           tmp_path, capsys):
    from coursekit.profiles import get_profile

    _, _, tmp = tiny_checkpoints
    kw = dict(data=str(mini_nsynth_root / "nsynth-train"), codec=str(tmp / "codec.pt"))
    small = tmp_path / "small.pt"
    assert R.train_command(_train_args(out=str(small), time_budget=float("inf"), **kw)) == 0   # smoke: 6 steps
    init = checkpoint.load(small, kind="transformer")["config"]
    default = get_profile("default").ch05
    assert (init["d_model"], init["n_q"]) != (default.d_model, default.n_q)
    # the default profile (its budget, batch, 4 s notes) trains it at the smoke checkpoint's size
    tuned = tmp_path / "tuned.pt"
    capsys.readouterr()
    assert R.train_command(_train_args(out=str(tuned), profile="default", init=str(small), time_budget=3,
                                       **kw)) == 0
    out = capsys.readouterr().out
    assert f"the architecture comes from {small} (n_q {init['n_q']}, d_model {init['d_model']}" in out
    assert f"the most {small}'s {init['max_steps']} positions hold" in out     # 4 s notes cut to fit
    config = checkpoint.load(tuned, kind="transformer")["config"]
    assert config == init
    card = checkpoint.read_card(tuned.with_suffix(".json"))
    assert card["profile"] == "default" and card["steps"] >= 1 and card["tokenizer"]["n_q"] == init["n_q"]
    # --resume rebuilds the model its training state was saved with, not the profile's
    assert R.train_command(_train_args(out=str(tuned), profile="default", resume=True, time_budget=4,
                                       **kw)) == 0
    assert f"resumed from {tmp_path / 'tuned.train.pt'}" in capsys.readouterr().out
    assert checkpoint.load(tuned, kind="transformer")["config"] == init
