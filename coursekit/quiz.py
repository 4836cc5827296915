"""A short self-check quiz at the end of a chapter: multiple choice, answered on the page.

Each question is a :class:`Question`: the question, its options, the index of the right one,
and why it is right. In Jupyter (or Colab) :func:`quiz` draws one set of radio buttons a
question and says, when you choose, whether you are right and why. Without ipywidgets, or
outside a notebook, it prints the questions and the explanations stay hidden until
``quiz(questions, reveal=True)``.

Example
-------
>>> from coursekit.quiz import Question, quiz
>>> q = Question("How many mu-law codes does 8 bits give?", ["8", "256", "65536"], 1,
...              "2 ** 8 = 256 codes")
>>> q.check(1)
'Right: 2 ** 8 = 256 codes'
>>> q.check(0).startswith('Not quite')
True
>>> _ = quiz([q], widgets=False)
1. How many mu-law codes does 8 bits give?
   a) 8
   b) 256
   c) 65536
"""

from __future__ import annotations

import html
from dataclasses import dataclass

__all__ = ["Question", "quiz"]


@dataclass(frozen=True)
class Question:
    """One multiple-choice question.

    Parameters
    ----------
    text : str
        The question.
    options : list of str
        The choices, at least two.
    answer : int
        Index of the right option in ``options``.
    why : str
        Why that option is right (shown once a choice is made).
    """

    text: str
    options: list
    answer: int
    why: str

    def __post_init__(self):
        if len(self.options) < 2:
            raise ValueError(f"question {self.text!r}: give at least two options")
        if not 0 <= self.answer < len(self.options):
            raise ValueError(f"question {self.text!r}: answer {self.answer} is not an option index "
                             f"(0-{len(self.options) - 1})")
        if not self.why.strip():
            raise ValueError(f"question {self.text!r}: say why the answer is right")

    def check(self, choice: int) -> str:
        """The feedback for choosing option ``choice``: right or not, and why."""
        if choice == self.answer:
            return f"Right: {self.why}"
        return f"Not quite. {self.why}"


def _print(questions, reveal: bool) -> None:
    for n, q in enumerate(questions, 1):
        print(f"{n}. {q.text}")
        for k, option in enumerate(q.options):
            print(f"   {chr(97 + k)}) {option}")
        if reveal:
            print(f"   answer: {chr(97 + q.answer)}) {q.why}")


def quiz(questions, reveal: bool = False, widgets: bool = True):
    """Show a self-check quiz; returns the ipywidgets box, or ``None`` when printed as text.

    Parameters
    ----------
    questions : list of Question
        The questions, in order.
    reveal : bool
        Print the answers and why (the text form only).
    widgets : bool
        Draw radio buttons when ipywidgets is installed; ``False`` prints the questions.
    """
    questions = list(questions)
    if not questions:
        raise ValueError("quiz: give at least one Question")
    if widgets and not reveal:
        try:
            import ipywidgets as w
            from IPython.display import display
        except ImportError:
            widgets = False
    if not widgets or reveal:
        _print(questions, reveal)
        return None
    rows = []
    for n, q in enumerate(questions, 1):
        choice = w.RadioButtons(options=[(o, k) for k, o in enumerate(q.options)], value=None,
                                layout=w.Layout(width="auto"))
        feedback = w.HTML("")

        def on_change(change, q=q, feedback=feedback):
            if change["new"] is not None:
                text = q.check(change["new"])
                colour = "#1a7f37" if change["new"] == q.answer else "#b35900"
                feedback.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

        choice.observe(on_change, names="value")
        rows.append(w.VBox([w.HTML(f"<b>{n}. {html.escape(q.text)}</b>"), choice, feedback]))
    box = w.VBox(rows)
    display(box)
    return box
