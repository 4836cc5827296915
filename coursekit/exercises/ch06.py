"""Checks of chapter 06 (diffusion): ``exercises/06_diffusion.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). References are computed here with
plain torch formulas or with ``diffusers`` itself, never with the code under test.

Example
-------
>>> from coursekit.exercises import ch06
>>> ch06.check_cfg_combine(lambda uncond, cond, scale: uncond + scale * (cond - uncond))
PASS: cfg_combine
True
"""

from __future__ import annotations

import torch

from .checks import run_check

__all__ = ["check_forward_noise", "check_ddim_step", "check_cfg_combine"]


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
            "with alpha_bar = 0.25: x_t = 0.5 * x0 + sqrt(0.75) * noise (the square roots of the powers)"
        assert torch.allclose(torch.as_tensor(forward_noise(x0, eps, 1.0)), x0, atol=1e-6), \
            "alpha_bar = 1 means no noise at all: x_t == x0"
        sched = _schedule()
        t = torch.tensor([3, 400, 990])
        ab = sched.alphas_cumprod[t]
        out = torch.as_tensor(forward_noise(x0, eps, ab))
        assert out.shape == x0.shape, ("with one alpha_bar per example (shape [B]) reshape it to [B, 1, 1] "
                                       "so it broadcasts over channels and frames")
        assert torch.allclose(out, sched.add_noise(x0, eps, t), atol=1e-5), \
            "per-example alpha_bar: each example gets its own noise level (compare scheduler.add_noise)"

    return run_check("forward_noise", test,
                     hint="x_t = sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * noise")


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
                f"{float((out - ref).abs().max()):.3g}: first x0_hat = (x_t - sqrt(1-a_t) eps) / sqrt(a_t), "
                "then x_prev = sqrt(a_prev) x0_hat + sqrt(1-a_prev) eps")
        out = torch.as_tensor(ddim_step(x_t, eps, torch.tensor(0.5), torch.tensor(1.0)))
        x0 = (x_t - 0.5 ** 0.5 * eps) / 0.5 ** 0.5
        assert torch.allclose(out, x0, atol=1e-5), "the last step (a_prev = 1) returns x0_hat itself"

    return run_check("ddim_step", test,
                     hint="x0_hat = (x_t - sqrt(1 - a_t) * eps) / sqrt(a_t); "
                          "x_prev = sqrt(a_prev) * x0_hat + sqrt(1 - a_prev) * eps")


def check_cfg_combine(cfg_combine) -> bool:
    """``cfg_combine(uncond, cond, scale)`` -> the classifier-free guided prediction."""

    def test():
        u, c = torch.tensor([1.0, 2.0, -1.0]), torch.tensor([3.0, 0.0, -1.0])
        assert torch.allclose(torch.as_tensor(cfg_combine(u, c, 1.0)), c), "scale 1 is the conditional prediction"
        assert torch.allclose(torch.as_tensor(cfg_combine(u, c, 0.0)), u), "scale 0 is the unconditional prediction"
        out = torch.as_tensor(cfg_combine(u, c, 3.0))
        assert torch.allclose(out, torch.tensor([7.0, -4.0, -1.0])), \
            f"scale 3 extrapolates past cond, away from uncond: expected [7, -4, -1], got {out.tolist()}"
        g = torch.Generator().manual_seed(2)
        u, c = torch.randn(2, 4, 8, generator=g), torch.randn(2, 4, 8, generator=g)
        assert torch.allclose(torch.as_tensor(cfg_combine(u, c, 2.5)), u + 2.5 * (c - u), atol=1e-6)

    return run_check("cfg_combine", test, hint="uncond + scale * (cond - uncond)")
