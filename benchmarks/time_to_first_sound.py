"""Time to first sound: from a fresh clone to a generated note playing, step by step.

What a newcomer does, timed on this machine (the README promises it in at most 5 minutes,
install included):

1. ``git clone`` the repository (here: a local clone of the committed state, so what is
   measured is exactly what is in git, reference checkpoints included).
2. ``python -m venv`` a fresh virtual environment.
3. ``pip install -e ".[dev]"`` into it (with this machine's pip configuration: its package index
   and local wheel cache; a first install on a laptop also pays for downloading).
4. Two ways to the first sound, each timed from the installed venv:

   a. ``python -m coursekit sample MODEL --n 1 --pitch 60 --family brass --out DIR`` with the
      fastest reference checkpoint that is in the clone (gan, else transformer, else rnn);
   b. chapter 00 executed with nbclient, cell by cell, up to and including the first cell that
      shows an audio player (kernel start included).

Writes the run into ``results/time_to_first_sound.json`` under ``--label`` (other runs kept) and
prints it. The first install on a machine downloads everything (torch with its CUDA libraries
is most of it); pip keeps the downloads in its cache, so a second run measures an install from
the local cache. The machine may be shared: the load
average before each step is recorded.

Usage::

    python benchmarks/time_to_first_sound.py [--work /tmp/ttfs] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results" / "time_to_first_sound.json"
GOAL_S = 300.0

# run inside the fresh venv: chapter 00 up to the first audio player, with nbclient
NOTEBOOK_RUNNER = r'''
import json, sys, time
t0 = time.perf_counter()
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}})
done = {"cells_run": 0, "player_cell": None}
with client.setup_kernel():
    t_kernel = time.perf_counter() - t0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        client.execute_cell(cell, i)
        done["cells_run"] += 1
        html = " ".join(str(o.get("data", {}).get("text/html", "")) for o in cell.get("outputs", []))
        if "<audio" in html:
            done["player_cell"] = i
            break
done["kernel_start_s"] = round(t_kernel, 2)
done["seconds"] = round(time.perf_counter() - t0, 2)
print(json.dumps(done))
'''


def _step(name: str, cmd, steps: list, cwd=None, env=None, timeout=1200) -> subprocess.CompletedProcess:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    entry = {"step": name, "command": " ".join(str(c) for c in cmd) if len(" ".join(map(str, cmd))) < 300
             else f"{cmd[0]} ... (script)", "wall_seconds": round(wall, 1),
             "exit_code": proc.returncode, "load_average_before": round(load, 2)}
    if proc.returncode:
        entry["stderr_tail"] = (proc.stderr or proc.stdout)[-1500:]
    steps.append(entry)
    print(f"{name}: {wall:.1f} s (exit {proc.returncode}, load {load:.1f})", file=sys.stderr)
    return proc


def _du_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
                 / 1e6, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/ttfs", help="scratch folder (clone, venv, outputs)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder afterwards")
    ap.add_argument("--profile", default="default", help="COURSEKIT_PROFILE for step 4")
    ap.add_argument("--label", default="default",
                    help="name of this run in the results file (e.g. plain-install, cpu-torch-wheel)")
    ap.add_argument("--pip-args", default="", help="extra pip arguments, e.g. a CPU-only torch: "
                    "'--extra-index-url https://download.pytorch.org/whl/cpu'")
    args = ap.parse_args(argv)

    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    clone, venv = work / "coursekit", work / "venv"
    py = venv / "bin" / "python"
    steps: list[dict] = []
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()

    _step("clone", ["git", "clone", "--quiet", str(REPO), str(clone)], steps)
    _step("venv", [sys.executable, "-m", "venv", str(venv)], steps)
    install = _step("install", [str(py), "-m", "pip", "install", "-q", *args.pip_args.split(),
                                "-e", f"{clone}[dev]"], steps, cwd=clone, timeout=3600)
    versions = subprocess.run([str(py), "-c", "import torch, coursekit; print(torch.__version__)"],
                              capture_output=True, text=True).stdout.strip()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSEKIT_", "VIRTUAL_ENV"))}
    env.update(COURSEKIT_PROFILE=args.profile, PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
               MPLBACKEND="Agg")
    paths = {}
    ckpts = clone / "coursekit" / "checkpoints"
    model = next((m for m in ("gan", "transformer", "rnn") if (ckpts / f"{m}.pt").exists()), None)
    if install.returncode == 0 and model is not None:
        out = work / "first-sound"
        sample = _step(f"sample {model}", [str(py), "-m", "coursekit", "sample", model, "--n", "1",
                                           "--pitch", "60", "--family", "brass", "--out", str(out)],
                       steps, cwd=clone, env=env)
        wavs = sorted((out / "audio").glob("*.wav")) if sample.returncode == 0 else []
        paths["cli"] = {"model": model, "ok": bool(wavs), "wav": wavs[0].name if wavs else None,
                        "stdout": sample.stdout.strip()[-300:]}
    elif model is None:
        paths["cli"] = {"ok": False, "reason": "no reference checkpoint (gan/transformer/rnn) in the clone"}

    if install.returncode == 0:
        runner = work / "run_to_first_player.py"
        runner.write_text(NOTEBOOK_RUNNER)
        nb = _step("chapter 00 to the first audio player",
                   [str(py), str(runner), str(clone / "notebooks" / "00_audio_fundamentals.ipynb"),
                    str(clone / "notebooks")], steps, cwd=clone, env=env)
        try:
            paths["notebook"] = {"ok": nb.returncode == 0, **json.loads(nb.stdout.strip().splitlines()[-1])}
        except (json.JSONDecodeError, IndexError):
            paths["notebook"] = {"ok": False}

    by = {s["step"]: s["wall_seconds"] for s in steps}
    setup = sum(by.get(k, 0.0) for k in ("clone", "venv", "install"))
    totals = {}
    if "cli" in paths and paths["cli"].get("ok"):
        totals["via_sample_command_s"] = round(setup + by[f"sample {paths['cli']['model']}"], 1)
    if paths.get("notebook", {}).get("ok"):
        totals["via_chapter_00_s"] = round(setup + by["chapter 00 to the first audio player"], 1)
    result = {
        "what": "Fresh clone -> venv -> pip install -e .[dev] -> first generated sound; seconds a step",
        "script": "benchmarks/time_to_first_sound.py",
        "commit": head, "profile": args.profile, "torch_installed": versions,
        "pip_args": args.pip_args, "venv_size_mb": _du_mb(venv),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version()},
        "steps": steps, "paths": paths, "setup_seconds": round(setup, 1), "totals": totals,
        "goal_seconds": GOAL_S,
        "within_goal": {k: v <= GOAL_S for k, v in totals.items()},
    }
    runs = json.loads(OUT.read_text()).get("runs", {}) if OUT.exists() else {}
    runs[args.label] = result
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"what": result["what"], "script": result["script"], "runs": runs},
                              indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if totals else 1


if __name__ == "__main__":
    sys.exit(main())
