"""Profiles: one course, three budgets.

Every size a notebook or a command uses (clip length, data size, steps, batch) is defined here
and nowhere else. Pick a profile with the ``COURSEKIT_PROFILE`` environment variable:

- ``smoke``:   CI. Every notebook in seconds; proves the code runs, not that it sounds good.
- ``default``: a laptop CPU. Each notebook in at most about 10 minutes, results you can hear.
- ``full``:    a GPU. The quality each chapter promises.

Example
-------
>>> from coursekit.profiles import get_profile
>>> p = get_profile("smoke")
>>> p.name
'smoke'
>>> p.data.nsynth_size
'smoke'
"""

from __future__ import annotations

import copy
import os

PROFILE_NAMES = ("smoke", "default", "full")
ENV_VAR = "COURSEKIT_PROFILE"


class Section(dict):
    """A dict whose keys can also be read as attributes (``p.data.clip_seconds``)."""

    def __getattr__(self, key):
        try:
            value = self[key]
        except KeyError:
            raise AttributeError(
                f"profile has no setting {key!r}; known: {', '.join(sorted(self))}"
            ) from None
        return Section(value) if isinstance(value, dict) and not isinstance(value, Section) else value

    def __setattr__(self, key, value):
        self[key] = value

    def __deepcopy__(self, memo):
        return Section(copy.deepcopy(dict(self), memo))


# One table: a section per chapter or model, every value a (smoke, default, full) triple.
_TABLE = {
    "data": {
        # which size of the offline mini datasets the notebooks generate
        "nsynth_size": ("smoke", "default", "full"),
        "gtzan_size": ("smoke", "default", "full"),
        "maestro_size": ("smoke", "default", "full"),
        "batch_size": (4, 16, 64),
        "num_workers": (0, 0, 2),
    },
    "ch00": {
        "griffin_lim_iters": (4, 32, 100),
        "n_fft": (512, 1024, 1024),
    },
    "ch01": {
        "segment_seconds": (0.5, 1.0, 2.0),
        "n_show": (3, 8, 12),
        # excerpts of music (GTZAN clips, MAESTRO performances) shown and loaded in chapter 01
        "music_seconds": (1.0, 4.0, 5.0),
        "roll_fs": (50, 100, 100),  # piano-roll frames per second
    },
    "train": {
        # wall-clock budget (seconds) a notebook may spend training one model
        "time_budget_s": (20, 240, 3600),
        "log_every": (5, 50, 100),
        "ckpt_every": (50, 200, 1000),
        # mixed precision on a GPU (bfloat16, or float16 with a gradient scaler on older GPUs)
        "amp": (False, False, True),
        # on a GPU, keep a model's in-memory training set on the GPU (no copy per batch)
        "data_on_device": (False, False, True),
    },
    "classifier": {
        "max_steps": (8, 2000, 8000),
        "batch_size": (8, 32, 64),
        "lr": (2e-3, 2e-3, 1e-3),
        "eval_every": (4, 250, 500),
    },
    "ch02": {
        "sr": (8000, 8000, 8000),
        "frame_size": (16, 16, 16),
        "hidden": (32, 192, 512),              # GRU state of the frame tier
        "mlp_hidden": (32, 128, 384),          # width of the sample tier
        "emb_dim": (8, 16, 16),                # embedding of each mu-law code
        # teacher-forcing segment length: the full model learns on 2 s from the onset, so the
        # state it reaches late in a note is one it was trained on (0.5 s segments drift after 0.5 s)
        "segment_seconds": (0.064, 0.5, 2.0),
        "batch_size": (4, 16, 32),
        "lr": (3e-3, 2e-3, 2e-3),
        "max_steps": (4, 100000, 5000),        # default: the time budget stops training first
        "time_budget_s": (10, 240, 2700),
        "max_notes": (32, 400, 2000),          # training notes kept in memory
        "gen_seconds": (0.2, 3.0, 4.0),        # length of generated notes
        "n_generate": (2, 8, 64),
        "drift_window_s": (0.1, 0.25, 0.25),   # windows of the pitch / loudness tracks
        "naive_samples": (32, 400, 800),       # samples generated without the cache (O(n^2))
        "temperature": (1.0, 1.0, 1.0),
        "time_buckets": (32, 32, 32),          # the clock: 32 eighths of a second (0 = none)
        # the oscillator: 4 harmonics of the asked pitch fed to the sample tier (0 = none). The
        # student models of the notebook stay plain SampleRNNs, so chapter 02 can show the drift
        "osc_harmonics": (0, 0, 4),
        "pitch_min": (48, 48, 48),
        "pitch_max": (72, 72, 72),
        # sustained, harmonic families only: the model learns them within a CPU budget
        "families": ("all", "brass,flute,organ,reed", "brass,flute,organ,reed"),
        "nsynth_size": ("smoke", "default", "default"),  # mini-NSynth size trained on
        "keep": (0.5, 0.25, 0.0625),           # fraction of frames the sample tier predicts a step
        "eval_every": (2, 50, 200),
    },
    "ch03": {
        "channels": (32, 128, 320),
        "batch_size": (4, 16, 32),
        "max_steps": (3, 100000, 18000),    # default: the time budget stops training first
        "time_budget_s": (10, 150, 2400),   # per recipe: the chapter trains two
        "max_notes": (32, 600, 3000),
        "n_generate": (4, 16, 64),
        "eval_every": (2, 100, 500),
        "pitch_min": (48, 48, 48),
        "pitch_max": (72, 72, 72),
        # the same sustained, harmonic families as chapter 02 (see the chapter for why)
        "families": ("all", "brass,flute,organ,reed", "brass,flute,organ,reed"),
        "nsynth_size": ("smoke", "default", "default"),  # mini-NSynth size trained on
    },
    "codec": {
        "channels": (4, 8, 64),            # width C of the first conv; doubles at each block (capped)
        "max_channels": (32, 64, 512),
        "latent_dim": (16, 64, 64),        # D
        "n_q": (2, 8, 8),                  # quantizers
        "codebook_size": (32, 256, 256),   # K codes per quantizer (8 bits)
        "segment_seconds": (0.25, 0.4, 0.4),
        "batch_size": (2, 8, 16),
        "steps": (4, 600, 15000),        # default: the time budget stops training first
        "lr": (1e-3, 1e-3, 1e-3),
        "time_budget_s": (30, 600, 2700),  # wall-clock cap of one training run
        "ckpt_every": (2, 100, 200),
        "log_every": (1, 25, 50),
        "adversarial": (False, False, False),  # switch on for a GAN-trained codec (slower, sharper)
        "train_seconds": (8, 600, 2400),   # at most this much audio is kept in memory per dataset
        # which mini datasets the codec trains and is tested on (the default-size ones hold hours
        # of notes, enough for a codec of this size; making the full-size ones costs CPU time)
        "data_size": ("smoke", "default", "default"),
    },
    "ch04": {
        "student_steps": (3, 400, 12000),
        "student_time_budget_s": (10, 150, 1200),
        "student_channels": (4, 8, 32),
        "student_train_seconds": (8, 180, 900),  # audio per dataset kept in memory for your codec
        "n_eval_notes": (3, 24, 64),
        "n_visqol_notes": (2, 8, 24),     # of those, the notes ViSQOL scores at each bitrate (~0.5 s each)
        "vq_steps": (3, 200, 600),        # the plain VQ vs RVQ toy experiment
    },
    "ch05": {
        # the model
        "d_model": (32, 128, 384),
        "n_layer": (1, 4, 8),
        "n_head": (2, 4, 6),
        "n_q": (2, 4, 4),                      # codebooks used of the codec (50 Hz frames)
        "cond_dropout": (0.2, 0.2, 0.2),       # probability of training a batch item unconditioned
        "dropout": (0.0, 0.0, 0.1),            # residual/attention dropout: the full run overfits without
        # training
        "batch_size": (4, 16, 32),
        "lr": (3e-3, 2e-3, 2e-3),
        "max_steps": (6, 100000, 3500),        # default: the time budget stops training first
        "time_budget_s": (15, 150, 1800),
        "note_seconds": (1.0, 4.0, 4.0),       # notes are cut to this (NSynth: 4 s)
        "max_notes": (24, 600, 10000),         # training notes tokenized (a seeded subset; full: all)
        "nsynth_size": ("smoke", "default", "default"),
        "eval_every": (3, 100, 250),
        # sampling
        "cfg_scale": (3.0, 3.0, 3.0),
        "temperature": (1.0, 1.0, 1.0),
        "top_k": (0, 0, 0),
        # nucleus sampling for notes, chosen on validation conditions (transformer_eval --parts sampling)
        "top_p": (0.8, 0.8, 0.8),
        "n_generate": (2, 8, 64),
        "cfg_sweep": ("1,3", "1,3,5", "1,2,3,5"),
        # piano continuation
        "piano_window_s": (1.0, 6.0, 6.0),     # training window of the piano model
        "piano_prompt_s": (0.5, 3.0, 3.0),
        "piano_continue_s": (0.5, 3.0, 3.0),
        "piano_time_budget_s": (15, 120, 1800),
        "maestro_size": ("smoke", "default", "default"),
    },
    "ch06": {
        # the denoiser
        "channels": ((16, 32), (32, 64, 96), (128, 256, 384)),  # UNet widths, one per resolution
        "emb_dim": (32, 128, 256),          # timestep + condition embedding
        "p_uncond": (0.1, 0.1, 0.1),        # condition dropout (classifier-free guidance)
        # training
        "batch_size": (4, 16, 64),
        "lr": (1e-3, 5e-4, 5e-4),
        "max_steps": (6, 100000, 20000),    # default: the time budget stops training first
        "time_budget_s": (15, 150, 2100),   # wall clock of one training run
        "ema_decay": (0.9, 0.995, 0.998),
        "nsynth_size": ("smoke", "default", "default"),
        "max_notes": (24, 400, 1200),       # training notes encoded (a seeded subset)
        "gtzan_size": ("smoke", "default", "full"),  # full: 300 clips (10 genres need more than 100)
        "clip_seconds": (1.0, 4.0, 4.0),    # genre clips: training crops and default length
        # the piano played from its score (MIDI-conditioned, part 2 of the chapter)
        "maestro_size": ("smoke", "default", "default"),
        "piano_seconds": (1.0, 4.0, 4.0),   # training crops of performances
        "piano_max_seconds": (20.0, 120.0, 600.0),  # of each performance, encoded for training
        "piano_time_budget_s": (15, 90, 2400),
        "piano_excerpts": (2, 6, 24),       # held-out excerpts rendered and judged in the chapter
        # sampling
        "steps": (3, 25, 25),
        "sampler": ("dpm", "dpm", "dpm"),
        "cfg_scale": (2.0, 2.0, 2.0),
        "n_generate": (2, 8, 16),
        "steps_sweep": ("2,3", "5,10,25", "5,10,25,50,100"),
        "cfg_sweep": ("0,2", "0,1,2,4", "0,1,2,4"),
    },
    "ch07": {
        "n_notes": (12, 40, 200),            # notes in each set compared
        "seconds": (1.0, 4.0, 4.0),          # clip length (NSynth notes are 4 s)
        "sweep_embeddings": (("mel", "classifier"), ("crepe", "mel", "classifier"),
                             ("crepe", "mel", "classifier")),
        "n_levels": (2, 4, 6),               # degradation levels per sweep
        "n_boot": (20, 200, 1000),           # bootstrap rounds of a confidence interval
        "n_sizes": (4, 6, 8),                # subset sizes of the FAD-inf fit
        "max_models": (4, 8, 16),            # model folders on the leaderboard
        "kad_sizes": ((50, 100, 200, 400), (50, 100, 200, 500, 1000, 2000),
                      (50, 100, 200, 500, 1000, 2000)),  # set sizes of the FAD/KAD curves
        "kad_repeats": (4, 10, 20),          # fresh pairs of sets per size (the curves' spread)
        "n_listen": (2, 3, 4),               # clips played at each end of the per-clip ranking
    },
    "ch08": {
        "n_items": (2, 5, 12),          # items (notes) a system contributes to the test
        "seconds": (1.0, 2.5, 4.0),     # length of each stimulus
        "n_sim_raters": (6, 20, 40),    # simulated participants
        "n_boot": (200, 2000, 10000),   # bootstrap resamples for intervals
        "n_power_sims": (20, 200, 1000),  # simulated tests a power estimate averages over
        "n_standin_notes": (10, 24, 64),  # real notes per stand-in system (FAD wants >= 10 clips)
        "max_models": (2, 5, 5),        # model sample folders (samples_root) added to the test
    },
}


def _build(name: str) -> Section:
    idx = PROFILE_NAMES.index(name)
    out = Section(name=name)
    for section, settings in _TABLE.items():
        out[section] = Section({k: v[idx] for k, v in settings.items()})
    return out


def get_profile(name: str | None = None) -> Section:
    """Return the settings of profile ``name`` (default: ``$COURSEKIT_PROFILE`` or ``default``).

    Parameters
    ----------
    name : {'smoke', 'default', 'full'}, optional

    Returns
    -------
    Section
        ``p.name`` plus one attribute per section, e.g. ``p.data.batch_size``.
    """
    name = name or os.environ.get(ENV_VAR) or "default"
    name = name.strip().lower()
    if name not in PROFILE_NAMES:
        raise ValueError(
            f"unknown profile {name!r} (from ${ENV_VAR} or the argument); "
            f"choose one of {', '.join(PROFILE_NAMES)}"
        )
    return _build(name)


def describe(name: str | None = None) -> str:
    """A printable table of one profile's settings."""
    p = get_profile(name)
    lines = [f"profile: {p.name}"]
    for section, settings in p.items():
        if isinstance(settings, dict):
            lines.append(f"  [{section}] " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return "\n".join(lines)
