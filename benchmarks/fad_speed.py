"""How fast is the Frechet distance? The eigh route against the classic sqrtm formula.

Measures, with the median of several runs:

1. ``frechet_distance_from_stats`` with ``method='eigh'`` (two symmetric eigendecompositions)
   against ``method='sqrtm'`` (``Tr scipy.linalg.sqrtm(sigma1 @ sigma2)``, the formula of most
   FID/FAD code) at d = 128, 512, 1024, from the same covariances. Goal: eigh >= 3x faster at
   d >= 512. Also the relative difference between the two results.
   Wall-clock ratios are the headline; CPU-time ratios are printed too, since they are less
   disturbed when other processes share the CPU.
2. End to end, ``frechet_distance(x, y)`` for two sets of 10,000 x 128 float32 embeddings
   (mean, covariance and distance). Goal: < 1 s.

Writes ``results/fad_speed.json`` and prints a summary. Timings are wall-clock on whatever
machine runs it; the JSON records the BLAS library and its thread count (threadpoolctl), the
load average and ``OPENBLAS_CORETYPE`` so numbers can be compared honestly.

Usage::

    python benchmarks/fad_speed.py [--runs 5] [--threads N] [--out results/fad_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg  # noqa: F401  load SciPy's own BLAS now, so that --threads limits it too
from threadpoolctl import threadpool_info, threadpool_limits

from coursekit.eval.fad import frechet_distance, frechet_distance_from_stats, gaussian_stats

REPO = Path(__file__).resolve().parents[1]


def timed(fn, runs: int) -> tuple[list[float], list[float], object]:
    """Wall and CPU seconds of ``runs`` calls of ``fn`` (after one warm-up call)."""
    out = fn()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu, out


def covariances(d: int, seed: int) -> tuple:
    """Two realistic covariance pairs: low-rank + noise embeddings, 3*d samples each."""
    rng = np.random.default_rng(seed)
    stats = []
    for shift in (0.0, 0.3):
        rank = d // 4
        basis = rng.normal(size=(rank, d)) / np.sqrt(rank)
        x = shift + 2.0 * rng.normal(size=(3 * d, rank)) @ basis + 0.5 * rng.normal(size=(3 * d, d))
        stats.append(gaussian_stats(x))
    return stats[0] + stats[1]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median)")
    ap.add_argument("--threads", type=int, default=None,
                    help="limit BLAS threads (default: leave the library's setting)")
    ap.add_argument("--dims", type=int, nargs="+", default=[128, 512, 1024])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "fad_speed.json")
    args = ap.parse_args(argv)

    limit = threadpool_limits(limits=args.threads, user_api="blas") if args.threads else nullcontext()
    with limit:
        blas = [{k: v for k, v in i.items() if k in ("internal_api", "version", "num_threads",
                                                     "architecture", "threading_layer")}
                for i in threadpool_info() if i.get("user_api") == "blas"]
        result = {
            "what": "FD time: method='eigh' vs the scipy.linalg.sqrtm formula (from stats), and "
                    "end-to-end frechet_distance for 10,000 x 128 embeddings",
            "command": " ".join(["python benchmarks/fad_speed.py", *(sys.argv[1:] if argv is None else argv)]),
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "cpu_count": os.cpu_count(),
                "load_average_before": [round(v, 2) for v in os.getloadavg()],
                "numpy": np.__version__,
                "scipy": scipy.__version__,
                "blas": blas,
                "blas_threads": sorted({b["num_threads"] for b in blas}),
                "threads_limited_to": args.threads,
                "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            },
            "runs": args.runs,
            "by_dim": [],
        }

        print(f"BLAS threads {result['machine']['blas_threads']}, load average "
              f"{result['machine']['load_average_before']}, {args.runs} runs each (median)")
        print(f"{'d':>6} {'eigh s':>9} {'sqrtm s':>9} {'ratio':>7} {'CPU ratio':>10} {'rel. diff':>10}")
        for d in args.dims:
            mu1, s1, mu2, s2 = covariances(d, seed=d)
            w_e, c_e, fd_e = timed(lambda: frechet_distance_from_stats(mu1, s1, mu2, s2, "eigh"), args.runs)
            w_s, c_s, fd_s = timed(lambda: frechet_distance_from_stats(mu1, s1, mu2, s2, "sqrtm"), args.runs)
            row = {
                "d": d,
                "eigh_s_median": statistics.median(w_e),
                "sqrtm_s_median": statistics.median(w_s),
                "ratio_sqrtm_over_eigh": statistics.median(w_s) / statistics.median(w_e),
                "ratio_cpu_time": statistics.median(c_s) / statistics.median(c_e),
                "eigh_cpu_s_median": statistics.median(c_e),
                "sqrtm_cpu_s_median": statistics.median(c_s),
                "eigh_s_runs": w_e,
                "sqrtm_s_runs": w_s,
                "fd_eigh": fd_e,
                "fd_sqrtm": fd_s,
                "rel_diff": abs(fd_e - fd_s) / fd_s,
                "goal_ratio_3x_met": (statistics.median(w_s) / statistics.median(w_e) >= 3.0)
                if d >= 512 else None,
            }
            result["by_dim"].append(row)
            print(f"{d:>6} {row['eigh_s_median']:>9.4f} {row['sqrtm_s_median']:>9.4f} "
                  f"{row['ratio_sqrtm_over_eigh']:>6.1f}x {row['ratio_cpu_time']:>9.1f}x "
                  f"{row['rel_diff']:>10.2e}")

        rng = np.random.default_rng(0)
        mix = rng.normal(size=(128, 128)) / np.sqrt(128)
        x = (rng.normal(size=(10_000, 128)) @ mix).astype(np.float32)
        y = (rng.normal(size=(10_000, 128)) @ mix * 1.1 + 0.05).astype(np.float32)
        w_t, c_t, fd_t = timed(lambda: frechet_distance(x, y), args.runs)
        result["end_to_end_10000x128"] = {
            "s_median": statistics.median(w_t),
            "cpu_s_median": statistics.median(c_t),
            "s_runs": w_t,
            "fd": fd_t,
            "input_dtype": "float32",
            "goal_under_1s_met": statistics.median(w_t) < 1.0,
        }
        result["machine"]["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
        print(f"end to end, two sets of 10,000 x 128: {statistics.median(w_t):.3f} s "
              f"(goal < 1 s: {'met' if statistics.median(w_t) < 1.0 else 'NOT met'})")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
