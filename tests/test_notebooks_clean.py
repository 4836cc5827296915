"""Notebook hygiene: stored without outputs, and every chapter built the same way.

Notebooks are discovered, so chapters added later are held to the same rules:

- every notebook in notebooks/, solutions/ and exercises/ is valid nbformat v4 and has no
  outputs and no execution counts (clear them before committing);
- every chapter notebook (``notebooks/NN_*.ipynb``) starts with a Colab install cell guarded by
  ``if "google.colab" in sys.modules:``, reads its sizes from ``get_profile()``, says what goes
  wrong (and so why the next chapter exists), and ends with an Exercises section pointing to its
  ``exercises/NN_*.ipynb``, which exists;
- every notebook's install cell installs the one requirement of ``notebooks/colab_install.txt``
  (``python -m coursekit.colab`` writes them), which is not the ``[dev]`` extra;
- no chapter reads the repository's ``results/`` or ``benchmarks/`` or uses ``REPO_DIR``: a
  ``pip install`` (Colab) has none of them.
"""

import json
import math
import re
from argparse import Namespace
from pathlib import Path

import nbformat
import pytest

from coursekit import colab

REPO = Path(__file__).resolve().parents[1]
ALL = sorted(p for folder in ("notebooks", "solutions", "exercises")
             for p in (REPO / folder).glob("*.ipynb"))
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _ids(paths):
    return [str(p.relative_to(REPO)) for p in paths]


def _read(path):
    return nbformat.read(str(path), as_version=4)


def test_there_are_notebooks():
    assert CHAPTERS, "no chapter notebooks found in notebooks/"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_stored_without_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; clear them "
                       "(Jupyter: Edit > Clear Outputs of All Cells, or "
                       "jupyter nbconvert --clear-output --inplace) before committing")
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata; clear it"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_starts_with_a_guarded_colab_install(path):
    code = [c.source for c in _read(path).cells if c.cell_type == "code"]
    first = code[:2]
    assert any('"google.colab" in sys.modules' in s and "pip install" in s for s in first), (
        f"{path.name}: one of the first code cells must install coursekit on Colab, guarded by "
        "`if \"google.colab\" in sys.modules:`")
    for s in code:
        for line in s.splitlines():
            if "pip install" in line:
                assert line.startswith((" ", "\t")), \
                    f"{path.name}: unguarded `pip install` ({line.strip()}); put it under the Colab check"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_reads_sizes_from_the_profile(path):
    src = "\n".join(c.source for c in _read(path).cells if c.cell_type == "code")
    assert "get_profile(" in src, f"{path.name}: read sizes from coursekit.get_profile(), not literals"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_says_what_goes_wrong_and_ends_with_exercises(path):
    cells = _read(path).cells
    markdown = [c.source for c in cells if c.cell_type == "markdown"]
    assert any("what goes wrong" in s.lower() for s in markdown), \
        f"{path.name}: add a 'What goes wrong' section (and why the next chapter exists)"
    tail = [c.source for c in cells[-3:] if c.cell_type == "markdown"]
    assert any(re.search(r"^#+ .*exercises", s, re.IGNORECASE | re.MULTILINE) for s in tail), \
        f"{path.name}: end with an '## Exercises' section"
    number = path.name[:2]
    refs = {m for s in tail for m in re.findall(rf"exercises/({number}_[\w-]+\.ipynb)", s)}
    assert refs, f"{path.name}: the Exercises section must point to exercises/{number}_*.ipynb"
    for ref in refs:
        assert (REPO / "exercises" / ref).exists(), \
            f"{path.name} points to exercises/{ref}, which does not exist"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_install_cell_comes_from_colab_install_txt(path):
    requirement = colab.read_requirement(REPO / "notebooks" / "colab_install.txt")
    assert "[" not in requirement.split("@")[0], \
        f"colab_install.txt installs an extra ({requirement}); the notebooks need coursekit alone"
    first = next(c.source for c in _read(path).cells if c.cell_type == "code")
    assert first == colab.install_cell(requirement), (
        f"{path.name}: its install cell does not install {requirement!r} as "
        "notebooks/colab_install.txt says; run `python -m coursekit.colab`")


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_no_notebook_reads_the_repository(path):
    for i, cell in enumerate(_read(path).cells):
        for word in ("REPO_DIR", "results/", "benchmarks/"):
            assert word not in cell.source, (
                f"{path.name}, cell {i}: mentions {word}, which a pip install (Colab) does not "
                "have; compute it in the notebook or read it from the installed package")


def _course(tmp_path, requirement, cells=None):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "colab_install.txt").write_text(f"# a comment\n\n{requirement}\n")
    cells = cells or [nbformat.v4.new_markdown_cell("# 00"),
                      nbformat.v4.new_code_cell(colab.install_cell("coursekit @ git+https://x/old")),
                      nbformat.v4.new_code_cell("print(1)")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(tmp_path / "notebooks" / "00_a.ipynb"))
    return tmp_path / "notebooks" / "00_a.ipynb"


def test_colab_command_rewrites_every_install_cell(tmp_path, capsys):
    path = _course(tmp_path, "coursekit @ git+https://github.com/me/course@v2")
    assert colab.main(["--root", str(tmp_path), "--check"]) == 1
    assert "00_a.ipynb" in capsys.readouterr().err
    assert colab.main(["--root", str(tmp_path)]) == 0
    cells = _read(path).cells
    assert '!pip install -q "coursekit @ git+https://github.com/me/course@v2"' in cells[1].source
    assert [c.source for c in cells[::2]] == ["# 00", "print(1)"]  # the rest is untouched
    assert colab.main(["--root", str(tmp_path), "--check"]) == 0
    assert colab.cli(Namespace(check=True, root=tmp_path)) == 0     # what a CLI subcommand calls


@pytest.mark.parametrize("line, why", [
    ("", "exactly one requirement"),
    ("coursekit\ncoursekit @ git+https://x/y", "exactly one requirement"),
    ("numpy>=1.24", "not coursekit"),
    ('coursekit @ git+https://x/$HOME', "may not contain"),
    ("coursekit @@ nothing", "not a pip requirement"),
])
def test_colab_command_refuses_a_bad_requirement_in_one_line(tmp_path, capsys, line, why):
    path = _course(tmp_path, line)
    before = path.read_text()
    assert colab.main(["--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert why in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert path.read_text() == before


def test_colab_command_names_a_notebook_without_an_install_cell(tmp_path, capsys):
    _course(tmp_path, "coursekit", cells=[nbformat.v4.new_code_cell("print(1)")])
    assert colab.main(["--root", str(tmp_path)]) == 2
    assert "00_a.ipynb: its first code cell is not a Colab install cell" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The student's voice: how a chapter opens, how it is cut into sections, what it never mentions
# ---------------------------------------------------------------------------------------------

RESULTS = REPO / "results"
HEADER_FIELDS = ("**Goal.**", "**You need.**", "**Runtime.**", "**Plan.**")
RUNTIME = re.compile(r"\*\*Runtime\.\*\* smoke ~(\d+) min · default ~(\d+) min on a 2-core CPU"
                     r" · full (?:~(\d+) min on a T4 GPU \(projected\)|(.+))")
# what a pip install does not have, and what only this project's history knows
FORBIDDEN = [
    (re.compile(r"REPO_DIR|results/|benchmarks/|(?<![\w.])tests/|shared/"), "a repository path"),
    (re.compile(r"\btest_\w+\.py\b"), "a test file"),
    (re.compile(r"(?<![\w-])--(?!help\b)[a-z][a-z0-9-]+"), "a command-line flag"),
    (re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{12,64}\b"), "a digest"),
]
MAX_MARKDOWN_LINES = 30
# the mechanism of each model chapter, written on the page and checked against the library
SAME_CHECKS = {"02": 2, "03": 1, "04": 3, "05": 2, "06": 2}


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def _measured(profile: str, name: str):
    runs = json.loads((RESULTS / f"notebook_times_{profile}.json").read_text())["runs"]
    entry = runs.get(name, {}).get(profile)
    return None if entry is None else entry["wall_seconds"]


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_opens_with_goal_prerequisites_runtime_and_plan(path):
    first = next(c.source for c in _read(path).cells if c.cell_type == "markdown")
    assert first.startswith(f"# {path.name[:2]} · "), f"{path.name}: open with '# {path.name[:2]} · Title'"
    missing = [f for f in HEADER_FIELDS if f not in first]
    assert not missing, f"{path.name}: the first cell lacks {missing} (goal, prerequisites, runtime, plan)"
    m = RUNTIME.search(first)
    assert m, (f"{path.name}: write the runtime as '**Runtime.** smoke ~N min · default ~N min on a "
               "2-core CPU · full ~N min on a T4 GPU (projected)'")
    for profile, stated in (("smoke", m.group(1)), ("default", m.group(2))):
        wall = _measured(profile, path.name)
        assert wall is not None, (f"{path.name}: no {profile} time measured; run "
                                  f"benchmarks/notebook_times.py --profile {profile}")
        assert int(stated) == _minutes(wall), (
            f"{path.name}: says {profile} ~{stated} min, measured {wall:.0f} s "
            f"(~{_minutes(wall)} min, notebook_times_{profile}.json)")
    projected = json.loads((RESULTS / "gpu_projection.json").read_text())["chapters"]
    if path.name[:2] in projected:
        t4 = projected[path.name[:2]]["T4_min"]
        assert m.group(3) and int(m.group(3)) == math.ceil(t4), (
            f"{path.name}: the full profile is projected at {t4} min on a T4 (gpu_projection.json)")


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_sections_are_numbered_in_order_and_plan_matches(path):
    cells = _read(path).cells
    markdown = [c.source for c in cells if c.cell_type == "markdown"]
    numbers = [int(n) for s in markdown for n in re.findall(r"^## (\d+)\. ", s, re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)), \
        f"{path.name}: sections are numbered {numbers}; number them 1, 2, 3, ... in order"
    lettered = [h for s in markdown for h in re.findall(r"^#+ \d+[a-z]\b.*$", s, re.MULTILINE)]
    assert not lettered, f"{path.name}: lettered sections {lettered}; renumber them"
    plan = markdown[0].split("**Plan.**", 1)[-1]
    items = re.findall(r"^\d+\. ", plan, re.MULTILINE)
    assert len(items) == len(numbers), \
        f"{path.name}: the plan lists {len(items)} steps, the chapter has {len(numbers)} numbered sections"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_no_text_cell_is_too_long_to_read(path):
    for i, c in enumerate(_read(path).cells):
        if c.cell_type == "markdown":
            n = len(c.source.splitlines())
            assert n <= MAX_MARKDOWN_LINES, \
                f"{path.name}, cell {i}: {n} lines of text; split it with the code it explains"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_no_project_history_in_a_notebook(path):
    for i, cell in enumerate(_read(path).cells):
        for pattern, what in FORBIDDEN:
            m = pattern.search(cell.source)
            assert not m, (f"{path.name}, cell {i}: {what} ({m.group(0)!r}); a student reads the "
                           "course, not the project's history: say it in the notebook's own terms")


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_ends_with_a_self_check_quiz(path):
    code = "\n".join(c.source for c in _read(path).cells if c.cell_type == "code")
    assert re.search(r"\bquiz\(", code) and "Question(" in code, \
        f"{path.name}: close with a short self-check quiz (coursekit.quiz)"


@pytest.mark.parametrize("number", sorted(SAME_CHECKS))
def test_model_chapter_checks_its_mechanism_against_the_library(number):
    path = next((REPO / "notebooks").glob(f"{number}_*.ipynb"))
    code = "\n".join(c.source for c in _read(path).cells if c.cell_type == "code")
    found = len(re.findall(r"\bsame\(", code))
    assert found >= SAME_CHECKS[number], (
        f"{path.name}: {found} mechanisms checked against the library with same(...), "
        f"expected at least {SAME_CHECKS[number]}")
