"""Simulated raters and stand-in systems: chapter 08 without people or trained models.

:func:`simulate_raters` answers a test through the very widgets a person uses
(:class:`~coursekit.eval.listening_app.ListeningApp`), with a model of a listener of known
leniency, taste and noise; the tests and the smoke profile use it. :func:`make_standins`
makes systems of known, clearly different quality from real notes (:data:`STANDINS`), and
:func:`fad_per_system` gives each system's FAD against the real notes, so that ratings and FAD
judge the very same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .listening_app import ListeningApp
from .listening_trials import ListeningTest, load_test

__all__ = ["simulate_raters", "STANDINS", "make_standins", "fad_per_system"]


# ---------------------------------------------------------------------------------------------
# Simulated raters: the same widgets, answered by a model of a listener
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
# Stand-in systems (until the course's models have written samples)
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
        ``{name: folder}``, ready for :func:`~coursekit.eval.listening_trials.build_test`.
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
