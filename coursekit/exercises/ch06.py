"""Checks of chapter 06 (diffusion): ``exercises/06_diffusion.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). References are computed here with
plain torch formulas or with ``diffusers`` itself, never with the code under test.

- :func:`check_forward_noise`, :func:`check_ddim_step`: the forward process and one DDIM step.
- :func:`check_ddim_in_reference`: the student's DDIM step inside the reference model's sampler
  (``sample_latents(..., step_fn=)``) gives the library's latents with the same seed.
- :func:`check_guided_output`: classifier-free guidance as the model runs it, one batch of
  twice the size, against :meth:`LatentDiffusion.guided`.
- :func:`check_score_roll`: the piano-roll condition of the MIDI-conditioned piano (part 2),
  built from a ``pretty_midi`` object, against hand-computed rows and
  :func:`coursekit.recipes.piano.score_roll`.
- :func:`few_steps_challenge`: pitch accuracy of the reference model in a few steps (a
  challenge, not a check).

Example
-------
>>> import torch
>>> from coursekit.exercises import ch06
>>> def ddim_step(x_t, eps, a_t, a_prev):
...     x0 = (x_t - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5
...     return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
>>> ch06.check_ddim_step(ddim_step)
PASS: ddim_step
True
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .checks import challenge, run_check

__all__ = ["check_forward_noise", "check_ddim_step", "check_ddim_in_reference", "check_guided_output",
           "check_score_roll", "few_steps_challenge", "MAX_STEPS"]

# the challenge: at most this many denoising steps
MAX_STEPS = 3


def _schedule():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False)


def check_forward_noise(forward_noise) -> bool:
    """``forward_noise(x0, noise, alpha_bar)`` -> ``x_t``: the closed-form forward process, with
    ``alpha_bar`` a number or a tensor of shape ``[B]`` (one noise level per example)."""

    def test():
        g = torch.Generator().manual_seed(0)
        x0, eps = torch.randn(3, 4, 10, generator=g), torch.randn(3, 4, 10, generator=g)
        out = torch.as_tensor(forward_noise(x0, eps, 0.25))
        assert out.shape == x0.shape, f"x_t has the shape of x0 {tuple(x0.shape)}, got {tuple(out.shape)}"
        assert torch.allclose(out, 0.5 * x0 + 0.75 ** 0.5 * eps, atol=1e-5), \
            "with alpha_bar = 0.25 the clean part keeps half its amplitude and the noise sqrt(0.75) of its own"
        assert torch.allclose(torch.as_tensor(forward_noise(x0, eps, 1.0)), x0, atol=1e-6), \
            "alpha_bar = 1 means no noise at all: x_t is x0 itself"
        sched = _schedule()
        t = torch.tensor([3, 400, 990])
        ab = sched.alphas_cumprod[t]
        out = torch.as_tensor(forward_noise(x0, eps, ab))
        assert out.shape == x0.shape, ("with one alpha_bar per example (shape [B]) give it two trailing "
                                       "dimensions of size 1 so it broadcasts over channels and frames")
        assert torch.allclose(out, sched.add_noise(x0, eps, t), atol=1e-5), \
            "per-example alpha_bar: each example gets its own noise level (compare scheduler.add_noise)"

    return run_check("forward_noise", test, hint=(
        "alpha_bar is the fraction of signal POWER left; amplitudes are square roots of powers",
        "the clean latent is scaled by the square root of alpha_bar and the noise by the square root "
        "of what is left, one minus alpha_bar; the two powers add up to one",
        "a per-example alpha_bar of shape [B] needs shape [B, 1, 1] to meet latents of shape [B, D, T]"))


def check_ddim_step(ddim_step) -> bool:
    """``ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev)`` -> ``x_prev``: one deterministic DDIM
    step (eta = 0), checked against ``diffusers.DDIMScheduler.step``."""

    def test():
        from diffusers import DDIMScheduler

        sched = DDIMScheduler.from_config(_schedule().config, timestep_spacing="trailing",
                                          set_alpha_to_one=True)
        sched.set_timesteps(10)
        g = torch.Generator().manual_seed(1)
        x_t, eps = torch.randn(2, 4, 12, generator=g), torch.randn(2, 4, 12, generator=g)
        for i in (0, 5, 9):
            t = sched.timesteps[i]
            a_t = sched.alphas_cumprod[t]
            a_prev = sched.alphas_cumprod[sched.timesteps[i + 1]] if i + 1 < 10 else torch.tensor(1.0)
            ref = sched.step(eps, t, x_t).prev_sample
            out = torch.as_tensor(ddim_step(x_t, eps, a_t, a_prev))
            assert out.shape == x_t.shape, f"x_prev has the shape of x_t, got {tuple(out.shape)}"
            assert torch.allclose(out, ref, atol=1e-4), (
                f"step {i} of 10 (t={int(t)}) differs from diffusers' DDIM by "
                f"{float((out - ref).abs().max()):.3g}: estimate the clean latent first, then "
                "re-noise it to the next level with the same noise estimate")
        out = torch.as_tensor(ddim_step(x_t, eps, torch.tensor(0.5), torch.tensor(1.0)))
        x0 = (x_t - 0.5 ** 0.5 * eps) / 0.5 ** 0.5
        assert torch.allclose(out, x0, atol=1e-5), "the last step (a_prev = 1) returns the clean estimate itself"

    return run_check("ddim_step", test, hint=(
        "two moves: undo the forward process with the predicted noise, then redo it at the next level",
        "solve the forward-process formula of exercise 1 for the clean latent, using alpha_bar_t and "
        "the predicted noise eps",
        "then apply the forward process to that estimate with alpha_bar_prev and the SAME eps (no "
        "fresh noise: that is what makes DDIM deterministic)"))


def _reference_cond():
    return {"pitch": torch.tensor([60, 48]), "family": torch.tensor([0, 3]), "velocity": torch.tensor([100, 80])}


def check_ddim_in_reference(ddim_step, steps: int = 4, guidance: float = 2.0, seed: int = 0) -> bool:
    """The student's ``ddim_step`` as the reference model's DDIM step (``step_fn=``): the same
    latents as diffusers' step with the same seed, one call a step, and the reference codec
    decodes them to audio (finite, not silent)."""
    from ..models.diffusion import sample_latents
    from ..recipes.diffusion import decode, load_diffusion

    def test():
        model, codec = load_diffusion()
        cond = _reference_cond()
        calls = []

        def spy(x_t, eps, a_t, a_prev):
            calls.append(float(a_t))
            return ddim_step(x_t, eps, a_t, a_prev)

        ask = dict(steps=steps, sampler="ddim", guidance=guidance, seed=seed, progress=False)
        theirs = sample_latents(model, cond, **ask)
        yours = sample_latents(model, cond, step_fn=spy, **ask)
        assert len(calls) == steps, f"your step was called {len(calls)} times for {steps} steps"
        assert yours.shape == theirs.shape, f"latents of shape {tuple(yours.shape)}, expected {tuple(theirs.shape)}"
        diff = float((yours - theirs).abs().max())
        assert torch.isfinite(yours).all() and diff < 1e-3, (
            f"with your step the reference model's latents differ from diffusers' by {diff:.3g}; "
            "run check_ddim_step first")
        y = decode(codec, yours)
        assert np.isfinite(y).all() and np.abs(y).max() > 1e-3, "the decoded notes are silent or not finite"

    return run_check("ddim_in_reference", test, hint=(
        "make check_ddim_step pass first: the sampler calls your step with tensors of shape [B, D, T] "
        "and alpha_bar values that are 0-dimensional tensors",
        "the sampler passes float64 tensors; keep their dtype (no conversion to float32 inside your step)"))


def _random_model(seed: int = 0):
    from ..models.diffusion import DiffusionConfig, LatentDiffusion

    cfg = DiffusionConfig(latent_dim=8, frames=16, channels=(16, 32), emb_dim=32, groups=4,
                          conditions={"pitch": 128, "family": 11})
    model = LatentDiffusion(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():       # every weight random (the zero-initialised ones too): outputs differ by condition
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def check_guided_output(guided_output) -> bool:
    """``guided_output(model, x_t, t, cond, scale)`` -> the classifier-free guided output
    ``[B, D, T]``, computed in ONE call of ``model`` on a batch of ``2B`` (the conditional half,
    then the unconditional half with every condition -1); compared with ``model.guided``."""

    def test():
        model = _random_model()
        g = torch.Generator().manual_seed(3)
        x_t = torch.randn(3, 8, 16, generator=g)
        cond = {"pitch": torch.tensor([60, 62, 64]), "family": torch.tensor([0, 1, 2])}
        t = torch.tensor(500)
        batches = []
        hook = model.register_forward_hook(lambda m, args, out: batches.append(args[0].shape[0]))
        try:
            with torch.no_grad():
                out = torch.as_tensor(guided_output(model, x_t, t, cond, 2.5))
                assert batches == [6], (f"the model ran {len(batches)} time(s) on batches of {batches}; run it "
                                        "once, on the conditional and the unconditional halves together (6 here)")
                ref = model.guided(x_t, t, cond, 2.5)
                assert out.shape == ref.shape, f"the output has the shape of x_t {tuple(ref.shape)}, got {tuple(out.shape)}"
                assert torch.allclose(out, ref, atol=1e-5), (
                    f"differs from the library's guidance by {float((out - ref).abs().max()):.3g}: which half "
                    "is conditional, and is the scale applied to the difference of the two?")
                uncond = model(x_t, t, {k: torch.full_like(v, -1) for k, v in cond.items()})
                assert torch.allclose(torch.as_tensor(guided_output(model, x_t, t, cond, 0.0)), uncond, atol=1e-5), \
                    "scale 0 must give the unconditional output (every condition -1)"
                assert torch.allclose(torch.as_tensor(guided_output(model, x_t, t, cond, 1.0)),
                                      model(x_t, t, cond), atol=1e-5), "scale 1 must give the conditional output"
        finally:
            hook.remove()

    return run_check("guided_output", test, hint=(
        "one forward pass sees every example twice: once with its condition, once with 'no condition'",
        "stack the noisy latents on themselves along the batch, give the first half the real conditions "
        "and the second half the value -1 for every condition, then split the output in two",
        "guidance starts from the unconditional half and moves the scale times the difference between "
        "the conditional and the unconditional halves"))


def _pm(notes, pedal=()):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(int(v), int(p), float(s), float(e)) for s, e, p, v in notes]
    inst.control_changes = [pretty_midi.ControlChange(64, int(v), float(t)) for t, v in pedal]
    pm.instruments.append(inst)
    return pm


def check_score_roll(score_roll) -> bool:
    """``score_roll(pm, frame_rate, seconds)`` -> float array ``[266, round(seconds * frame_rate)]``:
    onsets (velocity / 127 in the strike's frame), keys down (1), strings ringing (1, the sustain
    pedal holding released keys), the pedal (0..1) and a row of ones, 88 keys A0..C8 each, frame
    ``k`` centred on ``k / frame_rate``."""
    from ..recipes.piano import score_roll as library

    def test():
        # C4 (row 39) struck at 0.1 s with velocity 127 and let go at 0.3 s; pedal down 0.2 .. 0.6 s
        pm = _pm([(0.1, 0.3, 60, 127)], pedal=[(0.2, 127), (0.6, 0)])
        out = np.asarray(score_roll(pm, 50, 1.0), dtype=np.float32)
        assert out.shape == (266, 50), f"expected [266, 50] (88 x 3 key rows, pedal, ones; 50 frames), got {out.shape}"
        assert np.flatnonzero(out[39]).tolist() == [5] and out[39, 5] == 1.0, \
            "onsets: row 39 (C4) holds velocity / 127 = 1.0 in frame 5 (0.1 s at 50 frames/s) only"
        assert np.flatnonzero(out[88 + 39]).tolist() == list(range(5, 15)), \
            "keys down: row 88 + 39 is 1 from frame 5 to frame 14 (the key goes up at 0.3 s)"
        assert np.flatnonzero(out[176 + 39]).tolist() == list(range(5, 30)), \
            "strings ringing: the pedal, down until 0.6 s, keeps C4 sounding to frame 29"
        assert out[264, 10:30].min() == 1.0 and out[264, :10].max() == 0.0 and out[264, 30:].max() == 0.0, \
            "row 264 is the pedal's position (value / 127) in each frame"
        assert (out[265] == 1).all(), "row 265 is all ones: 'a score is given'"
        rng = np.random.default_rng(0)
        notes = [(float(s), float(s + d), int(p), int(v)) for s, d, p, v in zip(
            rng.uniform(0, 3, 30), rng.uniform(0.05, 1.0, 30), rng.integers(21, 109, 30), rng.integers(20, 128, 30))]
        pm = _pm(notes, pedal=[(0.5, 100), (1.4, 0), (2.0, 127), (2.9, 10)])
        want, got = library(pm, 50, seconds=3.5), np.asarray(score_roll(pm, 50, 3.5), dtype=np.float32)
        assert got.shape == want.shape, f"expected {want.shape}, got {got.shape}"
        for name, rows in [("onsets", slice(0, 88)), ("keys down", slice(88, 176)),
                           ("strings ringing", slice(176, 264)), ("pedal", slice(264, 265))]:
            bad = np.argwhere(np.abs(got[rows] - want[rows]) > 1e-6)
            assert not len(bad), (f"{name}: {len(bad)} cells differ from the library on 30 random notes with the "
                                  f"pedal, e.g. row {rows.start + bad[0][0]}, frame {bad[0][1]}")

    return run_check("score_roll", test, hint=(
        "one row per key (MIDI pitch - 21) in each block of 88; a note starts in frame round(start * frame_rate)",
        "the rows of a key run from round(start * fr) to round(end * fr) (at least one frame); the ringing rows use "
        "the ends after the sustain pedal: coursekit.data.maestro.apply_sustain with pedal_intervals",
        "when two notes touch the same cell keep the larger value; notes outside A0..C8 are left out"))


def few_steps_challenge(settings: dict, profile=None, max_steps: int = MAX_STEPS, seed: int = 2) -> bool:
    """The challenge: pitch accuracy of the reference model in at most ``max_steps`` steps.

    ``settings`` are keyword arguments of :func:`coursekit.recipes.diffusion.generate_notes`
    (``sampler``, ``steps``, ``guidance``, and with ``sampler="ddim"`` a ``step_fn``). On the
    profile's held-out NSynth test notes (``ch06.n_generate`` of them, drawn with a fixed seed),
    it counts the notes whose CREPE pitch is within 50 cents of the asked one, for your settings
    and for the library's sampler at the profile's full number of steps (``ch06.steps``, 25 at
    the default profile). The target: as many notes right as the full-step sampler gets. Prints
    one ``CHALLENGE:`` line and returns whether it was reached.
    """
    from ..data import dataset_dir
    from ..data.nsynth import read_examples
    from ..eval.embeddings import crepe_pitch
    from ..profiles import get_profile
    from ..recipes.diffusion import generate_notes, load_diffusion

    settings = dict(settings)
    steps = int(settings.get("steps", 0))
    if not 1 <= steps <= max_steps:
        print(f"CHALLENGE: few steps: NOT YET: choose steps between 1 and {max_steps}, got {steps}")
        return False
    s = get_profile(profile).ch06
    examples = read_examples(dataset_dir("nsynth", "test", size=s.nsynth_size))
    pool = [examples[k] for k in sorted(examples)]
    rng = np.random.default_rng(0)
    asked = [pool[i] for i in rng.choice(len(pool), min(s.n_generate, len(pool)), replace=False)]
    ask = dict(pitches=[a["pitch"] for a in asked], families=[a["instrument_family_str"] for a in asked],
               velocities=[a["velocity"] for a in asked], seed=seed, progress=False)
    model, codec = load_diffusion()

    def right(notes) -> int:
        hits = 0
        for n in notes:
            midi, _ = crepe_pitch(n["audio"], codec.sample_rate)
            hits += bool(np.isfinite(midi) and abs(midi - n["pitch"]) < 0.5)
        return hits

    full = right(generate_notes(model, codec, steps=s.steps, sampler=s.sampler, guidance=s.cfg_scale, **ask))
    t0 = time.perf_counter()
    yours = right(generate_notes(model, codec, **settings, **ask))
    seconds = time.perf_counter() - t0
    n = len(asked)
    print(f"{s.sampler} at {s.steps} steps: {full} of {n} notes within 50 cents; yours at {steps} steps: {yours} of {n}")
    # as many right as the full-step sampler: above (full - 0.5) / n
    return challenge(f"pitch accuracy in {max_steps} steps or fewer", yours / n, (full - 0.5) / n,
                     higher_is_better=True, seconds=seconds)
