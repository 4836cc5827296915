"""How fast is each offline embedding on this CPU? Seconds of audio embedded per second.

Embeds the same 4-second notes (harmonic tones with decaying envelopes, 16 kHz) with every
embedding that works offline (crepe, mel, classifier), after one warm-up call, with a fixed
number of torch threads; also times CREPE's pitch estimate of a note. The machine may be
shared: the load average before and after is recorded beside the figures, and the rates are
given per second of wall clock and per second of this process's CPU time (the fairer figure on
a busy machine, with one thread).

Writes ``results/embedding_throughput.json`` and prints it.

Usage::

    python benchmarks/embedding_throughput.py [--notes 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "results" / "embedding_throughput.json"))
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from coursekit.eval.embeddings import OFFLINE, crepe_pitch, get_embedding
    from coursekit.checkpoint import hardware

    sr, seconds = 16000, 4.0
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(0)
    notes = []
    for i in range(args.notes):
        f0 = 55.0 * 2 ** (rng.uniform(0, 4))
        y = sum(0.3 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 8)) * np.exp(-t)
        notes.append((y + 0.001 * rng.standard_normal(len(t))).astype(np.float32))
    audio_s = seconds * len(notes)

    result = {"hardware": hardware(), "torch_threads": args.threads, "notes": len(notes),
              "note_seconds": seconds, "load_before": round(os.getloadavg()[0], 2), "embeddings": {}}
    for name in OFFLINE:
        emb = get_embedding(name)
        emb.embed(notes[0], sr)  # warm-up (lazy imports, first allocation)
        t0, c0 = time.perf_counter(), time.process_time()
        frames = sum(len(emb.embed(y, sr)) for y in notes)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        result["embeddings"][name] = {
            "audio_seconds_per_second": round(audio_s / wall, 2),
            "audio_seconds_per_cpu_second": round(audio_s / cpu, 2),
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "dim": emb.dim, "hop_s": emb.hop_s, "frames": frames}
        print(f"{name:<11} {audio_s / wall:8.1f} s of audio / s (wall), {audio_s / cpu:8.1f} / CPU s  "
              f"({emb.dim} dims, hop {emb.hop_s * 1000:.0f} ms)")
    t0, c0 = time.perf_counter(), time.process_time()
    for y in notes:
        crepe_pitch(y, sr)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    result["crepe_pitch_notes_per_second"] = round(len(notes) / wall, 2)
    result["crepe_pitch_notes_per_cpu_second"] = round(len(notes) / cpu, 2)
    result["load_after"] = round(os.getloadavg()[0], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
