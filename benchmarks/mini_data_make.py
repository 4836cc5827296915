"""How long do the three mini datasets take to make, how big are they, do they check clean?

Runs the documented commands (``python -m coursekit data make mini-nsynth|mini-gtzan|mini-maestro``,
``--sound sampled`` unless told otherwise) one after the other in a
temporary folder, timing wall clock and the CPU time of the child process, then
``python -m coursekit data check`` on the result. For mini-GTZAN it also measures how
separable the genres are with a simple baseline (mean and standard deviation of 20 MFCCs,
logistic regression, 5-fold cross-validation): the mini set should be learnable, not trivial.

The machine is shared: the load average before each run is recorded beside the times, and CPU
time is the fairer figure when the load is high.

Usage::

    python benchmarks/mini_data_make.py                    # default size, sampled
    python benchmarks/mini_data_make.py --size smoke
    python benchmarks/mini_data_make.py --sound additive

Writes ``results/mini_data_make.json`` (``results/mini_data_make_<size>[_additive].json`` for
other sizes and sounds), with the three datasets' total wall time (the course promises at most
2 minutes for the default ones on two CPU cores), and prints it.
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
sys.path.insert(0, str(REPO))


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(cmd: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": " ".join(["python"] + cmd[1:]), "exit_code": proc.returncode,
            "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "load_average_before": round(load, 2), "stdout_tail": proc.stdout.strip()[-300:],
            "stderr_tail": proc.stderr.strip()[-300:]}


def genre_separability(root: Path) -> dict:
    import librosa
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from coursekit.data.gtzan import GTZAN

    ds = GTZAN(root)
    X, y = [], []
    for i in range(len(ds)):
        item = ds[i]
        m = librosa.feature.mfcc(y=item["audio"].numpy(), sr=ds.sr, n_mfcc=20)
        X.append(np.r_[m.mean(axis=1), m.std(axis=1)])
        y.append(item["genre"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_score(model, np.array(X), np.array(y), cv=folds)
    return {"method": "mean+std of 20 MFCCs, standardised, logistic regression, 5-fold CV",
            "clips": len(ds), "accuracy_mean": round(float(scores.mean()), 3),
            "accuracy_folds": [round(float(s), 3) for s in scores], "chance": 0.1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="default", choices=["smoke", "default", "full"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sound", default="sampled", choices=["sampled", "additive"])
    args = ap.parse_args()
    py = sys.executable
    result = {"what": __doc__.splitlines()[0], "size": args.size, "seed": args.seed, "sound": args.sound,
              "command": f"python benchmarks/mini_data_make.py --size {args.size} --sound {args.sound}",
              "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "python": platform.python_version()},
              "datasets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind, sub in (("mini-nsynth", "nsynth", "nsynth-test"), ("mini-gtzan", "gtzan", ""),
                                ("mini-maestro", "maestro", "maestro-v3.0.0")):
            root = Path(tmp) / name
            make = run([py, "-m", "coursekit", "data", "make", name, "--root", str(root),
                        "--size", args.size, "--seed", str(args.seed), "--sound", args.sound])
            check = run([py, "-m", "coursekit", "data", "check", kind, str(root / sub)])
            entry = {"make": make, "check": {"command": check["command"].replace(tmp, "DIR"),
                                             "exit_code": check["exit_code"],
                                             "output": check["stdout_tail"].replace(tmp, "DIR")},
                     "megabytes": round(folder_bytes(root) / 1e6, 1),
                     "files": sum(1 for p in root.rglob("*.wav"))}
            entry["make"]["command"] = entry["make"]["command"].replace(str(root), "DIR")
            entry["make"].pop("stdout_tail")
            if make["exit_code"] == 0:
                entry["make"].pop("stderr_tail")  # progress bars only
            if name == "mini-gtzan":
                entry["genre_separability"] = genre_separability(root)
            result["datasets"][name] = entry
    walls = [d["make"]["wall_seconds"] for d in result["datasets"].values()]
    result["total_wall_seconds"] = round(sum(walls), 1)
    result["total_cpu_seconds"] = round(sum(d["make"]["cpu_seconds"] for d in result["datasets"].values()), 1)
    name = "mini_data_make" if args.size == "default" else f"mini_data_make_{args.size}"
    name += "" if args.sound == "sampled" else f"_{args.sound}"
    out = REPO / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
