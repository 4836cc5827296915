"""mini-NSynth: an offline stand-in for NSynth, made on the fly in the exact real format.

:func:`make_mini_nsynth` writes ``nsynth-train/``, ``nsynth-valid/`` and ``nsynth-test/`` with
``examples.json`` (the 13 real fields, serialised like the real files) and
``audio/<note_str>.wav`` (16-bit, mono, 16 kHz, 64000 frames: 3 s held, 1 s release), so a
loader written for mini-NSynth reads the real dataset unchanged.

By default (``sound="sampled"``) the notes are played from the recorded instruments of the
General MIDI SoundFont, as NSynth was made from sample libraries: see
:mod:`coursekit.data.mini_nsynth_sampled`. With ``sound="additive"`` every one of the 11
families is made by a textbook synthesis method, so the families sound different for the
reason real instruments do (how they make sound), not because of a label:

============  ==============================================================================
family        how it is synthesised here
============  ==============================================================================
bass          sawtooth/square through a low-pass filter with a filter envelope; or a plucked
              string (Karplus-Strong) through a pickup low-pass
brass         sawtooth whose brightness follows the loudness (attack swell), pitch scoop
flute         few harmonics (additive), breath noise, chiff at the onset, delayed vibrato
guitar        Karplus-Strong plucked string, pluck position, body resonances or pickup + drive
keyboard      piano-like decaying stretched partials + hammer; FM electric piano with a tine
mallet        modal synthesis (marimba/vibraphone/xylophone/glockenspiel bars); FM bell whose
              inharmonic partials fall back fast, so the fundamental carries the pitch
organ         drawbars (additive harmonics 8', 4', 2 2/3' ...), key click, rotary speaker
reed          odd-harmonic (clarinet) or full (saxophone) spectrum, breath; filtered square
string        bowed sawtooth with delayed vibrato and body resonances; string ensemble
synth_lead    detuned saws / pulse through a resonant filter, glide, tempo-synced gate
vocal         glottal pulse train through the formant resonances of a vowel, vibrato,
              breath; a small choir
============  ==============================================================================

Velocity changes both the loudness and the brightness of a note. The qualities of each note
(``bright``, ``percussive``, ``reverb``...) are set from the synthesis parameters that cause
them. As in the real dataset, the instruments of the valid and test splits never appear in the
train split (the two held-out splits share their instruments and differ in notes). Pitches
stay in MIDI 28..94 (41 Hz .. 1865 Hz) so that a pitch tracker such as CREPE can follow them.

The families are synthesised in :mod:`coursekit.data.mini_nsynth_instruments` over the signal
building blocks of :mod:`coursekit.data.mini_nsynth_dsp`; this module plans the dataset (which
instruments and notes go to which split) and writes it. Every name of those two modules is
importable from here too.

Same seed, same bytes (with the same NumPy/SciPy on the same kind of CPU: the last bit of a
float sine may differ between SIMD implementations).

Example
-------
>>> from coursekit.data.mini_nsynth import make_mini_nsynth
>>> root = make_mini_nsynth("/tmp/mini", size="smoke")       # doctest: +SKIP
>>> sorted(p.name for p in root.iterdir())                   # doctest: +SKIP
['mini-nsynth.json', 'nsynth-test', 'nsynth-train', 'nsynth-valid']
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from . import SOUNDS
from .mini_nsynth_dsp import (  # noqa: F401
    HOLD, N, NYQUIST_LIMIT, SR, T, T32, _additive, _adsr, _bandpass, _biquad, _burst, _decaying,
    _ensemble, _highpass, _karplus_strong, _lowpass, _phase, _pluck, _polyblep, _pulse, _rbj,
    _resonance, _resonant_lowpass, _reverb, _saw, _sin, _vibrato,
)
from .mini_nsynth_instruments import (  # noqa: F401
    _SYNTHS, _WEYL, FAMILY_SPECS, _synth_bass, _synth_brass, _synth_flute, _synth_guitar,
    _synth_keyboard, _synth_mallet, _synth_organ, _synth_reed, _synth_string, _synth_synth_lead,
    _synth_vocal, draw_instrument, instrument_qualities, synth_note,
)
from .nsynth_format import N_FRAMES, SAMPLE_RATE  # noqa: F401
from .nsynth_format import FAMILIES, QUALITIES, SOURCES, _dumps, _wav_bytes, note_name

__all__ = ["make_mini_nsynth", "synth_note", "draw_instrument", "SIZES", "FAMILY_SPECS", "VELOCITIES"]

VELOCITIES = (25, 50, 75, 100, 127)
VERSION = 6                   # bump when the synthesis changes (recorded in mini-nsynth.json)

#: Instruments per family (train; valid/test share the held-out ones) and notes per instrument.
SIZES = {
    "smoke": dict(train_instruments=2, heldout_instruments=1, train_notes=3, valid_notes=2, test_notes=2),
    "default": dict(train_instruments=12, heldout_instruments=3, train_notes=15, valid_notes=9, test_notes=9),
    "full": dict(train_instruments=16, heldout_instruments=5, train_notes=40, valid_notes=18, test_notes=18),
}

#: The sampled dataset's notes per family: train (spread over the family's train instruments;
#: ``smoke`` uses two of them), valid and test (one instrument each).
SAMPLED_SIZES = {
    "smoke": dict(train_instruments=2, train_notes=6, valid_notes=2, test_notes=2),
    "default": dict(train_instruments=None, train_notes=180, valid_notes=27, test_notes=27),
    "full": dict(train_instruments=None, train_notes=640, valid_notes=90, test_notes=90),
}

SPLITS = ("train", "valid", "test")


# =============================================================================================
# The dataset: plan (instruments, notes, ids), synthesise, write atomically
# =============================================================================================

def _plan(size: str, seed: int) -> dict:
    """Decide every instrument and note of every split (cheap, deterministic from the seed)."""
    cfg = SIZES[size]
    rng = np.random.default_rng(seed)
    n_inst = cfg["train_instruments"] + cfg["heldout_instruments"]
    inst_ids = rng.permutation(1006)              # the real dataset has about 1000 instruments
    jobs = {s: [] for s in SPLITS}
    j = 0
    for family in FAMILIES:
        (lo, hi), sources = FAMILY_SPECS[family]
        # sources in turn, from a random one: the held-out instruments (the first ones) then
        # cover as many sources as they can, and so does train
        first = int(rng.integers(len(sources)))
        order = [sources[(first + i) % len(sources)] for i in range(n_inst)]
        numbers = {s: rng.choice(160, size=order.count(s), replace=False).tolist() for s in sources}
        # kinds of instrument (vowels, bar types, ...) in turn within each source, so that train
        # covers as many as it can and each held-out instrument is of a kind train has
        n_train = {s: order[cfg["heldout_instruments"]:].count(s) for s in sources}
        base = int(rng.integers(60))
        offset = {s: base + sum(n_train[t] for t in sources[:k]) for k, s in enumerate(sources)}
        seen = {s: 0 for s in sources}
        for i, source in enumerate(order):
            inst_str = f"{family}_{source}_{numbers[source].pop(0):03d}"
            if i < cfg["heldout_instruments"]:
                variant = offset[source] + int(rng.integers(max(1, n_train[source])))
            else:
                variant = offset[source] + seen[source]
                seen[source] += 1
            # each instrument its own random stream: changing one family leaves the others be
            params = draw_instrument(family, source, np.random.default_rng([seed, j]), variant)
            width = min(hi - lo, int(rng.integers(24, 40)))
            start = int(rng.integers(lo, hi - width + 1))
            grid = [(pt, vel) for pt in range(start, start + width + 1) for vel in VELOCITIES]
            heldout = i < cfg["heldout_instruments"]
            wanted = {"train": cfg["train_notes"]} if not heldout else \
                {"valid": cfg["valid_notes"], "test": cfg["test_notes"]}
            picks = rng.choice(len(grid), size=sum(wanted.values()), replace=False)
            for split, count in wanted.items():
                chosen, picks = picks[:count], picks[count:]
                for g in sorted(chosen):
                    pitch, vel = grid[g]
                    jobs[split].append({"instrument_str": inst_str, "instrument": int(inst_ids[j]),
                                        "family": family, "source": source, "params": params,
                                        "pitch": pitch, "velocity": vel,
                                        "seed": int(rng.integers(2**31))})
            j += 1
    total = sum(len(v) for v in jobs.values())
    note_ids = rng.choice(305979, size=total, replace=False)   # `note` is an id, not the pitch
    k = 0
    for split in SPLITS:
        for job in jobs[split]:
            job["note"] = int(note_ids[k])
            k += 1
        order = rng.permutation(len(jobs[split]))             # examples.json is not sorted
        jobs[split] = [jobs[split][i] for i in order]
    return jobs


def _plan_sampled(size: str, seed: int) -> dict:
    """The sampled dataset's plan: each General MIDI program is one instrument, in one split.

    Per family (programs shuffled by the seed, the same way for every size) the first
    instrument is valid's, the second test's and the others train's. Each instrument's notes
    are drawn without repeats from its keys times the five velocities.
    """
    from .mini_nsynth_sampled import PROGRAMS, family_programs
    from .soundfont import SoundFont

    sf = SoundFont.general_midi()
    cfg = SAMPLED_SIZES[size]
    rng = np.random.default_rng([seed, 25])
    jobs = {s: [] for s in SPLITS}
    inst_ids = rng.permutation(1006)
    for k, family in enumerate(FAMILIES):
        # which instrument goes to which split depends on the seed alone, not on the size, so
        # a model trained on one size never heard the held-out instruments of another
        programs = [int(p) for p in np.random.default_rng([seed, 25, k]).permutation(family_programs(family))]
        train = programs[2:][:cfg["train_instruments"]] if cfg["train_instruments"] else programs[2:]
        share = np.diff(np.linspace(0, cfg["train_notes"], len(train) + 1).round().astype(int))
        wanted = [("valid", programs[0], cfg["valid_notes"]), ("test", programs[1], cfg["test_notes"])]
        wanted += [("train", p, int(n)) for p, n in zip(train, share)]
        for split, program, count in wanted:
            _, source, lo, hi = PROGRAMS[program]
            # only keys the SoundFont has a recording for at that velocity (some presets stop
            # short of the instrument's range or skip a key)
            grid = [(pt, vel) for pt in range(lo, hi + 1) for vel in VELOCITIES if sf.zones(program, pt, vel)]
            picks = rng.choice(len(grid), size=min(count, len(grid)), replace=False)
            for g in sorted(picks):
                pitch, vel = grid[g]
                jobs[split].append({"instrument_str": f"{family}_{source}_{program:03d}",
                                    "instrument": int(inst_ids[program]), "family": family,
                                    "source": source, "program": program, "pitch": pitch, "velocity": vel})
    total = sum(len(v) for v in jobs.values())
    note_ids = rng.choice(305979, size=total, replace=False)
    k = 0
    for split in SPLITS:
        for job in jobs[split]:
            job["note"] = int(note_ids[k])
            k += 1
        order = rng.permutation(len(jobs[split]))
        jobs[split] = [jobs[split][i] for i in order]
    return jobs


def _play(job: dict) -> tuple[np.ndarray, list[int]]:
    """The audio and qualities of one planned note, synthesised or played from the SoundFont."""
    if "program" in job:
        from .mini_nsynth_sampled import instrument_gain, play_note

        if job["program"] not in _GAINS:
            _GAINS[job["program"]] = instrument_gain(job["program"])
        return play_note(job["program"], job["pitch"], job["velocity"], _GAINS[job["program"]])
    return synth_note(job["params"], job["pitch"], job["velocity"], job["seed"])


_GAINS: dict = {}


def _render(job: dict, audio_dir: Path) -> dict:
    """Make one note, write its WAV, return its examples.json record (real field order)."""
    y, q = _play(job)
    name = note_name(job["instrument_str"], job["pitch"], job["velocity"])
    y16 = np.round(y * 32767.0).astype("<i2")
    (audio_dir / f"{name}.wav").write_bytes(_wav_bytes(y16, SR))
    return {
        "qualities": q,
        "pitch": job["pitch"],
        "note": job["note"],
        "instrument_source_str": job["source"],
        "velocity": job["velocity"],
        "instrument_str": job["instrument_str"],
        "instrument": job["instrument"],
        "sample_rate": SR,
        "qualities_str": [n for n, v in zip(QUALITIES, q) if v],
        "instrument_source": SOURCES.index(job["source"]),
        "note_str": name,
        "instrument_family": FAMILIES.index(job["family"]),
        "instrument_family_str": job["family"],
    }


def _render_chunk(args):
    jobs, audio_dir = args
    return [_render(job, Path(audio_dir)) for job in jobs]


def _split_complete(split_dir: Path) -> bool:
    """``examples.json`` parses and every note it lists has its WAV file."""
    try:
        examples = json.loads((split_dir / "examples.json").read_text(encoding="utf-8"))
        present = {p.name for p in (split_dir / "audio").iterdir()}
    except (OSError, ValueError):
        return False
    return isinstance(examples, dict) and all(f"{k}.wav" in present for k in examples)


def _write_split(jobs: list, tmp_split: Path, workers: int, progress: bool) -> None:
    audio_dir = tmp_split / "audio"
    audio_dir.mkdir(parents=True)
    chunks = [jobs[i:i + 32] for i in range(0, len(jobs), 32)]
    records = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"mini-NSynth {tmp_split.name}", unit="note", leave=False)
    if workers > 1 and len(chunks) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            for recs in pool.imap(_render_chunk, [(c, str(audio_dir)) for c in chunks]):
                records += recs
                if bar:
                    bar.update(len(recs))
    else:
        for c in chunks:
            records += _render_chunk((c, str(audio_dir)))
            if bar:
                bar.update(len(c))
    if bar:
        bar.close()
    # the metadata last, so a folder with examples.json always has all its audio
    (tmp_split / "examples.json").write_text(_dumps({r["note_str"]: r for r in records}), encoding="utf-8")


def make_mini_nsynth(root, size: str = "default", seed: int = 0, workers: int | None = None,
                     progress: bool = True, sound: str = "sampled") -> Path:
    """Write mini-NSynth (train, valid, test) under ``root`` in the real NSynth on-disk format.

    Parameters
    ----------
    root : str or Path
        Gets ``nsynth-train/``, ``nsynth-valid/``, ``nsynth-test/`` and ``mini-nsynth.json``
        (what was made: size, seed, version, counts).
    size : {'smoke', 'default', 'full'}
        ``smoke``: 66/22/22 notes (seconds). ``default``: 1980/297/297 notes, about 330 MB,
        under a minute on two CPU cores. ``full``: about 7000/990/990 notes, about 1.2 GB.
    seed : int
        Same seed, same bytes.
    workers : int, optional
        Processes to synthesise with (default: up to 2, one for ``smoke``). The output does not
        depend on it.
    progress : bool
        Show a progress bar.
    sound : {'sampled', 'additive'}
        ``sampled``: the 104 General MIDI programs with an NSynth family, played from the
        SoundFont as NSynth was recorded (:mod:`coursekit.data.mini_nsynth_sampled`); each
        instrument is in one split (``default``: 82 / 11 / 11 instruments). ``additive``: the
        synthesised families described above (``default``: 132 train instruments, 33 held out,
        shared by valid and test).

    Returns
    -------
    Path
        ``root``.

    Notes
    -----
    Each split is written to a temporary folder and renamed into place when complete, so
    several processes can make the same dataset at once; a split that already exists complete
    is left as it is.

    Example
    -------
    >>> root = make_mini_nsynth("/tmp/mini", size="smoke", seed=0)     # doctest: +SKIP
    >>> from coursekit.data.nsynth import NSynth
    >>> len(NSynth(root / "nsynth-test"))                               # doctest: +SKIP
    22
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if sound not in SOUNDS:
        raise ValueError(f"unknown sound {sound!r}; choose one of {', '.join(SOUNDS)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "mini-nsynth.json"
    finals = {s: root / f"nsynth-{s}" for s in SPLITS}
    existing = {s: d for s, d in finals.items() if d.exists()}
    made = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None
    if existing and made and (made.get("size"), made.get("seed"), made.get("sound", "additive")) != (size, seed, sound):
        raise ValueError(
            f"{root} already holds mini-NSynth of size {made.get('size')!r}, seed {made.get('seed')}, "
            f"sound {made.get('sound', 'additive')!r}; asked for size {size!r}, seed {seed}, sound {sound!r}. "
            "Delete that folder or choose another --root.")
    for s, d in existing.items():
        if not _split_complete(d):
            raise ValueError(f"{d} exists but is incomplete (examples.json missing or unreadable, "
                             "or WAV files missing); delete it and run again")
    todo = [s for s in SPLITS if s not in existing]
    if not todo:
        if made and made.get("version") != VERSION:
            print(f"Note: {root} was made by an earlier version of mini-NSynth ({made.get('version')}, now "
                  f"{VERSION}); it is used as it is. Delete it to make the current one.")
        return root
    if existing and made and made.get("version") != VERSION:
        raise ValueError(f"{root} holds part of a mini-NSynth made by an earlier version "
                         f"({made.get('version')}, now {VERSION}); delete it and run again")

    jobs = _plan(size, seed) if sound == "additive" else _plan_sampled(size, seed)
    if workers is None:
        workers = 1 if size == "smoke" else min(2, os.cpu_count() or 1)
    tmp = root / f".tmp-mini-nsynth-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        for s in todo:
            _write_split(jobs[s], tmp / f"nsynth-{s}", workers, progress)
        for s in todo:
            try:
                os.rename(tmp / f"nsynth-{s}", finals[s])
            except OSError:
                if not _split_complete(finals[s]):   # another process put an incomplete one there
                    raise
        summary = {"made_with": "coursekit.data.mini_nsynth", "size": size, "seed": seed, "version": VERSION,
                   "sound": sound,
                   "notes": {s: len(jobs[s]) for s in SPLITS},
                   "instruments": {s: len({j["instrument_str"] for j in jobs[s]}) for s in SPLITS}}
        tmp_marker = tmp / "mini-nsynth.json"
        tmp_marker.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp_marker, marker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
