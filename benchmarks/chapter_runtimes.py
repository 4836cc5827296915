"""Write each chapter's measured runtime into its opening cell.

Each chapter opens with ``**Runtime.** smoke ~S min · default ~D min on a 2-core CPU · full ...``.
S and D are the wall minutes (rounded up) that ``benchmarks/notebook_times.py`` measured in
``results/notebook_times_smoke.json`` and ``results/notebook_times_default.json``; F, for the
chapters that train, is the T4 projection of ``results/gpu_projection.json``. This script puts
those numbers in the notebooks (``tests/test_notebooks_clean.py`` fails when they differ), so
re-measure, then run it::

    python benchmarks/notebook_times.py --all --profile smoke --results results/notebook_times_smoke.json
    python benchmarks/notebook_times.py --all --profile default --results results/notebook_times_default.json
    python benchmarks/chapter_runtimes.py
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
RUNTIME = re.compile(r"(\*\*Runtime\.\*\* smoke ~)(\d+)( min · default ~)(\d+)( min on a 2-core CPU · full )"
                     r"(~(\d+) min on a T4 GPU \(projected\))?")


def minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def main() -> int:
    walls = {p: json.loads((RESULTS / f"notebook_times_{p}.json").read_text())["runs"] for p in ("smoke", "default")}
    t4 = json.loads((RESULTS / "gpu_projection.json").read_text())["chapters"]
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        cell = next(c for c in nb.cells if c.cell_type == "markdown")
        m = RUNTIME.search(cell.source)
        if not m:
            print(f"{path.name}: no runtime line in its first cell", file=sys.stderr)
            return 1
        try:
            s, d = (minutes(walls[p][path.name][p]["wall_seconds"]) for p in ("smoke", "default"))
        except KeyError:
            print(f"{path.name}: not measured in both profiles; run benchmarks/notebook_times.py", file=sys.stderr)
            return 1
        full = m.group(6)
        if path.name[:2] in t4:
            full = f"~{math.ceil(t4[path.name[:2]]['T4_min'])} min on a T4 GPU (projected)"
        line = f"{m.group(1)}{s}{m.group(3)}{d}{m.group(5)}{full or ''}"
        if line != m.group(0):
            cell.source = cell.source.replace(m.group(0), line)
            nbformat.write(nb, str(path))
            print(f"{path.name}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
