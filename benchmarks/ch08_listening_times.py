"""How long do chapter 08's listening-test pieces take? The figures its issue asks for.

1. ``tests/test_listening_browser.py``: Voila + headless Chromium rating a MOS and a MUSHRA
   test end to end (pytest wall time; skipped, and recorded as such, without /usr/bin/chromium).
2. ``tests/test_listening_kernel.py``: the SIGKILL-and-resume test with a real kernel.
3. Chapter 08 under nbval in the smoke profile, as CI runs it (fresh data/samples/runs folders,
   so the smoke mini-NSynth is generated inside the timing).
4. Chapter 08 in the default profile, cell by cell (nbclient): once "cold" (empty data folder:
   the default mini-NSynth is generated first) and once "warm" (dataset present, but no
   embedding cache, no stand-ins, fresh runs folder: a student who ran chapter 01 before).

The machine may be shared: the load average before each step is recorded beside its time.
Writes ``results/ch08_listening.json`` and prints it.

Usage::

    python benchmarks/ch08_listening_times.py [--skip-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "08_listening_test.ipynb"


def _env(profile: str, root: Path, data: Path | None = None) -> dict:
    env = dict(os.environ)
    env.update(COURSEKIT_PROFILE=profile, COURSEKIT_DATA=str(data or root / "data"),
               COURSEKIT_SAMPLES=str(root / "samples"), COURSEKIT_RUNS=str(root / "runs"),
               MPLBACKEND="Agg", TQDM_MININTERVAL="5")
    env.pop("COURSEKIT_CACHE", None)
    return env


def _pytest(args: list, env: dict) -> dict:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return {"wall_s": round(wall, 1), "returncode": proc.returncode, "summary": tail,
            "skipped": "skipped" in tail and "passed" not in tail, "load_before": round(load, 2)}


def _run_notebook(env: dict) -> dict:
    """Execute the notebook cell by cell in a kernel with ``env``; time each code cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    load = os.getloadavg()[0]
    cells = []
    t_all = time.perf_counter()
    try:
        client = NotebookClient(nb, timeout=1200, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                t = time.perf_counter()
                client.execute_cell(cell, i)
                cells.append({"cell": i, "first_line": cell.source.splitlines()[0][:60],
                              "s": round(time.perf_counter() - t, 1)})
    finally:
        os.environ.clear()
        os.environ.update(old)
    return {"wall_s": round(time.perf_counter() - t_all, 1), "load_before": round(load, 2),
            "slowest_cells": sorted(cells, key=lambda c: -c["s"])[:4]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-cold", action="store_true", help="skip the default run with an empty data folder")
    ap.add_argument("--out", default=str(REPO / "results" / "ch08_listening.json"))
    args = ap.parse_args()

    out = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "python": sys.version.split()[0],
                       "chromium": Path("/usr/bin/chromium").exists()},
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="ch08-bench-") as tmp:
        tmp = Path(tmp)
        smoke_env = _env("smoke", tmp / "smoke")
        out["browser_test"] = _pytest(["tests/test_listening_browser.py"], smoke_env)
        print("browser test:", out["browser_test"], flush=True)
        out["kernel_test"] = _pytest(["tests/test_listening_kernel.py"], smoke_env)
        print("kernel test:", out["kernel_test"], flush=True)
        out["notebook_smoke_nbval"] = _pytest([str(NOTEBOOK.relative_to(REPO))], smoke_env)
        print("chapter 08, smoke, nbval:", out["notebook_smoke_nbval"], flush=True)
        data = tmp / "default-data"
        if not args.skip_cold:
            out["notebook_default_cold"] = _run_notebook(_env("default", tmp / "cold", data=data))
            print("chapter 08, default, cold:", out["notebook_default_cold"], flush=True)
        shutil.rmtree(data / ".cache", ignore_errors=True)  # keep the dataset, drop caches
        out["notebook_default_warm"] = _run_notebook(_env("default", tmp / "warm", data=data))
        print("chapter 08, default, warm:", out["notebook_default_warm"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
