"""The results page and the README's chapter table are written from results/*.json.

They must agree with what ``benchmarks/results_page.py`` writes from the committed results, so
a figure on the page is always the figure a benchmark measured. The README stays a front page.
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_results_page_and_readme_table_are_up_to_date(benchmark_script):
    page = benchmark_script("results_page")
    assert (REPO / "RESULTS.md").read_text() == page.page(), \
        "RESULTS.md is out of date: run python benchmarks/results_page.py"
    readme = (REPO / "README.md").read_text()
    assert readme == page.readme_with_table(readme), \
        "README.md's chapter table is out of date: run python benchmarks/results_page.py"
    assert (REPO / "results" / "leaderboard.png").stat().st_size > 10_000


def test_readme_is_a_front_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150, "README.md: keep the front page within 150 lines"
    for must in ("pip install", "pytest", "Colab", "RESULTS.md", "docs/instructors.md", "doctor"):
        assert must in readme, f"README.md should mention {must}"
    for chapter in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"notebooks/{chapter.name}" in readme, f"README.md: {chapter.name} missing from the table"
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    missing = [l for l in links if not l.startswith("http") and not (REPO / l).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_every_figure_names_a_result_file_that_exists():
    page = (REPO / "RESULTS.md").read_text()
    listed = set(re.findall(r"`([\w.-]+\.json)`", page))
    files = {p.name for p in (REPO / "results").glob("*.json")}
    assert files <= listed, f"result files missing from RESULTS.md's index: {sorted(files - listed)}"
