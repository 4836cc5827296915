"""The library's layout: model files are textbook pages, each command owns its flags."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import cli

PACKAGE = Path(__file__).resolve().parents[1] / "coursekit"
MODEL_FILES = sorted((PACKAGE / "models").glob("*.py"))


def outside_imports(path: Path) -> list[str]:
    """The imports of ``path`` that reach into coursekit outside ``coursekit.models``."""
    models = {p.stem for p in MODEL_FILES}
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level >= 2 or (node.level == 0 and mod.split(".")[0] == "coursekit"
                                   and not mod.startswith("coursekit.models")):
                bad.append("." * node.level + mod)
            elif node.level == 1 and mod and mod.split(".")[0] not in models:
                bad.append("." + mod)
            elif node.level == 1 and not mod:  # from . import x
                bad += [f".{a.name}" for a in node.names if a.name not in models]
        elif isinstance(node, ast.Import):
            bad += [a.name for a in node.names
                    if a.name.split(".")[0] == "coursekit" and not a.name.startswith("coursekit.models")]
    return bad


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_files_import_nothing_of_coursekit_outside_models(path):
    assert outside_imports(path) == [], f"{path.name} imports {outside_imports(path)}"


def test_the_import_check_catches_each_form(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from ..profiles import get_profile\nfrom coursekit.train import train\n"
                   "import coursekit.audio\nfrom . import patterns\nfrom .patterns import delay\n")
    assert outside_imports(src) == ["..profiles", "coursekit.train", "coursekit.audio"]


def test_unknown_flag_of_another_model_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "rnn", "--anchor", "5", "--out", "x.pt"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --anchor 5" in capsys.readouterr().err


def test_each_model_lists_only_its_own_flags():
    out = subprocess.run([sys.executable, "-m", "coursekit", "train", "rnn", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for flag in ("--anchor", "--decoder-only", "--keep-encoder", "--codec", "--genre", "--top-p"):
        assert flag not in out.stdout
    out = subprocess.run([sys.executable, "-m", "coursekit", "train", "codec", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "--anchor" in out.stdout and "--decoder-only" in out.stdout


def test_no_file_of_the_library_is_longer_than_a_sitting():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 650}
    assert long == {}
