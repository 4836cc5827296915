"""The trials of a listening test: samples, items, stimuli, and the built test with its key.

:func:`build_test` reads folders of samples, one folder a system (NSynth-format folders as
every model of the course writes them, or plain folders of audio files: :func:`list_samples`),
pairs them into items (:func:`match_items`), cuts, pads to one length and loudness-aligns the
stimuli (:func:`prepare_stimulus`; the MUSHRA low anchor is :func:`low_anchor`) and copies them under
random ids into the test folder (:func:`wav_bytes`), with the blinding key (which id is which
system) in ``test.json`` beside them. :class:`ListeningTest` (:func:`load_test`) reads a built
test back: its trials, its stimuli and each participant's seeded order of them.
:mod:`coursekit.eval.listening` maps the other pieces of the test.

Protocols
---------
``'mos'``
    Absolute category rating (ITU-T P.800 ACR): one sample a trial, rated Bad (1), Poor (2),
    Fair (3), Good (4) or Excellent (5). The mean is the MOS.
``'mushra'``
    ITU-R BS.1534: a trial shows a labelled reference and, in random order, every system's
    version of the same item plus a hidden copy of the reference and a low anchor (the
    reference low-passed at 3.5 kHz), each rated on a 0-100 slider.

Files
-----
``<test>/test.json``
    Protocol, version, trials and the blinding key. Stays on the experimenter's side.
``<test>/stimuli/<id>.wav``
    16-bit mono WAV copies under random ids (dithered, so no two players carry the same bytes),
    all of the same length.
``<test>/.coursekit-output.json``
    The course's mark: the files above, which a rebuild with ``overwrite=True`` may replace.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import time
import warnings
import wave
from pathlib import Path

import numpy as np

from ..outputs import MARK, UserError, mark_written, marked_files

__all__ = [
    "PROTOCOLS", "MOS_LABELS", "MUSHRA_LABELS", "ANCHOR_CUTOFF_HZ", "RESERVED", "TEST_FORMAT",
    "FORMAT_VERSION", "AUDIO_EXTENSIONS",
    "list_samples", "match_items", "prepare_stimulus", "low_anchor", "wav_bytes",
    "build_test", "load_test", "ListeningTest", "TestFolderTaken",
]

PROTOCOLS = ("mos", "mushra")
MOS_LABELS = ("Bad", "Poor", "Fair", "Good", "Excellent")  # ACR scores 1..5 (ITU-T P.800)
MUSHRA_LABELS = ((80, "Excellent"), (60, "Good"), (40, "Fair"), (20, "Poor"), (0, "Bad"))
ANCHOR_CUTOFF_HZ = 3500.0  # BS.1534-3 low anchor: the reference low-passed at 3.5 kHz
RESERVED = ("reference", "anchor")  # names MUSHRA gives to the hidden reference and the anchor
TEST_FORMAT = "coursekit-listening-test"
FORMAT_VERSION = 1
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
_NOTE_RE = re.compile(r"-(\d{3})-(\d{3})$")  # ..._NNN-PPP-VVV: pitch and velocity in a note name
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # ids: no 0/o, 1/l/i to misread


# ---------------------------------------------------------------------------------------------
# Systems, items and stimuli
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
                     fade_ms: float = 10.0, length: int | None = None,
                     normalize: bool = True) -> np.ndarray:
    """Cut ``y`` to ``seconds``, fade out its end, align its loudness, pad it to ``length``.

    Loudness differences bias listeners (louder sounds better), so every stimulus is scaled to
    the same RMS level ``target_db`` (dBFS), unless that would push its peak above
    ``max_peak``; then the peak sets the gain. Silent audio is left unscaled, and so is all
    audio with ``normalize=False``.

    Durations give a system away too, so :func:`build_test` passes the test's ``length`` (in
    samples): longer audio is cut to it, shorter audio is padded with silence after its
    fade-out. The gain is measured on the audio itself, not on the padding.

    Example
    -------
    >>> from coursekit.audio import tone
    >>> y = prepare_stimulus(tone(440.0, 2.0, sr=16000, amp=0.1), 16000, seconds=1.0)
    >>> len(y), round(20 * np.log10(np.sqrt(np.mean(y ** 2))))
    (16000, -20)
    >>> len(prepare_stimulus(tone(440.0, 0.5, sr=16000), 16000, length=16000))
    16000
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"prepare_stimulus takes mono audio of shape (n,), got {y.shape}")
    if seconds is not None:
        y = y[: int(round(seconds * sr))]
    if length is not None:
        y = y[: int(length)]
    y = y.copy()
    n_fade = min(len(y) // 4, int(fade_ms / 1000 * sr))
    if n_fade > 0:
        y[-n_fade:] *= np.linspace(1.0, 0.0, n_fade, dtype=np.float32)
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) if y.size else 0.0
    peak = float(np.abs(y).max()) if y.size else 0.0
    if normalize and rms >= 1e-6:
        y = (y * min(10 ** (target_db / 20) / rms, max_peak / peak)).astype(np.float32)
    if length is not None and len(y) < length:
        y = np.pad(y, (0, int(length) - len(y)))
    return y


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
# The test: built once, read by every session
# ---------------------------------------------------------------------------------------------

class ListeningTest:
    """A built test: its folder, ``test.json`` (trials + blinding key) and the stimuli.

    Open one with :func:`load_test` (or get it from :func:`build_test`). The blinding key lives
    here, on the experimenter's side; :class:`~coursekit.eval.listening_app.ListeningApp` only ever
    shows letters and audio.

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
        try:
            spec = json.loads(spec_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"{spec_file}: not a coursekit listening test (not valid JSON: {err})") from None
        if not isinstance(spec, dict) or spec.get("format") != TEST_FORMAT:
            found = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
            raise UserError(f"{spec_file}: not a coursekit listening test (format {found!r})")
        self.spec = spec
        try:
            self.protocol = spec["protocol"]
            self.test_id = spec["test_id"]
            self.version = spec["version"]
            self.title = spec.get("title") or "Listening test"
            self.sr = int(spec["sr"])
            self.trials = spec["trials"]
            self.stimuli = spec["stimuli"]
            self.systems = list(spec["systems"]) + (list(RESERVED) if self.protocol == "mushra" else [])
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"{spec_file}: a damaged listening test ({type(err).__name__}: {err}); "
                            "build it again in a new folder") from None

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


class TestFolderTaken(UserError):
    """The folder given for a test holds something else: another test (``test_id``) or files
    that are not a listening test. Nothing in it was changed."""

    def __init__(self, message: str, folder, test_id: str | None = None):
        super().__init__(message)
        self.folder, self.test_id = Path(folder), test_id


_SID_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _existing_test(out_dir: Path) -> ListeningTest | None:
    """The test already built in ``out_dir``, ``None`` when it is absent or empty; a folder
    holding anything else is refused (:class:`TestFolderTaken`)."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return None
    if not out_dir.is_dir():
        raise TestFolderTaken(f"{out_dir}: is not a folder; give a new or empty folder for the test",
                              out_dir)
    if (out_dir / "test.json").exists():
        try:
            return load_test(out_dir)
        except (UserError, OSError) as err:
            raise TestFolderTaken(f"{err}; choose a new or empty folder for the test", out_dir) from None
    if any(out_dir.iterdir()):
        raise TestFolderTaken(f"{out_dir}: holds files but no listening test; a test needs a folder "
                              "of its own: choose a new or empty folder (nothing in it was changed)",
                              out_dir)
    return None


def _test_files(test: ListeningTest) -> set[Path]:
    """The files a built test consists of: ``test.json``, its stimuli and the course's mark."""
    folder = test.folder
    files = {folder / "test.json", folder / MARK}
    files |= {folder / "stimuli" / f"{sid}.wav" for sid in test.stimuli if _SID_RE.match(str(sid))}
    files |= {folder / rel for rel in marked_files(folder)}
    return files


def _install(tmp: Path, out_dir: Path, old: ListeningTest | None) -> None:
    """Move the test built in ``tmp`` to ``out_dir``; of what is there, only the files of the
    test ``old`` are replaced."""
    if old is None and not out_dir.exists():
        tmp.rename(out_dir)
        return
    old_files = {p.absolute() for p in _test_files(old)} if old is not None else set()
    new = [p for p in sorted(tmp.rglob("*")) if p.is_file()]
    clash = [out_dir / p.relative_to(tmp) for p in new]
    clash = [d for d in clash if (d.exists() or d.is_symlink()) and d.absolute() not in old_files]
    if clash:
        raise TestFolderTaken(f"{clash[0]}: already exists and is not part of the test in {out_dir}; "
                              "choose a new or empty folder for the test", out_dir)
    for f in old_files:
        if f.is_file() or f.is_symlink():
            f.unlink()
    if (out_dir / "stimuli").is_dir() and not any((out_dir / "stimuli").iterdir()):
        (out_dir / "stimuli").rmdir()
    if not any(out_dir.iterdir()):
        out_dir.rmdir()
        tmp.rename(out_dir)
        return
    for p in new:
        dest = out_dir / p.relative_to(tmp)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, dest)


def _load_clips(items: list[dict], sr: int, seconds: float) -> dict:
    """``{path: audio}`` of every file the items use, resampled to ``sr`` and cut to ``seconds``."""
    from .. import audio

    clips = {}
    for it in items:
        for path in [*it["files"].values(), it["reference"]]:
            if path is not None and str(path) not in clips:
                clips[str(path)] = audio.load(path, sr=sr)[0][: int(round(seconds * sr))]
    return clips


def _write_stimuli(tmp: Path, items: list[dict], clips: dict, protocol: str, sr: int, length: int,
                   normalize: bool, rng: np.random.Generator, verbose: bool) -> tuple[list, dict]:
    """Write every stimulus of the test to ``tmp/stimuli/<id>.wav``, each ``length`` samples
    long (so no system stands out by its duration); return the trials and the stimuli."""
    (tmp / "stimuli").mkdir()
    used: set[str] = set()
    stimuli, trials = {}, []

    def new_id(prefix: str) -> str:
        while True:
            tid = prefix + _token(rng)
            if tid not in used:
                used.add(tid)
                return tid

    def add(y, system, role, item, source) -> str:
        sid = new_id("s")
        y = prepare_stimulus(y, sr, length=length, normalize=normalize)
        (tmp / "stimuli" / f"{sid}.wav").write_bytes(wav_bytes(y, sr, seed=int(rng.integers(2 ** 31))))
        stimuli[sid] = {"system": system, "role": role, "item": item, "source": str(source)}
        return sid

    iterator = items
    try:
        from tqdm.auto import tqdm

        iterator = tqdm(items, desc="preparing stimuli", disable=not verbose)
    except ImportError:
        pass
    for it in iterator:
        files = it["files"]
        if protocol == "mos":
            for name in sorted(files):
                sid = add(clips[str(files[name])], name, "system", it["item"], files[name])
                trials.append({"id": new_id("t"), "item": it["item"], "reference": None,
                               "stimuli": [sid]})
        else:
            y_ref = clips[str(it["reference"])]
            ref_sid = add(y_ref, "reference", "reference", it["item"], it["reference"])
            test_sids = [add(y_ref, "reference", "hidden_reference", it["item"], it["reference"]),
                         add(low_anchor(y_ref, sr), "anchor", "anchor", it["item"], it["reference"])]
            for name in sorted(files):
                test_sids.append(add(clips[str(files[name])], name, "system", it["item"], files[name]))
            trials.append({"id": new_id("t"), "item": it["item"], "reference": ref_sid,
                           "stimuli": test_sids})
    return trials, stimuli


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
        Longest stimulus; default: the profile's ``ch08.seconds``. Every stimulus of the test
        has the same length, the shorter of ``seconds`` and the longest clip used: longer
        clips are cut, shorter ones padded with silence after a fade-out, so that no system
        can be told by its duration.
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
        Replace a *different* test already in ``out_dir`` (its ``test.json`` and stimuli; any
        other file there stays). A folder that holds files but no test is never used
        (:class:`TestFolderTaken`).

    Returns
    -------
    ListeningTest

    Example
    -------
    >>> test = build_test({"real": "data/real", "noisy": "data/noisy"}, "runs/test",
    ...                   protocol="mos", n_items=4)                       # doctest: +SKIP
    """
    from ..profiles import get_profile

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    folders = _system_folders(systems)
    prof = get_profile().ch08
    n_items = int(n_items or prof.n_items)
    seconds = float(seconds or prof.seconds)
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    if not (np.isfinite(seconds) and seconds > 0):
        raise UserError(f"seconds (--seconds) must be a positive number, got {seconds}")
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
    out_dir = Path(out_dir)
    existing = _existing_test(out_dir)
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
    clips = _load_clips(items, sr, seconds)
    length = max(len(y) for y in clips.values())
    if length == 0:
        raise UserError("every chosen clip is empty; check the folders of samples")

    # The test's identity: what is in it, not where it was built.
    design = {"format_version": FORMAT_VERSION, "protocol": protocol, "sr": sr, "seconds": seconds,
              "length": length, "normalize": normalize, "anchor_hz": ANCHOR_CUTOFF_HZ,
              "systems": sorted(folders),
              "items": [[it["item"], {k: _file_digest(p) for k, p in sorted(it["files"].items())},
                         _file_digest(it["reference"]) if it["reference"] else None] for it in items]}
    version = hashlib.sha256(json.dumps(design, sort_keys=True).encode()).hexdigest()[:12]
    test_id = f"{protocol}-" + hashlib.sha256(f"{version}/{seed}".encode()).hexdigest()[:10]
    if existing is not None:
        if existing.test_id == test_id:
            if verbose:
                print(f"Test {test_id} is already built in {out_dir}; using it.")
            return existing
        if not overwrite:
            raise TestFolderTaken(f"{out_dir} holds another test ({existing.test_id}); open it with "
                                  "load_test(), choose another folder, or pass overwrite=True",
                                  out_dir, existing.test_id)

    where = out_dir.absolute()
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = where.parent / f".{where.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # a new folder: nothing that was there before is ever removed
    try:
        rng = np.random.default_rng([seed, int(version, 16)])
        trials, stimuli = _write_stimuli(tmp, items, clips, protocol, sr, length, normalize, rng,
                                         verbose)
        spec = {"format": TEST_FORMAT, "format_version": FORMAT_VERSION, "test_id": test_id,
                "version": version, "protocol": protocol, "title": title, "sr": sr,
                "seconds": seconds, "length": length, "normalize": normalize, "seed": seed,
                "match": how, "anchor_hz": ANCHOR_CUTOFF_HZ if protocol == "mushra" else None,
                "systems": {k: str(v) for k, v in folders.items()},
                "reference": str(reference) if reference is not None else None,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "trials": trials, "stimuli": stimuli}
        (tmp / "test.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
        mark_written(tmp, ["test.json"] + [f"stimuli/{sid}.wav" for sid in stimuli])
        _install(tmp, where, existing)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if verbose:
        print(f"Built {protocol.upper()} test {test_id}: {len(trials)} trials, {len(stimuli)} stimuli, "
              f"{len(folders)} systems, items matched by {how}, in {out_dir}")
    return load_test(out_dir)
