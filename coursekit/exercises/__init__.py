"""Exercise notebooks: one source of truth, generated stubs, and checks.

``solutions/NN_name.ipynb`` is the only notebook an author edits. It holds the worked answers
between nbgrader-style markers; :func:`build_all` (``python -m coursekit exercises build``)
writes ``exercises/NN_name.ipynb`` from it, and :func:`check_all`
(``python -m coursekit exercises check``, and ``tests/test_exercises.py``) fails when the
committed exercises are out of date.

Markers (each alone on its line, at any indentation)
----------------------------------------------------
``### BEGIN SOLUTION`` / ``### END SOLUTION``
    In a code cell the block becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at
    the indentation of the ``BEGIN`` line; in a markdown cell it becomes ``YOUR ANSWER HERE``.
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``
    Removed from the exercise (nbgrader puts them back when it grades).

Outputs and execution counts are stripped, and cells get nbgrader metadata: code solution cells
``{solution: true, grade: false, locked: false}`` (autograded answers), markdown solution cells
``{solution: true, grade: true, points: 1}`` (written answers, graded by hand), cells with
hidden tests ``{grade: true, locked: true, points: 1}`` (autograder tests). A ``grade_id`` or
``points`` already in a cell's ``metadata.nbgrader`` in the solution is kept. :func:`annotate`
stamps the same metadata on a solution notebook (markers kept), so ``solutions/`` can serve as
nbgrader's source folder.

How to write an exercise (the conventions every chapter follows)
----------------------------------------------------------------
1. The checks of chapter NN live in ``coursekit/exercises/chNN.py``: one function per check,
   named ``check_<what>``, taking the student's function (or value) and returning
   ``run_check(name, fn, hint)`` from :mod:`coursekit.exercises.checks`. It prints
   ``PASS: <name>`` or ``FAIL: <name>: <hint>``, returns a bool, and never raises (a stub's
   ``NotImplementedError`` is a FAIL too). Inside, test with ``assert cond, "hint"``: the
   assertion message becomes the hint the student reads. Checks must be fast (well under a
   second) and must fail on the stub, pass on the solution: ``tests/test_exercises.py`` runs
   both notebooks of every chapter to prove it.
2. In ``solutions/NN_name.ipynb`` an exercise is: a markdown cell stating the task, a code cell
   with the function signature and docstring kept and the body between the solution markers,
   then a check cell::

       from coursekit.exercises import ch00
       ok = ch00.check_mu_law_encode(mu_law_encode)
       ### BEGIN HIDDEN TESTS
       assert ok
       ### END HIDDEN TESTS

   The hidden ``assert`` is what makes nbgrader's autograder take the points away; in the
   exercise the check cell only prints.
   The exercise notebook must run top to bottom on the untouched stubs without an error
   ("Run All" must reach every check): call the student's code only inside a check, or in a
   cell guarded by ``if ok:`` right after the check (to listen to or plot their result).
3. Run ``python -m coursekit exercises build`` (or, to touch only your chapter,
   ``build_all(names=["NN_name"])``) and commit ``solutions/`` and ``exercises/`` together.
   Exercise notebooks should run in seconds (small synthetic inputs, no training).

Example
-------
>>> import nbformat
>>> from coursekit.exercises import build_exercise
>>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
...     "def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION")])
>>> print(build_exercise(nb).cells[0].source)
def f(x):
    # YOUR CODE HERE
    raise NotImplementedError()
"""

from __future__ import annotations

import copy
import shutil
import sys
import time
from pathlib import Path

from ..paths import REPO_DIR
from .checks import hint

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
NBGRADER_SCHEMA = 3

SOLUTIONS_DIR = REPO_DIR / "solutions"
EXERCISES_DIR = REPO_DIR / "exercises"

__all__ = ["MarkerError", "build_exercise", "build_all", "check_all", "annotate",
           "cli_build", "cli_check", "hint", "SOLUTIONS_DIR", "EXERCISES_DIR"]


class MarkerError(ValueError):
    """Solution or hidden-test markers that do not pair up; the message names notebook and cell."""


# ---------------------------------------------------------------------------------------------
# One cell
# ---------------------------------------------------------------------------------------------

def _process_source(source: str, cell_type: str, where: str) -> tuple[str, bool, bool]:
    """Replace solution blocks and drop hidden-test blocks of one cell's source.

    Returns ``(new_source, had_solution, had_hidden_tests)``.
    """
    out: list[str] = []
    open_block: tuple[str, int] | None = None  # (kind, line number) of the open BEGIN
    had_solution = had_hidden = False
    for lineno, line in enumerate(source.split("\n"), start=1):
        text = line.strip()
        if text in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if open_block is not None:
                raise MarkerError(f"{where}: line {lineno}: '{text}' inside the block opened by "
                                  f"'{open_block[0]}' on line {open_block[1]}; close it first")
            open_block = (text, lineno)
            if text == BEGIN_SOLUTION:
                had_solution = True
                indent = line[: len(line) - len(line.lstrip())]
                if cell_type == "code":
                    out.extend(indent + s for s in CODE_STUB)
                else:
                    out.append(indent + MARKDOWN_STUB)
            else:
                had_hidden = True
            continue
        if text in (END_SOLUTION, END_HIDDEN):
            expected = BEGIN_SOLUTION if text == END_SOLUTION else BEGIN_HIDDEN
            if open_block is None or open_block[0] != expected:
                raise MarkerError(f"{where}: line {lineno}: '{text}' without a matching "
                                  f"'{expected}' before it")
            open_block = None
            continue
        if open_block is None:
            out.append(line)
    if open_block is not None:
        end = END_SOLUTION if open_block[0] == BEGIN_SOLUTION else END_HIDDEN
        raise MarkerError(f"{where}: line {open_block[1]}: '{open_block[0]}' is never closed; "
                          f"add '{end}' after the block")
    if had_solution and had_hidden:
        raise MarkerError(f"{where}: a cell has both a solution and hidden tests; put the hidden "
                          "tests in the check cell that follows the solution")
    # hidden tests at the end of a cell leave trailing blank lines behind
    return "\n".join(out).rstrip() if had_hidden else "\n".join(out), had_solution, had_hidden


def _nbgrader_meta(cell, grade_id: str, solution: bool) -> dict:
    old = dict(cell.get("metadata", {}).get("nbgrader", {}))
    meta = {"grade_id": old.get("grade_id", grade_id), "schema_version": NBGRADER_SCHEMA}
    if solution and cell.cell_type == "markdown":
        # a written answer: nbgrader's "manually graded answer"
        meta.update(solution=True, grade=True, locked=False, points=old.get("points", 1))
    elif solution:
        meta.update(solution=True, grade=False, locked=False)
    else:
        meta.update(solution=False, grade=True, locked=True, points=old.get("points", 1))
    return meta


def _clean(cell) -> None:
    """Strip outputs, execution counts and run-time metadata."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
        cell.metadata.pop(key, None)


# ---------------------------------------------------------------------------------------------
# One notebook
# ---------------------------------------------------------------------------------------------

def _transform(nb, name: str, strip: bool):
    """Annotate (and, with ``strip``, turn into the exercise) a copy of ``nb``."""
    nb = copy.deepcopy(nb)
    n_solution = n_test = 0
    for i, cell in enumerate(nb.cells):
        where = f"{name}: cell {i}"
        if cell.cell_type not in ("code", "markdown"):
            continue
        new, has_sol, has_hidden = _process_source(cell.source, cell.cell_type, where)
        if has_hidden and cell.cell_type != "code":
            raise MarkerError(f"{where}: hidden tests in a {cell.cell_type} cell; they belong "
                              "in a code cell")
        if has_sol:
            n_solution += 1
            cell.metadata["nbgrader"] = _nbgrader_meta(cell, f"{Path(name).stem}-answer-{n_solution}",
                                                       solution=True)
        elif has_hidden:
            n_test += 1
            cell.metadata["nbgrader"] = _nbgrader_meta(cell, f"{Path(name).stem}-check-{n_test}",
                                                       solution=False)
        else:
            cell.metadata.pop("nbgrader", None)
        if strip:
            cell.source = new
        _clean(cell)
    nb.metadata.pop("widgets", None)
    return nb


def build_exercise(nb, name: str = "notebook"):
    """The exercise version of solution notebook ``nb`` (a new notebook; ``nb`` is unchanged).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        A solution notebook with ``### BEGIN SOLUTION`` / ``### END SOLUTION`` and
        ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` markers.
    name : str
        Used in error messages (the notebook's file name).

    Returns
    -------
    nbformat.NotebookNode
        Solutions replaced by stubs, hidden tests removed, outputs stripped, nbgrader metadata set.

    Raises
    ------
    MarkerError
        When markers do not pair up, naming the notebook, cell and line.
    """
    return _transform(nb, name, strip=True)


def annotate(nb, name: str = "notebook"):
    """A copy of solution notebook ``nb`` with nbgrader metadata and no outputs, markers kept.

    Solution notebooks written this way can be used directly as nbgrader's ``source`` version.
    """
    return _transform(nb, name, strip=False)


# ---------------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------------

def _read(path: Path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def _render(nb) -> str:
    import nbformat

    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _expected(solutions_dir: Path, names=None) -> dict[str, str]:
    """File name -> the exercise notebook's text, for every (or each named) solution notebook."""
    out = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        if names is None or path.name in names or path.stem in names:
            out[path.name] = _render(build_exercise(_read(path), name=str(path)))
    return out


def build_all(solutions_dir=None, exercises_dir=None, verbose: bool = False,
              names=None) -> list[Path]:
    """Write ``exercises_dir/<name>.ipynb`` for every ``solutions_dir/<name>.ipynb``.

    ``names`` (file names or stems, e.g. ``["00_audio_fundamentals"]``) limits the build to
    those notebooks. Exercise notebooks without a solution notebook are left alone
    (``check_all`` reports them). Returns the paths written (only those whose content changed).
    """
    solutions_dir = Path(solutions_dir or SOLUTIONS_DIR)
    exercises_dir = Path(exercises_dir or EXERCISES_DIR)
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"{solutions_dir}: no solutions folder; nothing to build from")
    expected = _expected(solutions_dir, names)  # all markers checked before anything is written
    if names is not None and not expected:
        raise FileNotFoundError(f"{solutions_dir}: none of {list(names)} is there")
    exercises_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, text in expected.items():
        target = exercises_dir / fname
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        kept = _keep_previous(target)
        tmp = target.with_suffix(".ipynb.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        written.append(target)
        if verbose:
            print(f"wrote {target}" + (f" (the previous version, perhaps with your answers, is kept "
                                       f"as {kept})" if kept else ""))
    return written


def _keep_previous(target: Path) -> Path | None:
    """Copy an exercise notebook about to be replaced (it may hold a student's answers) to
    ``.replaced/NAME-<time>.ipynb`` beside it; return the copy, or None when there was none."""
    if not target.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = target.parent / ".replaced" / f"{target.stem}-{stamp}.ipynb"
    n = 1
    while kept.exists():
        n += 1
        kept = kept.with_name(f"{target.stem}-{stamp}-{n}.ipynb")
    kept.parent.mkdir(exist_ok=True)
    shutil.copy2(target, kept)
    return kept


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def check_all(solutions_dir=None, exercises_dir=None) -> list[str]:
    """Exercise notebooks that are out of sync with their solutions, one line each.

    Lists changed, missing and extra files; empty when everything agrees. Only trailing
    whitespace is ignored in the comparison.
    """
    solutions_dir = Path(solutions_dir or SOLUTIONS_DIR)
    exercises_dir = Path(exercises_dir or EXERCISES_DIR)
    expected = _expected(solutions_dir) if solutions_dir.is_dir() else {}
    present = {p.name for p in exercises_dir.glob("*.ipynb")} if exercises_dir.is_dir() else set()
    problems = []
    for fname, text in expected.items():
        target = exercises_dir / fname
        if fname not in present:
            problems.append(f"{target}: missing (its solution is {solutions_dir / fname})")
        elif _norm(target.read_text(encoding="utf-8")) != _norm(text):
            problems.append(f"{target}: differs from what {solutions_dir / fname} generates")
    for fname in sorted(present - set(expected)):
        problems.append(f"{exercises_dir / fname}: extra (no {solutions_dir / fname})")
    return problems


# ---------------------------------------------------------------------------------------------
# Command line: python -m coursekit exercises build|check
# ---------------------------------------------------------------------------------------------

def cli_build(args=None) -> int:
    written = build_all(getattr(args, "solutions", None), getattr(args, "exercises", None))
    for path in written:
        print(f"wrote {path}")
    kept = Path(getattr(args, "exercises", None) or EXERCISES_DIR) / ".replaced"
    if written and kept.is_dir():
        print(f"each replaced notebook's previous version (answers a student wrote in it included) "
              f"is kept in {kept}/")
    n = len(list(Path(getattr(args, "solutions", None) or SOLUTIONS_DIR).glob("*.ipynb")))
    print(f"{n} exercise notebook(s) built, {len(written)} changed")
    return 0


def cli_check(args=None) -> int:
    problems = check_all(getattr(args, "solutions", None), getattr(args, "exercises", None))
    if not problems:
        print("OK: exercises/ is in sync with solutions/")
        return 0
    print(f"{len(problems)} exercise notebook(s) out of sync:", file=sys.stderr)
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    print("run: python -m coursekit exercises build", file=sys.stderr)
    return 1
