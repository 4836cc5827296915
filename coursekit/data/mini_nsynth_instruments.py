"""The instruments of mini-NSynth: one textbook synthesis method per family.

:func:`draw_instrument` draws the timbre parameters of one instrument, :func:`synth_note`
plays one 4-second note of it (one ``_synth_<family>`` function per family, then the shared
drive, reverb and level), :func:`instrument_qualities` gives the qualities the parameters
cause. :mod:`coursekit.data.mini_nsynth` describes each family's method and writes the
dataset. Importable from :mod:`coursekit.data.mini_nsynth` too.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .mini_nsynth_dsp import (N, NYQUIST_LIMIT, SR, T, T32, _additive, _adsr, _bandpass, _burst,
                              _decaying, _ensemble, _highpass, _karplus_strong, _lowpass, _phase,
                              _pluck, _pulse, _resonance, _resonant_lowpass, _reverb, _saw, _sin,
                              _vibrato)
from .nsynth_format import FAMILIES, QUALITIES

__all__ = ["FAMILY_SPECS", "draw_instrument", "synth_note", "instrument_qualities"]

#: Pitch range (MIDI) and the sources each family comes in.
FAMILY_SPECS = {
    "bass": ((28, 64), ("electronic", "synthetic")),
    "brass": ((45, 84), ("acoustic", "electronic")),
    "flute": ((60, 94), ("acoustic", "synthetic")),
    "guitar": ((40, 84), ("acoustic", "electronic", "synthetic")),
    "keyboard": ((28, 94), ("acoustic", "electronic", "synthetic")),
    "mallet": ((48, 94), ("acoustic", "electronic", "synthetic")),
    "organ": ((36, 91), ("electronic",)),
    "reed": ((46, 88), ("acoustic", "electronic")),
    "string": ((36, 91), ("acoustic", "electronic")),
    "synth_lead": ((40, 91), ("synthetic",)),
    "vocal": ((48, 81), ("acoustic", "synthetic")),
}


# =============================================================================================
# Instruments: random parameters per instrument, one synthesis function per family
# =============================================================================================

_WEYL = (0.6180339887, 0.4142135624, 0.7320508076, 0.2360679775, 0.1622776602)  # frac of phi, sqrt 2, 3, 5, 10


def draw_instrument(family: str, source: str, rng, variant: int | None = None) -> dict:
    """Draw the timbre parameters of one instrument of ``family`` and ``source``.

    ``variant`` picks the kind of instrument where a family has several (the vowel a voice
    sings, marimba or glockenspiel, clarinet or saxophone, the synth waveform, ...): kind
    ``variant % number of kinds``; ``None`` draws it at random.

    Returns a dict of plain floats/strings (stored so the same instrument plays every note).
    """
    u = rng.uniform

    def pick(options):
        i = int(rng.integers(len(options))) if variant is None else variant % len(options)
        return options[i]

    def chance(prob, j):
        """Is option j (0 drive, 1 reverb, 2 modulation, 3 glide/percussion, 4 gate) on?
        At random, or spread evenly over consecutive variants (a Weyl sequence), so that a
        few instruments already cover the on/off combinations."""
        if variant is None:
            return rng.random() < prob
        return ((variant + 1) * _WEYL[j]) % 1.0 < prob

    p = {"family": family, "source": source, "reverb": 0.0, "reverb_mix": 0.0, "drive": 0.0,
         "reverb_seed": int(rng.integers(2**31))}
    if family == "bass":
        if source == "synthetic":
            p.update(kind="filtered", wave=pick(["saw", "square"]), cutoff=u(1.5, 6.0),
                     env_amount=u(1.0, 4.0), filter_decay=u(0.08, 0.5), attack=u(0.003, 0.012),
                     decay=u(0.2, 1.0), sustain=u(0.45, 0.9), release=u(0.05, 0.3))
            if chance(0.3, 0):
                p["drive"] = u(1.5, 3.5)
        else:
            p.update(kind="plucked", t60=u(4.0, 8.0), loss=u(0.1, 0.25), pluck_pos=u(0.1, 0.3),
                     exc_bright=u(3.0, 8.0), pickup=u(700.0, 2000.0))
    elif family == "brass":
        p.update(attack=u(0.05, 0.16), decay=u(0.1, 0.4), sustain=u(0.7, 0.95), release=u(0.08, 0.3),
                 dark=u(1.5, 3.0), bright=u(6.0, 14.0), scoop=u(20.0, 70.0), vib_rate=u(4.5, 6.0),
                 vib_cents=u(0.0, 15.0), breath=u(0.005, 0.03) if source == "acoustic" else 0.0,
                 formant=u(900.0, 1600.0), formant_gain=u(0.8, 2.0),
                 detune=0.0 if source == "acoustic" else u(2.0, 5.0))
        if source == "acoustic" and chance(0.5, 1):
            p.update(reverb=u(0.6, 1.4), reverb_mix=u(0.15, 0.35))
    elif family == "flute":
        p.update(h2=u(0.1, 0.5), h3=u(0.05, 0.3), rolloff=u(1.5, 3.0), attack=u(0.05, 0.12),
                 release=u(0.08, 0.25), vib_rate=u(4.5, 5.5), vib_cents=u(8.0, 25.0),
                 breath=u(0.03, 0.1) if source == "acoustic" else u(0.02, 0.05),
                 chiff=u(0.1, 0.4) if source == "acoustic" else u(0.0, 0.1),
                 chorus=0.0 if source == "acoustic" else u(3.0, 8.0))
        if chance(0.5, 1):
            p.update(reverb=u(0.8, 1.6), reverb_mix=u(0.15, 0.35))
    elif family == "guitar":
        p.update(t60=u(2.0, 5.0), loss=u(0.02, 0.2), pluck_pos=u(0.1, 0.3), exc_bright=u(4.0, 14.0),
                 pick=u(0.0, 0.4), body1=u(90.0, 130.0), body2=u(180.0, 280.0),
                 pickup=u(2000.0, 5000.0))
        if source == "electronic" and chance(0.5, 0):
            p["drive"] = u(1.5, 4.0)
        if source == "acoustic" and chance(0.5, 1):
            p.update(reverb=u(0.6, 1.2), reverb_mix=u(0.1, 0.3))
    elif family == "keyboard":
        if source == "acoustic":
            p.update(kind="piano", inharm=u(0.5e-4, 3e-4), tilt=u(1.2, 2.2), t60=u(3.0, 8.0),
                     detune=u(0.5, 2.0), hammer=u(0.05, 0.2), release=u(0.1, 0.3))
            if chance(0.4, 1):
                p.update(reverb=u(0.8, 1.5), reverb_mix=u(0.1, 0.3))
        else:
            p.update(kind="fm", ratio=1.0 if source == "electronic" else pick([2.0, 3.0]),
                     index=u(1.0, 3.0), index_tau=u(0.2, 1.0), tine=u(0.15, 0.4) if source == "electronic" else 0.0,
                     thump=u(0.1, 0.3),
                     tine_ratio=u(10.0, 15.0), t60=u(2.0, 5.0), release=u(0.1, 0.3),
                     tremolo=u(0.2, 0.5) if chance(0.4, 2) else 0.0, trem_rate=u(3.0, 6.0))
    elif family == "mallet":
        if source == "acoustic":
            bar = pick(["marimba", "vibraphone", "xylophone", "glockenspiel"])
            ratios = {"marimba": [1.0, 3.99, 9.14], "vibraphone": [1.0, 3.98, 9.9],
                      "xylophone": [1.0, 3.01, 6.18], "glockenspiel": [1.0, 2.71, 5.15, 8.43]}[bar]
            ring = {"marimba": (0.6, 1.5), "vibraphone": (2.0, 4.0), "xylophone": (0.3, 0.8),
                    "glockenspiel": (2.0, 4.0)}[bar]       # wood bars die fast, metal bars ring
            p.update(kind="modal", bar=bar, ratios=ratios,
                     amps=[1.0] + [u(0.2, 0.6) / (i + 1) for i in range(len(ratios) - 1)],
                     t60=u(*ring), strike=u(0.2, 0.6),
                     tremolo=u(0.3, 0.6) if bar == "vibraphone" else 0.0, trem_rate=u(4.0, 7.0))
        else:
            ratio = u(3.15, 4.4)                         # sidebands |1 +- n ratio| f0: all above 2 f0
            while abs(ratio - round(ratio)) < 0.12:      # keep the bell inharmonic
                ratio = u(3.15, 4.4)
            p.update(kind="bell", ratio=ratio, index=u(1.0, 3.0), index_tau=u(0.04, 0.14), t60=u(1.0, 3.0))
        if chance(0.4, 1):
            p.update(reverb=u(0.8, 1.6), reverb_mix=u(0.15, 0.35))
    elif family == "organ":
        # drawbars 4', 2 2/3', 2', 1 3/5', 1 1/3', 1' (harmonics 2, 3, 4, 5, 6, 8): a random
        # registration, always with at least two of the high ones pulled out
        levels = [1.0] + [float(u(0.0, 1.0) * (rng.random() < 0.6)) for _ in range(6)]
        for i in rng.choice([3, 4, 5, 6], size=2, replace=False):
            levels[i] = max(levels[i], u(0.5, 1.0))
        # the 2 2/3' (third harmonic) always sounds and the 4' stays below the 8': with only
        # even harmonics the tone would be heard (and tracked) an octave up
        levels[1] = min(levels[1], 0.8)
        levels[2] = max(levels[2], u(0.3, 0.8))
        p.update(harmonics=[1, 2, 3, 4, 5, 6, 8], levels=levels, attack=u(0.005, 0.02),
                 release=u(0.03, 0.1), click=u(0.0, 0.1),
                 percussion=int(rng.choice([0, 2, 3])) if chance(0.4, 3) else 0,
                 leslie=u(0.1, 0.3) if chance(0.5, 2) else 0.0, leslie_rate=u(5.5, 7.0))
        if chance(0.3, 0):
            p["drive"] = u(1.5, 3.0)
        if chance(0.3, 1):
            p.update(reverb=u(0.8, 1.6), reverb_mix=u(0.15, 0.3))
    elif family == "reed":
        if source == "acoustic":
            kind = pick(["clarinet", "saxophone"])
            p.update(kind=kind, even=u(0.02, 0.15) if kind == "clarinet" else u(0.5, 0.9),
                     cutoff=u(4.0, 10.0), breath=u(0.005, 0.03), vib_cents=u(0.0, 15.0), vib_rate=u(4.5, 6.0),
                     nasal=u(1200.0, 2500.0), nasal_gain=u(0.8, 2.0), attack=u(0.02, 0.08), release=u(0.05, 0.2))
            if chance(0.5, 1):
                p.update(reverb=u(0.6, 1.4), reverb_mix=u(0.15, 0.35))
        else:
            p.update(kind="square", even=0.0, breath=0.0, cutoff=u(4.0, 10.0), vib_cents=u(0.0, 10.0),
                     vib_rate=u(4.5, 6.0), nasal=u(1200.0, 2500.0), nasal_gain=u(0.8, 2.0),
                     attack=u(0.02, 0.08), release=u(0.05, 0.2))
    elif family == "string":
        p.update(attack=u(0.08, 0.3), sustain=u(0.8, 1.0), release=u(0.15, 0.7),
                 vib_rate=u(5.0, 6.5), vib_cents=u(12.0, 35.0), vib_delay=u(0.15, 0.5),
                 bow_noise=u(0.01, 0.04), body=[u(250.0, 320.0), u(400.0, 550.0), u(2000.0, 3000.0)],
                 body_gain=[u(0.5, 1.5), u(0.3, 1.0), u(0.6, 1.5)], cutoff=u(4000.0, 7000.0),
                 ensemble=0.0 if source == "acoustic" else u(5.0, 12.0))
        if chance(0.5, 1):
            p.update(reverb=u(0.8, 1.8), reverb_mix=u(0.15, 0.4))
    elif family == "synth_lead":
        p.update(wave=pick(["supersaw", "pulse", "saw"]), detune=u(6.0, 15.0), duty=u(0.25, 0.5),
                 pwm=u(0.1, 0.2), pwm_rate=u(0.5, 3.0),
                 cutoff=u(3.0, 10.0), q=u(2.0, 6.0), env_amount=u(1.0, 4.0), filter_decay=u(0.1, 0.6),
                 attack=u(0.003, 0.05), decay=u(0.1, 0.6), sustain=u(0.6, 1.0), release=u(0.05, 0.4),
                 glide=u(50.0, 200.0) if chance(0.3, 3) else 0.0,
                 gate_bpm=u(90.0, 140.0) if chance(0.3, 4) else 0.0, gate_div=int(rng.choice([2, 4])),
                 vib_cents=u(5.0, 20.0) if chance(0.5, 2) else 0.0, vib_rate=u(4.0, 7.0))
        if chance(0.4, 0):
            p["drive"] = u(1.5, 4.0)
        if chance(0.3, 1):
            p.update(reverb=u(0.6, 1.4), reverb_mix=u(0.1, 0.3))
    elif family == "vocal":
        vowels = {"a": [(730, 90, 1.0), (1090, 110, 0.5), (2440, 160, 0.25), (3400, 250, 0.1)],
                  "e": [(530, 60, 1.0), (1840, 150, 0.45), (2480, 200, 0.3), (3500, 250, 0.1)],
                  "i": [(270, 60, 1.0), (2290, 150, 0.35), (3010, 200, 0.3), (3700, 250, 0.1)],
                  "o": [(570, 70, 1.0), (840, 80, 0.6), (2410, 170, 0.15), (3400, 250, 0.08)],
                  "u": [(300, 60, 1.0), (870, 80, 0.4), (2240, 170, 0.1), (3400, 250, 0.05)]}
        vowel = pick(list(vowels))
        scale = u(0.9, 1.15)
        p.update(vowel=vowel, formants=[(f * scale, bw, g) for f, bw, g in vowels[vowel]],
                 bright=u(2.0, 6.0), vib_rate=u(4.8, 6.0), vib_cents=u(20.0, 45.0), breath=u(0.01, 0.05),
                 attack=u(0.08, 0.2), release=u(0.15, 0.4),
                 voices=1 if source == "acoustic" else int(rng.choice([2, 3])), detune=u(5.0, 10.0))
        if source == "synthetic" and chance(0.3, 0):
            p["drive"] = u(1.5, 3.0)
        if chance(0.5, 1):
            p.update(reverb=u(0.8, 1.8), reverb_mix=u(0.15, 0.4))
    else:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    return p


def _synth_bass(p, f0, v, rng):
    if p["kind"] == "plucked":
        exc = _pluck(f0, p["pluck_pos"], 0.1, rng)
        exc = _lowpass(exc, f0 * p["exc_bright"] * (0.4 + v))
        y = _karplus_strong(f0, exc, p["t60"] * (55.0 / f0) ** 0.3, p["loss"])
        y = _lowpass(y, p["pickup"] * (0.6 + 0.6 * v)) * _decaying(60.0, damp=0.08)
        return y, {"percussive"} if p["exc_bright"] * (0.4 + v) > 8 else set()
    cyc = _phase(f0)
    x = _saw(cyc, f0) if p["wave"] == "saw" else _pulse(cyc, f0)
    fc = f0 * p["cutoff"] * (0.6 + 0.6 * v)
    dark, bright = _lowpass(x, fc), _lowpass(x, fc * (1 + p["env_amount"] * v))
    y = dark + np.exp(-T32 / p["filter_decay"]).astype(np.float32) * (bright - dark)
    return y * _adsr(p["attack"], p["decay"], p["sustain"], p["release"]), set()


def _synth_brass(p, f0, v, rng):
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], 0.4, rng, scoop_cents=p["scoop"])
    x = _saw(_phase(f), f)
    if p["detune"]:
        f2 = f * 2 ** (p["detune"] / 1200)
        x = (x + 0.5 * _saw(_phase(f2) + rng.random(), f2)) / 1.5
    env = _adsr(p["attack"], p["decay"], p["sustain"], p["release"])
    dark = _lowpass(x, f0 * p["dark"])
    bright = _lowpass(x, min(f0 * p["bright"] * (0.5 + 0.7 * v), 7000.0))
    y = (dark + (0.4 + 0.6 * v) * env ** 2 * (bright - dark)) * env   # brightness follows loudness
    y = y + p["formant_gain"] * _resonance(y, p["formant"], 2.0)         # the bell's formant
    if p["breath"]:
        y += p["breath"] * env * _bandpass(rng.standard_normal(N, dtype=np.float32), 1000.0, 4000.0)
    return y, set()


def _synth_flute(p, f0, v, rng):
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], 0.5, rng)
    cyc = _phase(f)
    amps = [1.0, p["h2"] * (0.5 + v), p["h3"] * (0.5 + v)]
    amps += [p["h3"] * (0.5 + v) * (k / 3.0) ** -p["rolloff"] for k in range(4, 9)]
    y = _additive(cyc, amps, f0 * 1.02)
    if p["chorus"]:
        y = (y + 0.5 * _additive(_phase(f * 2 ** (p["chorus"] / 1200)), amps, f0 * 1.03)) / 1.5
    env = _adsr(p["attack"], 0.2, 0.9, p["release"])
    y = y * env
    if p["breath"]:
        noise = _bandpass(rng.standard_normal(N, dtype=np.float32), 1500.0, 5000.0)
        y += p["breath"] * (0.6 + 0.4 * v) * env * noise
        y += p["chiff"] * v * _bandpass(_burst(rng, 0.1, 0.02), f0, 6000.0)
    return y, set()


def _synth_guitar(p, f0, v, rng):
    if p["source"] == "synthetic":            # a square-wave burst: a hollow, clean synth pluck
        exc = np.where((T * f0) % 1.0 < 0.5, 1.0, -1.0) * (T < 2 / f0)
    else:
        exc = _pluck(f0, p["pluck_pos"], 0.3, rng)
    exc = _lowpass(exc, min(f0 * p["exc_bright"] * (0.4 + v), 7000.0))
    t60 = float(np.clip(p["t60"] * (110.0 / f0) ** 0.35, 0.8, 8.0))
    y = _karplus_strong(f0, exc, t60, p["loss"])
    if p["source"] == "acoustic":
        y = y + 0.5 * _resonance(y, p["body1"], 4.0) + 0.3 * _resonance(y, p["body2"], 5.0)
    elif p["source"] == "electronic":
        y = _lowpass(y, p["pickup"])
    y = y + p["pick"] * v * 0.05 * _highpass(_burst(rng, 0.01, 0.002), 2000.0)
    y = y * _decaying(60.0, damp=0.1)
    q = {"fast_decay"} if t60 < 1.0 else set()
    if p["pick"] > 0.25:
        q.add("percussive")
    return y, q


def _synth_keyboard(p, f0, v, rng):
    if p["kind"] == "piano":
        t60 = float(np.clip(p["t60"] * (261.6 / f0) ** 0.5, 0.6, 12.0))
        tilt = p["tilt"] - 0.8 * v
        y = np.zeros(N, dtype=np.float32)
        for k in range(1, 17):
            fk = k * f0 * np.sqrt(1 + p["inharm"] * k * k)       # a stiff string's stretched partials
            if fk >= NYQUIST_LIMIT:
                break
            part = _sin(fk * T + rng.random())
            if k <= 3:                                         # a second string, slightly detuned
                part = (part + 0.6 * _sin(fk * 2 ** (p["detune"] / 1200) * T + rng.random())) / 1.6
            y += k ** -tilt * np.exp(-6.9 * (1 + 0.4 * (k - 1)) / t60 * T32) * part   # highs die first
        y *= 0.4 + 0.6 * np.exp(-6.9 * 5 / t60 * T32)            # two-stage decay: fast, then slow
        y = y + p["hammer"] * v * _lowpass(_burst(rng, 0.02, 0.004), 3000.0)
        y = y * _decaying(60.0, attack=0.001, damp=p["release"])
        return y, ({"percussive"} | ({"fast_decay"} if t60 < 1.2 else set()))
    index = p["index"] * (0.3 + 0.7 * v) * (0.05 + 0.95 * np.exp(-T32 / p["index_tau"]))
    mod = _sin(p["ratio"] * f0 * T)
    y = _sin(f0 * T + index / (2 * np.pi) * mod)
    tf = p["tine_ratio"] * f0
    if p["tine"] and tf < NYQUIST_LIMIT:
        y = y + p["tine"] * v * np.exp(-T32 / 0.05).astype(np.float32) * _sin(tf * T)
    y = y + p["thump"] * v * _lowpass(_burst(rng, 0.02, 0.005), 2000.0)     # the key hitting bottom
    t60 = float(np.clip(p["t60"] * (261.6 / f0) ** 0.4, 0.6, 10.0))
    y = y * _decaying(t60, attack=0.002, damp=p["release"])
    q = {"fast_decay"} if t60 < 1.2 else set()
    if p["tremolo"]:
        y = y * (1 - p["tremolo"] * 0.5 * (1 + _sin(p["trem_rate"] * T))).astype(np.float32)
        q.add("nonlinear_env")
    return y, q


def _synth_mallet(p, f0, v, rng):
    if p["kind"] == "modal":
        t60 = float(np.clip(p["t60"] * (440.0 / f0) ** 0.4, 0.3, 6.0))
        y = np.zeros(N, dtype=np.float32)
        for i, (r, a) in enumerate(zip(p["ratios"], p["amps"])):
            if r * f0 >= NYQUIST_LIMIT:
                break
            a = a if i == 0 else a * (0.4 + v)                # harder strikes excite the upper modes
            y += a * np.exp(-6.9 * T32 / (t60 / (1 + 2.5 * i))).astype(np.float32) * _sin(r * f0 * T + rng.random())
        y = y + p["strike"] * v * _highpass(_burst(rng, 0.01, 0.002), 1500.0)
        y = y * _decaying(60.0, attack=0.001, damp=0.2)
        q = {"percussive"} | ({"fast_decay"} if t60 < 1.0 else set())
        if p["bar"] == "glockenspiel":
            q.add("multiphonic")
        if p["tremolo"]:
            y = y * (1 - p["tremolo"] * 0.5 * (1 + _sin(p["trem_rate"] * T))).astype(np.float32)
            q.add("nonlinear_env")
        return y, q
    # FM bell: the modulator at a non-integer ratio makes inharmonic partials (all above f0);
    # the index falls fast to 15 % of its peak, so after the strike the fundamental leads
    # (the pitch we hear) and a quieter inharmonic shimmer rings on with it.
    index = p["index"] * (0.3 + 0.7 * v) * (0.15 + 0.85 * np.exp(-T32 / p["index_tau"]))
    y = _sin(f0 * T + index / (2 * np.pi) * _sin(p["ratio"] * f0 * T))
    t60 = float(np.clip(p["t60"] * (440.0 / f0) ** 0.3, 0.5, 6.0))
    y = _lowpass(y, 7000.0, 4) * _decaying(t60, attack=0.001, damp=0.2)
    return y, {"percussive", "multiphonic"} | ({"fast_decay"} if t60 < 1.0 else set())


def _synth_organ(p, f0, v, rng):
    q = set()
    if p["leslie"]:
        f = f0 * np.exp2(6.0 * _sin(p["leslie_rate"] * T) / 1200).astype(np.float64)
        q.add("nonlinear_env")
    else:
        f = f0
    cyc = _phase(f)
    amps = [0.0] * 8
    for h, lvl in zip(p["harmonics"], p["levels"]):
        amps[h - 1] = lvl * (1.0 if h <= 2 else 0.5 + 0.5 * v)
    if p["percussion"]:
        amps[p["percussion"] - 1] = amps[p["percussion"] - 1] + 0.6 * np.exp(-T32 / 0.2)
    y = _additive(cyc, amps, f0 * 1.01)
    y = y + p["click"] * _highpass(_burst(rng, 0.005, 0.001), 2000.0)
    y = y * _adsr(p["attack"], 0.05, 1.0, p["release"])
    if p["leslie"]:
        y = y * (1 - p["leslie"] * 0.5 * (1 + _sin(p["leslie_rate"] * T + 0.16))).astype(np.float32)
    return y, q


def _synth_reed(p, f0, v, rng):
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], 0.5, rng)
    env = _adsr(p["attack"], 0.2, 0.85, p["release"])
    cyc = _phase(f)
    x = _pulse(cyc, f)                         # odd harmonics: a clarinet's closed tube
    if p["even"]:                              # a saxophone's cone adds the even ones
        x = (1 - p["even"]) * x + p["even"] * _saw(cyc, f)
    y = _lowpass(x, min(f0 * p["cutoff"] * (0.5 + v), 7000.0))
    y = (y + p["nasal_gain"] * _resonance(y, p["nasal"], 2.5)) * env     # the reed's nasal formant
    if p["breath"]:
        y += p["breath"] * env * _bandpass(rng.standard_normal(N, dtype=np.float32), 1500.0, 6000.0)
    return y, set()


def _synth_string(p, f0, v, rng):
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], p["vib_delay"], rng)
    x = _saw(_phase(f), f)
    if p["ensemble"]:                          # more players, a little out of tune
        x = _ensemble(x, f, p["ensemble"], rng)
    x = x + p["bow_noise"] * _bandpass(rng.standard_normal(N, dtype=np.float32), 2000.0, 7000.0)
    body = _lowpass(x, p["cutoff"] * (0.6 + 0.6 * v))
    for fc, g in zip(p["body"], p["body_gain"]):
        body = body + g * _resonance(x, fc, 3.0)
    env = _adsr(p["attack"], 0.3, p["sustain"], p["release"])
    return body * env, set()


def _synth_synth_lead(p, f0, v, rng):
    q = set()
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], 0.3, rng, scoop_cents=p["glide"], scoop_time=0.05)
    cyc = _phase(f)
    if p["wave"] == "supersaw":
        x = _ensemble(_saw(cyc, f), f, p["detune"], rng)
    elif p["wave"] == "pulse":                  # pulse-width modulation: a slowly moving timbre
        x = _pulse(cyc, f, p["duty"] + p["pwm"] * _sin(p["pwm_rate"] * T))
    else:
        x = _saw(cyc, f)
    fc = min(f0 * p["cutoff"] * (0.5 + 0.7 * v), 7000.0)
    dark = _resonant_lowpass(x, fc, p["q"])
    bright = _resonant_lowpass(x, min(fc * (1 + p["env_amount"]), 7000.0), p["q"])
    y = dark + np.exp(-T32 / p["filter_decay"]).astype(np.float32) * (bright - dark)
    y = y * _adsr(p["attack"], p["decay"], p["sustain"], p["release"])
    if p["gate_bpm"]:                          # a gate locked to the tempo (1/8 or 1/16 notes)
        rate = p["gate_bpm"] / 60.0 * p["gate_div"]
        gate = (T * rate) % 1.0 < 0.6
        y = y * _lowpass(gate.astype(np.float32), 40.0)
        q |= {"tempo-synced", "nonlinear_env"}
    return y, q


def _synth_vocal(p, f0, v, rng):
    # source: a glottal pulse train (a sawtooth, low-passed: softer singing is darker) ...
    y = np.zeros(N, dtype=np.float32)
    for i in range(p["voices"]):                # a lead voice and quieter ones around it
        cents = 0.0 if i == 0 else p["detune"] * (1 if i == 1 else -1)
        f = _vibrato(f0 * 2 ** (cents / 1200), p["vib_rate"] * (1 + 0.07 * i), p["vib_cents"], 0.35, rng)
        y += (1.0 if i == 0 else 0.4) * _saw(_phase(f) + rng.random(), f)
    glottal = _lowpass(y / (1 + 0.4 * (p["voices"] - 1)), min(f0 * p["bright"] * (0.5 + v), 7000.0))
    glottal += p["breath"] * _highpass(rng.standard_normal(N, dtype=np.float32), 1000.0)
    # ... shaped by the resonances of the vocal tract: the formants of the vowel
    out = 0.05 * glottal
    for fc, bw, g in p["formants"]:
        out += 3.0 * g * _resonance(glottal, fc, fc / bw)
    return out * _adsr(p["attack"], 0.3, 0.9, p["release"]), set()


_SYNTHS = {name: globals()[f"_synth_{name}"] for name in FAMILY_SPECS}


def instrument_qualities(p: dict) -> set:
    """The qualities an instrument's parameters cause, whatever note it plays."""
    q = set()
    if p["drive"]:
        q.add("distortion")
    if p["reverb"]:
        q.add("reverb")
    if p.get("release", 0.0) >= 0.5:
        q.add("long_release")
    # brightness: where the instrument's filter / spectral tilt sits in its family's range
    fam = p["family"]
    bright = {"bass": ("cutoff", 1.5, 6.0), "brass": ("bright", 6.0, 14.0), "flute": ("h2", 0.1, 0.5),
              "guitar": ("exc_bright", 4.0, 14.0), "reed": ("cutoff", 4.0, 10.0),
              "string": ("cutoff", 4000.0, 7000.0), "synth_lead": ("cutoff", 3.0, 10.0),
              "vocal": ("bright", 2.0, 6.0), "keyboard": ("tilt", 2.2, 1.2)}.get(fam)
    if bright and bright[0] in p:
        key, lo, hi = bright
        pos = (p[key] - lo) / (hi - lo)
        if pos > 0.8:
            q.add("bright")
        elif pos < 0.2:
            q.add("dark")
    return q


def synth_note(params: dict, pitch: int, velocity: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Synthesise one 4-second note of an instrument drawn by :func:`draw_instrument`.

    Parameters
    ----------
    params : dict
        The instrument (family, source and timbre parameters).
    pitch : int
        MIDI note number; the note's fundamental is ``440 * 2 ** ((pitch - 69) / 12)`` Hz.
    velocity : int
        1..127: louder *and* brighter as it grows.
    seed : int
        Seeds the note's noise (breath, pick, phases).

    Returns
    -------
    y : np.ndarray
        float32, 64000 samples, peak below 1.
    qualities : list of int
        The 10 quality flags of the note (order :data:`coursekit.data.nsynth.QUALITIES`).

    Example
    -------
    >>> p = draw_instrument("flute", "acoustic", np.random.default_rng(0))
    >>> y, q = synth_note(p, 72, 100)
    >>> y.shape, float(np.abs(y).max()) < 1.0, len(q)
    ((64000,), True, 10)
    """
    rng = np.random.default_rng(seed)
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    v = velocity / 127.0
    y, q = _SYNTHS[params["family"]](params, f0, v, rng)
    y = np.asarray(y, dtype=np.float32)
    if params["drive"]:                            # soft clipping, 4x oversampled (no aliasing)
        drive = params["drive"] * (0.5 + 0.5 * v)
        up = signal.resample_poly(y / (np.abs(y).max() + 1e-9), 4, 1)
        y = signal.resample_poly(np.tanh(drive * up) / np.tanh(drive), 1, 4).astype(np.float32)
    if params["reverb"]:
        y = _reverb(y, params["reverb"], params["reverb_mix"], params["reverb_seed"])
    y = _highpass(y, 20.0)                         # no DC
    y *= np.clip((N - 1 - np.arange(N)) / (0.02 * SR), 0.0, 1.0).astype(np.float32)   # silent at the end
    peak = float(np.abs(y).max())
    gain = 0.9 * 10.0 ** (-18.0 * (1.0 - v) / 20.0)       # velocity 25 is about 15 dB below 127
    y = (y * (gain / peak)).astype(np.float32) if peak > 0 else y
    q = set(q) | instrument_qualities(params)
    if "bright" in q and "dark" in q:
        q.discard("dark")
    return y, [int(name in q) for name in QUALITIES]
