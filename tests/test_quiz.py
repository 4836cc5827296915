"""The self-check quiz and the page-against-library check the chapters use."""

import pytest

import coursekit as ck
from coursekit.exercises import checks
from coursekit.quiz import Question, quiz


def test_question_refuses_a_bad_answer_index_in_one_line():
    with pytest.raises(ValueError, match="not an option index"):
        Question("q?", ["a", "b"], 2, "because")
    with pytest.raises(ValueError, match="at least two options"):
        Question("q?", ["a"], 0, "because")


def test_quiz_prints_without_widgets_and_reveals_on_request(capsys):
    q = Question("2 + 2?", ["3", "4"], 1, "two and two make four")
    assert quiz([q], widgets=False) is None
    out = capsys.readouterr().out
    assert "1. 2 + 2?" in out and "b) 4" in out and "four" not in out
    quiz([q], reveal=True)
    assert "answer: b) two and two make four" in capsys.readouterr().out


def test_quiz_widget_gives_feedback_on_a_choice():
    pytest.importorskip("ipywidgets")
    q = Question("2 + 2?", ["3", "4"], 1, "two and two make four")
    box = quiz([q])
    radio, feedback = box.children[0].children[1], box.children[0].children[2]
    radio.value = 0
    assert "Not quite" in feedback.value
    radio.value = 1
    assert "Right" in feedback.value


def test_same_raises_when_the_page_and_the_library_differ(capsys):
    assert ck.same("loss", 1.0, 1.0 + 1e-9) < 1e-8
    with pytest.raises(AssertionError, match="differ by up to"):
        ck.same("loss", [1.0, 2.0], [1.0, 2.5])
    with pytest.raises(AssertionError, match="shape"):
        ck.same("codes", [1, 2], [1, 2, 3])


def test_hint_tiers_come_one_at_a_time(capsys):
    assert not checks.run_check("tiered", lambda: False, hint=("idea", "detail", "more"))
    assert 'idea (stuck? hint("tiered")' in capsys.readouterr().out
    assert checks.hint("tiered").endswith("detail")
    assert checks.hint("tiered").endswith("more")
    assert checks.hint("tiered").endswith("more")          # the last tier repeats
    assert "run its check first" in checks.hint("never-run")


def test_challenge_reports_target_and_budget(capsys):
    assert checks.challenge("c", 2.0, 2.5)
    assert not checks.challenge("c", 3.0, 2.5)
    assert checks.challenge("c", 0.9, 0.8, higher_is_better=True)
    assert not checks.challenge("c", 2.0, 2.5, seconds=400, budget_s=300)
    assert not checks.challenge("c", float("nan"), 2.5)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("CHALLENGE: c: REACHED") and lines[1].startswith("CHALLENGE: c: NOT YET")
