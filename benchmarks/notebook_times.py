"""How long does each chapter notebook take to run, top to bottom, in a given profile?

Runs each notebook with the documented command
(``jupyter nbconvert --to notebook --execute --output OUT NOTEBOOK``) under
``COURSEKIT_PROFILE=<profile>`` and times the wall clock and the CPU time of the child
processes. The course promises seconds-to-a-minute in ``smoke`` and at most about 10 minutes
in ``default`` on a laptop CPU.

Data: with ``--data DIR`` the notebooks use that data root (``COURSEKIT_DATA``). A first run
on an empty root also generates the offline mini datasets (see ``results/mini_data_make.json``
for those times); run twice to get both figures. ``data_present_before`` lists the datasets that
were already generated under the root when the run started.

The machine may be shared: the load average before each run is recorded beside the times, and
CPU time is the fairer figure when the load is high.

Usage::

    rm -rf /tmp/ck-data
    python benchmarks/notebook_times.py --profile default --data /tmp/ck-data --label default-first-run \\
        notebooks/00_audio_fundamentals.ipynb notebooks/01_datasets.ipynb
    python benchmarks/notebook_times.py --profile default --data /tmp/ck-data \\
        notebooks/00_audio_fundamentals.ipynb notebooks/01_datasets.ipynb

Writes (merging with what is there, one entry per notebook and label, the label defaulting to
the profile)
``results/notebook_times.json`` and prints it.

The whole course in one profile (every notebook of ``notebooks/``, or ``--dirs notebooks
solutions``), into its own file, with the load average before and after each notebook::

    python benchmarks/notebook_times.py --all --profile smoke --results results/notebook_times_smoke.json
    python benchmarks/notebook_times.py --all --profile default --budget-s 3000 \
        --results results/notebook_times_default.json

(``nbconvert --execute`` runs the notebook with nbclient, as the test suite's nbval does.)
``--budget-s`` stops starting new notebooks once that many seconds have passed (those not run
are listed under ``not_run``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results" / "notebook_times.json"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_notebook(path: Path, profile: str, data: Path | None, timeout_s: int = 1200) -> dict:
    env = dict(os.environ, COURSEKIT_PROFILE=profile)
    env.pop("MPLBACKEND", None)  # plot as a student's notebook does
    present = None
    if data is not None:
        # which datasets were already generated: a run without them also pays for making them
        present = sorted(str(q.relative_to(data)) for q in Path(data).glob("mini-*/*") if q.is_dir())
        env["COURSEKIT_DATA"] = str(data)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
               f"--ExecutePreprocessor.timeout={timeout_s}", "--output", str(Path(tmp) / "out.ipynb"), str(path)]
        load = os.getloadavg()[0]
        cpu0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    return {
        "command": f"COURSEKIT_PROFILE={profile} jupyter nbconvert --to notebook --execute --output OUT {path.relative_to(REPO)}",
        "exit_code": proc.returncode,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average_before": round(load, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "data_present_before": present,
        "stderr_tail": proc.stderr[-300:] if proc.returncode else "",
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--all", action="store_true", help="every notebook of --dirs")
    ap.add_argument("--dirs", nargs="+", default=["notebooks"], help="folders for --all")
    ap.add_argument("--results", default=str(OUT), help="JSON file to write (merged)")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds a cell may take")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="start no new notebook after this many seconds")
    ap.add_argument("--profile", default="default", choices=["smoke", "default", "full"])
    ap.add_argument("--data", default=None, help="data root (COURSEKIT_DATA) for the runs")
    ap.add_argument("--label", default=None,
                    help="name of the entry (default: the profile), e.g. default-first-run")
    args = ap.parse_args(argv)
    out = Path(args.results)
    if args.all:
        args.notebooks += [str(q) for d in args.dirs for q in sorted((REPO / d).glob("*.ipynb"))]
    if not args.notebooks:
        ap.error("give notebooks, or --all")

    results = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("what", "Wall and CPU time of each chapter notebook, top to bottom, per profile")
    results["machine"] = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "python": platform.python_version()}
    runs = results.setdefault("runs", {})
    failed, t_start, not_run = 0, time.perf_counter(), []
    for nb in args.notebooks:
        path = Path(nb).resolve()
        if args.budget_s is not None and time.perf_counter() - t_start > args.budget_s:
            not_run.append(str(path.relative_to(REPO)))
            continue
        entry = time_notebook(path, args.profile, Path(args.data) if args.data else None, args.timeout)
        entry["profile"] = args.profile
        runs.setdefault(path.name, {})[args.label or args.profile] = entry
        failed += entry["exit_code"] != 0
        print(f"{path.name} [{args.profile}]: {entry['wall_seconds']} s wall, {entry['cpu_seconds']} s CPU "
              f"(load {entry['load_average_before']}), exit {entry['exit_code']}", file=sys.stderr)
    if not_run:
        results["not_run"] = {**results.get("not_run", {}), args.label or args.profile: not_run}
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(results, indent=2, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
