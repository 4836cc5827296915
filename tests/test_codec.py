"""The course codec (coursekit.models.codec, .rvq), its recipe (coursekit.recipes.codec) and the
EnCodec wrapper: fast tests on tiny models."""

import json
import warnings

import numpy as np
import pytest
import torch

from coursekit import checkpoint
from coursekit.audio import AudioError, mel_filterbank, save
from coursekit.models import codec as C
from coursekit.models import rvq
from coursekit.models import stft_discriminator as SD
from coursekit.recipes import codec as R
from coursekit.recipes.codec_data import SegmentDataset, synthetic_notes

TINY = C.Codec(channels=4, max_channels=16, latent_dim=8, n_q=4, codebook_size=16)
MEL_FB = torch.from_numpy(mel_filterbank(16000, n_fft=1024, n_mels=64))


def tiny_model(seed=0, train_on=None):
    torch.manual_seed(seed)
    model = C.NeuralCodec(TINY)
    x = train_on if train_on is not None else 0.3 * torch.randn(4, 1, 3200)
    model.train()
    model(x)                      # first training pass: k-means initialisation of the codebooks
    return model.eval()


def tone(f=220.0, n=16000, sr=16000):
    return (0.5 * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


# --------------------------------------------------------------------------------- interface

def test_shapes_and_rates():
    model = tiny_model()
    audio = torch.from_numpy(np.stack([tone(220), tone(330)]))           # (B, N)
    codes = model.encode(audio)
    assert codes.shape == (2, 4, 50) and codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < 16
    assert model.decode(codes).shape == (2, 1, 16000)
    assert model.encode(audio, n_q=2).shape == (2, 2, 50)
    z = model.encode_latent(audio)
    assert z.shape == (2, 8, 50)
    assert model.decode_latent(z).shape == (2, 1, 16000)
    assert model.decode_latent(z, n_q=4).shape == (2, 1, 16000)
    assert model.frame_rate == 50.0 and model.codebook_size == 16
    assert model.bitrate(1) == 50 * 4 and model.bitrate() == 50 * 4 * 4
    assert list(model.bitrates()) == [1, 2, 3, 4]


def test_odd_length_is_padded_and_reconstruct_keeps_length():
    model = tiny_model()
    y = tone(n=12345)
    assert model.encode(y).shape[-1] == int(np.ceil(12345 / 320))
    assert model.reconstruct(y).shape == (12345,)
    assert model.reconstruct(np.stack([y, y])).shape == (2, 12345)


def test_decoding_codes_equals_decoding_quantized_latents():
    model = tiny_model()
    y = tone()
    a = model.decode(model.encode(y, n_q=3))
    b = model.decode_latent(model.encode_latent(y), n_q=3)
    assert torch.allclose(a, b, atol=1e-5)


# --------------------------------------------------------------------------------- quantizer

def test_more_quantizers_leave_a_smaller_residual():
    torch.manual_seed(0)
    quantizer = rvq.ResidualVQ(dim=8, codebook_size=32, n_q=4)
    z = torch.randn(2, 8, 200)
    quantizer.train()
    for _ in range(20):
        quantizer(z)
    quantizer.eval()
    errors = [float((quantizer(z, n)[0] - z).pow(2).mean()) for n in range(1, 5)]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.5 * float(z.pow(2).mean())


def test_snake_inference_path_equals_the_training_path():
    snake = C.Snake(6)
    with torch.no_grad():
        snake.alpha.uniform_(0.3, 3.0)
    x = torch.randn(2, 6, 50)
    before = x.clone()
    expected = x + torch.sin(snake.alpha * x).pow(2) / (snake.alpha + 1e-9)
    with torch.no_grad():                      # the in-place path
        got = snake(x)
    assert torch.allclose(got, expected.detach(), atol=1e-6)
    assert torch.allclose(snake(x), expected)  # the autograd path
    assert torch.equal(x, before)              # the in-place path leaves its input alone


def test_decoder_uses_snake_and_old_configs_load_with_leaky_relu():
    new = C.NeuralCodec(C.Codec(channels=4, n_q=2, codebook_size=16))
    assert any(isinstance(m, C.Snake) for m in new.decoder.modules())
    assert not any(isinstance(m, C.Snake) for m in new.encoder.modules())
    cfg = {k: v for k, v in C.Codec(channels=4, n_q=2, codebook_size=16).__dict__.items() if k != "activation"}
    old = C.Codec.from_dict(cfg)               # a checkpoint written before Snake existed
    assert old.activation == "leaky_relu"
    assert not any(isinstance(m, C.Snake) for m in C.NeuralCodec(old).modules())


def test_kmeans_init_and_ema_track_the_data():
    torch.manual_seed(0)
    centers = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
    x = centers[torch.randint(0, 4, (400,))] + 0.05 * torch.randn(400, 2)
    vq = rvq.VectorQuantizer(2, 4, decay=0.9)
    vq.update(x, vq.nearest(x))                                           # k-means initialisation
    assert bool(vq.initialized)
    nearest = torch.cdist(centers, vq.codebook).min(dim=1).values
    assert float(nearest.max()) < 0.5
    moved = x + torch.tensor([1.0, 0.0])                                  # the data shifts
    for _ in range(60):
        vq.update(moved, vq.nearest(moved))
    nearest = torch.cdist(centers + torch.tensor([1.0, 0.0]), vq.codebook).min(dim=1).values
    assert float(nearest.max()) < 0.3                                     # EMA followed it


def test_dead_codes_are_restarted_on_data():
    torch.manual_seed(0)
    vq = rvq.VectorQuantizer(2, 8, decay=0.5, dead_threshold=0.5)
    x = torch.randn(64, 2)
    vq.update(x, vq.nearest(x))
    vq.codebook[3] = torch.tensor([100.0, 100.0])                         # a code nobody picks
    vq.ema_sum[3] = vq.codebook[3] * vq.ema_count[3]
    for _ in range(5):
        vq.update(x, vq.nearest(x))
    assert float(vq.codebook[3].abs().max()) < 10, "the dead code should have jumped onto the data"


def test_quantizer_dropout_uses_fewer_codes_per_example():
    model = tiny_model()
    z = torch.randn(2, 8, 10)
    model.quantizer.eval()
    zq_mixed, _, _ = model.quantizer(z, torch.tensor([1, 4]))
    zq1, _, _ = model.quantizer(z, 1)
    zq4, _, _ = model.quantizer(z, 4)
    assert torch.allclose(zq_mixed[0], zq1[0]) and torch.allclose(zq_mixed[1], zq4[1])


def test_training_pass_gives_gradients_to_encoder_and_commitment():
    model = tiny_model()
    model.train()
    x = 0.3 * torch.randn(2, 1, 3200)
    loss, logs, x_hat = C.codec_loss(model, x, torch.tensor([2, 4]), mel_fb=MEL_FB)
    loss.backward()
    assert x_hat.shape == x.shape and logs["commit"] > 0
    assert model.encoder.net[0].weight.grad is not None                   # straight-through
    assert float(model.encoder.net[0].weight.grad.abs().sum()) > 0


def test_adversarial_losses_run():
    disc = SD.STFTDiscriminator(scales=(256, 128), channels=4)
    x, x_hat = 0.3 * torch.randn(2, 1, 3200), (0.3 * torch.randn(2, 1, 3200)).requires_grad_()
    g, d = SD.generator_loss(disc, x_hat, x), SD.discriminator_loss(disc, x_hat, x)
    assert torch.isfinite(g) and torch.isfinite(d)
    d.backward()
    assert x_hat.grad is None                                   # the discriminator's loss sees x_hat detached
    assert all(p.grad is not None for p in disc.parameters())
    g.backward()
    assert x_hat.grad is not None


def test_adversarial_training_steps_both_players():
    clips = [tone(f, n=8000) for f in (220, 330, 440)]
    data = SegmentDataset({"tones": clips}, segment=1280, n_segments=16, seed=0)
    model, history = R.train_codec(TINY, data, steps=2, batch_size=2, adversarial=True,
                                   time_budget_s=float("inf"), progress=False)
    assert len(history) == 2
    assert all(np.isfinite(h["d_loss"]) and np.isfinite(h["g_adv"]) for h in history)


# --------------------------------------------------------------------------------- bad input

def test_wrong_sample_rate_is_resampled_by_the_recipe_and_said_once(monkeypatch):
    monkeypatch.setattr(C, "_said", set())
    model = tiny_model()
    y = tone(n=22050, sr=22050)
    with pytest.raises(ValueError, match="takes 16000 Hz; resample"):     # the model takes its own rate
        model.encode(y, sr=22050)
    with pytest.warns(UserWarning, match="resampled from 22050 Hz"):
        x = R.prepare_audio(y, 22050, model.sample_rate)
    assert x.shape == (1, 1, 16000)
    assert model.encode(x, sr=16000).shape[-1] == 50                       # 1 s at 16 kHz
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                     # said only once
        R.prepare_audio(y, 22050, model.sample_rate)
        assert R.reconstruct(model, y, sr=22050).shape == (22050,)
    assert R.reconstruct(model, np.stack([y, y]), sr=22050).shape == (2, 22050)
    y16 = tone(n=12345)
    assert np.array_equal(R.reconstruct(model, y16), model.reconstruct(y16))   # one computation at its rate


def test_stereo_is_mixed_down_and_said_once(monkeypatch):
    monkeypatch.setattr(C, "_said", set())
    model = tiny_model()
    stereo = np.stack([tone(220), tone(330)])[None]                        # (1, 2, N)
    with pytest.warns(UserWarning, match="mixed down"):
        codes = model.encode(stereo)
    mono = stereo.mean(axis=1)
    assert torch.equal(codes, model.encode(mono))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.encode(stereo)


@pytest.mark.parametrize("bad, match", [
    (np.zeros(16000, np.float32), "silent"),
    (np.full(16000, np.nan, np.float32), "NaN"),
    (np.zeros(0, np.float32), "empty"),
    (np.zeros((1, 1, 1, 10), np.float32), "expected shape"),
])
def test_unusable_audio_raises_a_clear_error(bad, match):
    model = tiny_model()
    with pytest.raises(ValueError, match=match):
        model.encode(bad)
    with pytest.raises(ValueError, match=match):
        model.encode_latent(bad)
    with pytest.raises(AudioError, match=match):
        R.prepare_audio(bad, None, 16000)
    with pytest.raises(AudioError, match=match):
        R.reconstruct(model, bad)


def test_bad_codes_raise_a_clear_error():
    model = tiny_model()
    codes = model.encode(tone())
    with pytest.raises(ValueError, match=r"\[0, 15\]"):
        model.decode(codes + 16)
    with pytest.raises(ValueError, match=r"\[0, 15\]"):
        model.decode(codes - 100)
    with pytest.raises(ValueError, match="integers"):
        model.decode(codes.float())
    with pytest.raises(ValueError, match="1 to 4"):
        model.decode(torch.zeros(1, 5, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="1 to 4"):
        model.encode(tone(), n_q=9)
    with pytest.raises(ValueError, match="latents"):
        model.decode_latent(torch.zeros(1, 3, 10))


# --------------------------------------------------------------------------------- metrics

def test_metrics():
    y = tone()
    assert R.mel_distance(y, y) == 0.0
    assert R.si_sdr(y, y) > 60
    assert R.si_sdr(y, 3 * y) > 60                                         # scale-invariant
    noisy = y + 0.05 * np.random.default_rng(0).standard_normal(len(y)).astype(np.float32)
    assert 10 < R.si_sdr(y, noisy) < 30 and R.mel_distance(y, noisy) > 0.1
    u = R.codebook_usage(torch.arange(16).repeat(2, 1)[None], 16)
    assert np.allclose(u["perplexity"], 16) and u["dead_fraction"] == [0.0, 0.0]
    u = R.codebook_usage(torch.zeros(1, 1, 50, dtype=torch.long), 16)
    assert np.isclose(u["perplexity"][0], 1.0) and np.isclose(u["dead_fraction"][0], 15 / 16)


# --------------------------------------------------------------------------------- save / load / train

def test_save_and_load_round_trip(tmp_path):
    model = tiny_model()
    path = R.save_codec(model, tmp_path / "c.pt", step=3)
    ckpt = torch.load(path, weights_only=True)                              # plain data only
    assert ckpt["step"] == 3 and ckpt["config"]["n_q"] == 4
    assert ckpt["format"] == checkpoint.FORMAT and ckpt["kind"] == "codec"
    again = R.load_codec(path)
    assert again.cfg == model.cfg
    assert torch.equal(again.encode(tone()), model.encode(tone()))
    with pytest.raises(FileNotFoundError, match="no such codec checkpoint"):
        R.load_codec(tmp_path / "missing.pt")
    other = checkpoint.save(tmp_path / "other.pt", kind="rnn", config={"a": 1}, state={"model": {}})
    with pytest.raises(ValueError, match="not a codec model"):
        R.load_codec(other)


def test_reference_codec_and_card():
    path = checkpoint.reference(R.REFERENCE)
    if not path.exists():
        pytest.skip("the reference codec has not been trained in this checkout")
    assert path.stat().st_size <= 5 * 1024 * 1024
    card = checkpoint.read_card(path.with_suffix(".json"))
    for key in checkpoint.CARD_KEYS:
        assert key in card, key
    assert card["latent_digest"] == R.latent_digest(R.load_codec())
    model = R.load_codec()
    assert model.frame_rate == 50.0 and model.sample_rate == 16000
    y_hat = model.reconstruct(tone(440.0))
    assert y_hat.shape == (16000,) and np.isfinite(y_hat).all()


def test_train_and_resume(tmp_path):
    clips = [tone(f, n=8000) for f in (220, 330, 440)]
    data = SegmentDataset({"tones": clips}, segment=1280, n_segments=16, seed=0)
    assert len(data) == 16 and data[0].shape == (1, 1280)
    ckpt = tmp_path / "state.pt"
    _, h1 = R.train_codec(TINY, data, steps=2, batch_size=2, ckpt_path=ckpt, ckpt_every=1,
                          time_budget_s=float("inf"), progress=False)
    assert checkpoint.load(ckpt, kind="codec")["step"] == 2
    model, h2 = R.train_codec(TINY, data, steps=4, batch_size=2, ckpt_path=ckpt, resume=True,
                              ckpt_every=1, time_budget_s=float("inf"), progress=False)
    assert [h["step"] for h in h2] == [1, 2, 3, 4]
    assert [h["loss"] for h in h2[:2]] == [h["loss"] for h in h1]
    assert all(np.isfinite(h["loss"]) for h in h2)
    assert bool(model.quantizer.layers[0].initialized)


def test_frame_convergence_counts_a_quiet_tail_that_the_segment_losses_hardly_see():
    t = np.arange(16000) / 16000
    x = np.sin(2 * np.pi * 440 * t) * np.where(t < 0.5, 0.8, 0.8 * 10 ** (-50 / 20))  # tail at -50 dB
    gated = np.where(t < 0.5, x, 0.0)                                 # the tail decoded as silence
    T = lambda a: torch.tensor(a, dtype=torch.float32)[None, None]
    assert float(C.frame_convergence_loss(T(x), T(x))) == 0.0
    # the segment-wide STFT loss minds losing the tail less than a 1 dB level error ...
    seg_gated = float(C.multires_stft_loss(T(gated), T(x), eps=0.01))
    seg_level = float(C.multires_stft_loss(T(0.9 * x), T(x), eps=0.01))
    assert seg_gated < seg_level
    # ... frame by frame, half the frames are wholly wrong and that costs four times more
    assert float(C.frame_convergence_loss(T(gated), T(x))) > 4 * float(C.frame_convergence_loss(T(0.9 * x), T(x)))
    # output where the target is silent costs too (judged against the -70 dB floor)
    noise = 1e-3 * np.random.default_rng(0).standard_normal(16000)
    assert float(C.frame_convergence_loss(T(noise), T(np.zeros(16000)))) > 1.0


def test_decoder_only_fine_tune_keeps_codes_latents_and_digest():
    clips = [tone(f, n=8000) for f in (220, 330, 440)]
    data = SegmentDataset({"tones": clips}, segment=1280, n_segments=16, seed=0)
    start = tiny_model()
    before = {k: v.clone() for k, v in start.state_dict().items()}
    x = torch.from_numpy(tone(262.0, n=3200))[None, None]
    codes, z, digest = start.encode(x), start.encode_latent(x), R.latent_digest(start)
    model, history = R.train_codec(TINY, data, steps=3, batch_size=2, lr=1e-2,
                                   finetune=R.CodecFinetune(init=start, decoder_only=True),
                                   time_budget_s=float("inf"), progress=False)
    assert len(history) == 3
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)   # EMA buffers included
    assert torch.equal(model.encode(x), codes) and torch.equal(model.encode_latent(x), z)
    assert R.latent_digest(model) == digest
    assert all(p.requires_grad for p in model.parameters())             # a returned codec trains normally


def test_latent_digest_follows_the_encoder_and_codebooks_only():
    a, b = tiny_model(seed=0), tiny_model(seed=0)
    assert R.latent_digest(a) == R.latent_digest(b)
    with torch.no_grad():
        b.decoder.net[0].bias.add_(1.0)
    assert R.latent_digest(a) == R.latent_digest(b)
    with torch.no_grad():
        b.quantizer.layers[1].codebook[0] += 1.0
    assert R.latent_digest(a) != R.latent_digest(b)
    assert R.latent_digest(tiny_model(seed=1)) != R.latent_digest(a)


def test_decoder_only_needs_a_codec_to_start_from(tmp_path, capsys):
    from coursekit.cli import main

    with pytest.raises(ValueError, match="--init CKPT"):
        R.CodecFinetune(decoder_only=True)
    assert main(["train", "codec", "--profile", "smoke", "--out", str(tmp_path / "c.pt"), "--decoder-only"]) == 2
    assert "--init CKPT" in capsys.readouterr().err
    assert not (tmp_path / "c.pt").exists()


def test_loud_frames_and_anchor_loss():
    hop = 320
    x = torch.zeros(2, 1, 4 * hop)
    x[0, 0, :hop] = 0.5                                   # frame 0 loud, frame 1 at -14 dB, rest -60 dB
    x[0, 0, hop:2 * hop] = 0.1
    x[0, 0, 2 * hop:] = 0.0005
    x[1, 0, :] = 1e-3                                     # a uniformly quiet example: every frame is
    mask = C.loud_frames(x, hop, within_db=20.0)          # its own loudest, so all count
    assert mask.tolist() == [[True, True, False, False], [True, True, True, True]]
    z_ref = torch.randn(2, 3, 4)
    assert float(C.anchor_loss(z_ref, z_ref, mask)) == 0.0
    far = z_ref.clone()
    far[0, :, 2:] += 100.0                                # only quiet frames moved: no cost
    assert float(C.anchor_loss(far, z_ref, mask)) == 0.0
    assert abs(float(C.anchor_loss(torch.zeros_like(z_ref), z_ref, mask)) - 1.0) < 1e-6


def test_frozen_codebooks_fine_tune_keeps_the_codebooks_and_the_anchor_holds_loud_latents():
    clips = [tone(f, n=8000) for f in (220, 330, 440)]
    data = SegmentDataset({"tones": clips}, segment=1280, n_segments=16, seed=0)
    start = tiny_model()
    books = [layer.codebook.clone() for layer in start.quantizer.layers]
    x = torch.from_numpy(tone(262.0, n=3200))[None, None]
    z0 = start.encode_latent(x)
    free, _ = R.train_codec(TINY, data, steps=6, batch_size=2, lr=3e-2,
                            finetune=R.CodecFinetune(init=tiny_model(), freeze_codebooks=True),
                            time_budget_s=float("inf"), progress=False)
    held, _ = R.train_codec(TINY, data, steps=6, batch_size=2, lr=3e-2,
                            finetune=R.CodecFinetune(init=start, freeze_codebooks=True, anchor=100.0),
                            time_budget_s=float("inf"), progress=False)
    for model in (free, held):
        assert all(torch.equal(a, layer.codebook) for a, layer in zip(books, model.quantizer.layers))
        assert model.quantizer.frozen is False            # a loaded or returned codec trains normally
    # the encoder learned in both; the anchored one stayed nearer its start on this loud tone
    assert not torch.equal(free.encode_latent(x), z0) and not torch.equal(held.encode_latent(x), z0)
    assert (held.encode_latent(x) - z0).norm() < (free.encode_latent(x) - z0).norm()
    with pytest.raises(ValueError, match="init"):
        R.CodecFinetune(freeze_codebooks=True)


def test_synthetic_notes_are_seeded_bounded_and_pitched():
    a, b = synthetic_notes(6, seconds=0.5, seed=3), synthetic_notes(6, seconds=0.5, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], synthetic_notes(1, seconds=0.5, seed=4)[0])
    assert all(x.shape == (8000,) and x.dtype == np.float32 and 0.8 < np.abs(x).max() <= 0.9 + 1e-6 for x in a)
    # one pitch: the spectrum's strongest peak sits on a harmonic of a note inside the range
    (y,) = synthetic_notes(1, seconds=1.0, midi_range=(81.0, 81.0), seed=0)
    spec = np.abs(np.fft.rfft(y[:4000] * np.hanning(4000)))
    f_peak = np.fft.rfftfreq(4000, 1 / 16000)[spec.argmax()]
    k = f_peak / 880.0
    assert abs(k - round(k)) < 0.05 and round(k) >= 1


def _fine_tune_argv(tmp_path, *flags):
    """A saved tiny codec, two tone clips and the `train codec` arguments that fine-tune it:
    ``(start, out, argv)``."""
    start = R.save_codec(tiny_model(), tmp_path / "start.pt")
    data = tmp_path / "clips"
    for i, f in enumerate((220.0, 330.0)):
        save(data / f"c{i}.wav", tone(f, n=8000), 16000)
    out = tmp_path / "ft.pt"
    argv = ["train", "codec", "--profile", "smoke", "--out", str(out), "--data", str(data), "--overwrite",
            "--init", str(start), *flags, "--time-budget", "600"]
    return start, out, argv


def test_cli_decoder_fine_tune_with_synthetic_notes_and_a_lower_floor(tmp_path, capsys, monkeypatch):
    from coursekit.cli import main

    start, out, argv = _fine_tune_argv(tmp_path, "--decoder-only", "--synthetic-notes", "8",
                                       "--stft-floor", "0.01", "--frame-loss", "1")
    monkeypatch.setattr("sys.argv", ["/somewhere/coursekit/__main__.py", *argv])   # as `python -m coursekit`
    assert main(argv) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["stft_floor"] == 0.01 and card["data"]["synthetic"].startswith("8 notes")
    assert "--synthetic-notes 8" in card["command"] and "--stft-floor 0.01" in card["command"]
    assert card["frame_loss"] == 1.0 and "--frame-loss 1 " in card["command"]
    assert "--time-budget 600" in card["command"]          # the card's command is the one that ran
    assert card["latent_digest"] == R.latent_digest(R.load_codec(start))
    assert main(argv[:-6] + ["--stft-floor", "0"]) != 0
    assert "--stft-floor must be positive" in capsys.readouterr().err
    assert main(argv[:-4] + ["--frame-loss", "-1"]) != 0
    assert "--frame-loss is a weight" in capsys.readouterr().err


def test_cli_encoder_fine_tune_with_frozen_codebooks_and_an_anchor(tmp_path, capsys, monkeypatch):
    from coursekit.cli import main

    start, out, argv = _fine_tune_argv(tmp_path, "--freeze-codebooks", "--anchor", "10")
    monkeypatch.setattr("sys.argv", ["/somewhere/coursekit/__main__.py", *argv])
    assert main(argv) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["freeze_codebooks"] is True and card["anchor"] == 10.0
    assert "--anchor 10" in card["command"] and "--freeze-codebooks" in card["command"]
    assert card["latent_digest"] != R.latent_digest(R.load_codec(start))    # the encoder moved
    old, new = R.load_codec(start), R.load_codec(out)
    assert all(torch.equal(a.codebook, b.codebook) for a, b in zip(old.quantizer.layers, new.quantizer.layers))
    assert main(argv[:-4] + ["--anchor", "-1", "--time-budget", "600"]) != 0
    assert "--anchor is a weight" in capsys.readouterr().err
    no_init = argv[:argv.index("--init")] + argv[argv.index("--init") + 2:]
    assert main(no_init) != 0
    assert "pass --init CKPT" in capsys.readouterr().err
    # --keep-encoder: the decoder is the newly trained one, the encoder and codebooks --init's
    kept = tmp_path / "kept.pt"
    argv_kept = [a if a != str(out) else str(kept) for a in argv] + ["--keep-encoder"]
    loose = [a for a in argv_kept if a != "--freeze-codebooks"]
    assert main(loose) != 0
    assert "add --freeze-codebooks" in capsys.readouterr().err
    monkeypatch.setattr("sys.argv", ["/somewhere/coursekit/__main__.py", *argv_kept])
    assert main(argv_kept) == 0
    card = json.loads(kept.with_suffix(".json").read_text())
    assert card["keep_encoder"] is True and "--keep-encoder" in card["command"]
    assert card["latent_digest"] == R.latent_digest(old) == R.latent_digest(R.load_codec(kept))
    new_dec, old_dec = R.load_codec(kept).decoder.state_dict(), old.decoder.state_dict()
    assert any(not torch.equal(new_dec[k], old_dec[k]) for k in old_dec)

# --------------------------------------------------------------------------------- command line

def _nsynth_folder(root, sr=16000):
    root.mkdir(parents=True)
    meta = {}
    for i, f in enumerate((220.0, 440.0)):
        name = f"keyboard_synthetic_000-0{57 + 12 * i}-100"
        save(root / "audio" / f"{name}.wav", tone(f, n=8000), sr)
        meta[name] = {"note_str": name, "pitch": 57 + 12 * i, "velocity": 100}
    (root / "examples.json").write_text(json.dumps(meta))
    return root


def test_train_codec_has_its_own_flags_only(tmp_path, capsys):
    from coursekit.cli import main

    with pytest.raises(SystemExit):
        main(["train", "codec", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--init", "--decoder-only", "--synthetic-notes", "--stft-floor", "--frame-loss",
                 "--freeze-codebooks", "--anchor", "--keep-encoder"):
        assert flag in help_text, flag
    for other in ("--task", "--codec", "--cfg", "--temperature", "--pitch"):
        assert other not in help_text, other
    with pytest.raises(SystemExit) as exit_:
        main(["train", "codec", "--task", "notes", "--out", str(tmp_path / "x.pt")])
    assert exit_.value.code == 2 and "--task" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # the codec does not generate: `sample` has no codec
        main(["sample", "codec", "--out", str(tmp_path / "s")])
    assert exit_.value.code == 2 and "invalid choice: 'codec'" in capsys.readouterr().err


def test_cli_reconstruct_keeps_the_layout(tmp_path, capsys):
    from coursekit.audio import info
    from coursekit.cli import main

    ckpt = R.save_codec(tiny_model(), tmp_path / "tiny.pt")
    src = _nsynth_folder(tmp_path / "nsynth-test")
    out = tmp_path / "rec"
    assert main(["codec", "reconstruct", str(src), str(out), "--n-q", "2", "--checkpoint", str(ckpt)]) == 0
    assert (out / "examples.json").read_text() == (src / "examples.json").read_text()
    names = sorted(p.name for p in (out / "audio").iterdir())
    assert names == sorted(p.name for p in (src / "audio").iterdir())
    assert info(out / "audio" / names[0])["frames"] == 8000

    plain = tmp_path / "plain"
    y = np.stack([tone(220, n=22050, sr=22050), tone(330, n=22050, sr=22050)])
    save(plain / "rock" / "rock.00000.wav", y, 22050)                        # stereo, 22.05 kHz
    out2 = tmp_path / "rec2"
    assert main(["codec", "reconstruct", str(plain), str(out2), "--checkpoint", str(ckpt)]) == 0
    i = info(out2 / "rock" / "rock.00000.wav")
    assert (i["samplerate"], i["frames"], i["channels"]) == (22050, 22050, 1)

    assert main(["codec", "reconstruct", str(src), str(out), "--n-q", "7", "--checkpoint", str(ckpt)]) == 2
    assert "1 to 4" in capsys.readouterr().err
    assert main(["codec", "reconstruct", str(tmp_path / "nope"), str(out)]) == 2


# --------------------------------------------------------------------------------- EnCodec

def test_encodec_wrapper_with_random_weights():
    from coursekit.recipes.encodec import EncodecCodec

    codec = EncodecCodec(pretrained=False)                                   # no download
    assert (codec.sample_rate, codec.frame_rate, codec.codebook_size) == (24000, 75.0, 1024)
    assert codec.bitrate(8) == 6000.0 and codec.bitrates()[32] == 24000.0
    y = tone(n=24000, sr=24000)
    codes = codec.encode(y, n_q=4)
    assert codes.shape == (1, 4, 75) and int(codes.max()) < 1024
    assert codec.decode(codes).shape == (1, 1, 24000)
    assert codec.encode_latent(y).shape == (1, 128, 75)
    assert codec.reconstruct(tone(), sr=16000, n_q=2).shape == (16000,)
    with pytest.raises(ValueError, match=r"\[0, 1023\]"):
        codec.decode(codes + 1024)
    with pytest.raises(AudioError, match="silent"):
        codec.encode(np.zeros(2400, np.float32))


def test_load_encodec_offline_says_one_line(monkeypatch, capsys):
    from coursekit.recipes import encodec as W

    monkeypatch.setattr(W, "weights_available", lambda timeout=2.0: (False, "offline (test)"))
    assert W.load_encodec() is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "not available" in out[0] and "course codec" in out[0]


def test_a_candidate_checkpoint_folder_replaces_the_shipped_one(tmp_path):
    import os
    import subprocess
    import sys

    R.save_codec(tiny_model(), tmp_path / "codec.pt")
    code = ("from coursekit.paths import CHECKPOINT_DIR; from coursekit.recipes.codec import load_codec; "
            "print(CHECKPOINT_DIR); print(load_codec().cfg.channels)")
    env = {**os.environ, "COURSEKIT_CHECKPOINTS": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert r.stdout.split() == [str(tmp_path), str(TINY.channels)]


def test_spectral_losses_and_codes_are_float32_under_autocast():
    g = torch.Generator().manual_seed(0)
    x, x_hat = 0.3 * torch.randn(2, 1, 3200, generator=g), 0.3 * torch.randn(2, 1, 3200, generator=g)
    fb = torch.from_numpy(mel_filterbank(16000, n_fft=1024, n_mels=64))
    q = rvq.ResidualVQ(8, 32, 2)
    q.train()
    q(torch.randn(2, 8, 50, generator=g))                              # k-means initialisation
    q.eval()
    z = torch.randn(2, 8, 50, generator=g)
    plain = [C.multires_stft_loss(x_hat, x), C.mel_loss(x_hat, x, fb), q(z)[1]]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = [C.multires_stft_loss(x_hat, x), C.mel_loss(x_hat, x, fb), q(z)[1]]
        assert torch.mm(x[0], x[0].T).dtype == torch.bfloat16       # autocast is on here
    assert [m.dtype for m in mixed[:2]] == [torch.float32] * 2
    assert all(torch.equal(a, b) for a, b in zip(plain, mixed))


def test_segment_dataset_on_a_gpu_gives_the_same_segments():
    from fakecuda import fake_cuda

    clips = {"a": synthetic_notes(3, 16000, seconds=1.0, seed=0)}
    ds = SegmentDataset(clips, 3200, n_segments=6, seed=0)
    cpu = [ds[i] for i in range(len(ds))]
    with fake_cuda():
        ds.to("cuda")
        gpu = [ds[i] for i in range(len(ds))]
        assert all(s.device.type == "cuda" for s in gpu)
        gpu = [s.cpu() for s in gpu]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(cpu, gpu))


def test_resume_keeps_the_codec_the_run_started_with(tmp_path, capsys):
    """A run started under one profile resumes under another with its own architecture."""
    data = tmp_path / "wavs"
    data.mkdir()
    for i, clip in enumerate(synthetic_notes(3, 16000, seconds=1.0, seed=0)):
        save(data / f"{i}.wav", clip, 16000)
    out = tmp_path / "c.pt"
    argv = ["train", "codec", "--out", str(out), "--data", str(data), "--device", "cpu"]
    from coursekit.cli import main

    assert main([*argv, "--profile", "smoke"]) == 0
    smoke = R.load_codec(out).cfg
    capsys.readouterr()
    assert main([*argv, "--profile", "default", "--resume", "--time-budget", "2"]) == 0
    assert "the architecture comes from" in capsys.readouterr().out
    assert R.load_codec(out).cfg == smoke


def test_quantizer_is_straight_through_and_commits_each_stage_as_chapter_04_writes_it():
    torch.manual_seed(0)
    q = rvq.ResidualVQ(dim=4, codebook_size=8, n_q=2)
    for layer in q.layers:
        layer.codebook.copy_(torch.randn(8, 4))
    q.train()
    q.frozen = True                      # the commitment loss without an EMA step
    z = torch.randn(1, 4, 30, requires_grad=True)
    z_q, codes, commit = q(z)
    w = torch.randn_like(z)
    (z_q * w).sum().backward()
    assert torch.equal(z.grad, w)        # the decoder's gradient reaches z unchanged
    flat, quantized, want = z.detach()[0].T, torch.zeros(30, 4), 0.0
    for i, layer in enumerate(q.layers):
        e = layer.codebook[codes[0, i]]
        want += float((flat - quantized - e).pow(2).mean()) / 2
        quantized += e
    assert abs(float(commit.detach()) - want) < 1e-6
    assert torch.allclose(z_q.detach()[0].T, quantized, atol=1e-6)


def test_chapter_04_plug_in_check_passes_the_codec_own_quantizer_and_fails_a_wrong_one(capsys):
    from coursekit.exercises import ch04

    torch.manual_seed(0)
    codec = C.NeuralCodec(C.Codec(channels=4, max_channels=16, latent_dim=8, n_q=3, codebook_size=16))
    codec.train()
    codec(torch.randn(2, 1, 3200) * 0.3)     # k-means initialises the codebooks
    codec.eval()
    clips = synthetic_notes(2, codec.sample_rate, seconds=0.5, seed=1)

    def right(x, codebooks):
        return ch04._reference_rvq(np.asarray(x), np.asarray(codebooks))

    def no_residual(x, codebooks):           # every stage codes x itself
        codes = [((x[:, None] - cb[None]) ** 2).sum(-1).argmin(1) for cb in codebooks]
        return np.stack(codes, 1), x

    assert ch04.check_rvq_in_codec(right, codec, clips)
    assert not ch04.check_rvq_in_codec(no_residual, codec, clips)
    out = capsys.readouterr().out
    assert "PASS: rvq_in_codec" in out and "FAIL: rvq_in_codec" in out


def test_encode_with_a_quantize_hook_gives_what_the_hook_gives():
    torch.manual_seed(0)
    codec = C.NeuralCodec(C.Codec(channels=4, max_channels=16, latent_dim=8, n_q=3, codebook_size=16))
    codec.train()
    codec(torch.randn(2, 1, 3200) * 0.3)
    codec.eval()
    x = 0.3 * torch.randn(1, 1, 3200)
    seen = {}

    def library_quantizer(z, codebooks):        # the codec's own residual VQ, through the hook
        seen["shape"] = tuple(codebooks.shape)
        return codec.quantizer(z, codebooks.shape[0])[1]

    assert torch.equal(codec.encode(x, n_q=2, quantize=library_quantizer), codec.encode(x, n_q=2))
    assert seen["shape"] == (2, 16, 8)
    y = x[0, 0].numpy()
    assert np.allclose(codec.reconstruct(y, quantize=library_quantizer), codec.reconstruct(y))
    with pytest.raises(ValueError, match="integers"):
        codec.encode(x, quantize=lambda z, cb: z)


def test_si_sdr_loss_is_minus_the_metric():
    """The training term is minus the SI-SDR the benchmarks report, per item, averaged."""
    from coursekit.models.codec import si_sdr_loss
    from coursekit.recipes.codec import si_sdr

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 4000)).astype(np.float32)
    x_hat = (0.7 * x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32)
    want = -np.mean([si_sdr(a[0], b[0]) for a, b in zip(x, x_hat)])
    got = float(si_sdr_loss(torch.from_numpy(x_hat), torch.from_numpy(x)))
    assert abs(got - want) < 1e-3
