"""KAD against FAD: speed at 10,000 x 128, and how each behaves as the sample grows.

Measures, on synthetic non-Gaussian embeddings (d = 128: a Student-t with 5 degrees of freedom
mixed through a fixed random matrix, so the dimensions are correlated and heavy-tailed):

1. **Speed**: ``kad(x, y)`` for two sets of 10,000 x 128 (float64, bandwidth from x included),
   median of ``--runs`` runs; ``frechet_distance`` on the same sets beside it. Goal: KAD <= 2 s
   on the course's 2-core CPU.
2. **Sample size**: for n in 50 .. 2000, two sets drawn from the *same* distribution, and a set
   against one with a small planted shift (every coordinate of the latent moved by ``--shift``):
   FAD and KAD, mean and the 2.5 / 97.5 % quantiles over ``--repeats`` draws. FAD of equal
   distributions falls with n (its bias); KAD's stays about 0.
3. **The smallest n that sees the shift**: per metric, the first n of the grid at which the
   2.5 % quantile of the shifted pairs lies above the 97.5 % quantile of the equal pairs
   (so almost every draw of that size tells the two situations apart).

Writes ``results/kad_speed.json`` with the load average before and after.

Usage::

    python benchmarks/kad_speed.py [--runs 5] [--repeats 20] [--out results/kad_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from coursekit.eval.fad import RankDeficientWarning, frechet_distance
from coursekit.eval.kad import kad

REPO = Path(__file__).resolve().parents[1]
SIZES = (50, 100, 200, 500, 1000, 2000)


class Embeddings:
    """Heavy-tailed, correlated 128-d embeddings; ``shift`` moves the latent's mean."""

    def __init__(self, d: int = 128, seed: int = 0):
        self.d = d
        self.mix = np.random.default_rng(seed).normal(size=(d, d)) / np.sqrt(d)

    def draw(self, n: int, rng, shift: float = 0.0) -> np.ndarray:
        return (rng.standard_t(5, size=(n, self.d)) + shift) @ self.mix


def timed(fn, runs: int) -> tuple[list[float], object]:
    out = fn()  # warm-up
    wall = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        wall.append(time.perf_counter() - t0)
    return wall, out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs of the 10,000 x 128 case (median)")
    ap.add_argument("--repeats", type=int, default=20, help="draws per sample size")
    ap.add_argument("--shift", type=float, default=0.1, help="planted shift of the latent mean")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "kad_speed.json")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    emb = Embeddings()
    # n <= 128 leaves FAD's covariances rank-deficient: that is part of what the curve shows
    warnings.simplefilter("ignore", RankDeficientWarning)

    rng = np.random.default_rng(1)
    x, y = emb.draw(10_000, rng), emb.draw(10_000, rng)
    kad_wall, kad_value = timed(lambda: kad(x, y), args.runs)
    fad_wall, fad_value = timed(lambda: frechet_distance(x, y), args.runs)
    speed = {"n": 10_000, "dim": 128, "runs": args.runs,
             "kad_seconds_median": statistics.median(kad_wall), "kad_seconds": kad_wall,
             "fad_seconds_median": statistics.median(fad_wall), "fad_seconds": fad_wall,
             "kad": kad_value, "fad": fad_value, "goal_kad_seconds": 2.0,
             "goal_met": statistics.median(kad_wall) <= 2.0}
    print(f"10,000 x 128 vs 10,000 x 128: KAD {speed['kad_seconds_median']:.2f} s (value {kad_value:.4f}), "
          f"FAD {speed['fad_seconds_median']:.2f} s (value {fad_value:.3f})")

    curve = []
    for n in SIZES:
        row = {"n": n}
        for label, shift in (("equal", 0.0), ("shifted", args.shift)):
            vals = {"fad": [], "kad": [], "kad_seconds": [], "fad_seconds": []}
            for r in range(args.repeats):
                g = np.random.default_rng([n, r, int(shift > 0)])
                a, b = emb.draw(n, g), emb.draw(n, g, shift)
                t0 = time.perf_counter()
                vals["fad"].append(frechet_distance(a, b))
                t1 = time.perf_counter()
                vals["kad"].append(kad(a, b))
                vals["fad_seconds"].append(t1 - t0)
                vals["kad_seconds"].append(time.perf_counter() - t1)
            for m in ("fad", "kad"):
                v = np.array(vals[m])
                row[f"{m}_{label}"] = {"mean": float(v.mean()), "q025": float(np.quantile(v, 0.025)),
                                       "q975": float(np.quantile(v, 0.975))}
            if label == "equal":
                row["kad_seconds"] = float(np.median(vals["kad_seconds"]))
                row["fad_seconds"] = float(np.median(vals["fad_seconds"]))
        curve.append(row)
        print(f"n={n:5d}  FAD equal {row['fad_equal']['mean']:8.3f} shifted {row['fad_shifted']['mean']:8.3f}"
              f"   KAD equal {row['kad_equal']['mean']:+.4f} shifted {row['kad_shifted']['mean']:+.4f}")

    sees = {}
    for m in ("fad", "kad"):
        sees[m] = next((r["n"] for r in curve if r[f"{m}_shifted"]["q025"] > r[f"{m}_equal"]["q975"]), None)
    print(f"smallest n at which almost every draw separates the shift of {args.shift}: "
          f"FAD {sees['fad']}, KAD {sees['kad']}")
    result = {
        "what": "KAD (coursekit.eval.kad.kad) and FAD (coursekit.eval.fad.frechet_distance) on "
                "synthetic heavy-tailed 128-d embeddings: speed, sample-size curve, planted shift",
        "speed": speed, "shift": args.shift, "repeats": args.repeats, "curve": curve,
        "smallest_n_that_sees_the_shift": sees,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "blas": [{k: v for k, v in i.items() if k in ("internal_api", "version", "num_threads")}
                             for i in threadpool_info()],
                    "load_average": load0, "load_average_end": os.getloadavg()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
