"""The SoundFont 2 sample player and mini-NSynth's sampled instruments."""

import json

import numpy as np
import pytest

from coursekit.data.mini_nsynth import make_mini_nsynth
from coursekit.data.mini_nsynth_sampled import (DISTORTED, PROGRAMS, family_programs, measure_qualities,
                                                play_note)
from coursekit.data.nsynth import FAMILIES, QUALITIES
from coursekit.data.soundfont import DRUM_BANK, SoundFont

SR = 16000


@pytest.fixture(scope="module")
def gm():
    return SoundFont.general_midi()


def _cents_off(y, pitch, sr=SR):
    """How far the period found by autocorrelation (0.1-0.6 s of the note) is from ``pitch``."""
    f0 = 440 * 2 ** ((pitch - 69) / 12)
    seg = y[1600:9600].astype(np.float64)
    ac = np.fft.irfft(np.abs(np.fft.rfft(seg, 2 * len(seg))) ** 2)[:1000]
    peaks = [i for i in range(8, 999) if ac[i] >= ac[i - 1] and ac[i] >= ac[i + 1]]
    top = max(ac[i] for i in peaks)
    lag = next(i for i in peaks if ac[i] >= 0.85 * top)
    a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
    lag = lag + 0.5 * (a - c) / (a - 2 * b + c)
    return 1200 * np.log2(sr / lag / f0)


def test_general_midi_has_every_program_and_a_drum_kit(gm):
    assert all((0, p) in gm.presets for p in range(128))
    assert (DRUM_BANK, 0) in gm.presets
    assert gm.presets[(0, 0)].lower().startswith("piano")


@pytest.mark.parametrize("program", [0, 24, 33, 40, 56, 65, 73, 81])
@pytest.mark.parametrize("pitch", [45, 60, 72])
def test_notes_are_in_tune(gm, program, pitch):
    """Root key, tuning and the reading speed: the period of the played note is the key's."""
    y = gm.note(program, pitch, 100, 1.0, 0.2, SR)
    assert abs(_cents_off(y, pitch)) < 30


def test_note_length_envelope_and_release(gm):
    y = gm.note(73, 72, 100, 3.0, 1.0, SR)                   # a flute: a looped, held note
    assert y.shape == (64000,) and y.dtype == np.float32 and np.isfinite(y).all()
    rms = lambda a, b: float(np.sqrt(np.mean(y[int(a * SR):int(b * SR)] ** 2)))  # noqa: E731
    assert rms(2.5, 2.9) > 0.3 * rms(0.5, 0.9)              # the loop holds it while the key is down
    assert rms(3.6, 4.0) < 0.05 * rms(2.5, 2.9)             # and the release lets it go
    short = gm.note(73, 72, 100, 0.5, 1.0, SR)
    assert float(np.sqrt(np.mean(short[int(1.0 * SR):] ** 2))) < 0.05 * rms(0.2, 0.4)


def test_velocity_makes_notes_louder_and_brighter(gm):
    soft, loud = gm.note(0, 60, 25, 1.0, 0.0, SR), gm.note(0, 60, 127, 1.0, 0.0, SR)
    assert np.sqrt(np.mean(loud ** 2)) > 4 * np.sqrt(np.mean(soft ** 2))   # 28 dB by the default modulator

    def centroid(y):
        s = np.abs(np.fft.rfft(y)) ** 2
        return float((np.fft.rfftfreq(len(y), 1 / SR) * s).sum() / s.sum())
    assert centroid(loud) > centroid(soft)


def test_drums_and_uncovered_keys(gm):
    kick = gm.note(0, 36, 120, 0.1, 0.5, SR, bank=DRUM_BANK)
    hat = gm.note(0, 42, 120, 0.1, 0.5, SR, bank=DRUM_BANK)
    assert np.abs(kick).max() > 0.05 and np.abs(hat).max() > 0.01

    def centroid(y):
        s = np.abs(np.fft.rfft(y)) ** 2
        return float((np.fft.rfftfreq(len(y), 1 / SR) * s).sum() / s.sum())
    assert centroid(hat) > 4 * centroid(kick)
    assert not gm.note(0, 5, 100, 0.1, 0.1, SR, bank=DRUM_BANK).any()      # no zone: silence
    with pytest.raises(ValueError, match="no preset bank 3 program 7"):
        gm.note(7, 60, 100, 0.1, 0.1, SR, bank=3)


def test_render_places_notes(gm):
    y = gm.render([(0.5, 0.8, 60, 100, 0, 0), (1.5, 1.7, 36, 110, 0, DRUM_BANK)], seconds=2.5, sr=SR)
    assert y.shape == (40000,)
    assert not y[: int(0.49 * SR)].any()
    assert np.abs(y[int(0.5 * SR):int(0.6 * SR)]).max() > 0


def test_not_a_soundfont_is_one_line(tmp_path):
    bad = tmp_path / "x.sf2"
    bad.write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    with pytest.raises(ValueError, match=r"x\.sf2 is not a SoundFont 2 file"):
        SoundFont(bad)


# --- mini-NSynth's sampled instruments ----------------------------------------------------------

def test_every_family_has_instruments_for_three_splits():
    for family in FAMILIES:
        assert len(family_programs(family)) >= 3, family
    for program, (family, source, lo, hi) in PROGRAMS.items():
        assert family in FAMILIES and source in ("acoustic", "electronic", "synthetic")
        assert 21 <= lo < hi <= 108


@pytest.mark.parametrize("family", FAMILIES)
def test_sampled_notes_sound_in_tune_and_never_clip(gm, family):
    program = family_programs(family)[0]
    _, _, lo, hi = PROGRAMS[program]
    pitch = (lo + hi) // 2
    y, q = play_note(program, pitch, 127, gain=1.0)
    assert y.shape == (64000,) and np.abs(y).max() <= 0.99 and np.abs(y).max() > 0.005
    assert len(q) == len(QUALITIES)
    if family not in ("mallet", "organ"):      # bells and 16-foot organ stops sound other octaves
        assert abs(_cents_off(y, pitch)) < 50, family


def test_measured_qualities():
    t = np.arange(64000) / SR
    held = (t < 3.0) + (t >= 3.0) * np.exp(-(t - 3.0) * 20)
    tone = np.sin(2 * np.pi * 220 * t)
    plucked = tone * np.exp(-t * 5)
    q = dict(zip(QUALITIES, measure_qualities((0.5 * tone * held).astype(np.float32), 57)))
    assert q["dark"] and not q["bright"] and not q["fast_decay"] and not q["percussive"]
    q = dict(zip(QUALITIES, measure_qualities((0.5 * plucked).astype(np.float32), 57)))
    assert q["fast_decay"] and q["percussive"]
    assert dict(zip(QUALITIES, measure_qualities(0.5 * tone.astype(np.float32), 57)))["long_release"]
    assert dict(zip(QUALITIES, measure_qualities(np.zeros(64000, np.float32), 57, True)))["distortion"] == 0
    assert 30 in DISTORTED


def test_sampled_mini_nsynth_is_the_default_and_records_it(mini_nsynth_root, tmp_path):
    made = json.loads((mini_nsynth_root / "mini-nsynth.json").read_text())
    assert made["sound"] == "sampled"
    notes = json.loads((mini_nsynth_root / "nsynth-train" / "examples.json").read_text())
    assert all(int(n["instrument_str"].rsplit("_", 1)[1]) in PROGRAMS for n in notes.values())
    with pytest.raises(ValueError, match="sound 'sampled'; asked for .* sound 'additive'"):
        make_mini_nsynth(mini_nsynth_root, size="smoke", seed=0, progress=False, sound="additive")


def test_additive_mini_nsynth_stays_available(tmp_path):
    root = make_mini_nsynth(tmp_path / "add", size="smoke", seed=0, progress=False, sound="additive")
    made = json.loads((root / "mini-nsynth.json").read_text())
    assert made["sound"] == "additive" and made["notes"] == {"train": 66, "valid": 22, "test": 22}
    notes = json.loads((root / "nsynth-valid" / "examples.json").read_text())
    test_notes = json.loads((root / "nsynth-test" / "examples.json").read_text())
    # the additive set keeps NSynth's own layout: valid and test share their instruments
    assert {n["instrument_str"] for n in notes.values()} == {n["instrument_str"] for n in test_notes.values()}


def test_each_instrument_keeps_its_split_at_every_size():
    """A model trained on one size never heard the held-out instruments of another."""
    from coursekit.data.mini_nsynth import _plan_sampled

    plans = {size: {split: {j["program"] for j in jobs} for split, jobs in _plan_sampled(size, 0).items()}
             for size in ("smoke", "default", "full")}
    for size in ("smoke", "default"):
        for split in ("train", "valid", "test"):
            assert plans[size][split] <= plans["full"][split], (size, split)
    assert plans["default"]["valid"] == plans["full"]["valid"] and plans["default"]["test"] == plans["full"]["test"]


def test_every_planned_note_has_a_recording_and_sounds(mini_nsynth_root, gm):
    """Some presets stop short of their instrument's range or skip a key: those keys are never
    planned, so no note of the dataset is silence."""
    import soundfile as sf

    from coursekit.data.mini_nsynth import _plan_sampled

    for jobs in _plan_sampled("default", 0).values():
        assert all(gm.zones(j["program"], j["pitch"], j["velocity"]) for j in jobs)
    for split in ("train", "valid", "test"):
        for wav in (mini_nsynth_root / f"nsynth-{split}" / "audio").glob("*.wav"):
            y, _ = sf.read(wav)
            assert np.sqrt(np.mean(y ** 2)) > 1e-4, wav.name
