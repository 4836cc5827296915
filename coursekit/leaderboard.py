"""The course's leaderboard: every reference model, one grid of notes, one evaluation.

``python -m coursekit leaderboard [--out results/leaderboard]`` samples each reference
checkpoint found in ``coursekit/checkpoints/`` (rnn, gan, transformer, diffusion; an absent one
is skipped with one line saying so) on the same fixed grid of conditions with fixed seeds,
judges every set with :func:`coursekit.eval.evaluate.evaluate_folder` against the same real
notes, and writes ``<out>.json`` and a Markdown table ``<out>.md``.

The grid (:func:`make_grid`)
----------------------------
64 notes: 16 a family for the four sustained, harmonic families every note model of the course
is trained on (brass, flute, organ, reed: chapters 02 and 03 restrict themselves to these, see
their profiles), at pitches spread evenly over MIDI 48..72 (the range chapters 02 and 03 train
on) within the range each family has in NSynth (flute starts at 60), velocity 100, 4 s each.
Each model is asked for exactly these 64 notes with seed 0; a model whose card says it was not
trained on some of them gets a note in its row.

The real notes and the floor
----------------------------
The reference set is 64 notes of the NSynth *test* split chosen by the same grid: for each grid
note, the unused test note of that family with the nearest pitch (then the velocity nearest 100,
then the name). The *floor* row is 64 notes of the *valid* split chosen the same way, judged
against the same reference: what a perfect model (one that draws new real notes) would score
with this many clips. Both come from the real NSynth when it is under the data root, else from
the default-size mini-NSynth.

Columns: parameters (and those of the codec a model decodes with), training wall time and
hardware from each checkpoint's card, generation speed (seconds of audio per second of
wall-clock, on this machine: it varies from run to run), FAD with a 95 % bootstrap interval and
FAD-inf for the CREPE, mel and classifier embeddings, KAD (the kernel audio distance,
:mod:`coursekit.eval.kad`: about 0 for real notes against real notes at any number of clips)
with its 95 % interval for the same embeddings, pitch accuracy (CREPE within 50 cents;
the course classifier exact) and family accuracy (classifier).

Real recordings
---------------
When real recordings are at hand (:func:`coursekit.eval.realdata.real_sets`: the real GTZAN
clips and MAESTRO excerpt of ``../shared/realdata``, any real dataset under the data root), each
row is also judged against each set of them, cut into 4 s clips: FAD with its 95 % interval for
the same embeddings, and KAD, in a second table marked as real (``real_fad`` and ``real_kad`` in
each row, ``real`` at the top of the JSON). A set of fewer than 10 clips, such as the 2 s MAESTRO excerpt, is named and
left out: a FAD against it measures nothing. The recordings are music, not single notes: those
figures say how far each model's notes are from real audio, the floor row giving the distance
of real notes. Without real recordings the JSON and the table are exactly those described above.

Re-running gives the same numbers (fixed seeds, deterministic torch kernels, the same grid);
only the timing fields differ (:func:`quality_view` drops them). Embeddings are cached on
disk, so a second run only pays for generating.

Example
-------
>>> from coursekit.leaderboard import make_grid
>>> grid = make_grid()
>>> len(grid), grid[0]
(64, {'family': 'brass', 'pitch': 48, 'velocity': 100})
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

__all__ = ["GRID_FAMILIES", "GRID_PITCHES", "NOTES_PER_FAMILY", "ModelSpec", "MODEL_SPECS",
           "make_grid", "select_real", "write_subset", "run_leaderboard", "quality_view",
           "format_table", "format_real_table", "cli_leaderboard", "SCHEMA"]

SCHEMA = 1
GRID_FAMILIES = ("brass", "flute", "organ", "reed")
GRID_PITCHES = (48, 72)
NOTES_PER_FAMILY = 16
VELOCITY = 100
NOTE_SECONDS = 4.0
SEED = 0
EMBEDDINGS = ("crepe", "mel", "classifier")
REAL_MAX_FILES = 40  # files of a real set at most (spread evenly): 40 4-s clips of the real GTZAN
VOLATILE = ("generation_seconds", "audio_seconds_per_second", "timing", "created",
            "load_average", "seconds", "gen", "ref", "samples_dir")


# ---------------------------------------------------------------------------------------------
# The grid and the real notes chosen by it
# ---------------------------------------------------------------------------------------------

def make_grid(families=GRID_FAMILIES, pitches=GRID_PITCHES, per_family: int = NOTES_PER_FAMILY,
              velocity: int = VELOCITY) -> list[dict]:
    """The conditions every model is asked for: ``per_family`` notes for each family, pitches
    spread evenly (rounded) over ``pitches`` within the family's NSynth range.

    Returns a list of ``{'family', 'pitch', 'velocity'}`` dicts, family after family.
    """
    from .data.mini_nsynth import FAMILY_SPECS

    grid = []
    for fam in families:
        if fam not in FAMILY_SPECS:
            raise ValueError(f"unknown family {fam!r}; choose from {', '.join(FAMILY_SPECS)}")
        (f_lo, f_hi), _ = FAMILY_SPECS[fam]
        lo, hi = max(pitches[0], f_lo), min(pitches[1], f_hi)
        if lo > hi:
            raise ValueError(f"{fam} has no notes in MIDI {pitches[0]}..{pitches[1]} "
                             f"(its range is {f_lo}..{f_hi})")
        for p in np.linspace(lo, hi, per_family):
            grid.append({"family": fam, "pitch": int(round(p)), "velocity": int(velocity)})
    return grid


def select_real(split_dir, grid) -> list[dict]:
    """For each grid note, the unused note of ``split_dir`` (an NSynth split) of the same
    family with the nearest pitch (ties: velocity nearest the asked one, then the name).

    Raises ValueError when the split has fewer notes of a family than the grid asks for.
    """
    from .data.nsynth import read_examples

    by_family: dict[str, list[dict]] = {}
    for m in read_examples(split_dir).values():
        by_family.setdefault(m["instrument_family_str"], []).append(m)
    used, out = set(), []
    for g in grid:
        pool = [m for m in by_family.get(g["family"], []) if m["note_str"] not in used]
        if not pool:
            have = len(by_family.get(g["family"], []))
            raise ValueError(f"{split_dir}: only {have} {g['family']} note(s), the grid asks for "
                             f"{sum(x['family'] == g['family'] for x in grid)}; use a bigger split "
                             "or fewer notes per family")
        best = min(pool, key=lambda m: (abs(m["pitch"] - g["pitch"]),
                                        abs(m["velocity"] - g["velocity"]), m["note_str"]))
        used.add(best["note_str"])
        out.append(best)
    return out


def write_subset(split_dir, notes, out_dir, overwrite: bool = False) -> Path:
    """Copy ``notes`` of ``split_dir`` (metadata + WAV files) into an NSynth-format folder.

    ``out_dir`` is marked as the course's (:mod:`coursekit.outputs`): a later call replaces what
    an earlier one wrote there and nothing else. A folder holding files the course did not write
    is refused (:class:`~coursekit.outputs.UserError`) unless ``overwrite``, which replaces only
    the files of the same names.
    """
    from .data.nsynth import note_wav
    from .outputs import UserError, check_writable, mark_written, owned, remove_marked

    split_dir, out_dir = Path(split_dir), Path(out_dir)
    if out_dir.is_dir() and not overwrite and not owned(out_dir) and any(out_dir.iterdir()):
        raise UserError(f"{out_dir}: already holds files the leaderboard did not write; move them "
                        "elsewhere, or give the leaderboard another work folder")
    sources = [note_wav(split_dir, m["note_str"]) for m in notes]  # plain names, or a clear error
    check_writable(out_dir, "work folder")
    if owned(out_dir):
        remove_marked(out_dir)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    written = [f"audio/{src.name}" for src in sources]
    mark_written(out_dir, written + ["examples.json"])  # first: a crash leaves a folder we may redo
    for src, rel in zip(sources, written):
        shutil.copyfile(src, out_dir / rel)
    (out_dir / "examples.json").write_text(json.dumps({m["note_str"]: m for m in notes}, indent=1))
    return out_dir


# ---------------------------------------------------------------------------------------------
# The models: how to load each reference checkpoint and ask it for the grid
# ---------------------------------------------------------------------------------------------

@dataclass
class ModelSpec:
    """How the leaderboard uses one model.

    ``load(path) -> model``; ``generate(model, pitches, families, velocities, seed, progress)
    -> list of note dicts`` (as :func:`coursekit.data.nsynth.write_nsynth_folder` takes);
    ``codec(model) -> nn.Module or None``: the codec it decodes with, counted apart.
    """

    name: str
    checkpoint: str
    load: Callable
    generate: Callable
    codec: Callable | None = None


def _module_spec(name: str, module: str, checkpoint: str, loader: str, **load_kw) -> ModelSpec:
    import importlib

    def load(path):
        return getattr(importlib.import_module(module), loader)(path, **load_kw)

    def generate(model, pitches, families, velocities, seed, progress):
        fn = importlib.import_module(module).generate_notes
        params = inspect.signature(fn).parameters
        wanted = {"seconds": NOTE_SECONDS, "out_seconds": NOTE_SECONDS, "seed": seed,
                  "progress": progress, "velocities": velocities}
        return fn(model, pitches=pitches, families=families,
                  **{k: v for k, v in wanted.items() if k in params})

    def codec(model):
        mod = importlib.import_module(module)
        return mod.tokenizer_for(model) if hasattr(mod, "tokenizer_for") else None

    return ModelSpec(name, checkpoint, load, generate, codec)


def _diffusion_spec() -> ModelSpec:
    # load_diffusion gives (model, codec): the model denoises codec latents, the codec decodes
    def load(path):
        from .recipes.diffusion import load_diffusion

        return load_diffusion(path, task="notes")

    def generate(obj, pitches, families, velocities, seed, progress):
        from .recipes.diffusion import generate_notes

        model, codec = obj
        return generate_notes(model, codec, pitches, families, velocities, seed=seed,
                              progress=progress)

    return ModelSpec("diffusion", "diffusion.pt", load, generate, codec=lambda obj: obj[1])


MODEL_SPECS = {
    "rnn": _module_spec("rnn", "coursekit.recipes.rnn", "rnn.pt", "load_model"),
    "gan": _module_spec("gan", "coursekit.recipes.gan", "gan.pt", "load_generator"),
    "transformer": _module_spec("transformer", "coursekit.recipes.transformer", "transformer.pt",
                                "load_model", task="notes"),
    "diffusion": _diffusion_spec(),
}


def _n_params(obj) -> int | None:
    if isinstance(obj, tuple):  # (model, codec): the model's own
        return _n_params(obj[0])
    if isinstance(obj, torch.nn.Module):
        return int(sum(p.numel() for p in obj.parameters()))
    inner = getattr(obj, "model", None) or getattr(obj, "codec", None)
    return _n_params(inner) if isinstance(inner, torch.nn.Module) else None


def _sha1(path) -> str:
    import hashlib

    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:12]


def _card_info(ckpt: Path) -> dict:
    card_path = ckpt.with_suffix(".json")
    if not card_path.exists():
        return {"card": None}
    card = json.loads(card_path.read_text())
    wall = card.get("training_time_s")
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    return {"card": card_path.name, "train_wall_s": wall, "hardware": card.get("hardware"),
            "profile": card.get("profile"), "steps": card.get("steps"),
            "command": card.get("command"), "trained_pitch_range": data.get("pitch_range"),
            "trained_families": data.get("families")}


def _coverage_notes(info: dict, grid) -> list[str]:
    notes = []
    pr, fams = info.get("trained_pitch_range"), info.get("trained_families")
    if pr:
        out = sum(not pr[0] <= g["pitch"] <= pr[1] for g in grid)
        if out:
            notes.append(f"{out} grid note(s) outside the pitch range it was trained on {pr}")
    if fams:
        out = sum(g["family"] not in fams for g in grid)
        if out:
            notes.append(f"{out} grid note(s) of families it was not trained on")
    return notes


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

def _real_split(data, split: str) -> Path:
    from .data import dataset_dir

    if data is None:
        return dataset_dir("nsynth", split, size="default", verbose=False)
    path = Path(data) / f"nsynth-{split}"
    if not (path / "examples.json").exists():
        raise FileNotFoundError(f"{path}: no examples.json; give the folder holding nsynth-valid/ "
                                "and nsynth-test/")
    return path


def _evaluate(gen, ref, embeddings, n_boot, progress) -> dict:
    from .eval.evaluate import evaluate_folder

    r = evaluate_folder(gen, ref, embeddings=embeddings, n_boot=n_boot, seed=SEED,
                        progress=progress)
    return {k: r[k] for k in ("n_gen", "n_ref", "fad", "kad", "pitch", "family", "scores",
                              "warnings", "seconds")}


def _real_fad(rows, sets, work: Path, embeddings, n_boot, progress, log) -> dict | None:
    """Judge every row's notes against each set of real recordings; adds ``real_fad`` (and
    ``real_warnings``) to each row; returns the ``real`` entry of the result (``None``: no set)."""
    from .eval.evaluate import MIN_CLIPS, evaluate_folder
    from .eval.realdata import CLIP_SECONDS, real_clips, write_clips

    described, left_out = [], []
    for rset in sets:
        clips = real_clips(rset, seconds=CLIP_SECONDS, max_files=REAL_MAX_FILES)
        if len(clips) < MIN_CLIPS:  # a FAD against a clip or two measures nothing
            left_out.append(f"{rset.name}: {len(clips)} clip(s), fewer than the {MIN_CLIPS} a FAD "
                            "needs; not judged")
            log(f"real {left_out[-1]}")
            continue
        folder = write_clips(clips, work / f"realaudio-{rset.name}")
        log(f"real {rset.name}: {len(clips)} clips; evaluating every row against them ...")
        for row in rows:
            r = evaluate_folder(row["samples_dir"], folder, embeddings=embeddings, n_boot=n_boot,
                                with_fad_inf=False, pitch=False, classify=False, seed=SEED,
                                progress=progress)
            row.setdefault("real_fad", {})[rset.name] = r["fad"]
            row.setdefault("real_kad", {})[rset.name] = r["kad"]
            row.setdefault("real_warnings", {})[rset.name] = r["warnings"]
        described.append({**rset.describe(), "n_clips": len(clips),
                          "clip_seconds": max(len(y) for _, y in clips) / 16000.0})
    if not described:
        return None
    return {"what": "FAD and KAD of each row's notes against real recordings cut into clips "
                    "(coursekit.eval.realdata); no FAD-inf", "sets": described, "left_out": left_out}


def run_leaderboard(work_dir=None, checkpoint_dir=None, models=None, grid=None, data=None,
                    embeddings=EMBEDDINGS, n_boot: int = 200, progress: bool = True,
                    log=print, real=None) -> dict:
    """Sample every model found, evaluate it and the real floor; return the JSON-able result.

    Parameters
    ----------
    work_dir : path, optional
        Where the generated notes and the real subsets are written (default:
        ``samples_root()/leaderboard``): ``<work_dir>/<model>/``, ``real-test/``, ``real-valid/``.
    checkpoint_dir : path, optional
        Folder of the reference checkpoints and their cards (default: ``coursekit/checkpoints``).
    models : dict of ModelSpec, optional
        Default: :data:`MODEL_SPECS` (rnn, gan, transformer, diffusion).
    grid : list of dict, optional
        Default: :func:`make_grid` (64 notes).
    data : path, optional
        Folder holding ``nsynth-valid/`` and ``nsynth-test/`` (default: real NSynth under the
        data root, else the default-size mini-NSynth).
    embeddings, n_boot :
        Passed to :func:`coursekit.eval.evaluate.evaluate_folder`.
    real : list of RealSet, optional
        Real recordings to judge every row against as well (default:
        :func:`coursekit.eval.realdata.real_sets`; ``()``: none).
    """
    from .data.nsynth import write_nsynth_folder
    from .eval.classifier import DEFAULT_PATH as CLASSIFIER_PATH
    from .paths import CHECKPOINT_DIR, samples_root
    from .checkpoint import hardware

    t_start, cpu_start = time.perf_counter(), time.process_time()
    load0 = os.getloadavg()[0]
    work = Path(work_dir) if work_dir is not None else samples_root() / "leaderboard"
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else CHECKPOINT_DIR
    models = MODEL_SPECS if models is None else models
    grid = make_grid() if grid is None else grid
    notes_log = []
    embeddings = list(embeddings)
    if "classifier" in embeddings and not CLASSIFIER_PATH.exists():
        embeddings.remove("classifier")
        notes_log.append(f"no classifier checkpoint ({CLASSIFIER_PATH}): no classifier FAD, "
                         "pitch/family accuracy by CREPE only")
        log(notes_log[-1])

    # the real notes: reference (test) and floor (valid), chosen by the grid
    test_dir, valid_dir = _real_split(data, "test"), _real_split(data, "valid")
    ref = write_subset(test_dir, select_real(test_dir, grid), work / "real-test")
    floor = write_subset(valid_dir, select_real(valid_dir, grid), work / "real-valid")

    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    rows, skipped = [], []
    try:
        for name, spec in models.items():
            ckpt = ckdir / spec.checkpoint
            if not ckpt.exists():
                log(f"{name}: skipped, no reference checkpoint {ckpt}")
                skipped.append({"model": name, "reason": f"no checkpoint {spec.checkpoint}"})
                continue
            try:
                model = spec.load(ckpt)
            except ModuleNotFoundError as err:
                log(f"{name}: skipped, its module is missing ({err})")
                skipped.append({"model": name, "reason": f"module missing: {err}"})
                continue
            info = _card_info(ckpt)
            codec = spec.codec(model) if spec.codec else None
            log(f"{name}: generating {len(grid)} notes ...")
            torch.manual_seed(SEED)
            np.random.seed(SEED)
            t0 = time.perf_counter()
            notes = spec.generate(model, [g["pitch"] for g in grid], [g["family"] for g in grid],
                                  [g["velocity"] for g in grid], SEED, progress)
            gen_s = time.perf_counter() - t0
            audio_s = sum(len(n["audio"]) for n in notes) / 16000.0
            for n in notes:
                n.setdefault("generated_by", name)
            folder = write_nsynth_folder(work / name, notes)
            log(f"{name}: {len(notes)} notes in {gen_s:.1f} s; evaluating ...")
            rows.append({
                "model": name, "checkpoint": spec.checkpoint, "checkpoint_sha1": _sha1(ckpt),
                "samples_dir": str(folder),
                "parameters": _n_params(model), "codec_parameters": _n_params(codec),
                **info, "coverage_notes": _coverage_notes(info, grid),
                "generation_seconds": round(gen_s, 2),
                "audio_seconds_per_second": round(audio_s / gen_s, 3) if gen_s > 0 else None,
                **_evaluate(folder, ref, embeddings, n_boot, progress)})
    finally:
        torch.use_deterministic_algorithms(prev)
    log("real floor (valid vs test): evaluating ...")
    floor_row = {"model": "real (valid vs test)", "samples_dir": str(floor),
                 **_evaluate(floor, ref, embeddings, n_boot, progress)}
    if real is None:
        from .eval.realdata import real_sets

        real = real_sets()
    real_entry = _real_fad(rows + [floor_row], real, work, embeddings, n_boot, progress, log)
    result = {
        "schema": SCHEMA,
        "what": "Every reference model of the course sampled on one grid of notes and judged "
                "against the same real notes (coursekit.leaderboard)",
        "grid": {"families": list(dict.fromkeys(g["family"] for g in grid)),
                 "n_notes": len(grid), "pitches": [g["pitch"] for g in grid],
                 "velocity": sorted({g["velocity"] for g in grid}), "seconds": NOTE_SECONDS,
                 "seed": SEED},
        "reference": {"split": str(test_dir), "n": len(grid),
                      "selection": "nearest pitch of the same family, per grid note"},
        "floor": floor_row, "models": rows, "skipped": skipped, "embeddings": embeddings,
        "n_boot": n_boot, "notes": notes_log,
        "classifier_sha1": _sha1(CLASSIFIER_PATH) if CLASSIFIER_PATH.exists() else None,
        "timing": {"seconds": round(time.perf_counter() - t_start, 1),
                   "cpu_seconds": round(time.process_time() - cpu_start, 1),
                   "load_average": load0, "load_average_end": os.getloadavg()[0],
                   "hardware": hardware(), "torch_threads": torch.get_num_threads()},
    }
    if real_entry is not None:
        result["real"] = real_entry
    return result


def quality_view(result: dict) -> dict:
    """``result`` without the fields that change from run to run (timings, speed, paths):
    what must be identical when the leaderboard is run twice."""
    if isinstance(result, dict):
        return {k: quality_view(v) for k, v in result.items() if k not in VOLATILE}
    if isinstance(result, list):
        return [quality_view(v) for v in result]
    return result


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------

def _f(v, fmt="{:.2f}"):
    return "–" if v is None else fmt.format(v)


def _fad_cell(f: dict | None) -> str:
    """FAD [basic bootstrap interval] (FAD-inf): the interval printed beside a FAD everywhere
    (:func:`coursekit.eval.evaluate.ci_text`)."""
    if not f:
        return "–"
    lo, hi = f.get("ci95_basic") or f["ci95"]
    return f"{_f(f['fad'])} [{_f(lo)}, {_f(hi)}] (∞: {_f(f['fad_inf'])})"


def _kad_cell(k: dict | None) -> str:
    if not k:
        return "–"
    lo, hi = k["ci95"]
    return f"{_f(k['kad'], '{:.3f}')} [{_f(lo, '{:.3f}')}, {_f(hi, '{:.3f}')}]"


def _params(row) -> str:
    p, c = row.get("parameters"), row.get("codec_parameters")
    if p is None:
        return "–"
    return f"{p / 1e6:.2f} M" + (f" + codec {c / 1e6:.2f} M" if c else "")


def format_table(result: dict) -> str:
    """The Markdown table of a :func:`run_leaderboard` result."""
    embs = result["embeddings"]
    head = (["model", "parameters", "training (card)", "audio s / s"]
            + [f"FAD {e} [95% CI, basic] (FAD-inf)" for e in embs]
            + [f"KAD {e} [95% CI]" for e in embs]
            + ["pitch acc. CREPE", "pitch acc. classifier", "family acc."])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["models"] + [result["floor"]]:
        p, fam = row.get("pitch") or {}, row.get("family") or {}
        train = "–" if row.get("train_wall_s") is None else \
            f"{row['train_wall_s'] / 60:.0f} min ({row.get('profile') or '?'})"
        cells = ([f"**{row['model']}**", _params(row), train,
                  _f(row.get("audio_seconds_per_second"), "{:.2f}")]
                 + [_fad_cell(row["fad"].get(e)) for e in embs]
                 + [_kad_cell((row.get("kad") or {}).get(e)) for e in embs]
                 + [_f(p.get("crepe_acc")), _f(p.get("classifier_acc")), _f(fam.get("classifier_acc"))])
        lines.append("| " + " | ".join(cells) + " |")
    g = result["grid"]
    out = ["\n".join(lines), "",
           f"Grid: {g['n_notes']} notes ({', '.join(g['families'])}; MIDI "
           f"{min(g['pitches'])}..{max(g['pitches'])}; velocity {g['velocity'][0]}; "
           f"{g['seconds']:.0f} s; seed {g['seed']}). Reference: {g['n_notes']} notes of "
           f"{result['reference']['split']} chosen by the grid; the last row is {g['n_notes']} "
           "valid notes chosen the same way (the floor). FAD and KAD intervals: bootstrap over "
           f"clips ({result['n_boot']} rounds; FAD's reflected around it, the basic interval). KAD: 100 x unbiased MMD², Gaussian kernel of the "
           "reference frames' median distance; about 0 (either sign) for real notes. Audio s / s: seconds of audio generated per second on "
           f"{result['timing']['hardware']} (load average {result['timing']['load_average']:.1f}). "
           f"The run took {result['timing']['seconds'] / 60:.1f} min "
           f"({result['timing'].get('cpu_seconds', 0) / 60:.1f} min of CPU)."]
    for row in result["models"]:
        out.append(f"- {row['model']}: {row['checkpoint']} (sha1 {row.get('checkpoint_sha1')}), "
                   f"card: `{row.get('command') or 'no command recorded'}`, "
                   f"{row.get('steps') or '?'} steps on {row.get('hardware') or '?'}")
        for n in row.get("coverage_notes", []):
            out.append(f"- {row['model']}: {n}")
    for s in result["skipped"]:
        out.append(f"- {s['model']}: not in the table ({s['reason']})")
    out += [f"- {n}" for n in result.get("notes", [])]
    if result.get("real"):
        out += ["", format_real_table(result)]
    return "\n".join(out) + "\n"


_SOURCES = {"realdata": "realdata folder"}


def format_real_table(result: dict) -> str:
    """The Markdown table of the rows judged against real recordings (``''`` without them)."""
    sets = (result.get("real") or {}).get("sets") or []
    if not sets:
        return ""
    pairs = [(s["name"], e) for s in sets for e in result["embeddings"]]
    head = (["model"] + [f"FAD {e} vs real {name} [95% CI, basic]" for name, e in pairs]
            + [f"KAD {e} vs real {name} [95% CI]" for name, e in pairs])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["models"] + [result["floor"]]:
        fads, kads = row.get("real_fad") or {}, row.get("real_kad") or {}
        cells = [f"**{row['model']}**"]
        for name, e in pairs:
            f = (fads.get(name) or {}).get(e)
            lo, hi = (f.get("ci95_basic") or f["ci95"]) if f else (None, None)
            cells.append("–" if not f else f"{_f(f['fad'])} [{_f(lo)}, {_f(hi)}]")
        cells += [_kad_cell((kads.get(name) or {}).get(e)) for name, e in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    what = "; ".join(f"{s['name']}: {s['n_clips']} clips of up to {s['clip_seconds']:g} s from "
                     f"{s['files']} real file(s) ({_SOURCES.get(s['source'], s['source'])})" for s in sets)
    left = "".join(f" Left out: {x}." for x in result["real"].get("left_out", []))
    return ("Against real recordings (real audio, not the notes above): " + what + ". Lower is "
            "closer to the real recordings; the last row is the real notes of the floor." + left
            + "\n\n" + "\n".join(lines) + "\n")


def _check_out(stem: Path, overwrite: bool) -> None:
    """``<stem>.json`` and ``<stem>.md`` may be written: new, an earlier leaderboard's, or
    ``overwrite``; raises :class:`~coursekit.outputs.UserError` naming ``--out`` otherwise."""
    from .outputs import UserError, check_new_file

    if not str(stem) or stem.name in ("", ".", ".."):
        raise UserError(f"--out {str(stem)!r}: give a file name, e.g. results/leaderboard")
    try:
        earlier = json.loads(Path(f"{stem}.json").read_text())
        ours = isinstance(earlier, dict) and {"models", "grid", "timing"} <= set(earlier)
    except (OSError, ValueError):
        ours = False
    check_new_file(Path(f"{stem}.json"), overwrite=overwrite or ours, also=(Path(f"{stem}.md"),))


def cli_leaderboard(args) -> int:
    """``python -m coursekit leaderboard [--out results/leaderboard]``: writes ``<out>.json``
    and ``<out>.md`` (``--out`` may also name the ``.json`` file)."""
    out = Path(args.out)
    stem = out.with_suffix("") if out.suffix in (".json", ".md") else out
    _check_out(stem, getattr(args, "overwrite", False))  # before the run's minutes of work
    result = run_leaderboard()
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    table = format_table(result)
    Path(f"{stem}.md").write_text(table)
    print(table)
    print(f"wrote {stem}.json and {stem}.md ({result['timing']['seconds']:.0f} s)")
    return 0
