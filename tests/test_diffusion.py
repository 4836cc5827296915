"""Chapter 06: latent diffusion (tiny models, tiny codec, smoke data: seconds)."""

import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch

from coursekit import checkpoint
from coursekit.cli import build_parser
from coursekit.models import diffusion as D
from coursekit.models.codec import Codec, NeuralCodec
from coursekit.recipes import diffusion as R
from coursekit.recipes.codec import latent_digest, load_codec


pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_codec(seed: int = 0) -> NeuralCodec:
    torch.manual_seed(seed)
    return NeuralCodec(Codec(channels=4, max_channels=16, latent_dim=8, n_q=2, codebook_size=16)).eval()


def _save_codec(codec: NeuralCodec, path):
    return checkpoint.save(path, kind="codec", config=asdict(codec.cfg), state={"model": codec})


def _tiny_cfg(**kw):
    base = dict(latent_dim=8, frames=40, channels=(16, 32), emb_dim=32, groups=4,
                conditions={"pitch": 128, "family": 11, "velocity": 128})
    base.update(kw)
    return D.DiffusionConfig(**base)


# ---- the maths -------------------------------------------------------------------------------

def test_forward_noising_matches_closed_form_and_diffusers():
    sched = D.noise_schedule()
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 8, 20, generator=g), torch.randn(4, 8, 20, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    ours = D.add_noise(x0, eps, t, sched.alphas_cumprod)
    assert torch.allclose(ours, sched.add_noise(x0, eps, t), atol=1e-6)
    a = sched.alphas_cumprod[t].reshape(-1, 1, 1)
    assert torch.allclose(ours, a.sqrt() * x0 + (1 - a).sqrt() * eps, atol=1e-6)
    # almost all signal at t=0, almost all noise at the last step
    assert torch.allclose(ours[0], x0[0], atol=5e-2)
    assert (ours[3] - eps[3]).abs().max() < 0.05


def test_velocity_and_x0_recovery_round_trip():
    ac = D.noise_schedule().alphas_cumprod
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(3, 4, 10, generator=g), torch.randn(3, 4, 10, generator=g)
    t = torch.tensor([5, 300, 900])
    x_t = D.add_noise(x0, eps, t, ac)
    v = D.velocity(x0, eps, t, ac)
    assert torch.allclose(v, D.noise_schedule(D.DiffusionConfig()).get_velocity(x0, eps, t), atol=1e-6)
    for out, kind in ((v, "v_prediction"), (eps, "epsilon")):
        x0_hat, eps_hat = D.predict_x0(x_t, out, t, ac, kind)
        assert torch.allclose(x0_hat, x0, atol=1e-3) and torch.allclose(eps_hat, eps, atol=1e-3)
    with pytest.raises(ValueError, match="prediction_type"):
        D.predict_x0(x_t, v, t, ac, "sample")


def test_one_ddim_step_matches_diffusers():
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(D.noise_schedule(D.DiffusionConfig(prediction_type="epsilon")).config,
                                      timestep_spacing="trailing", set_alpha_to_one=True)
    sched.set_timesteps(10)
    g = torch.Generator().manual_seed(2)
    x_t, eps = torch.randn(2, 8, 16, generator=g), torch.randn(2, 8, 16, generator=g)
    t, t_prev = sched.timesteps[3], sched.timesteps[4]
    ref = sched.step(eps, t, x_t).prev_sample
    ours = D.ddim_step(x_t, eps, sched.alphas_cumprod[t], sched.alphas_cumprod[t_prev])
    assert torch.allclose(ours, ref, atol=1e-5)


def test_cfg_combination():
    u, c = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 0.0])
    assert torch.equal(D.cfg_combine(u, c, 1.0), c)
    assert torch.equal(D.cfg_combine(u, c, 0.0), u)
    assert torch.allclose(D.cfg_combine(u, c, 3.0), torch.tensor([7.0, -4.0]))
    # the model's guided output is that combination of its two passes
    model = D.LatentDiffusion(_tiny_cfg()).eval()
    for p in model.parameters():  # zero-initialised output layer: perturb so outputs differ
        p.data.add_(0.05 * torch.randn_like(p))
    x = torch.randn(2, 8, 40)
    cond = {"pitch": torch.tensor([60, 70]), "family": torch.tensor([1, 2]), "velocity": torch.tensor([100, 50])}
    with torch.no_grad():
        cond_out = model(x, 400, cond)
        uncond_out = model(x, 400, {k: torch.full((2,), -1) for k in cond})
        guided = model.guided(x, 400, cond, 2.5)
    assert not torch.allclose(cond_out, uncond_out)
    assert torch.allclose(guided, uncond_out + 2.5 * (cond_out - uncond_out), atol=1e-5)


def test_normalisation_stats_round_trip(tmp_path):
    g = torch.Generator().manual_seed(3)
    z = 0.3 * torch.randn(6, 8, 40, generator=g) + torch.linspace(-1, 1, 8)[None, :, None]
    mean, std = D.latent_stats(z)
    assert torch.allclose(mean, z.mean(dim=(0, 2)), atol=1e-5)
    model = D.LatentDiffusion(_tiny_cfg())
    model.set_stats(mean, std)
    x = model.normalize(z)
    assert abs(float(x.mean())) < 1e-4 and torch.allclose(x.transpose(0, 1).reshape(8, -1).std(1),
                                                          torch.ones(8), atol=1e-3)
    assert torch.allclose(model.denormalize(x), z, atol=1e-5)
    # the statistics travel in the checkpoint (weights stored as float16)
    codec = _tiny_codec()
    path = R.save_diffusion(model, tmp_path / "d.pt", codec=codec)
    ckpt = checkpoint.load(path, kind="diffusion")
    assert ckpt["format"] == checkpoint.FORMAT and ckpt["state"]["model"]["latent_mean"].dtype == torch.float16
    loaded, codec2 = R.load_diffusion(path)
    assert torch.allclose(loaded.latent_mean, mean, atol=1e-3) and torch.allclose(loaded.latent_std, std, atol=1e-3)
    assert torch.allclose(loaded.denormalize(x), z, atol=1e-2)
    assert codec2.cfg.latent_dim == 8
    # list of clips of different lengths: same numbers as the concatenation
    m2, s2 = D.latent_stats([z[0], z[1, :, :13]])
    both = torch.cat([z[0], z[1, :, :13]], dim=1)
    assert torch.allclose(m2, both.mean(1), atol=1e-5) and torch.allclose(s2, both.std(1), atol=1e-5)


def test_checkpoint_without_codec_uses_the_reference_codec_and_checks_its_digest(tmp_path):
    # A model trained on the reference codec's latents is saved without the codec (the pair would
    # not fit in 5 MB); loading takes the reference codec and refuses one with another digest.
    ref = load_codec()
    model = D.LatentDiffusion(_tiny_cfg(latent_dim=ref.latent_dim, latent_digest=latent_digest(ref)))
    path = R.save_diffusion(model, tmp_path / "d.pt")
    assert "codec" not in torch.load(path, weights_only=True)
    _, codec = R.load_diffusion(path)
    assert latent_digest(codec) == latent_digest(ref)
    # a file that names the digest codec_sha256 is read the same way
    renamed = torch.load(path, weights_only=True)
    renamed["config"]["codec_sha256"] = renamed["config"].pop("latent_digest")
    torch.save(renamed, tmp_path / "renamed.pt")
    assert R.load_diffusion(tmp_path / "renamed.pt")[0].cfg.latent_digest == latent_digest(ref)
    stale = D.LatentDiffusion(_tiny_cfg(latent_dim=ref.latent_dim, latent_digest="0123456789abcdef"))
    with pytest.raises(ValueError, match="retrain the diffusion model"):
        R.load_diffusion(R.save_diffusion(stale, tmp_path / "stale.pt"))


def test_reference_checkpoints_name_the_reference_codec():
    for task in R.TASKS:
        model, codec = R.load_diffusion(task=task)
        assert model.cfg.task == task and model.cfg.latent_digest == latent_digest(codec) == "a154e1a3873b3999"


def test_bad_inputs_give_clear_errors(tmp_path):
    model = D.LatentDiffusion(_tiny_cfg()).eval()
    with pytest.raises(ValueError, match="pitch"):
        D.sample_latents(model, {"pitch": torch.tensor([200])}, steps=2, progress=False)
    with pytest.raises(ValueError, match="unknown sampler"):
        D.make_sampler("euler")
    with pytest.raises(FileNotFoundError, match="no such diffusion checkpoint"):
        R.load_diffusion(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="expected"):
        D.latent_stats(torch.zeros(3, 4))


@pytest.mark.parametrize("sampler", D.SAMPLERS)
def test_samplers_give_finite_latents_of_the_asked_length(sampler):
    model = D.LatentDiffusion(_tiny_cfg()).eval()
    z = D.sample_latents(model, {"pitch": torch.tensor([60, 62, 64])}, frames=37, steps=3,
                         sampler=sampler, guidance=2.0, progress=False)
    assert z.shape == (3, 8, 38) and torch.isfinite(z).all()  # rounded up to a multiple of 2
    seen = []
    D.sample_latents(model, {"pitch": torch.tensor([60])}, frames=40, steps=4, sampler=sampler,
                     progress=False, callback=lambda i, t, x, x0: seen.append((i, t, x0.shape)))
    assert [s[0] for s in seen] == [0, 1, 2, 3] and seen[0][1] > seen[-1][1]
    # same seed, same sample
    a = D.sample_latents(model, {"pitch": torch.tensor([60])}, frames=40, steps=2, seed=5, progress=False)
    b = D.sample_latents(model, {"pitch": torch.tensor([60])}, frames=40, steps=2, seed=5, progress=False)
    assert torch.equal(a, b)


def test_a_ddim_step_passed_in_gives_the_librarys_latents_and_is_called_once_a_step():
    model = D.LatentDiffusion(_tiny_cfg()).eval()
    for p in model.unet.conv_out.parameters():     # a non-zero output, so the steps matter
        torch.nn.init.normal_(p, std=0.1, generator=torch.Generator().manual_seed(0))
    cond = {"pitch": torch.tensor([60, 64]), "family": torch.tensor([0, 3])}
    calls = []

    def mine(x_t, eps, a_t, a_prev):
        calls.append((float(a_t), float(a_prev)))
        return D.ddim_step(x_t, eps, a_t, a_prev)

    for steps in (1, 3, 7):
        calls.clear()
        ask = dict(frames=40, steps=steps, sampler="ddim", guidance=2.0, seed=3, progress=False)
        a = D.sample_latents(model, cond, **ask)
        b = D.sample_latents(model, cond, step_fn=mine, **ask)
        assert len(calls) == steps and calls[-1][1] > 0.999 and calls[0][0] < calls[0][1]
        assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())
    # a step that does something else gives other latents
    other = D.sample_latents(model, cond, step_fn=lambda x, e, a, b: 0.9 * D.ddim_step(x, e, a, b), **ask)
    assert not torch.allclose(a, other, atol=1e-3)
    with pytest.raises(ValueError, match="ddim"):
        D.sample_latents(model, cond, frames=40, steps=2, sampler="dpm", step_fn=mine, progress=False)


def test_the_loss_with_given_noise_steps_and_drops_is_the_random_one_and_the_formula():
    model = D.LatentDiffusion(_tiny_cfg()).eval()
    ac = D.noise_schedule(model.cfg).alphas_cumprod
    x0 = torch.randn(4, 8, 40, generator=torch.Generator().manual_seed(1))
    cond = {"pitch": torch.tensor([60, 61, 62, 63]), "family": torch.tensor([0, 1, 2, 3]),
            "velocity": torch.tensor([100] * 4)}
    torch.manual_seed(7)
    drawn = D.diffusion_loss(model, x0, cond, ac)
    torch.manual_seed(7)
    t, noise = torch.randint(0, 1000, (4,)), torch.randn_like(x0)
    drop = torch.rand(4) < model.cfg.p_uncond
    given = D.diffusion_loss(model, x0, cond, ac, t=t, noise=noise, drop=drop)
    assert torch.equal(drawn, given)
    a = ac[t][:, None, None]
    x_t, v = a.sqrt() * x0 + (1 - a).sqrt() * noise, a.sqrt() * noise - (1 - a).sqrt() * x0
    kept = {k: torch.where(drop, -1, c) for k, c in cond.items()}
    assert torch.allclose(given, ((model(x_t, t, kept) - v) ** 2).mean(), atol=1e-6)


def test_a_loss_passed_in_trains_the_model():
    model = D.LatentDiffusion(_tiny_cfg(conditions={"genre": 10}))
    data = {"latents": [torch.randn(8, 60, generator=torch.Generator().manual_seed(g)).half() for g in range(3)],
            "genre": torch.tensor([0, 1, 2])}
    model.set_stats(*D.latent_stats(list(data["latents"])))
    calls = []

    def mine(m, x0, cond, ac):
        calls.append(x0.shape)
        return D.diffusion_loss(m, x0, cond, ac)

    R.train_diffusion(model, R.ClipCrops(data, frames=40, crops_per_clip=4), max_steps=3, batch_size=4,
                      progress=False, device="cpu", loss_fn=mine)
    assert calls == [(4, 8, 40)] * 3


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    cfg = _tiny_cfg(conditions={"genre": 10})
    model = D.LatentDiffusion(cfg)
    # each "genre" is a different set of slow sinusoids over the 8 channels: learnable structure
    frames = torch.arange(60.0)
    data = {"latents": [torch.sin(2 * np.pi * (g + 1) * frames / 60 + torch.arange(8.0)[:, None]).half()
                        for g in range(4)],
            "genre": torch.tensor([0, 1, 2, 3])}
    model.set_stats(*D.latent_stats(list(data["latents"])))
    ds = R.ClipCrops(data, frames=40, crops_per_clip=8)
    assert len(ds) == 32 and ds[0][0].shape == (8, 40)
    ema, hist = R.train_diffusion(model, ds, max_steps=60, batch_size=8, lr=3e-3, time_budget_s=600,
                                  progress=False, device="cpu", warmup=20)
    losses = [h["loss"] for h in hist]
    assert len(losses) == 60 and np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    # a linear warm-up, then the full rate
    assert hist[0]["lr"] == pytest.approx(3e-3 / 20) and hist[19]["lr"] == hist[-1]["lr"] == pytest.approx(3e-3)
    # the average follows the model: close to it, not equal
    assert all(torch.allclose(e, p, atol=0.2) for e, p in zip(ema.parameters(), model.parameters()))
    assert not all(torch.equal(e, p) for e, p in zip(ema.parameters(), model.parameters()))


def test_a_resumed_run_ends_as_an_uninterrupted_one(tmp_path):
    data = {"latents": [torch.randn(8, 60, generator=torch.Generator().manual_seed(g)).half() for g in range(3)],
            "genre": torch.tensor([0, 1, 2])}
    ds = R.ClipCrops(data, frames=40, crops_per_clip=4)

    def run(max_steps, resume=False):
        torch.manual_seed(0)
        model = D.LatentDiffusion(_tiny_cfg(conditions={"genre": 10}))
        model.set_stats(*D.latent_stats(list(data["latents"])))
        return R.train_diffusion(model, ds, max_steps=max_steps, batch_size=4, lr=1e-3, time_budget_s=600,
                                 ckpt_path=tmp_path / "state.pt", resume=resume, progress=False, warmup=4)

    whole, hist = run(6)
    (tmp_path / "state.pt").unlink()
    run(3)
    resumed, hist2 = run(6, resume=True)
    assert [h["loss"] for h in hist2] == [h["loss"] for h in hist]
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


# ---- the command line -----------------------------------------------------------------------

def _train(*argv) -> int:
    """``python -m coursekit train diffusion ARGV`` in this process, through the real parser."""
    argv = ["train", "diffusion", "--profile", "smoke", "--device", "cpu", *map(str, argv)]
    return R.train_command(build_parser(argv).parse_args(argv))


def _sample(*argv) -> int:
    argv = ["sample", "diffusion", "--n", "2", *map(str, argv)]
    return R.sample_command(build_parser(argv).parse_args(argv))


@pytest.fixture(scope="module")
def tiny_codec(tmp_path_factory):
    return _save_codec(_tiny_codec(), tmp_path_factory.mktemp("codec") / "codec.pt")


def test_train_and_sample_cli_write_valid_folders(tmp_path, tiny_codec, mini_nsynth_root, capsys):
    from coursekit.data.nsynth import check_nsynth, read_examples

    ckpt = tmp_path / "diffusion.pt"
    data = mini_nsynth_root / "nsynth-train"
    assert _train("--out", ckpt, "--codec", tiny_codec, "--time-budget", 3, "--data", data) == 0
    card = checkpoint.read_card(ckpt.with_suffix(".json"))
    assert card["model"] == "diffusion" and card["task"] == "notes" and card["steps"] >= 1
    assert set(checkpoint.CARD_KEYS) <= set(card) and card["codec"]["stored_in_checkpoint"]
    assert card["codec"]["latent_digest"] == latent_digest(load_codec(tiny_codec))
    assert ckpt.stat().st_size < 5e6
    assert checkpoint.load(ckpt)["kind"] == "diffusion"
    # --resume picks the run up where it stopped (here: at the profile's last step)
    capsys.readouterr()
    assert _train("--out", ckpt, "--codec", tiny_codec, "--time-budget", 5, "--data", data, "--resume") == 0
    assert f"at step {card['steps']}" in capsys.readouterr().out
    assert checkpoint.read_card(ckpt.with_suffix(".json"))["steps"] == card["steps"]
    out = tmp_path / "gen"
    assert _sample("--out", out, "--checkpoint", ckpt, "--pitch", 64, "--family", "flute", "--steps", 2,
                   "--cfg", 1.5, "--n", 3) == 0
    counts, problems = check_nsynth(out)
    assert not problems, problems
    ex = read_examples(out)
    assert len(ex) == 3
    assert {e["pitch"] for e in ex.values()} == {64}
    assert {e["instrument_family_str"] for e in ex.values()} == {"flute"}
    assert {e["cfg"] for e in ex.values()} == {1.5} and {e["steps"] for e in ex.values()} == {2}
    with pytest.raises(ValueError, match="--family"):
        _sample("--out", out, "--checkpoint", ckpt, "--family", "kazoo")
    with pytest.raises(ValueError, match="genre checkpoint"):
        _sample("--out", out, "--checkpoint", ckpt, "--genre", "jazz")


def test_init_fine_tunes_from_a_checkpoint_on_another_codecs_latents(tmp_path, tiny_codec, mini_nsynth_root):
    data = mini_nsynth_root / "nsynth-train"
    first = tmp_path / "first.pt"
    assert _train("--out", first, "--codec", tiny_codec, "--time-budget", 2, "--data", data) == 0
    other = _save_codec(_tiny_codec(seed=1), tmp_path / "other_codec.pt")
    # the weights come across, the latent statistics do not (they belong to the new codec)
    old, _ = R.load_diffusion(first, device="cpu")
    fresh = D.LatentDiffusion(old.cfg)
    info = R.init_from(fresh, first)
    assert info == {"from": str(first), "step": checkpoint.read_card(first.with_suffix(".json"))["steps"]}
    for k, v in old.state_dict().items():
        if k in ("latent_mean", "latent_std"):
            assert torch.equal(fresh.state_dict()[k], D.LatentDiffusion(old.cfg).state_dict()[k])
        else:
            assert torch.equal(fresh.state_dict()[k], v), k
    second = tmp_path / "second.pt"
    assert _train("--out", second, "--codec", other, "--time-budget", 2, "--data", data, "--init", first) == 0
    card = checkpoint.read_card(second.with_suffix(".json"))
    assert card["initialized_from"]["from"] == str(first)
    assert card["codec"]["latent_digest"] != checkpoint.read_card(first.with_suffix(".json"))["codec"]["latent_digest"]
    from coursekit.profiles import get_profile

    genres = D.LatentDiffusion(R.config_for_profile(get_profile("smoke"), "genres"))
    with pytest.raises(ValueError, match="'notes' model"):
        R.init_from(genres, first)
    with pytest.raises(FileNotFoundError, match="no such diffusion checkpoint"):
        R.init_from(fresh, tmp_path / "nope.pt")


def test_init_takes_the_architecture_of_its_checkpoint_and_resume_keeps_it(tmp_path, tiny_codec,
                                                                           mini_nsynth_root, capsys):
    from coursekit.profiles import get_profile

    data = mini_nsynth_root / "nsynth-train"
    small = tmp_path / "small.pt"
    assert _train("--out", small, "--codec", tiny_codec, "--time-budget", 2, "--data", data) == 0
    init = checkpoint.load(small, kind="diffusion")["config"]
    assert list(init["channels"]) != list(get_profile("default").ch06.channels)
    # the default profile trains it (its budget, batch and data) at the smoke checkpoint's size
    tuned = tmp_path / "tuned.pt"
    base = ["--out", tuned, "--codec", tiny_codec, "--data", data, "--profile", "default"]
    capsys.readouterr()
    assert _train(*base, "--time-budget", 2, "--init", small) == 0
    out = capsys.readouterr().out
    assert f"the architecture comes from {small} (channels {list(init['channels'])}" in out
    config = checkpoint.load(tuned, kind="diffusion")["config"]
    trained_on = ("train_pairs", "velocities")       # records of the default profile's notes
    assert {k: v for k, v in config.items() if k not in trained_on} == \
        {k: v for k, v in init.items() if k not in trained_on}
    card = checkpoint.read_card(tuned.with_suffix(".json"))
    assert card["profile"] == "default" and card["steps"] >= 1
    assert card["initialized_from"]["from"] == str(small)
    # --resume rebuilds the model its training state was saved with, not the profile's
    assert _train(*base, "--time-budget", 3, "--resume") == 0
    assert f"resumed from {tmp_path / 'tuned.train.pt'}" in capsys.readouterr().out
    assert checkpoint.load(tuned, kind="diffusion")["config"]["channels"] == init["channels"]
    # a genre model does not start a note model: one clear error
    genres = checkpoint.save(tmp_path / "genres.pt", kind="diffusion", config={**init, "task": "genres"},
                             state={})
    with pytest.raises(ValueError, match="'genres' model"):
        _train("--out", tmp_path / "x.pt", "--codec", tiny_codec, "--data", data, "--init", genres)


def test_genre_train_and_sample_cli(tmp_path, tiny_codec):
    from coursekit.data import make_dataset
    from coursekit.data.nsynth import read_examples

    root = make_dataset("mini-gtzan", tmp_path / "gtzan", size="smoke", seed=0)
    ckpt = tmp_path / "genres.pt"
    assert _train("--out", ckpt, "--codec", tiny_codec, "--time-budget", 3, "--task", "genres",
                  "--data", root) == 0
    out = tmp_path / "clips"
    assert _sample("--out", out, "--checkpoint", ckpt, "--genre", "jazz", "--seconds", 1.3, "--steps", 2) == 0
    ex = read_examples(out)
    assert len(ex) == 2 and {e["genre"] for e in ex.values()} == {"jazz"}
    import soundfile as sf

    for name in ex:
        info = sf.info(str(out / "audio" / f"{name}.wav"))
        assert info.frames == int(1.3 * 16000) and info.samplerate == 16000


def test_the_commands_take_only_diffusions_flags(capsys):
    argv = ["train", "diffusion", "--help"]
    with pytest.raises(SystemExit):
        build_parser(argv).parse_args(argv)
    text = capsys.readouterr().out
    assert all(f in text for f in ("--task", "--codec", "--init", "--resume", "--time-budget"))
    assert not any(f in text for f in ("--anchor", "--decoder-only", "--frame-loss", "--top-p"))
    for argv in (["train", "diffusion", "--anchor", "5", "--out", "x.pt"],
                 ["sample", "diffusion", "--top-p", "0.8", "--out", "x"],
                 ["train", "diffusion", "--task", "piano", "--out", "x.pt"]):
        with pytest.raises(SystemExit) as err:
            build_parser(argv).parse_args(argv)
        assert err.value.code == 2 and argv[2] in capsys.readouterr().err


def test_sample_cli_subprocess_errors_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "coursekit", "sample", "diffusion", "--out", str(tmp_path / "x"),
                        "--checkpoint", str(tmp_path / "nope.pt")], capture_output=True, text=True)
    assert r.returncode == 2 and "no such diffusion checkpoint" in r.stderr + r.stdout
