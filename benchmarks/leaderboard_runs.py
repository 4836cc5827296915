"""The leaderboard, run twice: how long each run takes and whether the two agree.

    python benchmarks/leaderboard_runs.py [--cache DIR] [--out results/leaderboard]

1. ``python -m coursekit leaderboard --out <out>`` with an empty embedding cache (``--cache``,
   emptied first): the cold run a newcomer pays for (the course promises at most 15 minutes on
   a 2-core CPU).
2. The same command again into a scratch folder, the cache now warm (only sampling is paid).
3. The two JSON results compared without their timing fields
   (:func:`coursekit.leaderboard.quality_view`): the numbers must be identical.

Writes ``results/leaderboard_runs.json`` (wall and CPU seconds of each run, the load average
around it, whether the numbers agree and, if not, the first differing fields) and prints it.
The table itself is ``<out>.md`` / ``<out>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit.leaderboard import quality_view  # noqa: E402


def run_once(out: Path, cache: Path) -> dict:
    cmd = [sys.executable, "-m", "coursekit", "leaderboard", "--out", str(out)]
    env = dict(os.environ, COURSEKIT_CACHE=str(cache))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
    return {"command": " ".join(["python", *cmd[1:]]),
            "exit_code": proc.returncode, "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "load_average_before": round(load, 2), "load_average_after": round(os.getloadavg()[0], 2),
            "stderr_tail": proc.stderr[-1500:] if proc.returncode else ""}


def first_differences(a, b, path="", limit=10) -> list[str]:
    """Paths where two JSON values differ (at most ``limit``)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if len(out) >= limit:
                break
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in one run")
            else:
                out += first_differences(a[k], b[k], f"{path}/{k}", limit - len(out))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if len(out) >= limit:
                break
            out += first_differences(x, y, f"{path}[{i}]", limit - len(out))
    elif a != b:
        out.append(f"{path}: {a!r} != {b!r}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results/leaderboard", help="stem of the first run's table")
    p.add_argument("--cache", default=None, help="embedding cache to empty and use (default: a temp dir)")
    p.add_argument("--results", default=str(REPO / "results" / "leaderboard_runs.json"))
    args = p.parse_args(argv)
    if args.cache:                               # a cold run: the given cache starts empty
        cache = Path(args.cache)
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
    else:
        cache = Path(tempfile.mkdtemp(prefix="ck-lb-cache-"))
    scratch = Path(tempfile.mkdtemp(prefix="ck-lb-second-"))
    out1 = Path(args.out)
    # the stem the leaderboard writes <stem>.json and <stem>.md to (as cli_leaderboard names it)
    stem1 = out1.with_suffix("") if out1.suffix in (".json", ".md") else out1
    out2 = scratch / "leaderboard"
    result = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "python": platform.python_version()},
              "cold": run_once(out1, cache), "warm": run_once(out2, cache)}
    ok = all(result[k]["exit_code"] == 0 for k in ("cold", "warm"))
    if ok:
        j1 = json.loads(Path(f"{stem1}.json").read_text())
        j2 = json.loads(Path(f"{out2}.json").read_text())
        diffs = first_differences(quality_view(j1), quality_view(j2))
        result["identical_numbers"] = not diffs
        result["differences"] = diffs
        result["table"] = f"{stem1}.md"
    result["cold_run_within_15_min"] = result["cold"]["wall_seconds"] <= 900 and result["cold"]["exit_code"] == 0
    Path(args.results).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
