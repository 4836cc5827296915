"""Chapter 02: the reference RNN's sampling temperature, swept and judged.

For each temperature: ``python -m coursekit sample rnn --n 64 --seed 0 --temperature T``, then
``python -m coursekit eval`` against the mini-NSynth test split (CREPE pitch accuracy against the
asked pitch, how many notes CREPE finds no pitch in, family accuracy, FAD crepe and classifier).
A lower temperature sharpens every next-sample distribution: less hiss between the periods of
the waveform, so more notes with a pitch CREPE can hear, at the price of diversity (the FAD
tells). ``coursekit sample rnn`` samples at 1.0 unless given ``--temperature``; this sweep is
why: with the reference model (clock and oscillator) 1.0, 0.9 and 0.8 find the asked pitch about
equally often.

Writes ``results/rnn_temperature.json`` and prints a table.

    python benchmarks/rnn_temperature.py [--temperatures 1.0,0.9,0.8,0.7] [--n 64] [--out /tmp/rnn_temperature]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from baselines_eval import _eval  # noqa: E402
from coursekit.cli import main as cli  # noqa: E402
from coursekit.data import dataset_dir  # noqa: E402
from coursekit.checkpoint import hardware  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--temperatures", default="1.0,0.9,0.8,0.7")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--out", default="/tmp/rnn_temperature")
    ap.add_argument("--checkpoint", default=None, help="default: the reference RNN")
    ap.add_argument("--ref", default=None, help="reference folder (default: mini-NSynth default test)")
    ap.add_argument("--json", default=str(REPO / "results" / "rnn_temperature.json"))
    args = ap.parse_args(argv)
    temps = [float(t) for t in args.temperatures.split(",")]
    torch.set_num_threads(1)
    ref = Path(args.ref) if args.ref else dataset_dir("nsynth", "test", size="default")
    result = {"what": "chapter 02: reference RNN, sampling temperature swept",
              "command": "python benchmarks/rnn_temperature.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "hardware": hardware(), "ref": str(ref), "n": args.n,
              "checkpoint": args.checkpoint or "coursekit/checkpoints/rnn.pt", "by_temperature": {}}
    for t in temps:
        folder = Path(args.out) / f"t{t:g}"
        cmd = ["sample", "rnn", "--n", str(args.n), "--out", str(folder), "--seed", "0", "--temperature", str(t)]
        if args.checkpoint:
            cmd += ["--checkpoint", args.checkpoint]
        t0 = time.perf_counter()
        if cli(cmd) != 0:
            raise SystemExit(f"python -m coursekit {' '.join(cmd)} failed")
        wall = time.perf_counter() - t0
        ev = _eval(folder, ref, "crepe,classifier")
        if "error" in ev:
            raise SystemExit(f"coursekit eval failed at temperature {t}: {ev['error']}")
        result["by_temperature"][f"{t:g}"] = {
            "sample_command": "python -m coursekit " + " ".join(cmd), "sample_wall_s": round(wall, 1),
            "crepe_pitch_acc": ev["pitch"]["crepe_acc"], "crepe_unpitched": ev["pitch"]["crepe_unpitched"],
            "crepe_median_abs_cents": ev["pitch"]["crepe_median_abs_cents"],
            "family_acc": ev["family"]["classifier_acc"],
            "fad_crepe": ev["fad"]["crepe"]["fad"], "fad_classifier": ev["fad"]["classifier"]["fad"]}
        print(f"T {t:g}: " + json.dumps({k: v for k, v in result["by_temperature"][f'{t:g}'].items()
                                         if k not in ("sample_command",)}), flush=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{'T':>4} {'pitch':>6} {'unpitched':>9} {'family':>6} {'FAD crepe':>9} {'FAD classifier':>14}")
    for t, r in result["by_temperature"].items():
        print(f"{t:>4} {r['crepe_pitch_acc']:>6.3f} {r['crepe_unpitched']:>9} {r['family_acc']:>6.3f} "
              f"{r['fad_crepe']:>9.3f} {r['fad_classifier']:>14.0f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
