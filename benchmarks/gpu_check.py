"""Does each chapter's ``full`` training run fit a GPU session? Train and sample, measure, project.

On a CUDA machine this trains every chapter's ``full``-profile model for a fixed number of steps
through the library's own recipes (``train_rnn``, ``train_gan``, ``train_codec``, ``train_lm``,
``train_diffusion``: their optimizers, losses, loop, device handling and mixed precision as the
recipes apply them), samples from it with the recipes' generation functions, and writes to
``results/gpu_check.json``:

- steps per second (from the loop's own per-step clock, after ``--warmup`` steps),
- peak GPU memory (``torch.cuda.max_memory_allocated``) of each run,
- the projected chapter time: the profile's steps / measured steps per second for every
  training run of the chapter, plus its sampling scaled from a short measured call,

beside the FLOP/launch projection of ``benchmarks/gpu_projection.py`` (``results/gpu_projection.json``).

The training data are random tensors in the recipes' input formats (NSynth-length mu-law codes,
1 s waveforms, codec segments, token sequences, latents): a step costs the same on them as on
real notes, and no dataset has to be made on the GPU machine. Sampling uses the shipped
reference codec to decode tokens and latents.

``--smoke`` runs the same code on the CPU with the ``smoke`` profile and a couple of steps
(the test suite does this; its times say nothing about a GPU).

Usage::

    python benchmarks/gpu_check.py                                   # a CUDA machine, < 5 min on an H100
    python benchmarks/gpu_check.py --smoke --out /tmp/gpu_check_smoke.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results" / "gpu_check.json"
PROJECTION = REPO / "results" / "gpu_projection.json"
CHAPTERS = ("02", "03", "04", "05", "06", "07")


# ---------------------------------------------------------------------------------------------
# What each chapter trains and samples at a profile (shared with gpu_projection.py)
# ---------------------------------------------------------------------------------------------

@dataclass
class Train:
    """One training run of a chapter: ``run(n, device)`` trains ``n`` steps through the recipe
    and returns the loop's history; ``models()`` builds the networks it trains (to count them)."""

    chapter: str
    name: str
    steps: int                                  # the profile's steps of this run
    models: Callable[[], dict]
    run: Callable[[int, object], list]
    outside_chapter: bool = False               # a command's run that no notebook cell makes


@dataclass
class Sample:
    """The chapter's generation, measured on a short call ``run(device)``: the chapter's own
    generation costs ``factor`` times as much (more notes, longer notes, more sweeps)."""

    chapter: str
    name: str
    run: Callable[[object], object]
    factor: float
    what: str = ""


@dataclass
class Chapter:
    chapter: str
    trains: list = field(default_factory=list)
    samples: list = field(default_factory=list)


def _rng(seed: int = 0):
    import torch

    return torch.Generator().manual_seed(seed)


def _pitches(lo: int, hi: int, n: int) -> list[int]:
    import numpy as np

    return [int(x) for x in np.linspace(lo, hi, n).round()]


def chapter_plan(profile: str, short: bool = False) -> dict[str, Chapter]:
    """Every chapter's training runs and generation at ``profile``.

    ``short`` makes the measured sampling calls tiny (smoke mode); the ``factor`` of each
    still scales it to the chapter's own amount.
    """
    import numpy as np
    import torch

    from coursekit.data.nsynth import FAMILIES
    from coursekit.models import patterns
    from coursekit.models.codec import Codec, NeuralCodec
    from coursekit.models.diffusion import LatentDiffusion, latent_stats
    from coursekit.models.rnn import SampleRNN
    from coursekit.models.transformer import CodecLM
    from coursekit.profiles import get_profile
    from coursekit.recipes import codec as codec_recipe
    from coursekit.recipes import diffusion as diff_recipe
    from coursekit.recipes import gan as gan_recipe
    from coursekit.recipes import rnn as rnn_recipe
    from coursekit.recipes import transformer as lm_recipe
    from coursekit.recipes.codec_data import SegmentDataset

    p = get_profile(profile)
    inf = float("inf")
    plan = {c: Chapter(c) for c in CHAPTERS}

    # -- 02: SampleRNN on mu-law codes of 4 s notes ----------------------------------------
    s2 = p.ch02
    fams2 = FAMILIES if s2.families == "all" else s2.families.split(",")
    fam_ids2 = [FAMILIES.index(f) for f in fams2]

    def rnn_model():
        cfg = rnn_recipe.config_from_profile(p.name)
        cfg.train_families = list(fams2)
        return SampleRNN(cfg)

    def rnn_notes(n):
        g = _rng(2)
        return {"codes": torch.randint(0, 256, (n, int(rnn_recipe.NOTE_SECONDS * s2.sr)), generator=g,
                                       dtype=torch.uint8),
                "pitch": torch.randint(s2.pitch_min, s2.pitch_max + 1, (n,), generator=g),
                "family": torch.tensor([fam_ids2[i % len(fam_ids2)] for i in range(n)])}

    def rnn_train(n, device):
        return rnn_recipe.train_rnn(rnn_model(), rnn_notes(2 * s2.batch_size), batch_size=s2.batch_size,
                                    segment_seconds=s2.segment_seconds, lr=s2.lr, keep=s2.keep,
                                    max_steps=n, time_budget_s=inf, progress=False, device=device)

    gen2 = 0.05 if short else 0.25                      # seconds generated by the measured call

    def rnn_sample(device):
        model = rnn_model().to(device).eval()
        return rnn_recipe.generate_notes(model, _pitches(s2.pitch_min, s2.pitch_max, s2.n_generate),
                                         [fams2[k % len(fams2)] for k in range(s2.n_generate)], seconds=gen2,
                                         progress=False)

    plan["02"].trains.append(Train("02", "rnn", s2.max_steps, lambda: {"rnn": rnn_model()}, rnn_train))
    # the notebook generates n_generate notes of gen_seconds, three 1 s notes at three temperatures
    plan["02"].samples.append(Sample("02", "rnn notes", rnn_sample,
                                     (s2.gen_seconds + 3 * min(1.0, s2.gen_seconds)) / gen2,
                                     f"{s2.n_generate} notes x {s2.gen_seconds} s + 3 x 1 s, measured on {gen2} s"))

    # -- 03: the GAN, two recipes --------------------------------------------------------------
    s3 = p.ch03
    fams3 = list(FAMILIES) if s3.families == "all" else s3.families.split(",")

    def gan_notes(n):
        g = _rng(3)
        return {"audio": (0.1 * torch.randn(n, gan_recipe.SEGMENT, generator=g)).half(),
                "pitch": torch.randint(s3.pitch_min, s3.pitch_max + 1, (n,), generator=g),
                "family": torch.tensor([FAMILIES.index(fams3[i % len(fams3)]) for i in range(n)])}

    for recipe in ("stable", "unstable"):
        def gan_models(recipe=recipe):
            G, D, *_ = gan_recipe.make_gan(recipe, s3.channels, (s3.pitch_min, s3.pitch_max), fams3)
            return {"G": G, "D": D}

        def gan_train(n, device, recipe=recipe):
            return gan_recipe.train_gan(gan_notes(2 * s3.batch_size), recipe, channels=s3.channels,
                                        batch_size=s3.batch_size, max_steps=n, time_budget_s=inf,
                                        progress=False, device=device)[2]

        plan["03"].trains.append(Train("03", f"gan ({recipe})", s3.max_steps, gan_models, gan_train))

    def gan_sample(device):
        G = gan_recipe.make_gan("stable", s3.channels, (s3.pitch_min, s3.pitch_max), fams3)[0].to(device)
        return gan_recipe.generate_notes(G, _pitches(s3.pitch_min, s3.pitch_max, s3.n_generate), fams3[0])

    # the notebook plays both recipes' generators (and the reference's)
    plan["03"].samples.append(Sample("03", "gan notes", gan_sample, 3.0,
                                     f"{s3.n_generate} notes from each of 3 generators"))

    # -- 04: the student codec of the notebook (and `train codec`, the reference's command) -----
    sc, s4 = p.codec, p.ch04

    def student_cfg():
        return Codec(channels=s4.student_channels, max_channels=8 * s4.student_channels,
                     latent_dim=sc.latent_dim, n_q=sc.n_q, codebook_size=sc.codebook_size)

    def segments(cfg, n):
        g = np.random.default_rng(4)
        groups = {k: [(0.3 * g.standard_normal(16000 * 2)).astype(np.float32) for _ in range(4)]
                  for k in ("nsynth", "gtzan", "maestro")}
        return SegmentDataset(groups, 20 * cfg.hop, n_segments=n, seed=0)

    def codec_train(cfg_fn, desc):
        def run(n, device):
            cfg = cfg_fn()
            return codec_recipe.train_codec(cfg, segments(cfg, max(2, n + 1) * sc.batch_size), steps=n,
                                            batch_size=sc.batch_size, lr=sc.lr, time_budget_s=inf,
                                            adversarial=sc.adversarial, progress=False, device=device,
                                            desc=desc)[1]
        return run

    plan["04"].trains.append(Train("04", "student codec", s4.student_steps,
                                   lambda: {"codec": NeuralCodec(student_cfg())},
                                   codec_train(student_cfg, "your codec")))
    plan["04"].trains.append(Train("04", "codec (train codec command)", sc.steps,
                                   lambda: {"codec": NeuralCodec(codec_recipe.config_for_profile(p))},
                                   codec_train(lambda: codec_recipe.config_for_profile(p), "codec"),
                                   outside_chapter=True))

    def codec_sample(device):
        model = NeuralCodec(student_cfg()).to(device).eval()
        y = 0.1 * np.random.default_rng(5).standard_normal((2, 16000 * (1 if short else 4))).astype(np.float32)
        with torch.no_grad():
            return codec_recipe.reconstruct(model, y, 16000)

    plan["04"].samples.append(Sample("04", "codec reconstructions", codec_sample,
                                     s4.n_eval_notes / 2 * (1 if not short else 4),
                                     f"{s4.n_eval_notes} notes of 4 s, measured on 2"))

    # -- 05: the codec Transformer on notes, and on piano ------------------------------------
    s5 = p.ch05
    tok, digest = lm_recipe.load_tokenizer(lm_recipe.default_tokenizer(), s5.n_q)
    note_frames = int(round(s5.note_seconds * tok.frame_rate))
    window = int(round(s5.piano_window_s * tok.frame_rate))

    def lm_model(task="notes"):
        cfg = lm_recipe.config_from_profile(p.name, card=tok.codebook_size, task=task, latent_digest=digest,
                                            frame_rate=float(tok.frame_rate), sample_rate=int(tok.sample_rate),
                                            **({"cond_dropout": 0.0} if task == "piano" else {}))
        cfg.max_steps = patterns.sequence_length(note_frames if task == "notes" else window, cfg.n_q, cfg.pattern)
        return CodecLM(cfg)

    def lm_train_notes(n, device):
        model = lm_model()
        g, N = _rng(5), 2 * s5.batch_size
        tokens = {"codes": torch.randint(0, tok.codebook_size, (N, s5.n_q, note_frames), generator=g).short(),
                  "family": torch.randint(0, len(FAMILIES), (N,), generator=g),
                  "pitch": torch.randint(21, 109, (N,), generator=g),
                  "velocity": torch.full((N,), 100)}
        ds = lm_recipe.NoteSteps(tokens, model.cfg.pattern, model.cfg.card)
        return lm_recipe.train_lm(model, ds, batch_size=s5.batch_size, lr=s5.lr, max_steps=n, time_budget_s=inf,
                                  progress=False, device=device)

    def lm_train_piano(n, device):
        model = lm_model("piano")
        codes = [torch.randint(0, tok.codebook_size, (s5.n_q, 3 * window), generator=_rng(6)).short()]
        ds = lm_recipe.PerformanceWindows(codes, window, model.cfg.pattern, model.cfg.card,
                                          n_items=2 * s5.batch_size)
        return lm_recipe.train_lm(model, ds, batch_size=s5.batch_size, lr=s5.lr, max_steps=n, time_budget_s=inf,
                                  progress=False, device=device, desc="piano")

    def tokenize(codec_model, n_q):
        def run(device):
            x = 0.1 * torch.randn(16, int(16000 * (1.0 if short else 4.0)), generator=_rng(9))
            codec_model.to(device)
            try:
                with torch.no_grad():
                    return codec_model.encode(x.to(device), n_q=n_q).cpu()
            finally:
                codec_model.to("cpu")
        return run

    # the training notes, 16 at a time (max_notes bounds how many the split gives)
    plan["05"].samples.append(Sample("05", "tokenize notes", tokenize(tok, s5.n_q),
                                     s5.max_notes / 16 * (4 if short else 1),
                                     f"{s5.max_notes} notes of 4 s with the reference codec, measured on 16"))
    plan["05"].trains.append(Train("05", "transformer (notes)", s5.max_steps, lambda: {"lm": lm_model()},
                                   lm_train_notes))
    plan["05"].trains.append(Train("05", "transformer (piano)", s5.max_steps, lambda: {"lm": lm_model("piano")},
                                   lm_train_piano))
    gen5 = 0.1 if short else 0.5

    def lm_sample(device):
        model = lm_model().to(device).eval()
        return lm_recipe.generate_notes(model, _pitches(48, 72, s5.n_generate), "keyboard", tokenizer=tok,
                                        seconds=gen5, cfg_scale=s5.cfg_scale, top_p=s5.top_p,
                                        progress=False)

    # notes at the profile's guidance + one batch per other guidance scale of the sweep, and the
    # piano continuations (a batch of 2, about as long again)
    n_sweep = len(str(s5.cfg_sweep).split(","))
    plan["05"].samples.append(Sample("05", "transformer notes", lm_sample, (1 + n_sweep + 1) * s5.note_seconds / gen5,
                                     f"{s5.n_generate} notes of {s5.note_seconds} s, {n_sweep} guidance "
                                     f"scales, piano; measured on {gen5} s"))

    # -- 06: latent diffusion (the notebook trains the notes model; genres come trained) ------
    s6 = p.ch06
    codec = codec_recipe.load_codec(None)
    mult = 2 ** (len(s6.channels) - 1)
    frames = -(-int(round(4.0 * codec.frame_rate)) // mult) * mult

    def diff_model(latents=None):
        cfg = diff_recipe.config_for_profile(p)
        cfg.latent_dim, cfg.frames = codec.latent_dim, frames
        model = LatentDiffusion(cfg)
        if latents is not None:
            model.set_stats(*latent_stats(latents))
        return model

    def diff_train(n, device):
        g, N = _rng(7), 2 * s6.batch_size
        data = {"latents": torch.randn(N, codec.latent_dim, frames, generator=g).half(),
                "pitch": torch.randint(21, 109, (N,), generator=g),
                "family": torch.randint(0, len(FAMILIES), (N,), generator=g),
                "velocity": torch.full((N,), 100)}
        model = diff_model(data["latents"])
        return diff_recipe.train_diffusion(model, diff_recipe.NoteLatents(data), max_steps=n,
                                           batch_size=s6.batch_size, lr=s6.lr, ema_decay=s6.ema_decay,
                                           time_budget_s=inf, progress=False, device=device)[1]

    plan["06"].samples.append(Sample("06", "encode notes", tokenize(codec, None),
                                     s6.max_notes / 16 * (4 if short else 1),
                                     f"{s6.max_notes} notes of 4 s with the reference codec, measured on 16"))
    plan["06"].trains.append(Train("06", "diffusion (notes)", s6.max_steps, lambda: {"denoiser": diff_model()},
                                   diff_train))

    def diff_sample(device):
        model = diff_model(torch.randn(4, codec.latent_dim, frames)).to(device).eval()
        codec.to(device)
        try:
            return diff_recipe.generate_notes(model, codec, _pitches(48, 72, s6.n_generate), "keyboard",
                                              steps=s6.steps, guidance=s6.cfg_scale, progress=False)
        finally:
            codec.to("cpu")

    # the notebook samples the profile's steps, then every steps count of the sweep (two
    # samplers), every guidance scale, and the 10 genres (as many clips each)
    sweep = [int(v) for v in str(s6.steps_sweep).split(",")]
    calls = 1 + 2 * sum(sweep) / s6.steps + len(str(s6.cfg_sweep).split(",")) + 10
    plan["06"].samples.append(Sample("06", "diffusion notes and clips", diff_sample, calls,
                                     f"{calls:.1f} x one batch of {s6.n_generate} notes at {s6.steps} steps"))

    # -- 07: no training; embedding sets of notes with CREPE and the classifier -------------
    s7 = p.ch07

    def embed(device):
        from coursekit.eval.embeddings import get_embedding

        y = 0.1 * np.random.default_rng(8).standard_normal(int(16000 * s7.seconds)).astype(np.float32)
        return [get_embedding(name).embed(y, 16000) for name in ("crepe", "classifier")]

    # sets of n_notes: reference, real, noise, 3 sweeps of n_levels, the semitone, 3 leaderboard systems
    clips = s7.n_notes * (3 + 3 * s7.n_levels + 1 + 3)
    plan["07"].samples.append(Sample("07", "CREPE + classifier embeddings", embed, clips,
                                     f"{clips} clips of {s7.seconds} s, measured on one"))
    return plan


def count_params(modules: dict) -> dict:
    return {k: sum(t.numel() for t in m.parameters()) for k, m in modules.items()}


# ---------------------------------------------------------------------------------------------
# The measurement
# ---------------------------------------------------------------------------------------------

def _rate(history, warmup: int) -> float:
    """Steps per second from the loop's per-step clock, leaving out the first ``warmup`` steps."""
    times = [h["time"] for h in history]
    if len(times) <= warmup + 1:
        raise ValueError(f"need more than {warmup + 1} steps to measure a rate, got {len(times)}")
    return (len(times) - 1 - warmup) / max(times[-1] - times[warmup], 1e-9)


def _sync(device):
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        torch.cuda.synchronize()


def measure(profile: str, device, steps: int, warmup: int, short: bool, chapters=CHAPTERS) -> dict:
    import torch

    cuda = device.type == "cuda"
    plan = chapter_plan(profile, short=short)
    p_train = __import__("coursekit.profiles", fromlist=["get_profile"]).get_profile(profile).train
    out = {}
    for ch in chapters:
        c = plan[ch]
        rows, chapter_s = [], 0.0
        for t in c.trains:
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            history = t.run(steps, device)
            _sync(device)
            rate = _rate(history, warmup)
            row = {"run": t.name, "parameters": count_params(t.models()), "steps_measured": len(history),
                   "warmup_steps": warmup, "steps_per_s": round(rate, 3),
                   "wall_s": round(time.perf_counter() - t0, 2), "profile_steps": t.steps,
                   "projected_train_min": round(t.steps / rate / 60, 2),
                   "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None}
            if t.outside_chapter:
                row["outside_chapter"] = True
            else:
                chapter_s += t.steps / rate
            rows.append(row)
            print(f"{ch} {t.name:32s} {rate:8.2f} steps/s  {row['projected_train_min']:7.2f} min for "
                  f"{t.steps} steps  peak {row['peak_memory_gb']} GB", flush=True)
        samples = []
        for s in c.samples:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            _sync(device)
            t0 = time.perf_counter()
            s.run(device)
            _sync(device)
            dt = time.perf_counter() - t0
            chapter_s += dt * s.factor
            samples.append({"what": s.name, "measured_s": round(dt, 3), "factor": round(s.factor, 2),
                            "projected_min": round(dt * s.factor / 60, 2), "scaled_as": s.what,
                            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None})
            print(f"{ch} {s.name:32s} {dt:8.2f} s measured -> {dt * s.factor / 60:7.2f} min ({s.what})", flush=True)
        out[ch] = {"train": rows, "sampling": samples,
                   "projected_chapter_min": round(chapter_s / 60, 2),
                   "note": "training + generation on the GPU; data making, tokenizing/encoding and the "
                           "CPU-side measures of the notebook are not included"}
    return {"amp": bool(p_train.amp), "data_on_device": bool(p_train.data_on_device), "chapters": out}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true",
                    help="the smoke profile on the CPU with a couple of steps (for the test suite)")
    ap.add_argument("--profile", default=None, help="profile whose models are measured (default: full; "
                    "smoke with --smoke)")
    ap.add_argument("--device", default=None, help="where to train (default: pick_device(); CPU with --smoke)")
    ap.add_argument("--steps", type=int, default=None, help="training steps a run (default 30; 3 with --smoke)")
    ap.add_argument("--warmup", type=int, default=None, help="steps left out of the rate (default 5; 1 with --smoke)")
    ap.add_argument("--chapters", default=",".join(CHAPTERS), help="comma-separated chapters (default: all)")
    ap.add_argument("--out", default=None, help=f"JSON written (default: {OUT.relative_to(REPO)})")
    args = ap.parse_args(argv)

    profile = args.profile or ("smoke" if args.smoke else "full")
    steps = args.steps or (3 if args.smoke else 30)
    warmup = args.warmup if args.warmup is not None else (1 if args.smoke else 5)
    chapters = [c.strip().zfill(2) for c in args.chapters.split(",") if c.strip()]
    bad = [c for c in chapters if c not in CHAPTERS]
    if bad:
        print(f"gpu_check: unknown chapter(s) {', '.join(bad)}; choose from {', '.join(CHAPTERS)}", file=sys.stderr)
        return 2
    if steps <= warmup + 1:
        print(f"gpu_check: --steps ({steps}) must exceed --warmup + 1 ({warmup + 1})", file=sys.stderr)
        return 2
    os.environ["COURSEKIT_PROFILE"] = profile        # the loop and the recipes read the same profile

    import torch

    from coursekit.device import pick_device
    from coursekit.profiles import get_profile

    try:
        get_profile(profile)
        device = torch.device("cpu") if args.smoke and args.device is None else pick_device(args.device)
    except (ValueError, RuntimeError) as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        return 2
    if device.type != "cuda" and not args.smoke:
        print(f"gpu_check: no CUDA GPU here ({device}); run it on a GPU machine, or use --smoke", file=sys.stderr)
        return 2
    if args.smoke:
        torch.set_num_threads(1)          # tiny models: more threads only add synchronisation
    t0 = time.perf_counter()
    result = measure(profile, device, steps, warmup, short=args.smoke, chapters=chapters)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    doc = {
        "what": "each chapter's training runs and generation at this profile, trained for a fixed number "
                "of steps through the recipes on this machine; projected chapter minutes = the profile's "
                "steps / measured steps per second + generation scaled from a short measured call",
        "command": "python benchmarks/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "profile": profile, "smoke": bool(args.smoke), "device": str(device), "gpu": gpu,
        "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "steps_per_run": steps, **result, "wall_s": round(time.perf_counter() - t0, 1),
        "projection": str(PROJECTION.relative_to(REPO)),
    }
    if PROJECTION.exists() and not args.smoke:
        proj = json.loads(PROJECTION.read_text())
        doc["projected_by_flops_min"] = {ch: {k: v for k, v in row.items() if k.endswith("_min")}
                                         for ch, row in proj.get("chapters", {}).items()}
    out = Path(args.out) if args.out else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out} ({doc['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
