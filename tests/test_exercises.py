"""Exercise notebooks: markers, the build, the sync with solutions/, and every check.

The last test runs, for every ``solutions/NN_*.ipynb`` (discovered, so later chapters are
covered without editing this file), the solution notebook and its generated exercise notebook
in a kernel of the current environment (smoke profile) and proves that every check FAILs on the
untouched stubs and PASSes on the solutions.
"""

import re
from argparse import Namespace
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import exercises
from coursekit.exercises import (MarkerError, annotate, build_all, build_exercise, check_all,
                                 checks)

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _nb(*sources, kind="code"):
    make = new_code_cell if kind == "code" else new_markdown_cell
    return new_notebook(cells=[make(s) for s in sources])


# ---------------------------------------------------------------------------------------------
# Marker processing
# ---------------------------------------------------------------------------------------------

def test_solution_block_becomes_a_stub_at_its_indentation():
    src = ("import numpy as np\n\n"
           "def f(x):\n"
           "    \"\"\"Double x.\"\"\"\n"
           "    ### BEGIN SOLUTION\n"
           "    y = 2 * x\n"
           "    return y\n"
           "    ### END SOLUTION\n\n"
           "class A:\n"
           "    def g(self):\n"
           "        ### BEGIN SOLUTION\n"
           "        return 1\n"
           "        ### END SOLUTION")
    out = build_exercise(_nb(src)).cells[0]
    assert out.source == ("import numpy as np\n\n"
                          "def f(x):\n"
                          "    \"\"\"Double x.\"\"\"\n"
                          "    # YOUR CODE HERE\n"
                          "    raise NotImplementedError()\n\n"
                          "class A:\n"
                          "    def g(self):\n"
                          "        # YOUR CODE HERE\n"
                          "        raise NotImplementedError()")
    compile(out.source, "<exercise>", "exec")  # still valid Python
    meta = out.metadata["nbgrader"]
    assert meta["solution"] is True and meta["grade"] is False and meta["locked"] is False
    assert meta["schema_version"] == 3 and meta["grade_id"]


def test_hidden_tests_are_removed_and_the_cell_is_graded():
    src = ("ok = check(f)\n"
           "### BEGIN HIDDEN TESTS\n"
           "assert ok\n"
           "assert f(2) == 4\n"
           "### END HIDDEN TESTS\n")
    nb = _nb(src, "print('plain')")
    out = build_exercise(nb)
    assert out.cells[0].source == "ok = check(f)"
    meta = out.cells[0].metadata["nbgrader"]
    assert meta["grade"] is True and meta["locked"] is True and meta["points"] == 1
    assert meta["solution"] is False
    assert "nbgrader" not in out.cells[1].metadata and out.cells[1].source == "print('plain')"
    assert "BEGIN HIDDEN" in nb.cells[0].source  # the input notebook is not modified


def test_markdown_answer_and_outputs_stripped():
    nb = _nb("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", kind="markdown")
    code = new_code_cell("print(1)", execution_count=3,
                         outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")])
    nb.cells.append(code)
    out = build_exercise(nb)
    assert out.cells[0].source == "Why?\n\nYOUR ANSWER HERE"
    assert out.cells[0].metadata["nbgrader"]["grade"] is True  # graded by hand
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None


def test_grade_id_and_points_from_the_solution_are_kept():
    cell = new_code_cell("ok = c()\n### BEGIN HIDDEN TESTS\nassert ok\n### END HIDDEN TESTS")
    cell.metadata["nbgrader"] = {"grade_id": "mu-law", "points": 3}
    meta = build_exercise(new_notebook(cells=[cell])).cells[0].metadata["nbgrader"]
    assert meta["grade_id"] == "mu-law" and meta["points"] == 3


def test_annotate_keeps_the_markers():
    nb = _nb("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    out = annotate(nb)
    assert out.cells[0].source == nb.cells[0].source
    assert out.cells[0].metadata["nbgrader"]["solution"] is True


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a matching"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION", "inside the block"),
    ("### BEGIN HIDDEN TESTS\nassert 1\n### END SOLUTION", "without a matching"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### BEGIN HIDDEN TESTS\nassert x\n"
     "### END HIDDEN TESTS", "both a solution and hidden tests"),
])
def test_unbalanced_markers_name_notebook_and_cell(src, message):
    nb = _nb("print('fine')", src)
    with pytest.raises(MarkerError, match=message) as err:
        build_exercise(nb, name="solutions/99_demo.ipynb")
    assert "solutions/99_demo.ipynb: cell 1" in str(err.value)


# ---------------------------------------------------------------------------------------------
# Folders and the command line
# ---------------------------------------------------------------------------------------------

def _write_solution(folder: Path, name="07_demo.ipynb", body="return 2 * x"):
    folder.mkdir(parents=True, exist_ok=True)
    nb = _nb(f"def f(x):\n    ### BEGIN SOLUTION\n    {body}\n    ### END SOLUTION",
             "ok = check(f)\n### BEGIN HIDDEN TESTS\nassert ok\n### END HIDDEN TESTS")
    nbformat.write(nb, str(folder / name))


def test_build_then_check_and_every_kind_of_drift(tmp_path, capsys):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    _write_solution(sol)
    assert check_all(sol, ex) == [f"{ex / '07_demo.ipynb'}: missing (its solution is {sol / '07_demo.ipynb'})"]
    assert build_all(sol, ex) == [ex / "07_demo.ipynb"]
    assert check_all(sol, ex) == []
    text = (ex / "07_demo.ipynb").read_text()
    assert build_all(sol, ex) == []  # deterministic: nothing changes the second time
    assert (ex / "07_demo.ipynb").read_text() == text
    # trailing whitespace alone is not a difference
    (ex / "07_demo.ipynb").write_text(text.replace("\n", "  \n"))
    assert check_all(sol, ex) == []
    # a changed solution is
    _write_solution(sol, body="return x + x")
    assert [p.split(":")[0] for p in check_all(sol, ex)] == [str(ex / "07_demo.ipynb")]
    # and an exercise without a solution
    build_all(sol, ex)
    (ex / "08_orphan.ipynb").write_text(text)
    assert check_all(sol, ex) == [f"{ex / '08_orphan.ipynb'}: extra (no {sol / '08_orphan.ipynb'})"]

    args = Namespace(solutions=str(sol), exercises=str(ex))
    assert exercises.cli_check(args) == 1
    err = capsys.readouterr().err
    assert "08_orphan.ipynb" in err and "python -m coursekit exercises build" in err
    (ex / "08_orphan.ipynb").unlink()
    assert exercises.cli_check(args) == 0


def test_build_keeps_a_students_answers(tmp_path, capsys):
    """Rebuilding exercises/ after a solution changed keeps the student's filled-in notebook."""
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    _write_solution(sol)
    build_all(sol, ex)
    answered = (ex / "07_demo.ipynb").read_text().replace("raise NotImplementedError", "return 2 * x")
    (ex / "07_demo.ipynb").write_text(answered)
    _write_solution(sol, body="return x + x")
    assert exercises.cli_build(Namespace(solutions=str(sol), exercises=str(ex))) == 0
    kept = list((ex / ".replaced").glob("07_demo-*.ipynb"))
    assert len(kept) == 1 and kept[0].read_text() == answered
    assert ".replaced" in capsys.readouterr().out


def test_build_refuses_unbalanced_markers_before_writing(tmp_path):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    _write_solution(sol, "00_good.ipynb")
    nbformat.write(_nb("### BEGIN SOLUTION\nx = 1"), str(sol / "01_bad.ipynb"))
    with pytest.raises(MarkerError, match=r"01_bad.ipynb: cell 0"):
        build_all(sol, ex)
    assert not list(ex.glob("*.ipynb")) if ex.exists() else True


def test_cli_exercises_check_on_the_checkout(capsys):
    from coursekit.cli import main

    assert main(["exercises", "check"]) == 0, capsys.readouterr().err


def test_committed_exercises_are_in_sync_with_solutions():
    problems = check_all()
    assert problems == [], "\n".join(problems + ["run: python -m coursekit exercises build"])


# ---------------------------------------------------------------------------------------------
# The checks themselves
# ---------------------------------------------------------------------------------------------

def test_run_check_never_raises(capsys):
    def boom():
        raise RuntimeError("kaput")

    def stub():
        raise NotImplementedError()

    def wrong():  # what a failing `assert cond, "one is not two"` raises in a check
        raise AssertionError("one is not two")

    assert checks.run_check("a", lambda: None) is True
    assert checks.run_check("b", boom, hint="look at x") is False
    assert checks.run_check("c", stub) is False
    assert checks.run_check("d", wrong, hint="unused") is False
    assert checks.run_check("e", lambda: False, hint="try again") is False
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["PASS: a",
                     "FAIL: b: look at x (your code raised RuntimeError: kaput)",
                     "FAIL: c: not implemented yet: replace `raise NotImplementedError()` with your code",
                     "FAIL: d: one is not two",
                     "FAIL: e: try again"]


CHECK_LINE = re.compile(r"^(PASS|FAIL): ([^:\s]+)", re.MULTILINE)


def _run(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Execute a notebook in a kernel of this environment.

    Returns its ``(PASS|FAIL, name)`` lines and one line per cell that raised.
    """
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    nb = nbformat.read(str(path), as_version=4)
    km = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME,
                       kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(nb, km=km, timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    text = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs if out.output_type == "stream")
    errors = [f"cell {i}: {out.ename}: {out.evalue}" for i, cell in enumerate(nb.cells)
              if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"]
    return CHECK_LINE.findall(text), errors


@pytest.mark.timeout(300)
@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_check_fails_on_the_stub_and_passes_on_the_solution(solution):
    exercise = REPO / "exercises" / solution.name
    assert exercise.exists(), f"{exercise} is missing: run python -m coursekit exercises build"
    on_solution, errors = _run(solution)
    assert not errors, f"{solution.name} raised: {errors}"
    on_exercise, errors = _run(exercise)
    assert not errors, (
        f"{exercise.name} raised on the untouched stubs: {errors}. Exercise notebooks must run top "
        "to bottom: call the student's code only inside a check, or under `if ok:` after it")
    names = [name for _, name in on_solution]
    assert len(names) >= 2, f"{solution.name}: expected at least 2 checks, found {names}"
    assert len(set(names)) == len(names), f"{solution.name}: a check runs twice: {names}"
    assert [v for v, _ in on_solution] == ["PASS"] * len(names), \
        f"{solution.name}: checks failing on the solution: {on_solution}"
    assert [name for _, name in on_exercise] == names, \
        f"the exercise runs other checks than the solution: {on_exercise} vs {on_solution}"
    assert [v for v, _ in on_exercise] == ["FAIL"] * len(names), \
        f"{exercise.name}: checks passing on the untouched stub: {on_exercise}"


# A hint says what to think about, never the code of the answer (an assignment, a call into
# NumPy or torch, a slice, a loop, a return).
CODE_IN_HINT = re.compile(r"\b(np|torch|F|math)\.\w|\breturn\b|\w\[[^\]]*:[^\]]*\]|\bfor \w+ in\b"
                          r"|^\s*\w+\s*=[^=]|[^=!<>]=\s*\w+\(|\w\(\w+(, *\w+)*\)\s*[-+*/]")


def _hints():
    import ast
    for module in sorted((REPO / "coursekit" / "exercises").glob("ch[0-9][0-9].py")):
        tree = ast.parse(module.read_text())
        named = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}    # hints kept in a constant
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "run_check":
                args = [k.value for k in node.keywords if k.arg == "hint"] + node.args[2:3]
                for arg in args:
                    arg = named.get(arg.id, arg) if isinstance(arg, ast.Name) else arg
                    tiers = arg.elts if isinstance(arg, ast.Tuple) else [arg]
                    for k, tier in enumerate(tiers):
                        if isinstance(tier, ast.Constant) and isinstance(tier.value, str):
                            yield module.name, node.args[0].value, k, tier.value


def test_hints_come_in_tiers_and_never_give_the_code():
    found = list(_hints())
    assert found, "no hints found in coursekit/exercises/chNN.py"
    coded = [f"{m} {name} tier {k + 1}: {text!r}" for m, name, k, text in found
             if CODE_IN_HINT.search(text)]
    assert not coded, "hints that give code instead of an idea:\n" + "\n".join(coded)
    single = sorted({f"{m} {name}" for m, name, k, _ in found if k == 0}
                    - {f"{m} {name}" for m, name, k, _ in found if k == 1})
    assert not single, "checks with one hint tier (give the idea first, then more):\n" + "\n".join(single)
