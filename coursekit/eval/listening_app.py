"""The listening test as an ipywidgets interface: :class:`ListeningApp`.

Players, rating controls, progress and instructions, in core widgets only, so it works in
JupyterLab, Colab and Voila. Each participant gets their own seeded random order of trials and
of the samples within a trial (:meth:`coursekit.eval.listening_trials.ListeningTest.order`).
The page shows letters and opaque audio data, never a system's name or a file path;
:func:`widget_strings` lists what a page receives, so tests can check that. Every answer goes
to the results file at once (:mod:`coursekit.eval.listening_store`), and a participant who
comes back resumes at the first unanswered trial.
"""

from __future__ import annotations

import json
import re
import time

from .listening_store import answered_trials, append_record, open_results
from .listening_trials import MOS_LABELS, MUSHRA_LABELS, ListeningTest, load_test

__all__ = ["ListeningApp", "widget_strings"]


_INSTRUCTIONS = {
    "mos": (
        "<p>You will hear <b>{n} short sounds</b>, one at a time. Please use headphones in a "
        "quiet place and keep the volume the same throughout.</p>"
        "<p>Play each sound (as often as you like), then rate its <b>overall quality</b>: "
        "<i>Bad, Poor, Fair, Good</i> or <i>Excellent</i>. Judge each sound on its own; "
        "there are no right or wrong answers.</p>"
        "<p>Each answer is saved as soon as you press <b>Next</b>. If you stop, open this "
        "page again with the same participant code to continue where you left off.</p>"),
    "mushra": (
        "<p>There are <b>{n} trials</b>. Each has a <b>Reference</b> and several versions of "
        "it, labelled with letters. Please use headphones in a quiet place.</p>"
        "<p>Compare every version with the reference and rate its quality from 0 (bad) to "
        "100 (excellent) with its slider. One of the versions is a hidden copy of the "
        "reference: rate it 100. Play the sounds as often as you like and move every "
        "slider.</p>"
        "<p>Each trial is saved as soon as you press <b>Next</b>. If you stop, open this "
        "page again with the same participant code to continue where you left off.</p>"),
}
_PARTICIPANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class ListeningApp:
    """The listening test as an ipywidgets interface (core widgets only).

    Display it in a notebook (it is the cell's result), in Colab, or on a Voila page. A
    participant code is asked first unless ``participant`` is given; a participant who already
    answered some trials resumes at the first unanswered one.

    Parameters
    ----------
    test : ListeningTest or path of a test folder
    results : str or Path
        The JSON-lines results file; created (with its header) if needed.
    participant : str, optional
        Start at once for this participant (letters, digits, ``_.-``; at most 40).
    players : bool
        Show audio players. :func:`~coursekit.eval.listening_sim.simulate_raters` turns them
        off (simulated raters do not listen); every other step is the same as for a person.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole interface.
    controls : list of (stimulus id, widget)
        The rating controls of the current trial, in the order shown (the ids stay here, in
        the kernel; the page shows only letters).
    next_button : ipywidgets.Button
    position : int
        0-based index of the current trial in this participant's order.
    done : bool

    Example
    -------
    >>> app = ListeningApp(load_test("runs/ch08/test"), "runs/ch08/results.jsonl")  # doctest: +SKIP
    >>> app                  # the last line of a cell shows the interface  # doctest: +SKIP
    """

    def __init__(self, test, results, participant: str | None = None, players: bool = True):
        import ipywidgets as w

        self._w = w
        self.test = test if isinstance(test, ListeningTest) else load_test(test)
        self.results = open_results(results, self.test)
        self.players = players
        self.participant: str | None = None
        self.order: list[dict] = []
        self.position = 0
        self.controls: list = []
        self._page_widgets: list = []
        self._touched: set[str] = set()
        self._shown_at = time.time()

        n = self.test.n_trials
        self.title = w.HTML(f"<h3>{_escape(self.test.title)}</h3>")
        self.instructions = w.HTML(_INSTRUCTIONS[self.test.protocol].format(n=n))
        self.progress = w.IntProgress(value=0, min=0, max=n, layout=w.Layout(width="300px"))
        self.progress_label = w.Label("")
        self.page = w.VBox([])
        self.message = w.HTML("")
        self.next_button = w.Button(description="Next", button_style="primary", icon="arrow-right")
        self.next_button.on_click(self._on_next)
        self.code = w.Text(placeholder="e.g. P07", description="Participant code",
                           style={"description_width": "initial"})
        self.start_button = w.Button(description="Start", button_style="primary")
        self.start_button.on_click(self._on_start)
        self.widget = w.VBox([self.title, self.instructions,
                              w.HBox([self.progress, self.progress_label]),
                              self.page, self.message, self.next_button])
        if participant is None:
            self.next_button.layout.display = "none"
            self._page_widgets = [w.HBox([self.code, self.start_button])]  # closed on start
            self.page.children = self._page_widgets
        else:
            self.start(participant)

    # -- what Jupyter calls to display it
    def _ipython_display_(self):
        # display() of the widget itself: ipywidgets 7 (Colab's) has no _repr_mimebundle_
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        who = self.participant or "(no participant yet)"
        return f"ListeningApp({self.test.protocol}, participant {who}, trial {self.position + 1}/{self.n_trials})"

    @property
    def n_trials(self) -> int:
        return self.test.n_trials

    @property
    def done(self) -> bool:
        return self.participant is not None and self.position >= self.n_trials

    def _on_start(self, _button=None) -> None:
        try:
            self.start(self.code.value)
        except ValueError:
            self.message.value = ("<span style='color:#b00'>Please enter a participant code: "
                                  "letters, digits, '-', '_' or '.', at most 40.</span>")

    def start(self, participant: str) -> None:
        """Begin (or resume) the session of ``participant``."""
        participant = str(participant).strip()
        if not _PARTICIPANT_RE.match(participant):
            raise ValueError(f"participant code {participant!r}: use 1-40 letters, digits, '-', '_' or '.'")
        self.participant = participant
        self.order = self.test.order(participant)
        answered = answered_trials(self.results, self.test.test_id, participant)
        self.position = next((i for i, t in enumerate(self.order) if t["id"] not in answered),
                             len(self.order))
        event = "resume" if answered else "start"
        append_record(self.results, {"type": "session", "event": event, "participant": participant,
                                     "test_id": self.test.test_id, "position": self.position,
                                     "time": time.time()})
        self.next_button.layout.display = None
        self.message.value = (f"Welcome back: you continue at trial {self.position + 1}."
                              if answered and not self.done else "")
        self._show()

    def _show(self) -> None:
        w = self._w
        _close_all(self._page_widgets)  # the last trial's widgets, with their players' audio
        self._page_widgets = []
        self.controls = []
        self._touched = set()
        self.progress.value = self.position
        if self.done:
            self.progress_label.value = f"{self.n_trials} of {self.n_trials} done"
            self.next_button.layout.display = "none"
            self.page.children = [w.HTML("<h4>Thank you! All trials are done and saved. "
                                         "You can close this page.</h4>")]
            return
        self.progress_label.value = f"Trial {self.position + 1} of {self.n_trials}"
        trial = self.order[self.position]
        rows = []
        if self.test.protocol == "mos":
            sid = trial["stimuli"][0]
            buttons = w.ToggleButtons(options=[(label, i + 1) for i, label in enumerate(MOS_LABELS)],
                                      value=None, style={"button_width": "90px"})
            self.controls = [(sid, buttons)]
            rows.append(w.HTML("<b>Play the sound, then rate its overall quality.</b>"))
            if self.players:
                rows.append(self._player(sid))
            rows.append(buttons)
        else:
            scale = " &middot; ".join(f"{v}+ {name}" for v, name in reversed(MUSHRA_LABELS))
            rows.append(w.HTML(f"<b>Rate each version against the reference</b> ({scale})."))
            ref = [w.Label("Reference", layout=w.Layout(width="90px"))]
            if self.players:
                ref.append(self._player(trial["reference"]))
            rows.append(w.HBox(ref))
            for letter, sid in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", trial["stimuli"]):
                slider = w.IntSlider(value=0, min=0, max=100, step=1, continuous_update=False,
                                     layout=w.Layout(width="320px"))
                slider.observe(lambda change, sid=sid: self._touched.add(sid), names="value")
                self.controls.append((sid, slider))
                row = [w.Label(letter, layout=w.Layout(width="90px"))]
                if self.players:
                    row.append(self._player(sid))
                row.append(slider)
                rows.append(w.HBox(row))
        self._page_widgets = rows
        self.page.children = rows
        self._shown_at = time.time()

    def _player(self, sid: str):
        return self._w.Audio(value=self.test.stimulus_bytes(sid), format="wav", autoplay=False,
                             loop=False, controls=True, layout=self._w.Layout(width="300px"))

    def close(self) -> None:
        """Close every widget of the interface (frees the audio held by the players)."""
        _close_all([self.widget, self.code, self.start_button])

    def rate(self, index: int, value: int) -> None:
        """Set rating control ``index`` of the current trial to ``value``, as a person would."""
        _, control = self.controls[index]
        if isinstance(control, self._w.IntSlider) and control.value == value:
            control.value = value + 1 if value < control.max else value - 1  # a person drags it
        control.value = value

    def _on_next(self, _button=None) -> None:
        if self.done or self.participant is None:
            return
        trial = self.order[self.position]
        missing = []
        for letter, (sid, control) in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", self.controls):
            if control.value is None or (self.test.protocol == "mushra" and sid not in self._touched):
                missing.append(letter)
        if missing:
            what = "the sound" if self.test.protocol == "mos" else "every version (" + ", ".join(missing) + ")"
            self.message.value = f"<span style='color:#b00'>Please rate {what} before going on.</span>"
            return
        self.next_button.disabled = True
        try:
            append_record(self.results, {
                "type": "answer", "test_id": self.test.test_id, "participant": self.participant,
                "trial": trial["id"], "position": self.position,
                "order": [sid for sid, _ in self.controls],
                "ratings": {sid: int(control.value) for sid, control in self.controls},
                "elapsed_s": round(time.time() - self._shown_at, 3), "time": time.time()})
        finally:
            self.next_button.disabled = False
        self.message.value = ""
        self.position += 1
        if self.done:
            append_record(self.results, {"type": "session", "event": "finish",
                                         "participant": self.participant,
                                         "test_id": self.test.test_id, "time": time.time()})
        self._show()


def _descendants(roots) -> list:
    """``roots`` and every widget they hold (children, players, layouts, styles)."""
    from ipywidgets import Widget

    seen, out, stack = set(), [], list(roots)
    while stack:
        wdg = stack.pop()
        if id(wdg) in seen:
            continue
        seen.add(id(wdg))
        out.append(wdg)
        for name in wdg.keys:
            value = getattr(wdg, name, None)
            stack.extend(v for v in (value if isinstance(value, (list, tuple)) else [value])
                         if isinstance(v, Widget))
    return out


def _close_all(roots) -> None:
    for wdg in _descendants(roots):
        wdg.close()


def _escape(text: str) -> str:
    import html

    return html.escape(str(text))


def widget_strings(widget) -> list[str]:
    """Every string in the synced state of ``widget`` and of all widgets it holds.

    This is what a page receives (besides the audio bytes). Used to check the blinding: no
    system name or file path may appear here.
    """
    from ipywidgets import Widget

    out = []
    for wdg in _descendants([widget]):
        for name in wdg.keys:
            value = getattr(wdg, name, None)
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(v, str):
                    out.append(v)
                elif isinstance(v, (list, tuple, dict)):
                    out.append(json.dumps(v, default=str))
                elif v is not None and not isinstance(v, (Widget, bytes, memoryview, int, float, bool)):
                    out.append(str(v))
    return out
