"""The Colab install cell of every notebook, written from one line an instructor edits once.

The first code cell of each notebook (``notebooks/``, ``solutions/``, ``exercises/``) installs
the course on Colab, and only there::

    import sys
    if "google.colab" in sys.modules:
        !pip install -q "coursekit @ git+https://github.com/OWNER/REPO"

The requirement on the ``pip install`` line comes from ``notebooks/colab_install.txt`` (its one
line that is neither blank nor a ``#`` comment). After editing that file, rewrite every install
cell with::

    python -m coursekit.colab            # rewrite the cells that differ
    python -m coursekit.colab --check    # exit 1, naming them, when a cell differs

Example
-------
>>> print(install_cell("coursekit @ git+https://github.com/me/course@v1"))  # doctest: +ELLIPSIS
# Colab only: ...
import sys
if "google.colab" in sys.modules:
    !pip install -q "coursekit @ git+https://github.com/me/course@v1"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .paths import REPO_DIR

REQUIREMENT_FILE = Path("notebooks") / "colab_install.txt"
FOLDERS = ("notebooks", "solutions", "exercises")
GUARD = 'if "google.colab" in sys.modules:'
# IPython expands $name and {expr} in a ! line, and the line is quoted with "
_UNSAFE = set('"$`{}\\\n')


def read_requirement(path=None) -> str:
    """The requirement in ``path`` (default ``notebooks/colab_install.txt`` of the checkout):
    its one line that is neither blank nor a comment, checked as a pip requirement for
    ``coursekit``. Raises ValueError saying what is wrong, FileNotFoundError when it is absent."""
    path = Path(path) if path is not None else REPO_DIR / REQUIREMENT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; it holds the requirement the notebooks "
                                "install on Colab, e.g. coursekit @ git+https://github.com/OWNER/REPO")
    lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines()]
    lines = [s for s in lines if s and not s.startswith("#")]
    if len(lines) != 1:
        raise ValueError(f"{path}: expected exactly one requirement line (besides # comments), "
                         f"found {len(lines)}")
    line = lines[0]
    if _UNSAFE & set(line):
        raise ValueError(f"{path}: the requirement {line!r} may not contain any of "
                         f"{' '.join(sorted(_UNSAFE - {chr(10)}))}")
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(line)
    except InvalidRequirement as err:
        why = str(err).splitlines()[0]
        raise ValueError(f"{path}: {line!r} is not a pip requirement ({why})") from None
    if req.name.lower() != "coursekit":
        raise ValueError(f"{path}: the requirement installs {req.name!r}, not coursekit")
    return line


def install_cell(requirement: str) -> str:
    """The source of the Colab install cell that installs ``requirement``."""
    return ("# Colab only: install coursekit (on your own machine, install it once as the README says).\n"
            "import sys\n"
            f"{GUARD}\n"
            f'    !pip install -q "{requirement}"')


def _is_install_cell(cell) -> bool:
    return cell.cell_type == "code" and GUARD in cell.source and "pip install" in cell.source


def notebooks(root=None) -> list[Path]:
    """Every notebook of the course under ``root`` (default: the checkout)."""
    root = Path(root) if root is not None else REPO_DIR
    return sorted(p for folder in FOLDERS for p in (root / folder).glob("*.ipynb"))


def sync(root=None, requirement: str | None = None, write: bool = True) -> list[Path]:
    """Make the first code cell of every notebook under ``root`` the install cell of
    ``requirement`` (default: read from ``root/notebooks/colab_install.txt``). Returns the
    notebooks whose cell differed (rewritten when ``write``). Raises ValueError naming a notebook
    whose first code cell is not a Colab install cell."""
    import nbformat

    root = Path(root) if root is not None else REPO_DIR
    if requirement is None:
        requirement = read_requirement(root / REQUIREMENT_FILE)
    wanted = install_cell(requirement)
    changed = []
    for path in notebooks(root):
        nb = nbformat.read(str(path), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if not code or not _is_install_cell(code[0]):
            raise ValueError(f"{path}: its first code cell is not a Colab install cell "
                             f"(`{GUARD}` then `!pip install`)")
        if code[0].source == wanted:
            continue
        changed.append(path)
        if write:
            code[0].source = wanted
            text = nbformat.writes(nb)
            path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return changed


def main(argv=None) -> int:
    """``python -m coursekit.colab [--check] [--root DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.colab",
        description=f"write the Colab install cell of every notebook from {REQUIREMENT_FILE}")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when a notebook's install cell differs")
    parser.add_argument("--root", default=None,
                        help="the course's folder (default: the checkout coursekit runs from)")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else REPO_DIR
    try:
        requirement = read_requirement(root / REQUIREMENT_FILE)
        changed = sync(root, requirement, write=not args.check)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    n = len(notebooks(root))
    if args.check:
        if changed:
            print(f"{len(changed)} of {n} notebooks do not install {requirement!r}; run "
                  "python -m coursekit.colab:", *changed, sep="\n  ", file=sys.stderr)
            return 1
        print(f"OK: all {n} notebooks install {requirement!r} on Colab")
        return 0
    for path in changed:
        print(f"wrote {path}")
    print(f"{n} notebooks install {requirement!r} on Colab ({len(changed)} changed)")
    return 0


def cli(args=None) -> int:
    """For ``python -m coursekit colab [--check] [--root DIR]``: the same as :func:`main`."""
    argv = ["--check"] if getattr(args, "check", False) else []
    if getattr(args, "root", None):
        argv += ["--root", str(args.root)]
    return main(argv)


if __name__ == "__main__":
    sys.exit(main())
