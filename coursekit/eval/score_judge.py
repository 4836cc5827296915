"""Does the audio play the score? A small piano transcriber and a judge built on ``mir_eval``.

A MIDI-conditioned generator is asked to play given notes. Whether it did can be heard, and it
can be measured without any learnt model: transcribe the audio (when do notes start, which keys
sound in each frame) and compare the transcription with the MIDI, as piano transcription is
scored (``mir_eval``).

:func:`transcribe` works from the audio alone, for one piano, with two classic tools:

- **onsets** from the *spectral flux* of a log-magnitude constant-Q spectrogram: how much the
  level (dB) rose since the previous frames, summed over frequency; a note's hammer strike is a
  sudden rise across many bins. The onsets are the peaks of that curve
  (:func:`peak_pick`: a local maximum, above the local mean by a margin, with a minimum
  spacing);
- **pitches sounding in each frame** from a *harmonic salience*: the constant-Q spectrum (3 bins
  per semitone over the 88 keys and above, levels in dB above each bin's background noise)
  summed over each key's first 8 harmonics. Among the keys whose fundamental is above an
  absolute floor, the strongest is taken, its harmonics are damped in the spectrum (what it
  explains), and the next strongest is looked for, as long as its salience is at least
  ``rel_db`` times the frame's first; short runs are dropped and short gaps filled.

Each onset gets the pitches that start sounding there (keys whose fundamental rises and that
the piano roll shows active just after).

:func:`judge` compares a transcription with a MIDI file over the audio's length: onset F1
within 50 ms (``mir_eval.onset``: pitch-agnostic), note F1 (onset within 50 ms and the right
pitch, offsets ignored: ``mir_eval.transcription``) and frame-level multi-pitch F1
(``mir_eval.multipitch``, 10 ms frames), the sustain pedal extending the notes of the MIDI.

The thresholds were chosen on synthetic MIDI played by the SoundFont piano
(:mod:`coursekit.data.soundfont`), never on the held-out performances the judge is used on.

Example
-------
>>> from coursekit.eval.score_judge import judge
>>> scores = judge(y, 16000, "performance.mid")            # doctest: +SKIP
>>> scores["onset_f1"], scores["frame_f1"]                 # doctest: +SKIP
(0.93, 0.71)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["SR", "HOP", "transcribe", "judge", "peak_pick", "midi_reference", "window_midi", "render_baselines",
           "pick_excerpts"]

SR = 16000                     # the rate the transcriber works at (audio is resampled to it)
HOP = 160                      # 10 ms frames
LOWEST, N_KEYS = 21, 88        # A0 .. C8
BPO = 36                       # constant-Q bins per octave: 3 per semitone
N_BINS = 290                   # A0 (less a third of a semitone) up to about 7 kHz
HARMONICS = 8                  # harmonics summed in the salience
FLOOR_DB = -70.0               # below this level (dB, full-scale sine = 0 dB) a bin counts as silent
SILENT = 1e-3                  # a clip whose peak is below this (-60 dBFS) is silence
_CQT_DB_A0 = 38.79             # librosa.cqt's magnitude (dB) of a full-scale sine at A0, 16 kHz
ONSET_MERGE = 0.03             # onsets (reference and estimate) closer than this are one event


def _db_cqt(y: np.ndarray, sr: int) -> np.ndarray:
    """Constant-Q magnitudes in dB of the clip scaled to a peak of 1 (a full-scale sine is about
    0 dB), ``(N_BINS, frames)``, clipped below at :data:`FLOOR_DB`; bin ``1 + 3 k`` is centred
    on key ``k`` (0 = A0). A clip quieter than :data:`SILENT` is left as it is."""
    import warnings

    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:                                    # (channels, n) -> mono
        y = y.mean(axis=0)
    if y.ndim != 1:
        raise ValueError(f"audio must be (n,) or (channels, n), not shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("audio holds NaN or infinite samples")
    if int(sr) != SR:
        y = librosa.resample(y, orig_sr=int(sr), target_sr=SR)
    if len(y) < HOP:
        y = np.pad(y, (0, HOP - len(y)))
    peak = float(np.max(np.abs(y)))
    if peak >= SILENT:                                 # levels are read relative to the clip's peak
        y = y / peak
    fmin = librosa.midi_to_hz(LOWEST) * 2.0 ** (-1.0 / BPO)
    with warnings.catch_warnings():                    # short clips: librosa warns per octave
        warnings.simplefilter("ignore", UserWarning)
        c = np.abs(librosa.cqt(y, sr=SR, hop_length=HOP, fmin=fmin, n_bins=N_BINS,
                               bins_per_octave=BPO, pad_mode="reflect"))
    # librosa's scaled CQT gives a sine a magnitude that falls as 1/sqrt(f); undo it so that a
    # full-scale sine is about 0 dB in every bin
    freqs = fmin * 2.0 ** (np.arange(N_BINS) / BPO)
    gain = 10.0 * np.log10(freqs / librosa.midi_to_hz(LOWEST)) - _CQT_DB_A0
    return np.maximum(20.0 * np.log10(c + 1e-12) + gain[:, None], FLOOR_DB)


def peak_pick(x: np.ndarray, pre_max: int = 3, post_max: int = 3, pre_avg: int = 10,
              post_avg: int = 10, delta: float = 0.0, wait: int = 3) -> np.ndarray:
    """Indices of the peaks of ``x``: local maxima over ``[i - pre_max, i + post_max]`` that
    exceed the mean over ``[i - pre_avg, i + post_avg]`` by ``delta`` (and are above
    ``delta``), at least ``wait`` samples after the previous peak kept (NumPy only).

    Example
    -------
    >>> peak_pick(np.array([0, 1, 0, 0, 5, 0, 0, 0, 2, 0.]), 1, 1, 2, 2, delta=0.5, wait=1).tolist()
    [1, 4, 8]
    """
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.zeros(0, dtype=int)
    size = pre_max + post_max + 1
    local_max = maximum_filter1d(x, size, origin=(post_max - pre_max) // 2, mode="constant")
    size = pre_avg + post_avg + 1
    local_mean = uniform_filter1d(x, size, origin=(post_avg - pre_avg) // 2, mode="nearest")
    cand = np.flatnonzero((x == local_max) & (x >= local_mean + delta) & (x > delta))
    kept, last = [], -np.inf
    for i in cand:
        if i - last > wait:
            kept.append(i)
            last = i
    return np.array(kept, dtype=int)


def _harmonic_bins() -> np.ndarray:
    """``(HARMONICS, N_KEYS)`` the constant-Q bin of each key's ``h``-th harmonic (-1: above)."""
    k = np.arange(N_KEYS)
    h = np.arange(1, HARMONICS + 1)[:, None]
    b = 1 + 3 * k[None, :] + np.round(BPO * np.log2(h)).astype(int)
    return np.where(b < N_BINS - 1, b, -1)


def _salience(e: np.ndarray, bins: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(N_KEYS, frames)``: each key's harmonics (dB above the floor, the best of 3 bins
    around each) summed with ``weights``."""
    padded = np.vstack([e, np.zeros((1, e.shape[1]))])          # bin -1 reads a zero row
    best = np.maximum(np.maximum(padded[bins - 1], padded[bins]), padded[np.minimum(bins + 1, N_BINS)])
    best[bins < 0] = 0.0
    return np.tensordot(weights, best, axes=(0, 0))


def _clean_runs(roll: np.ndarray, min_len: int, max_gap: int) -> np.ndarray:
    """Fill gaps of at most ``max_gap`` frames in each key's runs, then drop runs shorter than
    ``min_len`` frames. ``roll``: ``(frames, keys)`` bool."""
    from scipy.ndimage import binary_closing, binary_opening

    if max_gap > 0:
        roll = binary_closing(roll, structure=np.ones((max_gap + 1, 1), bool)) | roll
    if min_len > 1:
        roll = binary_opening(roll, structure=np.ones((min_len, 1), bool))
    return roll


def transcribe(y: np.ndarray, sr: int, onset_delta: float = 0.5, rel_db: float = 0.6,
               fund_db: float = 28.0, cancel: float = 0.5, max_poly: int = 10,
               rise_db: float = 1.5, min_frames: int = 8,
               noise_db: float = -60.0) -> dict:
    """Note onsets and the keys sounding in each frame of one piano's audio.

    Parameters
    ----------
    y : numpy.ndarray
        Audio ``(n,)`` or ``(channels, n)`` (mixed to mono) at ``sr``; resampled to 16 kHz.
    sr : int
        Its sample rate.
    onset_delta : float
        How far (dB a bin, on average) the spectral flux must rise above its local mean to be an
        onset.
    rel_db : float
        A key sounds only when its salience is at least this fraction of the frame's first key's.
    fund_db : float
        Only keys whose fundamental (or, for the lowest octave, its strongest partial among the
        first two) is at least this many dB above the bin's background are candidates.
    cancel : float
        How much of a found key's harmonics is removed before looking for the next key (0..1).
    max_poly : int
        At most this many keys a frame.
    noise_db : float
        Each bin's background is its 10th percentile over the clip, but at most this level (dB
        re the clip's peak); levels count from there.
    rise_db : float
        An onset gets the keys that sound in the roll just after it and either were silent just
        before or whose fundamental rose by at least this many dB around it.
    min_frames : int
        A key's run in the roll shorter than this many frames is dropped (gaps of up to 2
        frames are filled first): the broadband strike of a hammer lights up neighbouring keys
        for a few frames.

    Returns
    -------
    dict
        ``onsets``: onset times (s, sorted); ``notes``: ``(m, 3)`` array of onset time, key-up
        estimate (end of the key's run in the roll) and MIDI pitch; ``roll``: ``(frames, 88)``
        bool, key ``k`` is MIDI ``21 + k``; ``times``: ``(frames,)`` frame times (s);
        ``flux``: the onset strength a frame.

    Example
    -------
    >>> import numpy as np
    >>> t = np.arange(16000) / 16000
    >>> y = np.where(t > 0.3, np.sin(2 * np.pi * 440 * t) * np.exp(-3 * (t - 0.3)), 0.0)
    >>> out = transcribe(y, 16000)
    >>> np.round(out["onsets"], 2).tolist(), out["notes"][:, 2].tolist()
    ([0.3], [69.0])
    """
    d = _db_cqt(y, sr)
    n_frames = d.shape[1]
    times = np.arange(n_frames) * HOP / SR
    # onsets: rectified rise of each bin over two frames, averaged over bins
    rise = np.maximum(d[:, 2:] - np.maximum(d[:, 1:-1], d[:, :-2]), 0.0) if n_frames > 2 else np.zeros((N_BINS, 0))
    flux = np.concatenate([np.zeros(min(2, n_frames)), rise.mean(axis=0)])
    peaks = peak_pick(flux, pre_max=3, post_max=3, pre_avg=10, post_avg=10, delta=onset_delta,
                      wait=int(round(ONSET_MERGE * SR / HOP)))
    peaks = peaks[peaks < n_frames - 3]                # an onset needs frames after it
    onsets = times[peaks]

    # multi-pitch: strongest harmonic salience, cancel its harmonics, look again
    # levels above each bin's background: its 10th percentile over the clip, counted only up to
    # `noise_db` (a recording's rumble and room noise sound all the time; a held note may too,
    # and only a quiet one is taken for background)
    background = np.minimum(np.percentile(d, 10, axis=1, keepdims=True), noise_db)
    e = np.maximum(d - background, 0.0)
    bins = _harmonic_bins()
    weights = 0.8 ** np.arange(HARMONICS)
    roll = np.zeros((N_KEYS, n_frames), bool)
    cols = np.arange(n_frames)
    first = None
    for _ in range(max_poly):
        s = _salience(e, bins, weights)
        fund = np.maximum(np.maximum(e[bins[0] - 1], e[bins[0]]), e[bins[0] + 1])   # (88, frames)
        fund[:12] = np.maximum(fund[:12], e[bins[1, :12]])   # the lowest octave's fundamental is weak
        s[(fund < fund_db) | roll] = -np.inf             # a candidate key has its fundamental
        k = np.argmax(s, axis=0)
        best = s[k, cols]
        if first is None:
            first = best.copy()
        ok = (best >= rel_db * first) & np.isfinite(best)
        if not ok.any():
            break
        roll[k[ok], cols[ok]] = True
        for h in range(HARMONICS):
            b = bins[h, k]
            sel = ok & (b >= 0)
            for off in (-1, 0, 1):
                e[np.clip(b[sel] + off, 0, N_BINS - 1), cols[sel]] *= 1.0 - cancel
    roll = _clean_runs(roll.T, min_len=min_frames, max_gap=2)

    # pitches at each onset: keys that sound just after it and either were silent just before
    # or whose fundamental rose (a key struck again)
    key_db = np.maximum(np.maximum(d[bins[0] - 1], d[bins[0]]), d[bins[0] + 1])   # (88, frames)
    notes = []
    for i in peaks:
        a, b = max(i - 2, 0), min(i + 3, n_frames - 1)
        jump = key_db[:, b] - key_db[:, a]
        after = roll[i:min(i + 10, n_frames)]
        active = after.sum(axis=0) >= min(5, len(after))      # sounds in most of the next 100 ms
        before = roll[max(i - 4, 0):max(i - 1, 0)].any(axis=0)
        for key in np.flatnonzero(active & ((jump >= rise_db) | ~before)):
            first_on = i + int(np.argmax(after[:, key]))
            run = roll[first_on:, key]
            stop = first_on + (int(np.argmin(run)) if not run.all() else len(run))
            notes.append((times[i], times[min(stop, n_frames - 1)], LOWEST + key))
    notes = np.array(notes, dtype=np.float64).reshape(-1, 3)
    return {"onsets": onsets, "notes": notes, "roll": roll, "times": times, "flux": flux}


def _merge(times: np.ndarray, gap: float = ONSET_MERGE) -> np.ndarray:
    """Sorted times with any time closer than ``gap`` to the previous one kept dropped."""
    out = []
    for t in np.sort(np.asarray(times, dtype=np.float64)):
        if not out or t - out[-1] >= gap:
            out.append(t)
    return np.array(out)


def midi_reference(midi, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """What the judge compares with: ``(notes, sounding)``, both ``(n, 4)`` arrays of start,
    end, pitch, velocity of the notes that sound in ``[0, seconds)``; ``sounding`` has the
    sustain pedal applied to the ends. ``midi``: a path or a ``pretty_midi.PrettyMIDI``.
    A file that is not MIDI, or holds no notes there, raises one-line ``ValueError``.

    Example
    -------
    >>> import pretty_midi
    >>> pm = pretty_midi.PrettyMIDI(); pm.instruments.append(pretty_midi.Instrument(0))
    >>> pm.instruments[0].notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.1, end=0.5))
    >>> midi_reference(pm, 1.0)[0].tolist()
    [[0.1, 0.5, 60.0, 90.0]]
    """
    from ..data.maestro_midi import (SUSTAIN, apply_sustain, load_midi, midi_notes, pedal_events,
                                     pedal_intervals)

    if not hasattr(midi, "instruments"):
        if isinstance(midi, (str, Path)) and not Path(midi).is_file():
            raise ValueError(f"{midi}: no such MIDI file")
        midi = load_midi(midi)
    notes = midi_notes(midi)
    if len(notes) == 0:
        raise ValueError("the MIDI holds no (non-drum) notes to compare with")
    pedal = pedal_intervals(pedal_events(midi, SUSTAIN), end=float(notes[:, 1].max()) + 1.0)
    sounding = apply_sustain(notes, pedal)
    keep = (notes[:, 0] < seconds) & (sounding[:, 1] > 0)
    if not keep.any():
        raise ValueError(f"the MIDI has no notes in the audio's {seconds:.2f} s")
    return notes[keep], sounding[keep]


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def judge(y: np.ndarray, sr: int, midi, tolerance: float = 0.05, **kwargs) -> dict:
    """How well audio plays a MIDI score, from the audio alone (:func:`transcribe` + ``mir_eval``).

    Parameters
    ----------
    y : numpy.ndarray
        The audio ``(n,)`` or ``(channels, n)``, starting where the MIDI's time 0 is.
    sr : int
        Its sample rate.
    midi : str, Path or pretty_midi.PrettyMIDI
        The score. Notes are compared over the audio's length; the sustain pedal extends how long
        each note sounds (for the frame scores).
    tolerance : float
        Onset tolerance in seconds (50 ms, as in MIREX).
    **kwargs
        Passed to :func:`transcribe`.

    Returns
    -------
    dict of float
        ``onset_f1`` / ``onset_precision`` / ``onset_recall``: onset times alone, any pitch
        (reference onsets closer than 30 ms merged, as chords are struck);
        ``note_f1`` / ``note_precision`` / ``note_recall``: onset within ``tolerance`` and the
        same pitch; ``frame_f1`` / ``frame_precision`` / ``frame_recall`` / ``frame_accuracy``:
        the keys sounding in each 10 ms frame; ``n_ref_onsets``, ``n_est_onsets``,
        ``n_ref_notes``, ``n_est_notes``.

    Example
    -------
    >>> s = judge(y, 16000, "score.mid")                       # doctest: +SKIP
    >>> round(s["onset_f1"], 2), round(s["frame_f1"], 2)       # doctest: +SKIP
    (0.95, 0.8)
    """
    import warnings

    import mir_eval

    y = np.asarray(y)
    seconds = y.shape[-1] / float(sr)
    notes, sounding = midi_reference(midi, seconds)
    est = transcribe(y, sr, **kwargs)
    struck = notes[notes[:, 0] >= 0]
    ref_on = _merge(struck[:, 0])
    est_on = _merge(est["onsets"])
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                       # mir_eval warns on empty lists
        f, p, r = mir_eval.onset.f_measure(ref_on, est_on, window=tolerance)
        out.update(onset_f1=f, onset_precision=p, onset_recall=r)

        ref_int = np.stack([struck[:, 0], np.maximum(struck[:, 1], struck[:, 0] + 0.01)], axis=1)
        en = est["notes"]
        est_int = np.stack([en[:, 0], np.maximum(en[:, 1], en[:, 0] + 0.01)], axis=1)
        if len(ref_int) and len(est_int):
            p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
                ref_int, mir_eval.util.midi_to_hz(struck[:, 2]), est_int,
                mir_eval.util.midi_to_hz(en[:, 2]), onset_tolerance=tolerance, offset_ratio=None)
        else:
            p = r = f = 0.0
        out.update(note_f1=f, note_precision=p, note_recall=r)

        times = est["times"]
        ref_freqs, est_freqs = [], []
        for i, t in enumerate(times):
            on = sounding[(sounding[:, 0] <= t) & (t < sounding[:, 1]), 2]
            ref_freqs.append(mir_eval.util.midi_to_hz(np.unique(on)))
            est_freqs.append(mir_eval.util.midi_to_hz(LOWEST + np.flatnonzero(est["roll"][i]).astype(float)))
        m = mir_eval.multipitch.evaluate(times, ref_freqs, times, est_freqs)
        out.update(frame_f1=_f1(m["Precision"], m["Recall"]), frame_precision=m["Precision"],
                   frame_recall=m["Recall"], frame_accuracy=m["Accuracy"])
    out = {k: float(v) for k, v in out.items()}
    out.update(n_ref_onsets=float(len(ref_on)), n_est_onsets=float(len(est_on)),
               n_ref_notes=float(len(struck)), n_est_notes=float(len(est["notes"])))
    return out


# ---------------------------------------------------------------------------------------------
# Held-out excerpts and the baselines a score-playing generator is judged beside
# ---------------------------------------------------------------------------------------------

def window_midi(pm, t0: float, seconds: float):
    """A new PrettyMIDI with the notes of ``pm`` sounding in ``[t0, t0 + seconds)`` (key-up or
    pedal) and the sustain pedal events, shifted so that ``t0`` is 0 (earlier starts stay
    negative); and the ``(n, 4)`` notes of ``pm`` with the pedal applied to their ends."""
    import pretty_midi

    from ..data.maestro_midi import SUSTAIN, apply_sustain, midi_notes, pedal_events, pedal_intervals

    notes = midi_notes(pm)
    ped = pedal_events(pm, SUSTAIN)
    sounding = apply_sustain(notes, pedal_intervals(ped, end=float(notes[:, 1].max()) + 1.0))
    out = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    for (s, e, p, v), (_, e2, _, _) in zip(notes, sounding):
        if s < t0 + seconds and e2 > t0:
            inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p), start=s - t0, end=e - t0))
    last = [v for t, v in ped if t <= t0]
    if last:
        inst.control_changes.append(pretty_midi.ControlChange(SUSTAIN, int(last[-1]), 0.0))
    for t, v in ped:
        if t0 < t < t0 + seconds + 5:
            inst.control_changes.append(pretty_midi.ControlChange(SUSTAIN, int(v), t - t0))
    out.instruments.append(inst)
    return out, sounding


def render_baselines(sounding: np.ndarray, t0: float, seconds: float, sf=None, sr: int = SR) -> dict:
    """The two baselines of a generator that plays a score: the sounding notes (pedal applied,
    from :func:`window_midi`) around ``[t0, t0 + seconds)`` played with sine tones
    (``pretty_midi``) and with the SoundFont piano (``sf``, default
    :meth:`coursekit.data.soundfont.SoundFont.general_midi`), from 3 s before ``t0`` so that
    notes already ringing sound. Returns ``{"sine": y, "soundfont": y}``, float32 at ``sr``."""
    import pretty_midi

    if sf is None:
        from ..data.soundfont import SoundFont
        sf = SoundFont.general_midi()

    pre = 3.0
    keep = (sounding[:, 0] < t0 + seconds) & (sounding[:, 1] > t0 - pre)
    notes = sounding[keep].copy()
    notes[:, :2] -= t0 - pre
    notes[:, 0] = np.maximum(notes[:, 0], 0.0)
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(int(v), int(p), float(s), float(max(e, s + 0.01))) for s, e, p, v in notes]
    pm.instruments.append(inst)
    n0, n = int(pre * sr), int(seconds * sr)
    sine = pm.synthesize(fs=sr)
    sine = np.pad(sine, (0, max(0, n0 + n - len(sine))))[n0:n0 + n]
    piano = sf.render([(s, e, p, v, 0, 0) for s, e, p, v in notes], pre + seconds, sr=sr)[n0:n0 + n]
    return {"sine": sine.astype(np.float32), "soundfont": piano.astype(np.float32)}


def pick_excerpts(folder, n: int, seconds: float, seed: int = 0) -> list[dict]:
    """``n`` excerpts of ``seconds`` of MAESTRO's held-out performances (validation + test) with
    at least 3 notes struck in them, drawn with ``seed``: ``[{"row": metadata row, "t0": start}]``."""
    from ..data.maestro import load_midi, midi_notes, read_metadata

    folder = Path(folder)
    rows = [r for r in read_metadata(folder) if r["split"] in ("validation", "test")]
    rows = [r for r in rows if (folder / r["audio_filename"]).exists() and float(r["duration"]) > seconds + 0.5]
    if not rows:
        raise FileNotFoundError(f"{folder}: no held-out (validation or test) performance longer than {seconds + 0.5:g} s")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(1000 * n):
        if len(out) == n:
            break
        r = rows[int(rng.integers(len(rows)))]
        t0 = round(float(rng.uniform(0.0, float(r["duration"]) - seconds - 0.5)), 2)
        notes = midi_notes(load_midi(folder / r["midi_filename"]))
        if np.sum((notes[:, 0] >= t0) & (notes[:, 0] < t0 + seconds)) >= 3:
            out.append({"row": r, "t0": t0})
    if len(out) < n:
        raise ValueError(f"{folder}: found {len(out)} of {n} held-out excerpts of {seconds:g} s with 3 notes or more")
    return out
