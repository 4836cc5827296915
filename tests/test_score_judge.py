"""The score judge (coursekit.eval.score_judge): transcription of SoundFont piano renderings of
synthetic MIDI compared with that MIDI, silence, a transposed rendering, bad MIDI, the real pair.

Thresholds: measured values (scale: onset F1 1.0, note F1 1.0, frame F1 0.80; chords: 1.0,
0.77, 0.67; a semitone up: frame F1 0.03 and 0.02, note F1 0, onset F1 still 1.0) with a margin.
"""

import numpy as np
import pretty_midi
import pytest

from coursekit.eval.score_judge import judge, midi_reference, peak_pick, transcribe

SR = 16000
SCALE = [(0.2 + 0.35 * i, 0.5 + 0.35 * i, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
CHORDS = [(0.2 + 0.7 * i, 0.8 + 0.7 * i, p)
          for i, chord in enumerate([(48, 60, 64, 67), (53, 60, 65, 69), (55, 59, 62, 67), (48, 60, 64, 67)])
          for p in chord]


def as_midi(notes, shift: int = 0):
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=90, pitch=p + shift, start=s, end=e) for s, e, p in notes]
    pm.instruments.append(inst)
    return pm


@pytest.fixture(scope="module")
def renders():
    from coursekit.data.soundfont import SoundFont

    sf = SoundFont.general_midi()
    out = {}
    for name, notes in (("scale", SCALE), ("chords", CHORDS)):
        seconds = max(e for _, e, _ in notes) + 0.5
        for shift in (0, 1):
            out[name, shift] = sf.render([(s, e, p + shift, 90, 0, 0) for s, e, p in notes], seconds, sr=SR)
    return out


@pytest.mark.parametrize("name,notes", [("scale", SCALE), ("chords", CHORDS)])
def test_soundfont_rendering_plays_its_midi(renders, name, notes):
    r = judge(renders[name, 0], SR, as_midi(notes))
    assert r["onset_f1"] >= 0.9
    assert r["note_f1"] >= 0.6
    assert r["frame_f1"] >= 0.55
    assert r["n_ref_onsets"] == len({s for s, _, _ in notes})


@pytest.mark.parametrize("name,notes", [("scale", SCALE), ("chords", CHORDS)])
def test_a_semitone_off_loses_the_frames_not_the_onsets(renders, name, notes):
    right = judge(renders[name, 0], SR, as_midi(notes))
    wrong = judge(renders[name, 1], SR, as_midi(notes))
    assert wrong["onset_f1"] >= 0.9
    assert wrong["frame_f1"] <= 0.2 and right["frame_f1"] - wrong["frame_f1"] >= 0.4
    assert wrong["note_f1"] <= 0.2


def test_silence_scores_zero():
    r = judge(np.zeros(2 * SR, np.float32), SR, as_midi(SCALE))
    assert r["onset_f1"] == r["note_f1"] == r["frame_f1"] == 0.0
    assert r["n_est_onsets"] == 0 and r["n_ref_onsets"] > 0
    out = transcribe(np.zeros(SR), SR)
    assert out["roll"].shape == (len(out["times"]), 88) and not out["roll"].any()


def test_transcribe_sine_note():
    t = np.arange(SR) / SR
    y = np.where(t > 0.3, np.sin(2 * np.pi * 440 * t) * np.exp(-3 * (t - 0.3)), 0.0)
    out = transcribe(y, SR)
    assert np.allclose(out["onsets"], [0.3], atol=0.02)
    assert out["notes"][:, 2].tolist() == [69.0]
    # the same at another rate and in stereo
    out44 = transcribe(np.stack([y, y]).repeat(2, axis=1)[:, ::1], 2 * SR)
    assert out44["notes"][:, 2].tolist() == [69.0]


def test_peak_pick():
    x = np.array([0, 1, 0, 0, 5, 0, 0, 0, 2, 0.0])
    assert peak_pick(x, 1, 1, 2, 2, delta=0.5, wait=1).tolist() == [1, 4, 8]
    assert peak_pick(np.zeros(0)).tolist() == []


def test_bad_midi_is_one_line(tmp_path):
    bad = tmp_path / "not.mid"
    bad.write_bytes(b"this is not a MIDI file")
    y = np.zeros(SR, np.float32)
    for midi in (bad, tmp_path / "missing.mid", pretty_midi.PrettyMIDI()):
        with pytest.raises(ValueError) as err:
            judge(y, SR, midi)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no notes"):
        midi_reference(as_midi([(5.0, 6.0, 60)]), 1.0)


def test_real_maestro_pair(realdata):
    from coursekit import audio

    stem = realdata / "maestro-v3.0.0" / "2018" / "MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1"
    y, sr = audio.load(stem.with_suffix(".wav"), sr=SR)
    midi = pretty_midi.PrettyMIDI(str(stem.with_suffix(".midi")))
    r = judge(y, sr, midi)
    assert r["onset_recall"] >= 0.5 and r["frame_f1"] >= 0.3
    for inst in midi.instruments:                       # the same audio against the score a semitone up
        for n in inst.notes:
            n.pitch += 1
    assert judge(y, sr, midi)["frame_f1"] < r["frame_f1"] - 0.2
