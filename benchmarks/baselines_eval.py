"""Chapters 02 and 03: sample the reference RNN and GAN, judge them, measure drift, collapse, speed.

What it does (every number of the chapters' "done when"):

1. ``python -m coursekit sample rnn --n 64 --out OUT/rnn`` and the same for ``gan``
   (in-process through ``coursekit.cli.main``, timed);
2. ``python -m coursekit eval OUT/<model> --ref <mini-NSynth test> --json`` for each: pitch
   accuracy (CREPE, +-50 cents of the asked pitch), family accuracy (course classifier), FAD;
3. the RNN's drift: CREPE pitch error (cents) and RMS per 0.25 s window over the 4 s notes,
   against real test notes of the same families and pitch range;
4. the GAN's collapse: diversity, NDB, classifier diversity (``gan.collapse_report``), and
   the diversity of 8 notes generated for one condition;
5. generation speed: seconds of audio per second of wall time on this machine, one torch thread.

Writes ``results/baselines_eval.json`` and prints it.

    python benchmarks/baselines_eval.py [--n 64] [--out /tmp/baselines] [--ref DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit.cli import main as cli  # noqa: E402
from coursekit.data import dataset_dir  # noqa: E402
from coursekit.data.nsynth import NSynth, load_folder  # noqa: E402
from coursekit.eval.drift import drift_report  # noqa: E402
from coursekit.models import rnn  # noqa: E402
from coursekit.recipes import rnn as rnn_recipe  # noqa: E402
from coursekit.recipes import gan  # noqa: E402
from coursekit.checkpoint import hardware  # noqa: E402


def _eval(folder: Path, ref: Path, embeddings: str) -> dict:
    cmd = [sys.executable, "-m", "coursekit", "eval", str(folder), "--ref", str(ref),
           "--embeddings", embeddings, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-2000:], "command": " ".join(cmd[1:])}
    res = json.loads(out.stdout[out.stdout.index("{"):])
    res["command"] = "python " + " ".join(cmd[1:])
    return res


def _real_notes(ref: Path, families, pitch_range, n: int, seconds: float) -> list[dict]:
    ds = NSynth(ref, families=families, pitch_range=pitch_range)
    idx = np.random.default_rng(0).permutation(len(ds))[:n]
    notes = []
    for i in idx:
        it = ds[int(i)]
        notes.append({"audio": it["audio"].numpy()[: int(seconds * 16000)], "pitch": it["pitch"],
                      "instrument_family_str": gan.FAMILIES[it["family"]]})
    return notes


def _drift_summary(d: dict) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rms = d["rms_db"]
        return {"times_s": d["times"].round(3).tolist(),
                "median_abs_cents": [None if not np.isfinite(v) else round(float(v), 1) for v in d["median_abs_cents"]],
                "within_50_cents": d["within_50_cents"].round(3).tolist(),
                "voiced": d["voiced"].round(3).tolist(),
                "rms_db_mean": np.nanmean(rms, axis=0).round(2).tolist(),
                "rms_db_std_over_notes": np.nanstd(rms, axis=0).round(2).tolist(),
                "within_50_first_second": float(d["within_50_cents"][:4].mean()),
                "within_50_last_second": float(d["within_50_cents"][-4:].mean())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--out", default="/tmp/baselines")
    ap.add_argument("--ref", default=None, help="reference folder (default: mini-NSynth default test)")
    ap.add_argument("--embeddings", default="crepe,classifier")
    ap.add_argument("--json", default=str(REPO / "results" / "baselines_eval.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    ref = Path(args.ref) if args.ref else dataset_dir("nsynth", "test", size="default")
    result = {"hardware": hardware(), "ref": str(ref), "n": args.n, "models": {}}

    for model in ("rnn", "gan"):
        folder = out / model
        cmd = ["sample", model, "--n", str(args.n), "--out", str(folder), "--seed", "0"]
        t0 = time.perf_counter()
        rc = cli(cmd)
        wall = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(f"python -m coursekit {' '.join(cmd)} failed with exit status {rc}")
        seconds = 4.0 if model == "rnn" else gan.SEGMENT / gan.SR       # audio actually generated
        card = json.loads((REPO / "coursekit" / "checkpoints" / f"{model}.json").read_text())
        entry = {"sample_command": "python -m coursekit " + " ".join(cmd),
                 "sample_wall_s": round(wall, 2),
                 "audio_seconds_per_second": round(args.n * seconds / wall, 2),
                 "generated_seconds_per_note": round(seconds, 3),
                 "checkpoint_card": {k: card.get(k) for k in ("command", "steps", "training_time_s",
                                                              "hardware", "data", "git_commit")}}
        print(f"{model}: {args.n} notes in {wall:.1f} s ({entry['audio_seconds_per_second']} s of audio/s)")
        entry["eval"] = _eval(folder, ref, args.embeddings)
        result["models"][model] = entry

    # the RNN's drift over its 4 s notes, against real notes of its families and pitches
    m = rnn_recipe.load_model()
    ys, metas = load_folder(out / "rnn")
    gen = [{"audio": y, "pitch": mm["pitch"]} for y, mm in zip(ys, metas)]
    real = _real_notes(ref, m.cfg.train_families, (m.cfg.pitch_min, m.cfg.pitch_max), args.n, 4.0)
    result["models"]["rnn"]["drift"] = {"generated": _drift_summary(drift_report(gen, window_s=0.25)),
                                        "real": _drift_summary(drift_report(real, window_s=0.25))}

    # the GAN's collapse
    G = gan.load_generator()
    ys, metas = load_folder(out / "gan")
    gen = [{"audio": y[: gan.SEGMENT], "pitch": mm["pitch"], "instrument_family_str": mm["instrument_family_str"]}
           for y, mm in zip(ys, metas)]
    real = _real_notes(ref, G.cfg.train_families, (G.cfg.pitch_min, G.cfg.pitch_max), 2 * args.n, gan.SEGMENT / gan.SR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collapse = gan.collapse_report(gen, real, k=10)
    with torch.no_grad():
        xs = G(torch.randn(8, G.cfg.z_dim, generator=torch.Generator().manual_seed(5)),
               [(G.cfg.pitch_min + G.cfg.pitch_max) // 2] * 8,
               [gan.FAMILIES.index(G.cfg.train_families[0])] * 8)
    collapse["diversity_8z_one_condition_features"] = gan.feature_diversity(xs, [0] * 8)
    real_x = gan.to_features(np.stack([n["audio"] for n in real]))
    collapse["diversity_real_features_same_pitch"] = gan.feature_diversity(real_x, [n["pitch"] for n in real])
    result["models"]["gan"]["collapse"] = collapse

    # pure generation speed (no file writing), one thread
    t0 = time.perf_counter()
    with torch.no_grad():
        gan.from_features(G(torch.randn(args.n, G.cfg.z_dim), [60] * args.n))
    dt = time.perf_counter() - t0
    result["models"]["gan"]["generation_only_audio_seconds_per_second"] = round(args.n * gan.SEGMENT / gan.SR / dt, 1)
    t0 = time.perf_counter()
    rnn.generate(m, [60] * 16, n_samples=8000)
    dt = time.perf_counter() - t0
    result["models"]["rnn"]["generation_only_audio_seconds_per_second"] = {
        "batch_16": round(16 * 1.0 / dt, 2)}
    t0 = time.perf_counter()
    rnn.generate(m, [60], n_samples=4000)
    dt = time.perf_counter() - t0
    result["models"]["rnn"]["generation_only_audio_seconds_per_second"]["batch_1"] = round(0.5 / dt, 3)

    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
