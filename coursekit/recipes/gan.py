"""The GAN's recipe (chapter 03): its notes, its two training recipes, its measures, its commands.

The model (:mod:`coursekit.models.gan`) is the representation, the two networks and the losses.
This module holds the rest:

- :func:`load_notes`: the first second of NSynth notes, in memory;
- :data:`RECIPES`, :func:`make_gan`, :func:`gan_step_fn`, :func:`train_gan`: adversarial
  training on :func:`coursekit.train.train` (one step = one discriminator update, then one
  generator update);
- :func:`save_generator`, :func:`load_generator`, :func:`reference_checkpoint`,
  :func:`generate_notes`: checkpoints (:mod:`coursekit.checkpoint`) and NSynth-style note dicts;
- :func:`feature_diversity`, :func:`ndb`, :func:`mel_stats`, :func:`collapse_report`: mode
  collapse in numbers;
- the commands ``python -m coursekit train gan`` and ``sample gan``.

Two recipes are run side by side in the chapter:

- ``stable``: hinge loss, spectral normalisation in the discriminator, Adam with beta1 = 0 and a
  slower generator (TTUR).
- ``unstable``: the original (non-saturating) cross-entropy loss, no normalisation and a high
  learning rate: the recipe that gives oscillating losses and mode collapse.

Example
-------
>>> from coursekit.recipes.gan import load_generator, generate_notes
>>> G = load_generator()                                   # the reference generator
>>> notes = generate_notes(G, [60, 64], families="flute", seed=0)
>>> notes[0]["audio"].shape, notes[0]["pitch"], notes[0]["instrument_family_str"]
((64000,), 60, 'flute')
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import audio, checkpoint
from ..data.nsynth import FAMILIES, SAMPLE_RATE as SR
from . import midi_pitch, resume_path, say_architecture, stored_architecture, write_run_card
from ..models.gan import (SEGMENT, Discriminator, GANConfig, Generator, d_loss, from_features,
                          g_loss, to_features)
from ..train import optimizer_step

__all__ = ["RECIPES", "load_notes", "make_gan", "gan_step_fn", "train_gan", "feature_diversity",
           "ndb", "mel_stats", "collapse_report", "save_generator", "load_generator",
           "reference_checkpoint", "generate_notes", "add_train_arguments", "train_command",
           "add_sample_arguments", "sample_command"]

RECIPES = {
    # hinge loss, spectral norm, two time-scale learning rates, beta1 = 0
    "stable": dict(loss="hinge", spectral_norm=True, lr_g=2e-4, lr_d=4e-4, betas=(0.0, 0.9)),
    # the 2014 cross-entropy loss, no normalisation, a high learning rate
    "unstable": dict(loss="bce", spectral_norm=False, lr_g=2e-3, lr_d=2e-3, betas=(0.5, 0.999)),
}


# ---------------------------------------------------------------------------------------------
# Data: the first second of NSynth notes, in memory
# ---------------------------------------------------------------------------------------------

def load_notes(split_dir, pitch_range=(48, 72), families=None, max_notes: int | None = None,
               seed: int = 0, progress: bool = True) -> dict:
    """The first ``SEGMENT`` samples (~1 s, the attack and the start of the sustain) of NSynth
    notes at 16 kHz. Returns ``audio`` float16 ``(N, SEGMENT)``, ``pitch``, ``family`` ``(N,)``.
    """
    from tqdm.auto import tqdm

    from ..data.nsynth import NSynth

    ds = NSynth(split_dir, pitch_range=pitch_range, families=families,
                segment_seconds=SEGMENT / SR, sample_rate=SR)
    idx = np.arange(len(ds))
    if max_notes is not None and len(ds) > max_notes:
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), max_notes, replace=False))
    y = torch.empty(len(idx), SEGMENT, dtype=torch.float16)
    pitch = torch.empty(len(idx), dtype=torch.long)
    family = torch.empty(len(idx), dtype=torch.long)
    for j, i in enumerate(tqdm(idx, desc="loading notes", disable=not progress)):
        item = ds[int(i)]
        y[j] = item["audio"][:SEGMENT].half()
        pitch[j], family[j] = item["pitch"], item["family"]
    return {"audio": y, "pitch": pitch, "family": family}


# ---------------------------------------------------------------------------------------------
# Training: one step = one discriminator update + one generator update
# ---------------------------------------------------------------------------------------------

def make_gan(recipe: str = "stable", channels: int = 192, pitch_range=(48, 72),
             train_families=None) -> tuple:
    """Build ``(G, D, opt_g, opt_d, recipe_dict)`` for one of :data:`RECIPES`; the family
    embedding knows NSynth's families (:data:`coursekit.data.nsynth.FAMILIES`)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    r = RECIPES[recipe]
    cfg = GANConfig(channels=channels, pitch_min=int(pitch_range[0]), pitch_max=int(pitch_range[1]),
                    families=list(FAMILIES), spectral_norm=r["spectral_norm"],
                    train_families=list(train_families or []))
    G, D = Generator(cfg), Discriminator(cfg)
    opt_g = torch.optim.Adam(G.parameters(), lr=r["lr_g"], betas=r["betas"])
    opt_d = torch.optim.Adam(D.parameters(), lr=r["lr_d"], betas=r["betas"])
    return G, D, opt_g, opt_d, r


def gan_step_fn(G, D, opt_g, opt_d, loss: str = "hinge", ac_weight: float = 1.0,
                d_loss_fn=None, g_loss_fn=None):
    """The step function for :func:`coursekit.train.train`: D on real and fake, then G.

    ``ac_weight`` weighs the auxiliary pitch classification loss (0 turns it off).
    ``d_loss_fn(real_scores, fake_scores)`` and ``g_loss_fn(fake_scores)`` replace the
    adversarial losses (default: :func:`~coursekit.models.gan.d_loss` and
    :func:`~coursekit.models.gan.g_loss` of kind ``loss``), e.g. with your own. Returns a
    function ``step(batch, step_no) -> {"d_loss", "g_loss", "d_real", "d_fake", "ac_real",
    "ac_fake"}`` (``d_real``/``d_fake``: the discriminator's mean scores on real and generated
    notes; ``ac_*``: cross-entropy of the pitch head on each). The batch ``(audio, pitch,
    family)`` is on the networks' device; the noise ``z`` is drawn there.
    """
    d_loss_fn = d_loss_fn or (lambda real_s, fake_s: d_loss(real_s, fake_s, loss))
    g_loss_fn = g_loss_fn or (lambda fake_s: g_loss(fake_s, loss))

    def step(batch, step_no):
        y, pitch, family = batch                                  # (B, SEGMENT), (B,), (B,)
        target = torch.as_tensor(pitch) - G.cfg.pitch_min
        real = to_features(y)                                     # (B, 2, 512, 64), float32
        z = torch.randn(len(y), G.cfg.z_dim, device=y.device)
        fake = G(z, pitch, family)
        # 1. discriminator: real up, fake down (fake detached: G is not updated here),
        #    and name the pitch of the real notes
        real_s, real_p = D(real, pitch, family, return_pitch_logits=True)
        fake_s = D(fake.detach(), pitch, family)
        ac_real = F.cross_entropy(real_p, target)
        ld = d_loss_fn(real_s, fake_s) + ac_weight * ac_real
        optimizer_step(ld, opt_d)
        # 2. generator: fool the (just updated) discriminator, at the asked pitch
        s, p = D(fake, pitch, family, return_pitch_logits=True)
        ac_fake = F.cross_entropy(p, target)
        lg = g_loss_fn(s) + ac_weight * ac_fake
        optimizer_step(lg, opt_g)
        if not (torch.isfinite(ld) and torch.isfinite(lg)):
            raise FloatingPointError(f"GAN losses became {ld.item()}, {lg.item()} "
                                     f"at step {step_no}")
        return {"d_loss": ld.item(), "g_loss": lg.item(), "d_real": real_s.mean().item(),
                "d_fake": fake_s.mean().item(), "ac_real": ac_real.item(),
                "ac_fake": ac_fake.item()}
    return step


def train_gan(notes: dict, recipe: str = "stable", channels: int = 192, batch_size: int = 32,
              max_steps: int | None = None, time_budget_s: float | None = None, ckpt_path=None,
              resume: bool = False, seed: int = 0, eval_every: int | None = None,
              snapshot_every: int | None = None, progress: bool = True, device=None,
              amp: bool | None = None, data_on_device: bool | None = None, step_fn=None):
    """Train a GAN with one recipe through the course's loop.

    ``step_fn(G, D, opt_g, opt_d, batch) -> dict`` replaces the training step (default:
    :func:`gan_step_fn` with the recipe's loss), e.g. with one written in the chapter; it should
    return the same logs (``d_loss``, ``g_loss``, ``d_real``, ``d_fake``, ``ac_real``,
    ``ac_fake``) for the chapter's plots.

    ``device`` is where to train (:func:`coursekit.train.pick_device`; default: the CPU, where
    the networks are built). Returns ``(G, D, history, snapshots)``: ``snapshots`` maps a step to
    the generator's features (on the CPU) for a fixed ``z`` and fixed pitches (for sample grids
    over training), taken every ``snapshot_every`` steps. ``eval_every`` adds ``diversity``
    (mean pairwise distance between notes generated for the same pitch, see
    :func:`feature_diversity`) to the history. ``amp`` and ``data_on_device`` (default: the
    profile's) put mixed precision and the notes on a GPU (:func:`coursekit.train.data_device`).
    """
    from ..train import data_device, seed_everything, train

    seed_everything(seed)
    pitch_range = (int(notes["pitch"].min()), int(notes["pitch"].max()))
    fams = sorted({FAMILIES[i] for i in notes["family"].tolist()})
    G, D, opt_g, opt_d, r = make_gan(recipe, channels, pitch_range, fams)
    where = data_device(device, data_on_device)
    notes_ds = torch.utils.data.TensorDataset(*(notes[k].to(where) for k in ("audio", "pitch", "family")))
    data = torch.utils.data.DataLoader(notes_ds, batch_size=batch_size, shuffle=True,
                                       drop_last=len(notes["audio"]) > batch_size)
    step = gan_step_fn(G, D, opt_g, opt_d, r["loss"]) if step_fn is None else \
        (lambda batch, step_no: step_fn(G, D, opt_g, opt_d, batch))
    gen = torch.Generator().manual_seed(1234)
    fixed_pitch = torch.linspace(*pitch_range, 4).round().long().repeat_interleave(4)  # (16,)
    fixed_z = torch.randn(len(fixed_pitch), G.cfg.z_dim, generator=gen)
    snapshots = {}

    def eval_fn(step_no):
        snap = snapshot_every and (step_no % snapshot_every == 0 or step_no == 1)
        div = eval_every and step_no % eval_every == 0
        if not (snap or div):
            return {}
        dev = next(G.parameters()).device
        x = G(fixed_z.to(dev), fixed_pitch.to(dev)).detach().cpu()    # (16, 2, 512, 64)
        if snap:
            snapshots[step_no] = x
        return {"diversity": feature_diversity(x, fixed_pitch)} if div else {}

    every = math.gcd(eval_every or 0, snapshot_every or 0) or None
    history = train(step, data, state={"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d},
                    max_steps=max_steps, time_budget_s=time_budget_s, ckpt_path=ckpt_path,
                    resume=resume, eval_fn=eval_fn if every else None, eval_every=every,
                    config={**asdict(G.cfg), "recipe": recipe}, seed=seed, desc=f"gan ({recipe})",
                    progress=progress, kind="gan", device=device, amp=amp)
    return G, D, history, snapshots


# ---------------------------------------------------------------------------------------------
# Measuring mode collapse
# ---------------------------------------------------------------------------------------------

def feature_diversity(x, groups) -> float:
    """Mean pairwise L2 distance (per feature value, RMS) between notes of the same group.

    ``x``: features or any ``(N, ...)`` array; ``groups``: one label per row (e.g. the asked
    pitch). A collapsed generator gives nearly the same note for every ``z``: distance ~ 0.
    """
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).float().flatten(1)
    groups = np.asarray(groups)
    dists = []
    for g in np.unique(groups):
        xs = x[torch.as_tensor(groups == g)]
        if len(xs) < 2:
            continue
        d = torch.cdist(xs, xs) / math.sqrt(xs.shape[1])
        n = len(xs)
        dists.append((d.sum() / (n * (n - 1))).item())
    if not dists:
        raise ValueError("feature_diversity needs at least two rows with the same group label")
    return float(np.mean(dists))


def ndb(real_feats, gen_feats, k: int = 20, alpha: float = 0.05, seed: int = 0) -> dict:
    """Number of statistically Different Bins (Richardson & Weiss, 2018).

    Cluster the real notes' features into ``k`` bins (k-means), put every generated note in its
    nearest bin, and test each bin's share of real vs generated notes with a two-proportion
    z-test. A generator that covers the data has few different bins; a collapsed one leaves
    bins empty and over-fills others.

    Returns
    -------
    dict
        ``ndb`` (count), ``ndb_fraction`` (count / k), ``real_props``, ``gen_props`` (per bin),
        ``k``.
    """
    from scipy.stats import norm
    from sklearn.cluster import KMeans

    real = np.asarray(real_feats, dtype=np.float64).reshape(len(real_feats), -1)
    gen = np.asarray(gen_feats, dtype=np.float64).reshape(len(gen_feats), -1)
    if len(real) < k:
        raise ValueError(f"ndb needs at least k={k} real notes, got {len(real)}; lower k")
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(real)
    p_real = np.bincount(km.labels_, minlength=k) / len(real)
    p_gen = np.bincount(km.predict(gen), minlength=k) / len(gen)
    pooled = (p_real * len(real) + p_gen * len(gen)) / (len(real) + len(gen))
    se = np.sqrt(pooled * (1 - pooled) * (1 / len(real) + 1 / len(gen)))
    z = np.divide(p_gen - p_real, se, out=np.zeros(k), where=se > 0)
    different = np.abs(z) > norm.ppf(1 - alpha / 2)
    return {"ndb": int(different.sum()), "ndb_fraction": float(different.mean()), "k": k,
            "real_props": p_real.tolist(), "gen_props": p_gen.tolist()}


def mel_stats(y, sr: int = SR) -> np.ndarray:
    """A fixed, learning-free description of a note for NDB and diversity: mean and standard
    deviation over time of 64 log-mel bands of its first second (128 numbers)."""
    y = audio.fix_length(np.asarray(y, dtype=np.float32), SEGMENT)
    M = audio.log_mel(y, sr, n_fft=1024, hop_length=256, n_mels=64)
    return np.concatenate([M.mean(axis=1), M.std(axis=1)])


def collapse_report(gen_notes: list[dict], real_notes: list[dict], k: int = 10, seed: int = 0,
                    classifier: bool = True) -> dict:
    """Mode collapse in numbers: generated notes against real notes of the same conditions.

    Parameters
    ----------
    gen_notes, real_notes : list of dict
        Note dicts with ``audio`` (16 kHz) and ``pitch`` (asked / true), and for the classifier
        measures ``instrument_family_str``.
    k : int
        NDB bins (lowered to the number of real notes when there are fewer).
    classifier : bool
        Also judge with the course's note classifier (skipped, with the reason in
        ``classifier_unavailable``, when its checkpoint cannot be loaded).

    Returns
    -------
    dict
        ``diversity_gen`` / ``diversity_real``: mean pairwise distance of :func:`mel_stats`
        between notes of the same pitch; ``ndb``, ``ndb_fraction``, ``k``; with the classifier
        ``pitch_acc``, ``family_acc`` (against the asked conditions), ``distinct_pitches``,
        ``distinct_families`` (predicted), and ``family_entropy_bits`` of the predicted families
        (generated and real).
    """
    fg = np.stack([mel_stats(n["audio"]) for n in gen_notes])
    fr = np.stack([mel_stats(n["audio"]) for n in real_notes])
    mu, sd = fr.mean(axis=0), fr.std(axis=0) + 1e-6          # the real notes set the scale
    fg, fr = (fg - mu) / sd, (fr - mu) / sd
    out = {"n_gen": len(gen_notes), "n_real": len(real_notes)}
    for name, f, notes in (("gen", fg, gen_notes), ("real", fr, real_notes)):
        try:
            out[f"diversity_{name}"] = feature_diversity(f, [n["pitch"] for n in notes])
        except ValueError:
            out[f"diversity_{name}"] = None                      # no two notes share a pitch
    res = ndb(fr, fg, k=min(k, len(fr)), seed=seed)
    out.update(ndb=res["ndb"], ndb_fraction=res["ndb_fraction"], k=res["k"])
    if classifier:
        try:
            from ..eval.classifier import predict_batch

            for name, notes in (("gen", gen_notes), ("real", real_notes)):
                pp, fp = predict_batch([n["audio"] for n in notes], SR)   # FAMILIES' order
                pred_p, pred_f = pp.argmax(1), fp.argmax(1)
                asked_f = np.array([FAMILIES.index(n["instrument_family_str"]) for n in notes])
                share = np.bincount(pred_f, minlength=len(FAMILIES)) / len(notes)
                nz = share[share > 0]
                out[f"pitch_acc_{name}"] = float(np.mean(pred_p == [n["pitch"] for n in notes]))
                out[f"family_acc_{name}"] = float(np.mean(pred_f == asked_f))
                out[f"distinct_pitches_{name}"] = int(len(np.unique(pred_p)))
                out[f"distinct_families_{name}"] = int(len(np.unique(pred_f)))
                out[f"family_entropy_bits_{name}"] = float(-(nz * np.log2(nz)).sum())
        except (FileNotFoundError, ImportError) as err:
            out["classifier_unavailable"] = str(err)
    return out


# ---------------------------------------------------------------------------------------------
# Saving, loading, generating
# ---------------------------------------------------------------------------------------------

def save_generator(G: Generator, path, step: int = 0, **extra) -> Path:
    """Write the generator's weights and config (the discriminator is only needed to train)."""
    return checkpoint.save(path, kind="gan", config=asdict(G.cfg), state={"model": G}, step=step,
                           **extra)


def reference_checkpoint() -> Path:
    """The reference generator shipped with coursekit (``coursekit/checkpoints/gan.pt``)."""
    return checkpoint.reference("gan.pt")


def load_generator(path=None, device="cpu", hint: str | None = None) -> Generator:
    """Load a generator saved by :func:`save_generator` or a training checkpoint (default: the
    reference checkpoint); a file that is not one, or whose weights do not fit its config, is
    one ``ValueError`` naming it and ending with ``hint`` (default: how to train one)."""
    path = Path(path) if path is not None else reference_checkpoint()
    hint = hint or "train one with `python -m coursekit train gan --profile full --out gan.pt`"
    ckpt = checkpoint.load(path, kind="gan", map_location=device, hint=hint)

    def make():
        state = ckpt["state"]
        sd = state["model"] if "model" in state else state["G"]    # a training checkpoint: "G"
        G = Generator(checkpoint.checked(GANConfig.from_dict(ckpt["config"])))
        G.load_state_dict(sd)
        return G
    return checkpoint.build(path, "gan", make, hint=hint).to(device).eval()


@torch.no_grad()
def generate_notes(G: Generator, pitches, families=None, seed: int = 0, batch_size: int = 64,
                   out_seconds: float = 4.0) -> list[dict]:
    """One note per asked pitch (one forward pass per batch), as NSynth-style note dicts.

    The ~1 s the generator makes is followed by silence up to ``out_seconds`` (NSynth notes
    are 4 s). ``families``: one name or id for every note, a list of them, or ``None`` (drawn
    from the families the GAN was trained on). ``z`` is drawn on the CPU from ``seed``, so a
    seed gives the same notes on every device.
    """
    G.eval()
    device = next(G.parameters()).device
    pitches = [int(p) for p in np.atleast_1d(pitches)]
    rng = np.random.default_rng(seed)
    if families is None:
        choices = G.cfg.train_families or list(G.cfg.families)
        families = [choices[i] for i in rng.integers(0, len(choices), len(pitches))]
    elif isinstance(families, (str, int)):
        families = [families] * len(pitches)
    fam_ids = []
    for f in families:
        if isinstance(f, str):
            if f not in G.cfg.families:
                raise ValueError(f"--family: unknown family {f!r}; choose one of {', '.join(G.cfg.families)}")
            f = list(G.cfg.families).index(f)
        fam_ids.append(int(f))
    gen = torch.Generator().manual_seed(int(seed))
    notes = []
    for b in range(0, len(pitches), batch_size):
        p = torch.tensor(pitches[b:b + batch_size])
        fam = torch.tensor(fam_ids[b:b + batch_size])
        z = torch.randn(len(p), G.cfg.z_dim, generator=gen)
        y = from_features(G(z.to(device), p, fam)).cpu().numpy()     # (b, SEGMENT)
        peak = np.abs(y).max(axis=1, keepdims=True)
        y = y / np.maximum(peak / 0.95, 1.0)                       # never clip
        for j in range(len(p)):
            out = np.zeros(int(out_seconds * SR), dtype=np.float32)
            n = min(len(out), y.shape[1])
            out[:n] = y[j, :n]
            notes.append({"audio": out, "pitch": int(p[j]), "velocity": 100,
                          "instrument_family_str": G.cfg.families[int(fam[j])],
                          "generated_by": "gan", "seed": seed})
    return notes


# ---------------------------------------------------------------------------------------------
# Command line: python -m coursekit train gan / sample gan
# ---------------------------------------------------------------------------------------------

def add_train_arguments(parser) -> None:
    """The flags of ``train gan`` beyond the common ones."""
    parser.add_argument("--task", default=None, choices=list(RECIPES),
                        help="the training recipe (default: stable)")


def train_command(args) -> int:
    """``python -m coursekit train gan --profile P --out CKPT [--task stable|unstable] [--resume]``.

    Keeps a resumable training checkpoint (G, D, both optimizers) at ``<out>.train.pt`` and at
    the end writes the generator to ``--out`` and its card to ``<out without .pt>.json``. The
    networks have the profile's width; with ``--resume``, the width and recipe the run's training
    state was saved with (the profile's other settings, steps, batch and data, still apply).
    """
    from ..data import dataset_dir
    from ..profiles import get_profile
    from ..train import pick_device

    prof = get_profile(args.profile)
    p = prof.ch03
    recipe = args.task or "stable"
    device = pick_device(args.device)                          # default: the best available
    out = Path(args.out)
    channels = p.channels
    source, stored = stored_architecture("gan", out, resume=args.resume, check=load_generator)
    if stored is not None:
        if args.task and stored.get("recipe", recipe) != args.task:
            raise ValueError(f"{source} trains the {stored['recipe']!r} recipe; drop --task or pass "
                             f"--task {stored['recipe']}")
        recipe, channels = stored.get("recipe", recipe), stored.get("channels", channels)
        say_architecture(source, prof.name, {"channels": p.channels}, stored, ("channels",))
    split = Path(args.data) if args.data else dataset_dir("nsynth", "train", size=p.nsynth_size)
    families = None if p.families == "all" else [f.strip() for f in p.families.split(",")]
    t0 = time.perf_counter()
    notes = load_notes(split, pitch_range=(p.pitch_min, p.pitch_max), families=families,
                       max_notes=p.max_notes, seed=args.seed)
    budget = args.time_budget if args.time_budget is not None else p.time_budget_s
    print(f"training the GAN ({recipe}) on {len(notes['audio'])} notes of {split}, "
          f"profile {prof.name}, {device}, budget {budget:.0f} s")
    G, D, history, _ = train_gan(notes, recipe, channels=channels, batch_size=p.batch_size,
                                 max_steps=p.max_steps, time_budget_s=budget,
                                 ckpt_path=resume_path(out),
                                 resume=args.resume, seed=args.seed, eval_every=p.eval_every,
                                 device=device, amp=prof.train.amp,
                                 data_on_device=prof.train.data_on_device)
    save_generator(G, out, step=history[-1]["step"] if history else 0)
    div = [h["diversity"] for h in history if "diversity" in h]
    last = history[-100:]
    write_run_card(
        out, model="gan", profile=prof.name, started=t0, history=history, recipe=recipe,
        data={"folder": str(split), "notes": len(notes["audio"]),
              "pitch_range": [p.pitch_min, p.pitch_max], "families": G.cfg.train_families,
              "sample_rate": SR, "segment_samples": SEGMENT},
        config=asdict(G.cfg),
        metrics={"d_loss_last100": float(np.mean([h["d_loss"] for h in last])) if last else None,
                 "g_loss_last100": float(np.mean([h["g_loss"] for h in last])) if last else None,
                 "diversity_last": div[-1] if div else None})
    return 0


def add_sample_arguments(parser) -> None:
    """The flags of ``sample gan`` beyond the common ones."""
    parser.add_argument("--pitch", type=midi_pitch, default=None, help="MIDI pitch of every note "
                        "(default: drawn from the trained range)")
    parser.add_argument("--family", default=None, help="instrument family of every note "
                        "(default: drawn from the trained families)")


def sample_command(args) -> int:
    """``python -m coursekit sample gan --n N --out DIR [--checkpoint --seed --pitch --family]``."""
    from ..data.nsynth import write_nsynth_folder

    from ..train import pick_device

    G = load_generator(args.checkpoint, device=pick_device(args.device))
    rng = np.random.default_rng(args.seed)
    pitches = [args.pitch] * args.n if args.pitch is not None else \
        rng.integers(G.cfg.pitch_min, G.cfg.pitch_max + 1, args.n).tolist()
    t0 = time.perf_counter()
    notes = generate_notes(G, pitches, args.family, seed=args.seed)
    dt = time.perf_counter() - t0
    out = write_nsynth_folder(args.out, notes, overwrite=args.overwrite)
    print(f"wrote {len(notes)} notes to {out} ({len(notes) * SEGMENT / SR / dt:.0f} s of audio "
          "per second of generation)")
    return 0
