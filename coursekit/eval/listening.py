"""The listening test of chapter 08: MOS and MUSHRA, blinded, in ipywidgets, resumable.

A metric such as FAD compares distributions of embeddings; a listening test asks people. This
module runs one from start to end:

1. **Build** a test from folders of samples, one folder a system (NSynth-format folders as every
   model of the course writes them, or plain folders of audio files): :func:`build_test`. The
   stimuli are cut, loudness-aligned and copied under random ids into the test folder, with the
   blinding key (which id is which system) in ``test.json`` beside them. Two protocols:

   - ``'mos'``: absolute category rating (ITU-T P.800 ACR): one sample a trial, rated
     Bad (1), Poor (2), Fair (3), Good (4) or Excellent (5). The mean is the MOS.
   - ``'mushra'``: ITU-R BS.1534: a trial shows a labelled reference and, in random order, every
     system's version of the same item plus a hidden copy of the reference and a low anchor
     (the reference low-passed at 3.5 kHz), each rated on a 0-100 slider.

2. **Run** it: :class:`ListeningApp` is the ipywidgets interface (players, rating controls,
   progress, instructions; core widgets only, so it works in JupyterLab, Colab and Voila). Each
   participant gets their own seeded random order of trials and of the samples within a trial.
   The page shows letters and opaque audio data, never a system's name or a file path. Every
   answer is appended to a JSON-lines results file at once (flushed and fsync'd), so a killed
   kernel loses nothing and a participant who comes back resumes at the first unanswered trial.
   :func:`serve` puts the test on a web page (Voila) for remote raters, who only need a browser.
   :func:`simulate_raters` answers through the same widgets, for tests and the smoke profile.

3. **Analyse** the results files (several participants, several files merge):
   :func:`load_results`, :func:`mos_table` (mean with t and bootstrap 95 % intervals),
   :func:`friedman`, :func:`pairwise_wilcoxon` (Holm-corrected), :func:`screen_mushra`
   (BS.1534 post-screening), :func:`rank_correlation` (FAD against mean rating), plots, and
   :func:`analyse` / :func:`format_report` for everything at once. The statistics themselves are
   in :mod:`coursekit.eval.listening_stats`.

Files
-----
``<test>/test.json``
    Protocol, version, trials and the blinding key. Stays on the experimenter's side.
``<test>/stimuli/<id>.wav``
    16-bit mono WAV copies under random ids (dithered, so no two players carry the same bytes).
``results.jsonl``
    One JSON record a line: a ``header`` (protocol, test id and version, blinding key), then
    ``session`` and ``answer`` records. A corrupted last line (a writer killed mid-line) is
    skipped with a warning; every other answer is kept.

Example
-------
>>> from coursekit.eval import listening as lt
>>> test = lt.build_test({"a": "samples/rnn", "b": "samples/gan"},
...                      "runs/ch08/test")                               # doctest: +SKIP
>>> lt.ListeningApp(test, "runs/ch08/results.jsonl")  # in a notebook: rate  # doctest: +SKIP
>>> lt.simulate_raters(test, 10, {"a": 0.7, "b": 0.4},
...                    results="runs/ch08/sim.jsonl")                     # doctest: +SKIP
>>> print(lt.format_report(lt.analyse("runs/ch08/sim.jsonl")))          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sys
import time
import warnings
import wave
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import listening_stats as ls

try:  # advisory file locks, so several kernels (Voila: one per participant) share one file
    import fcntl
except ImportError:  # Windows: appends of one short line are still atomic enough in practice
    fcntl = None

__all__ = [
    "PROTOCOLS", "MOS_LABELS", "MUSHRA_LABELS", "ANCHOR_CUTOFF_HZ", "CONFIG_ENV",
    "list_samples", "match_items", "prepare_stimulus", "low_anchor", "wav_bytes",
    "build_test", "load_test", "ListeningTest",
    "append_record", "read_records", "open_results", "answered_trials",
    "ListeningApp", "simulate_raters", "app_from_config", "write_config", "serve",
    "make_standins", "STANDINS", "fad_per_system",
    "Results", "load_results", "mos_table", "friedman", "pairwise_wilcoxon", "screen_mushra",
    "rank_correlation", "analyse", "format_report", "plot_ratings", "plot_fad_vs_rating",
    "widget_strings",
]

# Sizes of chapter 08 (smoke, default, full).

PROTOCOLS = ("mos", "mushra")
MOS_LABELS = ("Bad", "Poor", "Fair", "Good", "Excellent")  # ACR scores 1..5 (ITU-T P.800)
MUSHRA_LABELS = ((80, "Excellent"), (60, "Good"), (40, "Fair"), (20, "Poor"), (0, "Bad"))
ANCHOR_CUTOFF_HZ = 3500.0  # BS.1534-3 low anchor: the reference low-passed at 3.5 kHz
RESERVED = ("reference", "anchor")  # names MUSHRA gives to the hidden reference and the anchor
CONFIG_ENV = "COURSEKIT_LISTENING_CONFIG"
TEST_FORMAT = "coursekit-listening-test"
RESULTS_FORMAT = "coursekit-listening-results"
FORMAT_VERSION = 1
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
_NOTE_RE = re.compile(r"-(\d{3})-(\d{3})$")  # ..._NNN-PPP-VVV: pitch and velocity in a note name
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # ids: no 0/o, 1/l/i to misread


# ---------------------------------------------------------------------------------------------
# 1. Systems, items and stimuli
# ---------------------------------------------------------------------------------------------

def list_samples(folder) -> list[dict]:
    """The audio files of one system's folder, each as ``{'key', 'path', 'pitch', 'family'}``.

    An NSynth-format folder (``examples.json`` + ``audio/<note_str>.wav``) is read through its
    metadata (``key`` is the note name); any other folder is searched for ``.wav``, ``.flac``
    and ``.ogg`` files (``key`` is the path without extension, the pitch read from names like
    ``..._NNN-PPP-VVV`` when present).

    Example
    -------
    >>> list_samples("samples/rnn")[0]["key"]          # doctest: +SKIP
    'rnn_synthetic_000-060-100'
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of samples (one folder a system)")
    out = []
    meta_file = folder / "examples.json"
    if meta_file.exists():
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{meta_file}: not valid JSON ({err}); re-generate the folder") from None
        for name in sorted(meta):
            path = folder / "audio" / f"{name}.wav"
            if not path.exists():
                raise FileNotFoundError(f"{path}: listed in {meta_file} but missing")
            m = meta[name] if isinstance(meta[name], dict) else {}
            out.append({"key": name, "path": path, "pitch": m.get("pitch"),
                        "family": m.get("instrument_family_str")})
    else:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file():
                key = path.relative_to(folder).with_suffix("").as_posix()
                m = _NOTE_RE.search(key)
                out.append({"key": key, "path": path, "pitch": int(m.group(1)) if m else None,
                            "family": None})
    if not out:
        raise FileNotFoundError(f"{folder}: no audio found (looked for examples.json + audio/*.wav, "
                                f"then for {', '.join(AUDIO_EXTENSIONS)} files)")
    return out


def _by_strategy(samples: list[dict], by: str) -> dict:
    if by == "name":
        return {s["key"]: s for s in samples}
    if by == "pitch":
        out = {}
        for s in samples:  # sorted by key: the first note of each pitch
            if s["pitch"] is not None:
                out.setdefault(f"pitch-{int(s['pitch']):03d}", s)
        return out
    return {f"index-{i:03d}": s for i, s in enumerate(samples)}


def match_items(samples: dict, reference: list | None = None, by: str = "auto",
                n_min: int = 1) -> tuple[list[dict], str]:
    """Pair the samples of several systems into items (one sample of each system an item).

    Parameters
    ----------
    samples : dict
        ``{system: list_samples(folder)}``.
    reference : list, optional
        ``list_samples(reference_folder)`` for MUSHRA; every item then needs a reference too.
    by : {'auto', 'name', 'pitch', 'index'}
        ``'name'``: the same file name in every folder (degraded copies of the same notes,
        codec reconstructions); ``'pitch'``: the same MIDI pitch (generated notes asked for the
        same pitch); ``'index'``: the i-th file of each folder. ``'auto'`` takes the first of
        these that gives at least ``n_min`` items, else the one giving the most.

    Returns
    -------
    items : list of dict
        ``{'item': key, 'files': {system: path}, 'reference': path or None}``, sorted by key.
    by : str
        The strategy used.
    """
    strategies = ("name", "pitch", "index") if by == "auto" else (by,)
    if by not in ("auto", "name", "pitch", "index"):
        raise ValueError(f"match must be 'auto', 'name', 'pitch' or 'index', got {by!r}")
    best: tuple[list, str] = ([], strategies[0])
    for strategy in strategies:
        keyed = {name: _by_strategy(s, strategy) for name, s in samples.items()}
        ref = _by_strategy(reference, strategy) if reference is not None else None
        common = set.intersection(*(set(k) for k in keyed.values()))
        if ref is not None:
            common &= set(ref)
        items = [{"item": key, "files": {name: keyed[name][key]["path"] for name in samples},
                  "reference": ref[key]["path"] if ref is not None else None}
                 for key in sorted(common)]
        if len(items) >= n_min:
            return items, strategy
        if len(items) > len(best[0]):
            best = (items, strategy)
    return best


def prepare_stimulus(y: np.ndarray, sr: int, seconds: float | None = None,
                     target_db: float = -20.0, max_peak: float = 0.9,
                     fade_ms: float = 10.0) -> np.ndarray:
    """Cut ``y`` to ``seconds``, fade out the cut, and align its loudness.

    Loudness differences bias listeners (louder sounds better), so every stimulus is scaled to
    the same RMS level ``target_db`` (dBFS), unless that would push its peak above
    ``max_peak``; then the peak sets the gain. Silent audio is returned unscaled.

    Example
    -------
    >>> from coursekit.audio import tone
    >>> y = prepare_stimulus(tone(440.0, 2.0, sr=16000, amp=0.1), 16000, seconds=1.0)
    >>> len(y), round(20 * np.log10(np.sqrt(np.mean(y ** 2))))
    (16000, -20)
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"prepare_stimulus takes mono audio of shape (n,), got {y.shape}")
    if seconds is not None:
        y = y[: int(round(seconds * sr))].copy()
    n_fade = min(len(y) // 4, int(fade_ms / 1000 * sr))
    if n_fade > 0:
        y[-n_fade:] *= np.linspace(1.0, 0.0, n_fade, dtype=np.float32)
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) if y.size else 0.0
    peak = float(np.abs(y).max()) if y.size else 0.0
    if rms < 1e-6:
        return y
    gain = min(10 ** (target_db / 20) / rms, max_peak / peak)
    return (y * gain).astype(np.float32)


def low_anchor(y: np.ndarray, sr: int, cutoff: float = ANCHOR_CUTOFF_HZ, order: int = 8) -> np.ndarray:
    """The MUSHRA low anchor: ``y`` low-passed at ``cutoff`` Hz (zero-phase Butterworth).

    Example
    -------
    >>> from coursekit.audio import tone
    >>> y = tone(6000.0, 0.5, sr=16000)
    >>> z = low_anchor(y, 16000)                 # 6 kHz is far above 3.5 kHz: gone
    >>> float(np.abs(z[800:-800]).max()) < 1e-4  # (away from the edges of the clip)
    True
    """
    from scipy.signal import butter, sosfiltfilt

    if not 0 < cutoff < sr / 2:
        raise ValueError(f"cutoff {cutoff} Hz must lie below the Nyquist frequency {sr / 2} Hz")
    sos = butter(order, cutoff, btype="low", fs=sr, output="sos")
    return sosfiltfilt(sos, np.asarray(y, dtype=np.float64)).astype(np.float32)


def wav_bytes(y: np.ndarray, sr: int, seed: int | None = 0) -> bytes:
    """``y`` as the bytes of a 16-bit mono WAV file: a 44-byte header and the samples, nothing else.

    No metadata chunk can carry a name. With a ``seed`` a TPDF dither of one least significant
    bit is added (inaudible), so that two copies of the same audio (the MUSHRA reference and its
    hidden copy) do not have identical bytes that a curious participant could compare.
    """
    y = np.clip(np.asarray(y, dtype=np.float64), -1.0, 1.0) * 32767.0
    if seed is not None:
        rng = np.random.default_rng(seed)
        y = y + rng.random(y.size) - rng.random(y.size)
    pcm = np.clip(np.round(y), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def _token(rng: np.random.Generator, n: int = 10) -> str:
    return "".join(rng.choice(list(_ALPHABET), size=n))


def _hash_int(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:15], 16)


def _file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# 2. The test: built once, read by every session
# ---------------------------------------------------------------------------------------------

class ListeningTest:
    """A built test: its folder, ``test.json`` (trials + blinding key) and the stimuli.

    Open one with :func:`load_test` (or get it from :func:`build_test`). The blinding key lives
    here, on the experimenter's side; :class:`ListeningApp` only ever shows letters and audio.

    Attributes
    ----------
    folder : Path
    protocol : {'mos', 'mushra'}
    test_id, version : str
        ``test_id`` names this test (results files are tied to it); ``version`` changes when
        the stimuli or the design change.
    systems : list of str
        The systems rated (for MUSHRA plus ``'reference'`` and ``'anchor'``).
    trials : list of dict
        ``{'id', 'item', 'reference', 'stimuli'}`` in build order.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        spec_file = self.folder / "test.json"
        if not spec_file.exists():
            raise FileNotFoundError(f"{spec_file}: no listening test here; build one with build_test()")
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
        if spec.get("format") != TEST_FORMAT:
            raise ValueError(f"{spec_file}: not a coursekit listening test (format {spec.get('format')!r})")
        self.spec = spec
        self.protocol = spec["protocol"]
        self.test_id = spec["test_id"]
        self.version = spec["version"]
        self.title = spec.get("title") or "Listening test"
        self.sr = int(spec["sr"])
        self.trials = spec["trials"]
        self.stimuli = spec["stimuli"]
        self.systems = list(spec["systems"]) + (list(RESERVED) if self.protocol == "mushra" else [])

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    def __repr__(self) -> str:
        return (f"ListeningTest({self.protocol}, {self.n_trials} trials, "
                f"{len(self.spec['systems'])} systems, {self.folder})")

    def key(self) -> dict:
        """The blinding key: ``{stimulus_id: {'system', 'role', 'item'}}``."""
        return {sid: {k: s[k] for k in ("system", "role", "item")} for sid, s in self.stimuli.items()}

    def stimulus_bytes(self, sid: str) -> bytes:
        """The WAV bytes of stimulus ``sid``."""
        if sid not in self.stimuli:
            raise KeyError(f"no stimulus {sid!r} in test {self.test_id}")
        return (self.folder / "stimuli" / f"{sid}.wav").read_bytes()

    def order(self, participant: str) -> list[dict]:
        """The trials in the order ``participant`` gets them, stimuli shuffled within each.

        Seeded by the test and the participant code, so the same participant always gets the
        same order (a resumed session continues the same sequence) and two participants get
        different ones.
        """
        rng = np.random.default_rng([_hash_int(self.test_id), _hash_int(str(participant))])
        out = []
        for i in rng.permutation(len(self.trials)):
            t = self.trials[int(i)]
            stimuli = [t["stimuli"][int(j)] for j in rng.permutation(len(t["stimuli"]))]
            out.append({"id": t["id"], "reference": t["reference"], "stimuli": stimuli})
        return out


def load_test(folder) -> ListeningTest:
    """Open the test built in ``folder`` by :func:`build_test`."""
    return ListeningTest(folder)


def _system_folders(systems) -> dict:
    if isinstance(systems, (str, Path)):
        raise ValueError("systems: give a dict {name: folder} or a list of folders, not one folder")
    if isinstance(systems, dict):
        folders = {str(k): Path(v) for k, v in systems.items()}
    else:
        folders = {}
        for f in systems:
            name = Path(f).name
            if name in folders:
                raise ValueError(f"two system folders are both named {name!r}; pass a dict "
                                 "{name: folder} to name them")
            folders[name] = Path(f)
    if not folders:
        raise ValueError("systems: no system given; a test needs at least one folder of samples")
    return folders


def build_test(systems, out_dir, protocol: str = "mos", reference=None, n_items: int | None = None,
               seconds: float | None = None, sr: int = 16000, match: str = "auto", seed: int = 0,
               title: str | None = None, normalize: bool = True, overwrite: bool = False,
               verbose: bool = True) -> ListeningTest:
    """Build a listening test from folders of samples, one folder a system.

    Parameters
    ----------
    systems : dict or list
        ``{name: folder}``, or a list of folders (each named after its folder). Names stay in
        the key on the experimenter's side; participants never see them.
    out_dir : str or Path
        The test folder to write (``test.json`` + ``stimuli/``). Keep it where participants
        cannot browse (it holds the key).
    protocol : {'mos', 'mushra'}
        ``'mos'``: one sample a trial, 5-point ACR scale. ``'mushra'``: one item a trial, every
        system plus a hidden reference and a 3.5 kHz low anchor, 0-100 sliders; needs
        ``reference``.
    reference : str or Path, optional
        Folder of reference samples (real notes). Required for MUSHRA.
    n_items : int, optional
        How many items (notes) to use, drawn with ``seed``; default: the profile's
        ``ch08.n_items``.
    seconds : float, optional
        Stimulus length; default: the profile's ``ch08.seconds``.
    sr : int
        Sample rate of the stimuli (all are resampled to it).
    match : {'auto', 'name', 'pitch', 'index'}
        How samples of different systems are paired into items (see :func:`match_items`).
    seed : int
        Seeds the choice of items, the ids and the dither. Same inputs and seed, same test: a
        rebuild finds the existing test and returns it (results files stay valid).
    normalize : bool
        Loudness-align the stimuli (:func:`prepare_stimulus`).
    overwrite : bool
        Replace a *different* test already in ``out_dir``.

    Returns
    -------
    ListeningTest

    Example
    -------
    >>> test = build_test({"real": "data/real", "noisy": "data/noisy"}, "runs/test",
    ...                   protocol="mos", n_items=4)                       # doctest: +SKIP
    """
    from .. import audio
    from ..profiles import get_profile

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    folders = _system_folders(systems)
    prof = get_profile().ch08
    n_items = int(n_items or prof.n_items)
    seconds = float(seconds or prof.seconds)
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    if protocol == "mushra":
        if reference is None:
            raise ValueError("MUSHRA needs a reference folder (reference=...): the hidden "
                             "reference and the low anchor are made from it")
        clash = [n for n in folders if n in RESERVED]
        if clash:
            raise ValueError(f"system name(s) {clash} are reserved in MUSHRA for the hidden "
                             "reference and the anchor; rename them")
        if ANCHOR_CUTOFF_HZ >= sr / 2:
            raise ValueError(f"sr={sr} is too low for a {ANCHOR_CUTOFF_HZ:.0f} Hz anchor; use sr >= 8000")
    samples = {name: list_samples(f) for name, f in folders.items()}
    ref_samples = list_samples(reference) if (protocol == "mushra") else None
    items, how = match_items(samples, ref_samples, by=match, n_min=n_items)
    if not items:
        raise ValueError("no item is shared by all systems (matched by name, pitch and index); "
                         "check the folders")
    if len(items) < n_items:
        warnings.warn(f"only {len(items)} items shared by all systems (matched by {how}); "
                      f"using {len(items)} instead of {n_items}")
    rng_pick = np.random.default_rng(seed)
    chosen = sorted(rng_pick.choice(len(items), size=min(n_items, len(items)), replace=False))
    items = [items[int(i)] for i in chosen]

    # The test's identity: what is in it, not where it was built.
    design = {"format_version": FORMAT_VERSION, "protocol": protocol, "sr": sr, "seconds": seconds,
              "normalize": normalize, "anchor_hz": ANCHOR_CUTOFF_HZ, "systems": sorted(folders),
              "items": [[it["item"], {k: _file_digest(p) for k, p in sorted(it["files"].items())},
                         _file_digest(it["reference"]) if it["reference"] else None] for it in items]}
    version = hashlib.sha256(json.dumps(design, sort_keys=True).encode()).hexdigest()[:12]
    test_id = f"{protocol}-" + hashlib.sha256(f"{version}/{seed}".encode()).hexdigest()[:10]
    out_dir = Path(out_dir)
    if (out_dir / "test.json").exists():
        existing = load_test(out_dir)
        if existing.test_id == test_id:
            if verbose:
                print(f"Test {test_id} is already built in {out_dir}; using it.")
            return existing
        if not overwrite:
            raise FileExistsError(f"{out_dir} holds another test ({existing.test_id}); open it with "
                                  "load_test(), choose another folder, or pass overwrite=True")

    rng = np.random.default_rng([seed, int(version, 16)])
    used: set[str] = set()

    def new_id(prefix: str) -> str:
        while True:
            tid = prefix + _token(rng)
            if tid not in used:
                used.add(tid)
                return tid

    def load(path):
        y, _ = audio.load(path, sr=sr)
        return y[: int(round(seconds * sr))]

    def finish(y):
        return prepare_stimulus(y, sr, seconds) if normalize else np.asarray(y, np.float32)

    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "stimuli").mkdir(parents=True)
    stimuli, trials = {}, []

    def add(y, system, role, item, source) -> str:
        sid = new_id("s")
        data = wav_bytes(finish(y), sr, seed=int(rng.integers(2 ** 31)))
        (tmp / "stimuli" / f"{sid}.wav").write_bytes(data)
        stimuli[sid] = {"system": system, "role": role, "item": item, "source": str(source)}
        return sid

    iterator = items
    try:
        from tqdm.auto import tqdm

        iterator = tqdm(items, desc="preparing stimuli", disable=not verbose)
    except ImportError:
        pass
    for it in iterator:
        if protocol == "mos":
            for name in sorted(it["files"]):
                sid = add(load(it["files"][name]), name, "system", it["item"], it["files"][name])
                trials.append({"id": new_id("t"), "item": it["item"], "reference": None,
                               "stimuli": [sid]})
        else:
            y_ref = load(it["reference"])
            ref_sid = add(y_ref, "reference", "reference", it["item"], it["reference"])
            test_sids = [add(y_ref, "reference", "hidden_reference", it["item"], it["reference"]),
                         add(low_anchor(y_ref, sr), "anchor", "anchor", it["item"], it["reference"])]
            for name in sorted(it["files"]):
                test_sids.append(add(load(it["files"][name]), name, "system", it["item"],
                                     it["files"][name]))
            trials.append({"id": new_id("t"), "item": it["item"], "reference": ref_sid,
                           "stimuli": test_sids})
    spec = {"format": TEST_FORMAT, "format_version": FORMAT_VERSION, "test_id": test_id,
            "version": version, "protocol": protocol, "title": title, "sr": sr,
            "seconds": seconds, "normalize": normalize, "seed": seed, "match": how,
            "anchor_hz": ANCHOR_CUTOFF_HZ if protocol == "mushra" else None,
            "systems": {k: str(v) for k, v in folders.items()},
            "reference": str(reference) if reference is not None else None,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "trials": trials, "stimuli": stimuli}
    (tmp / "test.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out_dir)
    if verbose:
        print(f"Built {protocol.upper()} test {test_id}: {len(trials)} trials, {len(stimuli)} stimuli, "
              f"{len(folders)} systems, items matched by {how}, in {out_dir}")
    return load_test(out_dir)


# ---------------------------------------------------------------------------------------------
# 3. The results file: append-only JSON lines, flushed and fsync'd after every answer
# ---------------------------------------------------------------------------------------------

@contextmanager
def _locked(fd: int):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _append_locked(fd: int, record: dict) -> None:
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    size = os.fstat(fd).st_size
    if size:
        os.lseek(fd, size - 1, os.SEEK_SET)
        if os.read(fd, 1) != b"\n":  # a line cut by a kill: end it, so this record stays whole
            line = b"\n" + line
    view = memoryview(line)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def append_record(path, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path``, then flush it to disk (``fsync``).

    The file is opened in append mode and locked for the write, so records of several
    processes never interleave. If the previous writer was killed mid-line, the broken line is
    closed first so that it cannot swallow this record.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with _locked(fd):
            _append_locked(fd, record)
    finally:
        os.close(fd)


def read_records(path) -> list[dict]:
    """Every JSON record of a results file, in order.

    A line that is not valid JSON is skipped with a warning: the last line when a writer was
    killed mid-write (expected, harmless), another line when the file was damaged. No other
    record is lost.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError):
            if i == last:
                warnings.warn(f"{path}: the last line is incomplete (a writer was probably killed "
                              "mid-write); it is ignored, every other answer is kept")
            else:
                warnings.warn(f"{path}: line {i + 1} is not a valid record; it is ignored")
            continue
        out.append(rec)
    return out


def _header(test: ListeningTest) -> dict:
    return {"type": "header", "format": RESULTS_FORMAT, "format_version": FORMAT_VERSION,
            "test_id": test.test_id, "test_version": test.version, "protocol": test.protocol,
            "title": test.title, "systems": test.systems, "key": test.key(),
            "trials": {t["id"]: t["item"] for t in test.trials},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def open_results(path, test: ListeningTest) -> Path:
    """Make ``path`` a results file of ``test``: write the header if it has none yet.

    Raises ``ValueError`` when the file belongs to another test (or another version of it), so
    answers to different stimuli never mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with _locked(fd):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                headers = [r for r in read_records(path) if r.get("type") == "header"]
            if not headers:
                _append_locked(fd, _header(test))
                _fsync_dir(path.parent)
            else:
                h = headers[0]
                if (h.get("test_id"), h.get("test_version")) != (test.test_id, test.version):
                    raise ValueError(f"{path} holds results of test {h.get('test_id')} (version "
                                     f"{h.get('test_version')}), not of {test.test_id} (version "
                                     f"{test.version}); use a new results file for this test")
    finally:
        os.close(fd)
    return path


def _fsync_dir(folder: Path) -> None:
    try:  # make the new file's directory entry durable too (not possible on Windows)
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def answered_trials(path, test_id: str, participant: str) -> set[str]:
    """Ids of the trials ``participant`` has answered in test ``test_id`` (from the file)."""
    return {r["trial"] for r in read_records(path)
            if r.get("type") == "answer" and r.get("test_id") == test_id
            and r.get("participant") == participant}


# ---------------------------------------------------------------------------------------------
# 4. The interface
# ---------------------------------------------------------------------------------------------

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
        Show audio players. :func:`simulate_raters` turns them off (simulated raters do not
        listen); every other step is the same as for a person.

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
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

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


# ---------------------------------------------------------------------------------------------
# 5. Simulated raters: the same widgets, answered by a model of a listener
# ---------------------------------------------------------------------------------------------

def simulate_raters(test, n_raters: int, true_quality: dict, noise: float = 0.12, seed: int = 0,
                    results=None, rater_bias: float = 0.05, taste: float = 0.05, careless: int = 0,
                    anchor_quality: float = 0.15, prefix: str = "sim") -> Path:
    """Let ``n_raters`` simulated participants take ``test`` through :class:`ListeningApp`.

    Each simulated rater hears a stimulus of true quality ``q`` in [0, 1] (1: as good as the
    reference) and answers ``q + b + t + e``, with ``b ~ N(0, rater_bias)`` its own leniency,
    ``t ~ N(0, taste)`` its own liking of each system (drawn once per rater and system; no
    number of items averages it out) and ``e ~ N(0, noise)`` fresh for every rating, clipped to
    [0, 1], on the protocol's scale
    (MOS: ``1 + 4 x`` rounded to 1..5; MUSHRA: ``100 x``). The first ``careless`` raters answer
    uniformly at random (post-screening should catch them). In MUSHRA the anchor has quality
    ``anchor_quality``, and the hidden reference is recognised: ``1 - |N(0, noise / 4)|``.

    Parameters
    ----------
    test : ListeningTest or folder
    n_raters : int
    true_quality : dict
        ``{system: q}`` for every system of the test, ``q`` in [0, 1].
    noise, rater_bias, taste : float
        Standard deviations on the [0, 1] scale (0.1 = 0.4 MOS points, 10 MUSHRA points).
    seed : int
    results : str or Path, optional
        Results file (default ``<test folder>/simulated.jsonl``).
    careless : int
    prefix : str
        Participant codes are ``<prefix>-<seed>-<rater>``.

    Returns
    -------
    Path
        The results file.
    """
    test = test if isinstance(test, ListeningTest) else load_test(test)
    systems = list(test.spec["systems"])
    missing = [s for s in systems if s not in true_quality]
    if missing:
        raise ValueError(f"true_quality has no value for {missing}; give one for each of {systems}")
    bad = {s: q for s, q in true_quality.items() if not 0 <= float(q) <= 1}
    if bad:
        raise ValueError(f"true_quality must be in [0, 1] (1 = transparent), got {bad}")
    if not 0 <= careless <= n_raters:
        raise ValueError(f"careless={careless} must be between 0 and n_raters={n_raters}")
    results = Path(results) if results is not None else test.folder / "simulated.jsonl"
    key = test.key()
    quality = dict(true_quality, reference=1.0, anchor=anchor_quality)
    for r in range(n_raters):
        rng = np.random.default_rng([seed, r, 8])
        bias = rng.normal(0.0, rater_bias)
        likes = {s: rng.normal(0.0, taste) for s in sorted(quality)}
        app = ListeningApp(test, results, participant=f"{prefix}-{seed}-{r:02d}", players=False)
        while not app.done:
            for i, (sid, _) in enumerate(app.controls):
                role = key[sid]["role"]
                if r < careless:
                    x = rng.random()
                elif role == "hidden_reference":  # recognised as the reference, nearly always
                    x = 1.0 - abs(rng.normal(0.0, noise / 4))
                else:
                    system = key[sid]["system"]
                    x = float(np.clip(quality[system] + bias + likes[system] + rng.normal(0.0, noise), 0, 1))
                app.rate(i, int(round(1 + 4 * x)) if test.protocol == "mos" else int(round(100 * x)))
            app.next_button.click()
        app.close()
    return results


# ---------------------------------------------------------------------------------------------
# 6. Stand-in systems (until the course's models have written samples)
# ---------------------------------------------------------------------------------------------

STANDINS = {
    "real": "stand-in: the real notes, unchanged",
    "noisy": "stand-in: real notes + white noise at 20 dB SNR",
    "lowpass": "stand-in: real notes low-passed at 2 kHz",
    "mulaw4": "stand-in: real notes mu-law quantised to 4 bits (16 levels)",
}


def _degrade(name: str, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    from .. import audio

    if name == "real":
        return y
    if name == "noisy":
        rms = float(np.sqrt(np.mean(y ** 2))) or 1e-3
        return y + rng.normal(0.0, rms / 10.0, y.size).astype(np.float32)  # 20 dB SNR
    if name == "lowpass":
        return sosfiltfilt(butter(8, 2000.0, fs=sr, output="sos"), y).astype(np.float32)
    if name == "mulaw4":
        return audio.mu_law_decode(audio.mu_law_encode(y, mu=15), mu=15).astype(np.float32)
    raise ValueError(f"unknown stand-in {name!r}; choose from {', '.join(STANDINS)}")


def make_standins(source, out_root, n: int = 8, names=tuple(STANDINS), seed: int = 0,
                  verbose: bool = True) -> dict:
    """Stand-in systems made from real notes: the notes themselves and degraded copies.

    Until the course's models have written samples, these give the listening test systems of
    known, clearly different quality. Each is an NSynth-format folder
    ``out_root/<name>/`` (written by :func:`coursekit.data.nsynth.write_nsynth_folder`), whose
    notes record in ``generated_by`` that they are stand-ins and how they were made.

    Parameters
    ----------
    source : folder
        Real notes (an NSynth split folder such as ``dataset_dir('nsynth', 'test')``).
    out_root : folder
    n : int
        Notes per system (the same notes in every system, so items match by name).
    names : sequence of str
        Which of :data:`STANDINS` to make.

    Returns
    -------
    dict
        ``{name: folder}``, ready for :func:`build_test`.
    """
    from .. import audio
    from ..data.nsynth import write_nsynth_folder

    source = Path(source)
    meta_file = source / "examples.json"
    if not meta_file.exists():
        raise FileNotFoundError(f"{meta_file}: give an NSynth-format folder of real notes")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    keys = sorted(meta)
    chosen = [keys[int(i)] for i in sorted(rng.choice(len(keys), size=min(n, len(keys)), replace=False))]
    out_root = Path(out_root)
    folders = {}
    for name in names:
        if name not in STANDINS:
            raise ValueError(f"unknown stand-in {name!r}; choose from {', '.join(STANDINS)}")
        notes = []
        for i, key in enumerate(chosen):
            y, sr = audio.load(source / "audio" / f"{key}.wav", sr=16000)
            m = meta[key]
            notes.append({
                "audio": np.clip(_degrade(name, y, sr, np.random.default_rng([seed, i])), -1, 1),
                "pitch": int(m["pitch"]), "velocity": int(m["velocity"]),
                "instrument_family_str": m["instrument_family_str"],
                "instrument_source_str": m.get("instrument_source_str", "acoustic"),
                "instrument_str": m["instrument_str"],  # same note names as the source
                "generated_by": STANDINS[name], "source_note": key})
        folders[name] = Path(write_nsynth_folder(out_root / name, notes, sr=16000))
    if verbose:
        print(f"Stand-in systems ({len(chosen)} notes each) in {out_root}: " + ", ".join(folders))
    return folders


def fad_per_system(systems: dict, reference, embedding: str = "mel", progress: bool = False) -> dict:
    """FAD of each system's folder against the ``reference`` folder (frames pooled).

    Uses the embeddings and Frechet distance of chapter 07 (:mod:`coursekit.eval.evaluate`,
    :mod:`coursekit.eval.fad`), so that ratings and FAD judge the very same files.

    Returns
    -------
    dict
        ``{system: fad}``.
    """
    from .evaluate import embed_folder, list_audio
    from .fad import frechet_distance

    ref_paths, _, _ = list_audio(reference)
    ref = np.concatenate(embed_folder(ref_paths, embedding, progress=progress))
    out = {}
    for name, folder in systems.items():
        paths, _, _ = list_audio(folder)
        out[name] = float(frechet_distance(ref, np.concatenate(embed_folder(paths, embedding,
                                                                            progress=progress))))
    return out


# ---------------------------------------------------------------------------------------------
# 7. A page for remote raters (Voila)
# ---------------------------------------------------------------------------------------------

APP_NOTEBOOK = Path(__file__).resolve().parents[1] / "listening_app" / "listening_test.ipynb"


def write_config(path, test, results, participant: str | None = None) -> Path:
    """Write the JSON file the Voila page reads (``$COURSEKIT_LISTENING_CONFIG``)."""
    test = test if isinstance(test, ListeningTest) else load_test(test)
    cfg = {"test": str(test.folder.resolve()), "results": str(Path(results).resolve())}
    if participant:
        cfg["participant"] = participant
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return path


def app_from_config(config=None) -> ListeningApp:
    """The interface of the test named by a config: what the Voila page displays.

    ``config`` is a dict or a JSON file with ``test`` (folder) and ``results`` (file), and
    optionally ``participant``; default: the file named by ``$COURSEKIT_LISTENING_CONFIG``.
    A ``participant=CODE`` in the page's URL (Voila passes it as ``$QUERY_STRING``) starts the
    session of that participant directly.
    """
    from urllib.parse import parse_qs

    if config is None:
        env = os.environ.get(CONFIG_ENV)
        if not env:
            raise ValueError(f"no listening test configured: set ${CONFIG_ENV} to a JSON file "
                             "with 'test' and 'results' (python -m coursekit listening serve does)")
        config = env
    if not isinstance(config, dict):
        config = json.loads(Path(config).read_text(encoding="utf-8"))
    missing = [k for k in ("test", "results") if k not in config]
    if missing:
        raise ValueError(f"the listening-test config lacks {missing}; it needs 'test' (folder) "
                         "and 'results' (file)")
    participant = config.get("participant")
    query = parse_qs(os.environ.get("QUERY_STRING", ""))
    if query.get("participant"):
        participant = query["participant"][0]
    if participant is not None and not _PARTICIPANT_RE.match(participant):
        participant = None  # ask on the page instead
    return ListeningApp(config["test"], config["results"], participant=participant)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(test, results, port: int = 8866, ip: str = "127.0.0.1", wait: bool = True,
          timeout: float = 60.0, log=None):
    """Serve ``test`` as a web page with Voila; raters need only a browser.

    The page notebook is copied into a fresh, otherwise empty folder (so nothing else can be
    browsed), and the config it reads (test folder, results file) is written to a separate one.
    Participants open ``http://<host>:<port>/?participant=CODE`` (without the code they are
    asked for one).

    Parameters
    ----------
    test : ListeningTest or folder
    results : str or Path
    port : int
        0 picks a free port.
    ip : str
        ``'127.0.0.1'`` (this machine only) or ``'0.0.0.0'`` (raters on the network).
    wait : bool
        Block until Ctrl-C (the command line), or return at once with the running server.
    timeout : float
        Seconds to wait for the server to accept connections.
    log : file, optional
        Where Voila's output goes (default: a log file beside the config).

    Returns
    -------
    (subprocess.Popen, str)
        The Voila process and the page URL (when ``wait`` is False; stop it with
        ``proc.terminate()``).
    """
    import socket
    import subprocess
    import tempfile

    test = test if isinstance(test, ListeningTest) else load_test(test)
    if not APP_NOTEBOOK.exists():
        raise FileNotFoundError(f"{APP_NOTEBOOK}: the page notebook is missing from this install")
    open_results(results, test)
    port = _free_port() if port == 0 else int(port)
    work = Path(tempfile.mkdtemp(prefix="coursekit-listening-"))
    page_dir = work / "page"
    page_dir.mkdir()
    page = page_dir / "listening_test.ipynb"
    shutil.copyfile(APP_NOTEBOOK, page)
    config = write_config(work / "config.json", test, results)
    env = dict(os.environ, **{CONFIG_ENV: str(config)})
    cmd = [sys.executable, "-m", "voila", str(page), "--no-browser", f"--port={port}",
           f"--Voila.ip={ip}", "--show_tracebacks=False", "--theme=light"]
    log = log if log is not None else open(work / "voila.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(page_dir))
    url = f"http://{'127.0.0.1' if ip in ('0.0.0.0', '') else ip}:{port}/"
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with status {proc.returncode}; see {work / 'voila.log'}")
        try:
            with socket.create_connection(("127.0.0.1" if ip == "0.0.0.0" else ip, port), timeout=1):
                break
        except OSError:
            if time.time() > deadline:
                proc.terminate()
                raise TimeoutError(f"voila did not start within {timeout:.0f} s; see {work / 'voila.log'}")
            time.sleep(0.2)
    if not wait:
        return proc, url
    print(f"Listening test {test.test_id} ({test.protocol.upper()}, {test.n_trials} trials) at {url}\n"
          f"  give each rater their own link: {url}?participant=P01, {url}?participant=P02, ...\n"
          f"  answers go to {Path(results).resolve()}\n  stop with Ctrl-C")
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc, url


# ---------------------------------------------------------------------------------------------
# 8. Analysis
# ---------------------------------------------------------------------------------------------

class Results:
    """The answers of one test, decoded with the blinding key: one row per rating.

    Attributes
    ----------
    protocol, test_id, version : str
    rows : list of dict
        ``participant, trial, item, system, role, rating, position, elapsed_s``.
    files : list of Path
    """

    def __init__(self, protocol: str, test_id: str, version: str, rows: list, files: list,
                 systems: list | None = None):
        self.protocol, self.test_id, self.version = protocol, test_id, version
        self.rows, self.files = rows, files
        present = {r["system"] for r in rows}
        order = [s for s in (systems or []) if s in present]
        self.systems = order + sorted(present - set(order))

    def __repr__(self) -> str:
        return (f"Results({self.protocol}, {len(self.participants)} participants, "
                f"{len(self.rows)} ratings, systems {self.systems})")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def participants(self) -> list[str]:
        return sorted({r["participant"] for r in self.rows})

    @property
    def simulated(self) -> list[str]:
        """Participants whose code starts with ``sim-`` (written by :func:`simulate_raters`)."""
        return [p for p in self.participants if p.startswith("sim-")]

    def ratings(self, system: str | None = None, participant: str | None = None) -> np.ndarray:
        """The ratings (of one system and/or participant) as an array."""
        return np.array([r["rating"] for r in self.rows
                         if (system is None or r["system"] == system)
                         and (participant is None or r["participant"] == participant)], dtype=float)

    def exclude(self, participants) -> "Results":
        """The same results without ``participants``."""
        drop = set(participants)
        return Results(self.protocol, self.test_id, self.version,
                       [r for r in self.rows if r["participant"] not in drop], self.files, self.systems)

    def only(self, participants) -> "Results":
        """The same results restricted to ``participants``."""
        keep = set(participants)
        return Results(self.protocol, self.test_id, self.version,
                       [r for r in self.rows if r["participant"] in keep], self.files, self.systems)

    def matrix(self, blocks: str = "auto", systems=None) -> tuple[np.ndarray, list, list]:
        """A complete (blocks, systems) matrix of ratings for the rank tests.

        ``blocks``: ``'participant'`` (each participant's mean rating of each system: MOS),
        ``'trial'`` (each participant's ratings in one trial: MUSHRA, where a trial holds every
        system), ``'item'`` (mean over participants per item), or ``'auto'`` (trial for MUSHRA,
        participant for MOS). Blocks missing a system are dropped.

        Returns
        -------
        (matrix, systems, block_labels)
        """
        if blocks == "auto":
            blocks = "trial" if self.protocol == "mushra" else "participant"
        if blocks not in ("participant", "trial", "item"):
            raise ValueError(f"blocks must be 'auto', 'participant', 'trial' or 'item', got {blocks!r}")
        if blocks == "trial" and self.protocol != "mushra":
            raise ValueError("blocks='trial' needs every system in a trial (MUSHRA); a MOS trial "
                             "holds one sample: use 'participant' or 'item'")
        systems = list(systems) if systems is not None else self.systems
        unknown = [s for s in systems if s not in self.systems]
        if unknown:
            raise ValueError(f"no ratings of {unknown}; systems are {self.systems}")
        field = {"participant": lambda r: r["participant"], "item": lambda r: r["item"],
                 "trial": lambda r: (r["participant"], r["trial"])}[blocks]
        cells: dict = {}
        for r in self.rows:
            if r["system"] in systems:
                cells.setdefault(field(r), {}).setdefault(r["system"], []).append(r["rating"])
        labels = sorted(b for b, c in cells.items() if all(s in c for s in systems))
        m = np.array([[np.mean(cells[b][s]) for s in systems] for b in labels], dtype=float)
        return m.reshape(len(labels), len(systems)), systems, labels


def load_results(paths, test_id: str | None = None) -> Results:
    """Read one or several results files of the same test and decode them with the key.

    Several files (or several participants in one file) merge. If a participant answered a
    trial twice (two open pages), the later answer counts, with a warning.

    Parameters
    ----------
    paths : path or list of paths
    test_id : str, optional
        Keep only this test's records (default: the test of the first header).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("load_results: no results file given")
    header, answers = None, {}
    duplicates = 0
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such results file")
        records = read_records(path)
        heads = [r for r in records if r.get("type") == "header"]
        if not heads:
            raise ValueError(f"{path}: no header record; is this a coursekit listening results file?")
        for h in heads:
            if test_id is None:
                test_id = h["test_id"]
            if h["test_id"] == test_id:
                if header is None:
                    header = h
                elif h.get("test_version") != header.get("test_version"):
                    raise ValueError(f"{path}: version {h.get('test_version')} of test {test_id}, "
                                     f"other files have {header.get('test_version')}; do not merge them")
        for r in records:
            if r.get("type") == "answer" and r.get("test_id") == test_id:
                k = (r["participant"], r["trial"])
                duplicates += k in answers
                answers[k] = r
    if header is None:
        raise ValueError(f"no results of test {test_id} in {', '.join(map(str, paths))}")
    if duplicates:
        warnings.warn(f"{duplicates} trial(s) were answered twice by the same participant; "
                      "the later answer is kept")
    key, items = header["key"], header.get("trials", {})
    rows = []
    for (participant, trial), r in answers.items():
        for sid, rating in r["ratings"].items():
            k = key.get(sid)
            if k is None:
                raise ValueError(f"stimulus {sid} of participant {participant} is not in the key; "
                                 "the results file is damaged")
            rows.append({"participant": participant, "trial": trial, "item": items.get(trial, k["item"]),
                         "system": k["system"], "role": k["role"], "rating": float(rating),
                         "position": r.get("position"), "elapsed_s": r.get("elapsed_s")})
    return Results(header["protocol"], test_id, header.get("test_version"), rows, paths,
                   header.get("systems"))


def _as_results(results) -> Results:
    return results if isinstance(results, Results) else load_results(results)


def mos_table(results, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
              unit: str = "rating") -> list[dict]:
    """Mean rating of each system with its t and bootstrap confidence intervals.

    Parameters
    ----------
    results : Results or results file(s)
    level : float
    n_boot : int
    unit : {'rating', 'participant'}
        ``'rating'``: every rating counts as one observation (as MOS tables usually report; too
        narrow when raters differ in leniency). ``'participant'``: the t interval is taken
        over participants' means and the bootstrap resamples whole participants.

    Returns
    -------
    list of dict
        ``system, n, n_participants, mean, sd, t_low, t_high, boot_low, boot_high``, best first.
    """
    res = _as_results(results)
    if unit not in ("rating", "participant"):
        raise ValueError(f"unit must be 'rating' or 'participant', got {unit!r}")
    out = []
    for s in res.systems:
        rows = [r for r in res.rows if r["system"] == s]
        x = np.array([r["rating"] for r in rows])
        who = np.array([r["participant"] for r in rows])
        entry = {"system": s, "n": int(x.size), "n_participants": int(np.unique(who).size),
                 "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else float("nan")}
        if unit == "rating":
            t = ls.t_interval(x, level) if x.size > 1 else (x.mean(), np.nan, np.nan)
            b = ls.bootstrap_interval(x, level, n_boot, seed) if x.size > 1 else t
        else:
            means = np.array([x[who == p].mean() for p in np.unique(who)])
            t = ls.t_interval(means, level) if means.size > 1 else (x.mean(), np.nan, np.nan)
            b = ls.bootstrap_interval(x, level, n_boot, seed, groups=who) if means.size > 1 else t
        entry.update(t_low=float(t[1]), t_high=float(t[2]), boot_low=float(b[1]), boot_high=float(b[2]))
        out.append(entry)
    return sorted(out, key=lambda e: -e["mean"])


def _test_systems(res: Results, systems) -> list:
    if systems is not None:
        return list(systems)
    return [s for s in res.systems if s not in RESERVED] if res.protocol == "mushra" else res.systems


def friedman(results, blocks: str = "auto", systems=None) -> dict:
    """Friedman's test over the systems (for MUSHRA, default: without reference and anchor).

    Returns :func:`~coursekit.eval.listening_stats.friedman_test`'s dict plus ``systems`` and
    ``blocks``.
    """
    res = _as_results(results)
    m, systems, labels = res.matrix(blocks, _test_systems(res, systems))
    out = ls.friedman_test(m)
    out.update(systems=systems, blocks=blocks if blocks != "auto" else
               ("trial" if res.protocol == "mushra" else "participant"))
    return out


def pairwise_wilcoxon(results, blocks: str = "auto", systems=None) -> list[dict]:
    """Wilcoxon signed-rank test for every pair of systems, p-values Holm-adjusted.

    Returns
    -------
    list of dict
        ``a, b, n, median_diff (a - b), statistic, p, p_holm``.
    """
    res = _as_results(results)
    m, systems, _ = res.matrix(blocks, _test_systems(res, systems))
    if m.shape[0] < 2:
        raise ValueError(f"only {m.shape[0]} complete block(s); need more participants or trials")
    out = []
    for i in range(len(systems)):
        for j in range(i + 1, len(systems)):
            d = m[:, i] - m[:, j]
            if np.all(d == 0):
                w = {"statistic": float("nan"), "p": 1.0, "n": 0}
            else:
                w = ls.wilcoxon_signed_rank(m[:, i], m[:, j])
            out.append({"a": systems[i], "b": systems[j], "n": w["n"],
                        "median_diff": float(np.median(d)), "statistic": w["statistic"], "p": w["p"]})
    if out:
        for row, adj in zip(out, ls.holm([r["p"] for r in out])):
            row["p_holm"] = float(adj)
    return out


def screen_mushra(results, threshold: float = 90.0, max_fraction: float = 0.15) -> list[dict]:
    """MUSHRA post-screening (ITU-R BS.1534-3): who rated the hidden reference too low too often?

    A participant is excluded when they rated the hidden reference below ``threshold`` in more
    than ``max_fraction`` of their trials.

    Returns
    -------
    list of dict
        One per participant: ``participant, n_trials, n_low, fraction, excluded``.
    """
    res = _as_results(results)
    if res.protocol != "mushra":
        raise ValueError("post-screening by the hidden reference applies to MUSHRA results only")
    out = []
    for p in res.participants:
        hidden = np.array([r["rating"] for r in res.rows
                           if r["participant"] == p and r["role"] == "hidden_reference"])
        n_low = int((hidden < threshold).sum())
        frac = n_low / hidden.size if hidden.size else 0.0
        out.append({"participant": p, "n_trials": int(hidden.size), "n_low": n_low,
                    "fraction": frac, "excluded": bool(frac > max_fraction)})
    return out


def rank_correlation(fad: dict, ratings) -> dict:
    """Spearman's rho and Kendall's tau between each system's FAD and its mean rating.

    Lower FAD means closer to the real data, so agreement with listeners shows as a
    *negative* correlation.

    Parameters
    ----------
    fad : dict
        ``{system: FAD}``.
    ratings : Results, results file(s), or dict ``{system: mean rating}``
    """
    if not isinstance(ratings, dict):
        ratings = {row["system"]: row["mean"] for row in mos_table(ratings, n_boot=10)}
    systems = [s for s in fad if s in ratings and np.isfinite(fad[s])]
    if len(systems) < 3:
        raise ValueError(f"need FAD and ratings of at least 3 systems, have {systems}")
    x = [float(fad[s]) for s in systems]
    y = [float(ratings[s]) for s in systems]
    rho, p_rho = ls.spearman(x, y)
    tau, p_tau = ls.kendall_tau(x, y)
    return {"systems": systems, "fad": x, "rating": y, "spearman": rho, "spearman_p": p_rho,
            "kendall": tau, "kendall_p": p_tau}


def analyse(results, fad: dict | None = None, level: float = 0.95, n_boot: int = 2000,
            seed: int = 0, screen: bool = True) -> dict:
    """Everything at once: MUSHRA screening, table, Friedman, pairwise tests, FAD correlation.

    With ``screen`` (MUSHRA only), excluded participants are left out of what follows.
    Steps that cannot be computed (too few systems or participants) are reported as a string
    under their key instead of failing the whole analysis.
    """
    res = _as_results(results)
    out: dict = {"protocol": res.protocol, "test_id": res.test_id, "version": res.version,
                 "participants": len(res.participants), "simulated": len(res.simulated),
                 "ratings": len(res.rows)}
    if res.protocol == "mushra":
        out["screening"] = screen_mushra(res)
        dropped = [s["participant"] for s in out["screening"] if s["excluded"]]
        out["excluded"] = dropped
        if screen and dropped:
            res = res.exclude(dropped)
    if not res.rows:
        raise ValueError("no ratings left to analyse")
    out["table"] = mos_table(res, level=level, n_boot=n_boot, seed=seed)
    for name, fn in (("friedman", friedman), ("pairwise", pairwise_wilcoxon)):
        try:
            out[name] = fn(res)
        except ValueError as err:
            out[name] = f"not computed: {err}"
    if fad:
        try:
            out["fad_correlation"] = rank_correlation(fad, {r["system"]: r["mean"] for r in out["table"]})
        except ValueError as err:
            out["fad_correlation"] = f"not computed: {err}"
    return out


def format_report(report: dict) -> str:
    """A printable summary of :func:`analyse`'s result."""
    scale = "MOS (1-5)" if report["protocol"] == "mos" else "MUSHRA (0-100)"
    lines = [f"{report['protocol'].upper()} test {report['test_id']} (version {report['version']}): "
             f"{report['participants']} participants ({report['simulated']} simulated), "
             f"{report['ratings']} ratings"]
    if "screening" in report:
        ex = report["excluded"]
        lines.append(f"post-screening (hidden reference < 90 in > 15 % of trials): "
                     f"{len(ex)} excluded" + (f" ({', '.join(ex)})" if ex else ""))
    lines.append(f"{'system':<12} {'n':>5} {scale:>15} {'95% t interval':>18} {'95% bootstrap':>18}")
    for r in report["table"]:
        lines.append(f"{r['system']:<12} {r['n']:>5} {r['mean']:>15.2f} "
                     f"{'[%.2f, %.2f]' % (r['t_low'], r['t_high']):>18} "
                     f"{'[%.2f, %.2f]' % (r['boot_low'], r['boot_high']):>18}")
    f = report.get("friedman")
    if isinstance(f, dict):
        lines.append(f"Friedman over {f['n_blocks']} {f['blocks']} blocks, {len(f['systems'])} systems: "
                     f"chi2({f['df']}) = {f['statistic']:.2f}, p = {f['p']:.3g}, Kendall's W = {f['kendall_w']:.2f}")
    elif f:
        lines.append(f"Friedman: {f}")
    pw = report.get("pairwise")
    if isinstance(pw, list):
        lines.append("pairwise Wilcoxon signed-rank, Holm-adjusted:")
        for r in pw:
            star = " *" if r["p_holm"] < 0.05 else ""
            lines.append(f"  {r['a']:>10} vs {r['b']:<10} median diff {r['median_diff']:+6.2f}  "
                         f"p = {r['p']:.3g}  p_holm = {r['p_holm']:.3g}{star}")
    elif pw:
        lines.append(f"pairwise: {pw}")
    c = report.get("fad_correlation")
    if isinstance(c, dict):
        lines.append(f"FAD vs mean rating over {len(c['systems'])} systems: Spearman rho = "
                     f"{c['spearman']:+.2f} (p = {c['spearman_p']:.2g}), Kendall tau = "
                     f"{c['kendall']:+.2f} (p = {c['kendall_p']:.2g}); negative = agreement")
    elif c:
        lines.append(f"FAD vs rating: {c}")
    return "\n".join(lines)


def plot_ratings(results, ax=None, level: float = 0.95, n_boot: int = 2000, unit: str = "rating"):
    """MOS: bars with the t interval (thick) and bootstrap interval (thin). MUSHRA: box plots."""
    import matplotlib.pyplot as plt

    res = _as_results(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * len(res.systems) + 2, 3.2))
    if res.protocol == "mos":
        table = mos_table(res, level=level, n_boot=n_boot, unit=unit)
        x = np.arange(len(table))
        means = [r["mean"] for r in table]
        ax.bar(x, means, color="#9ecae1", width=0.6)
        ax.errorbar(x - 0.08, means, yerr=[[r["mean"] - r["t_low"] for r in table],
                                           [r["t_high"] - r["mean"] for r in table]],
                    fmt="none", ecolor="k", elinewidth=2, capsize=4, label=f"{level:.0%} t")
        ax.errorbar(x + 0.08, means, yerr=[[r["mean"] - r["boot_low"] for r in table],
                                           [r["boot_high"] - r["mean"] for r in table]],
                    fmt="none", ecolor="#d6604d", elinewidth=1, capsize=3, label=f"{level:.0%} bootstrap")
        ax.set_xticks(x, [r["system"] for r in table])
        ax.set_ylim(1, 5)
        ax.set_yticks(range(1, 6), [f"{i} {lab}" for i, lab in enumerate(MOS_LABELS, 1)])
        ax.set_ylabel("MOS")
        ax.legend(loc="upper right", fontsize=8)
    else:
        systems = [r["system"] for r in mos_table(res, n_boot=10)]
        data = [res.ratings(s) for s in systems]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(np.arange(1, len(systems) + 1), systems)
        ax.set_ylim(0, 100)
        for v, name in MUSHRA_LABELS:
            ax.axhline(v, color="0.85", lw=0.8, zorder=0)
            ax.text(len(systems) + 0.55, v + 10, name, fontsize=7, va="center", color="0.4")
        ax.set_ylabel("MUSHRA score")
    ax.set_title(f"{res.protocol.upper()}: {len(res.participants)} participants")
    return ax


def plot_fad_vs_rating(fad: dict, results, ax=None):
    """Each system as a point: its FAD (x) against its mean rating (y), with the rank correlation."""
    import matplotlib.pyplot as plt

    c = rank_correlation(fad, results)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.scatter(c["fad"], c["rating"])
    for s, x, y in zip(c["systems"], c["fad"], c["rating"]):
        ax.annotate(s, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("FAD (lower is closer to real)")
    ax.set_ylabel("mean rating")
    ax.set_title(f"Spearman {c['spearman']:+.2f}, Kendall {c['kendall']:+.2f}")
    return ax


# ---------------------------------------------------------------------------------------------
# 9. Command line: python -m coursekit listening serve|analyse
# ---------------------------------------------------------------------------------------------

def cli_serve(args) -> int:
    """``listening serve --systems DIR... --results FILE``: build (or reuse) the test, serve it."""
    results = Path(args.results)
    test_dir = Path(args.test_dir) if args.test_dir else results.parent / f"{results.stem}-test"
    if args.systems:
        try:
            test = build_test(args.systems, test_dir, protocol=args.protocol, reference=args.reference,
                              n_items=args.n_items, seconds=args.seconds, seed=args.seed)
        except FileExistsError as err:
            raise ValueError(str(err)) from None
    elif not (test_dir / "test.json").exists():
        raise FileNotFoundError(f"{test_dir}: no test built there yet; give --systems DIR ... "
                                "(and --reference DIR for MUSHRA) to build one")
    else:
        test = load_test(test_dir)
    serve(test, args.results, port=args.port, ip=args.ip, wait=True)
    return 0


def cli_analyse(args) -> int:
    """``listening analyse RESULTS... [--fad FILE.json] [--json]``: print the analysis."""
    fad = None
    if args.fad:
        fad_path = Path(args.fad)
        if not fad_path.exists():
            raise FileNotFoundError(f"{fad_path}: no such FAD file (JSON {{system: fad}})")
        raw = json.loads(fad_path.read_text(encoding="utf-8"))
        fad = {k: float(v["fad"] if isinstance(v, dict) else v) for k, v in raw.items()}
    report = analyse(args.results, fad=fad, n_boot=args.n_boot, screen=not args.no_screen)
    if args.json:
        print(json.dumps(report, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    else:
        print(format_report(report))
    return 0
