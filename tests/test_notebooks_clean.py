"""Notebook hygiene: stored without outputs, and every chapter built the same way.

Notebooks are discovered, so chapters added later are held to the same rules:

- every notebook in notebooks/, solutions/ and exercises/ is valid nbformat v4 and has no
  outputs and no execution counts (clear them before committing);
- every chapter notebook (``notebooks/NN_*.ipynb``) starts with a Colab install cell guarded by
  ``if "google.colab" in sys.modules:``, reads its sizes from ``get_profile()``, says what goes
  wrong (and so why the next chapter exists), and ends with an Exercises section pointing to its
  ``exercises/NN_*.ipynb``, which exists.
"""

import re
from pathlib import Path

import nbformat
import pytest

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
