"""Before/after table of issue #24's defects: each defect's tests run on this checkout and on
an older commit (the code before the fixes), results in ``results/reliability.json``.

    python benchmarks/reliability_table.py --before 52c0f86

The tests are the files ``tests/test_outputs.py`` and ``tests/test_reliability_*.py``; a test
belongs to defect N when its name holds ``defectNN`` (``test_defect13_14_...`` counts for both).
The older commit is checked out into a temporary git worktree and the *current* test files are
run against its code (``PYTHONPATH`` pointing there), so "before" means: these exact tests, on
the code as it was. A test that cannot even import what it needs there counts as failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 12 * 2**30  # bytes of address space each pytest run may take
TEST_FILES = ["tests/test_outputs.py", *sorted(str(p.relative_to(REPO)) for p in
                                               (REPO / "tests").glob("test_reliability_*.py"))]
DEFECTS = {
    1: "an archive's link chain writes outside its folder",
    2: "sample --out deletes DIR/audio/ and replaces examples.json",
    3: "training destroys its own result (--out model.json, --resume, an existing --out)",
    4: "bad checkpoints give tracebacks; the piano model samples as notes",
    5: "blinding leaks through stimulus length",
    6: "listening analyse merges two different tests",
    7: "downloads: dropped connection, resume of a changed file, corrupt archives",
    8: "an unwritable output or cache folder gives a traceback",
    9: "a NaN, empty or silent clip stops fad/eval/codec reconstruct unnamed",
    10: "data check gtzan passes broken clips",
    11: "codec reconstruct overwrites OUT_DIR silently and nests inside IN",
    12: "fad --embedding vggish, clap or encodec offline gives a traceback",
    13: "arguments are not validated",
    14: "memory is unbounded (1 Hz header, 10-minute file, --n)",
    15: "FAD's printout misleads (interval, FAD-inf fit, file order)",
    16: "doctor misreports the data root",
    17: "a note name in examples.json reads audio outside the folder",
    18: "listening analyse --fad binary file; serve leaves its temporary folder",
}


def run_tests(code_dir: Path, test_dir: Path, xml: Path) -> dict:
    """Run the defect test files found in ``test_dir`` against the package in ``code_dir``;
    ``{test name: 'passed' | 'failed' | 'skipped'}``."""
    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    files = [str(test_dir / f) for f in TEST_FILES]

    # the old code allocates without limit and runs without end (defect 14): a MemoryError
    # rather than the OOM killer, and a test that runs past 60 s fails
    def bounded():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                    "--timeout=60", f"--junitxml={xml}", *files], cwd=code_dir, env=env, capture_output=True, text=True,
                   preexec_fn=bounded)
    if not xml.exists():
        raise SystemExit(f"pytest wrote no {xml.name} for {code_dir}: it was killed; try a lower MEMORY_LIMIT")
    out = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        tags = {child.tag for child in case}
        out[name] = ("failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags
                     else "passed")
    return out


def defects_of(test: str) -> list[int]:
    m = re.search(r"defect(\d\d(?:_\d\d)*)", test)
    return [int(x) for x in m.group(1).split("_")] if m else []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="the commit before the fixes")
    p.add_argument("--out", default=str(REPO / "results" / "reliability.json"))
    args = p.parse_args(argv)
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    base = work / "before"
    try:
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.before], cwd=REPO,
                       check=True)
        for f in TEST_FILES:   # the current tests, next to the old code (its conftest and data)
            shutil.copyfile(REPO / f, base / f)
        before = run_tests(base, base, work / "before.xml")
        after = run_tests(REPO, REPO, work / "after.xml")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for n, what in DEFECTS.items():
        tests = sorted(t for t in after if n in defects_of(t))
        rows.append({"defect": n, "what": what, "tests": tests, "n_tests": len(tests),
                     "failed_before": sum(before.get(t, "failed") == "failed" for t in tests),
                     "passed_after": sum(after[t] == "passed" for t in tests),
                     "skipped_after": sum(after[t] == "skipped" for t in tests)})
    others = sorted(t for t in after if not defects_of(t))
    result = {"what": "issue #24: each defect's tests on the code before the fixes and now",
              "command": "python benchmarks/reliability_table.py --before " + args.before,
              "before": args.before,
              "after": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                      capture_output=True, text=True).stdout.strip(),
              "defects": rows,
              "other_tests": {"n": len(others),
                              "failed_before": sum(before.get(t, "failed") == "failed" for t in others),
                              "passed_after": sum(after[t] == "passed" for t in others)},
              "seconds": round(time.time() - t0, 1)}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("| # | defect | tests | failed before | pass after |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['defect']} | {r['what']} | {r['n_tests']} | {r['failed_before']} | "
              f"{r['passed_after']}" + (f" (+{r['skipped_after']} skipped)" if r['skipped_after'] else "") + " |")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
