"""MAESTRO metadata, MIDI, aligned segments and mini-MAESTRO, against real files where present."""

import hashlib
import json
import shutil
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from coursekit import cli
from coursekit.data import maestro
from coursekit.data.maestro import (
    Maestro, apply_sustain, check_maestro, load_midi, midi_notes, pedal_events, pedal_intervals,
    piano_roll, read_metadata, segment_notes,
)
from coursekit.data.mini_maestro import make_mini_maestro

REAL_MIDI = "2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.midi"


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini-maestro")
    make_mini_maestro(root, size="smoke", seed=0, verbose=False)
    return root / "maestro-v3.0.0"


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def _alignment(y, sr, notes, max_lag_ms=200):
    """Cross-correlate the audio's onset strength with the MIDI onsets (weighted by velocity).

    Returns the best lag in ms and how much higher the correlation is there than on average
    over the lags tried: aligned audio peaks near 0 ms, clearly above the rest.
    """
    import librosa

    hop = sr // 100  # 10 ms frames
    env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
    train = np.zeros(len(env))
    idx = np.round(notes[:, 0] * 100).astype(int)
    ok = idx < len(env)
    np.add.at(train, idx[ok], notes[ok, 3])
    lags = np.arange(-max_lag_ms // 10, max_lag_ms // 10 + 1)
    corr = np.array([np.dot(np.roll(train, int(lag)), env) for lag in lags])
    return int(lags[np.argmax(corr)] * 10), float(corr.max() / corr.mean())


# -- metadata ---------------------------------------------------------------------------------

def test_real_csv(realdata):
    rows = read_metadata(realdata / "maestro-v3.0.0")
    assert len(rows) == 1276
    assert {s: sum(r["split"] == s for r in rows) for s in maestro.SPLITS} == \
        {"train": 962, "validation": 137, "test": 177}
    assert rows[0]["canonical_composer"] == "Alban Berg" and rows[0]["midi_filename"] == REAL_MIDI
    assert isinstance(rows[0]["year"], int) and abs(rows[0]["duration"] - 698.661160312) < 1e-9
    titles = {r["canonical_title"] for r in rows}
    composers = {r["canonical_composer"] for r in rows}
    assert '"La Campanella"' in titles                      # doubled quotes in the file
    assert "24 Preludes Op. 11, No. 13-24" in titles         # a comma inside a quoted field
    assert "Frédéric Chopin" in composers and "César Franck" in composers  # UTF-8
    assert len(read_metadata(realdata / "maestro-v3.0.0", composer="frederic chopin")) == \
        sum(r["canonical_composer"] == "Frédéric Chopin" for r in rows)
    test_0406 = read_metadata(realdata / "maestro-v3.0.0", split="test", year=[2004, 2006])
    assert test_0406 and all(r["split"] == "test" and r["year"] in (2004, 2006) for r in test_0406)
    with pytest.raises(ValueError, match="unknown split"):
        read_metadata(realdata / "maestro-v3.0.0", split="valid")


def test_real_json_matches_csv_and_v2(realdata):
    csv_rows = read_metadata(realdata / "maestro-v3.0.0" / "maestro-v3.0.0.csv")
    json_rows = read_metadata(realdata / "maestro-v3.0.0" / "maestro-v3.0.0.json")
    assert len(json_rows) == 1276
    assert [r["split"] for r in json_rows] == [r["split"] for r in csv_rows]
    assert [r["midi_filename"] for r in json_rows] == [r["midi_filename"] for r in csv_rows]
    # the official files differ only in a few titles: the CSV keeps quotes, the JSON drops them
    differ = [(a["canonical_title"], b["canonical_title"]) for a, b in zip(csv_rows, json_rows) if a != b]
    assert len(differ) == 7 and all(a.strip('"') == b for a, b in differ)
    v2 = read_metadata(realdata / "maestro-v2.0.0.json")
    assert len(v2) == 1 and v2[0]["year"] == 2018 and v2[0]["midi_filename"] == REAL_MIDI


def test_bad_metadata_gives_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no MAESTRO metadata"):
        read_metadata(tmp_path)
    (tmp_path / "maestro-v3.0.0.csv").write_text("composer,title\nA,B\n", encoding="utf-8")
    with pytest.raises(ValueError, match="canonical_composer"):
        read_metadata(tmp_path)
    bad = tmp_path / "x.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not MAESTRO metadata"):
        read_metadata(bad)
    bad.write_text('[{"canonical_composer": "A"}]')
    with pytest.raises(ValueError, match="missing field"):
        read_metadata(bad)


# -- MIDI -------------------------------------------------------------------------------------

def test_real_midi_notes_and_pedals(realdata):
    import mido

    path = realdata / "maestro-v3.0.0" / REAL_MIDI
    mf = mido.MidiFile(str(path))
    assert (mf.type, len(mf.tracks), mf.ticks_per_beat) == (1, 2, 384)
    assert maestro.midi_structure_problem(path) is None
    pm = load_midi(path)
    notes = midi_notes(pm)
    assert notes.shape == (4197, 4) and np.all(np.diff(notes[:, 0]) >= 0)
    assert notes[0].tolist() == pytest.approx([0.983073, 1.809896, 67, 52], abs=1e-5)
    assert 21 <= notes[:, 2].min() and notes[:, 2].max() <= 108
    sustain, soft = pedal_events(pm, 64), pedal_events(pm, 67)
    assert len(sustain) == 13165 and len(soft) == 2381
    intervals = pedal_intervals(sustain, end=pm.get_end_time())
    assert len(intervals) > 100 and np.all(intervals[:, 1] >= intervals[:, 0])
    held = apply_sustain(notes, intervals)
    assert np.all(held[:, 0] == notes[:, 0])
    longer = held[:, 1] > notes[:, 1] + 1e-9
    assert longer.mean() > 0.3  # the pedal is down most of the time in this Berg sonata
    # a note is only ever shortened by a re-strike of its own key
    shorter = np.where(held[:, 1] < notes[:, 1] - 1e-9)[0]
    for i in shorter[:50]:
        same = notes[(notes[:, 2] == notes[i, 2]) & (notes[:, 0] > notes[i, 0])]
        assert len(same) and same[0, 0] == pytest.approx(held[i, 1])


def test_sustain_roll_and_segments_semantics():
    notes = np.array([[0.0, 0.5, 60, 127], [0.2, 0.3, 64, 64], [1.0, 1.5, 60, 80]])
    pedal = pedal_intervals(np.array([[0.1, 127], [0.4, 80], [0.41, 30], [0.42, 0], [0.45, 127]]), end=2.0)
    assert pedal.tolist() == [[0.1, 0.41], [0.45, 2.0]]
    held = apply_sustain(notes, pedal)
    # 60 released at 0.5 with the pedal down -> rings until struck again at 1.0
    # 64 released at 0.3 inside the first pedal -> rings until 0.41
    assert held[:, 1].tolist() == [1.0, 0.41, 2.0]
    roll = piano_roll(held, fps=10, end=2.0)
    assert roll.shape == (88, 20) and roll[60 - 21, :10].min() == 1.0 and roll[64 - 21, 2:4].max() == pytest.approx(64 / 127)
    on = piano_roll(held, fps=10, start=0.5, end=1.5, onsets=True)
    assert on.sum() == pytest.approx(80 / 127) and on[60 - 21, 5] > 0  # only the strike at 1.0
    seg = segment_notes(held, 0.5, 1.5)
    assert seg[:, :2].tolist() == [[-0.5, 0.5], [0.5, 1.5]]


# -- the Dataset ------------------------------------------------------------------------------

def test_real_wav_segments_align_with_midi(realdata):
    with pytest.warns(UserWarning, match=r"1275 of 1276 performances dropped .*first: 2008/"):
        ds = Maestro(realdata / "maestro-v3.0.0", split=None, segment_seconds=0.5, sr=16000)
    assert len(ds) == 4  # the fixture WAV holds 2 s although the CSV says 698 s
    item = ds[1]
    assert item["audio"].shape == (8000,) and item["roll"].shape == (88, 50)
    assert item["offset"] == 0.5 and item["composer"] == "Alban Berg"
    # the first note (G4 at 0.983 s) is struck in this segment, 48 frames in
    assert item["onsets"][67 - 21].nonzero().flatten().tolist() == [48]
    first = item["notes"][0].tolist()  # seconds from the segment start, offset held by the pedal
    assert first[0] == pytest.approx(0.483073, abs=1e-5) and first[2:] == [67, 52]
    assert first[1] > 1.809896 - 0.5
    assert item["pedal"].shape == (50,) and float(item["pedal"][0]) == 1.0
    stereo = Maestro(realdata / "maestro-v3.0.0", split="train", year=2018, composer="Berg",
                     segment_seconds=1.0, sr=48000, mono=False)
    assert stereo[0]["audio"].shape == (2, 48000)
    # the audio's strongest onsets are where the MIDI says the notes are
    whole = Maestro(realdata / "maestro-v3.0.0", split="train", composer="Alban", year=2018,
                    segment_seconds=None, sr=16000)
    notes, _ = whole.midi(0)
    lag, contrast = _alignment(whole[0]["audio"].numpy(), 16000, notes[notes[:, 0] < 2.0])
    assert abs(lag) <= 30 and contrast > 2.0, (lag, contrast)


def test_real_check_counts(realdata):
    counts, problems = check_maestro(realdata / "maestro-v3.0.0")
    assert (counts["rows"], counts["train"], counts["validation"], counts["test"]) == (1276, 962, 137, 177)
    assert counts["midi_found"] == 1 and counts["audio_found"] == 1
    assert "duration_mismatch" in counts and "name_differences" in counts  # information only
    assert len(problems) == 2 * 1275 and all("missing" in p for p in problems)


# -- mini-MAESTRO -----------------------------------------------------------------------------

def test_mini_maestro_layout_and_formats(mini):
    import mido

    rows = read_metadata(mini)
    assert rows == read_metadata(mini / "maestro-v3.0.0.json")  # CSV and JSON agree exactly
    assert {r["split"] for r in rows} == set(maestro.SPLITS)
    for r in rows:
        mf = mido.MidiFile(str(mini / r["midi_filename"]))
        assert (mf.type, len(mf.tracks), mf.ticks_per_beat) == (1, 2, 384)
        pm = load_midi(mini / r["midi_filename"])
        assert pm.instruments[0].program == 0 and len(pm.instruments[0].notes) > 5
        assert len(pedal_events(pm, 64)) >= 2
        assert abs(pm.get_end_time() - r["duration"]) < 1e-6
        info = sf.info(str(mini / r["audio_filename"]))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
        assert 0 < info.duration - r["duration"] < 1.0
        assert 3.0 < r["duration"] < 10.0
    counts, problems = check_maestro(mini)
    assert problems == [] and counts["rows"] == 3 and counts["audio_found"] == 3
    assert cli.main(["data", "check", "maestro", str(mini)]) == 0


def test_mini_maestro_audio_follows_its_midi(mini):
    ds = Maestro(mini, split=None, segment_seconds=None, sr=22050)
    for i in range(len(ds)):
        item = ds[i]
        y = item["audio"].numpy()
        notes = midi_notes(load_midi(item["midi_path"]))
        lag, contrast = _alignment(y, 22050, notes)
        assert abs(lag) <= 30 and contrast > 3.0, (item["midi_path"], lag, contrast)
        # silence before the first note, sound while notes play
        first = notes[0, 0]
        assert np.sqrt(np.mean(y[: int(0.8 * first * 22050)] ** 2)) < 0.01
        assert np.sqrt(np.mean(y[int(first * 22050): int((first + 1) * 22050)] ** 2)) > 0.02


def test_mini_maestro_dataloader(mini):
    ds = Maestro(mini, split=None, segment_seconds=1.0, sr=16000, random_offset=True, segments_per_piece=2)
    assert len(ds) == 6
    loader = torch.utils.data.DataLoader(ds, batch_size=3, shuffle=True, collate_fn=Maestro.collate)
    batch = next(iter(loader))
    assert batch["audio"].shape == (3, 16000) and batch["roll"].shape == (3, 88, 100)
    assert isinstance(batch["notes"], list) and len(batch["notes"]) == 3
    assert batch["offset"].shape == (3,) and isinstance(batch["title"], list)
    seq = Maestro(mini, split="train", segment_seconds=2.0)
    assert all(seq[i]["offset"] == 2.0 * i for i in range(len(seq)))
    midi_only = Maestro(mini, split=None, segment_seconds=2.0, with_audio=False)
    assert "audio" not in midi_only[0] and midi_only[0]["roll"].shape == (88, 200)


def test_mini_maestro_same_seed_same_bytes(mini, tmp_path):
    assert cli.main(["data", "make", "mini-maestro", "--root", str(tmp_path), "--size", "smoke"]) == 0
    again = tmp_path / "maestro-v3.0.0"
    assert _digest(again) == _digest(mini)
    assert [p.name for p in tmp_path.iterdir()] == ["maestro-v3.0.0"]


def _onset_times(y, sr, hop_s=0.01, n_fft=2048):
    """Onset peaks of ``y`` (seconds) from the spectral flux of a numpy STFT."""
    from scipy.ndimage import maximum_filter1d, median_filter

    hop = int(round(hop_s * sr))
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, n_fft // 2), n_fft)[::hop]
    mag = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1))
    logm = np.log1p(100 * mag / (mag.max() + 1e-12))
    flux = np.maximum(np.diff(logm, axis=0, prepend=logm[:1]), 0).sum(axis=1)
    thr = median_filter(flux, size=21) + 0.1 * flux.max()
    return np.where((flux == maximum_filter1d(flux, 5)) & (flux > thr))[0] * hop_s


def test_mini_maestro_sampled_onsets_line_up(mini):
    # most chords of the MIDI start within 50 ms of an onset of the audio; shifted MIDI does not
    for r in read_metadata(mini):
        y, sr = sf.read(str(mini / r["audio_filename"]))
        peaks = _onset_times(y.mean(axis=1), sr)
        on = np.unique(np.round(midi_notes(load_midi(mini / r["midi_filename"]))[:, 0], 2))
        on = on[np.concatenate([[True], np.diff(on) > 0.03])]
        hit = [np.mean(np.abs(on[:, None] + shift - peaks[None, :]).min(axis=1) <= 0.05)
               for shift in (0.0, 0.137)]
        assert hit[0] >= 0.8 and hit[1] < 0.5, (r["audio_filename"], hit)


def test_mini_maestro_sounds_share_midi(mini, tmp_path):
    make_mini_maestro(tmp_path, size="smoke", seed=0, verbose=False, sound="additive")
    additive = tmp_path / "maestro-v3.0.0"
    rows = read_metadata(mini)
    assert rows == read_metadata(additive)
    for name in ("maestro-v3.0.0.csv", "maestro-v3.0.0.json"):
        assert (mini / name).read_bytes() == (additive / name).read_bytes()
    for r in rows:
        assert (mini / r["midi_filename"]).read_bytes() == (additive / r["midi_filename"]).read_bytes()
        a, sr_a = sf.read(str(mini / r["audio_filename"]))
        b, sr_b = sf.read(str(additive / r["audio_filename"]))
        assert sr_a == sr_b == 44100 and a.shape == b.shape and not np.array_equal(a, b)
    marker = ".coursekit-generated.json"
    assert json.loads((mini / marker).read_text())["sound"] == "sampled"
    assert json.loads((additive / marker).read_text())["sound"] == "additive"


def test_mini_maestro_other_sound_refused(tmp_path, capsys):
    make_mini_maestro(tmp_path, size="smoke", seed=0, verbose=False, sound="additive")
    before = _digest(tmp_path / "maestro-v3.0.0")
    with pytest.raises(ValueError, match="'additive' piano, not 'sampled'"):
        make_mini_maestro(tmp_path, size="smoke", seed=0, verbose=False)
    assert cli.main(["data", "make", "mini-maestro", "--root", str(tmp_path), "--size", "smoke"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "delete it" in err[0]
    assert _digest(tmp_path / "maestro-v3.0.0") == before  # nothing touched
    with pytest.raises(ValueError, match="unknown sound"):
        make_mini_maestro(tmp_path / "x", size="smoke", sound="fm")


def test_sampled_piano_pedals():
    from coursekit.data.mini_maestro_sampled import SampledPiano

    piano = SampledPiano()
    note = np.array([[0.1, 0.4, 60, 80]])  # key up at 0.4 s
    no_pedal = np.zeros((0, 2))
    pedal = np.array([[0.05, 127], [2.5, 0]])  # down across the key-up

    def energy(y, t0, t1):
        return float(np.sum(y[:, int(t0 * 44100): int(t1 * 44100)] ** 2))

    dry = piano.render(note, no_pedal, seconds=3.0, rng=np.random.default_rng(1))
    held = piano.render(note, pedal, seconds=3.0, rng=np.random.default_rng(1))
    assert dry.shape == held.shape == (2, 3 * 44100 + 1)
    assert np.allclose(dry[:, :int(0.39 * 44100)], held[:, :int(0.39 * 44100)])  # same until key-up
    assert energy(held, 0.85, 0.95) > 20 * energy(dry, 0.85, 0.95)  # 0.5 s after the key-up
    soft = piano.render(note, pedal, np.array([[0.0, 127], [1.0, 0]]), seconds=3.0,
                        rng=np.random.default_rng(1))
    assert energy(soft, 0.1, 0.4) < 0.7 * energy(held, 0.1, 0.4)  # una corda: quieter
    again = SampledPiano().render(note, pedal, seconds=3.0, rng=np.random.default_rng(1))
    assert np.array_equal(again, held)


def test_check_names_broken_files(mini, tmp_path):
    broken = tmp_path / "maestro-v3.0.0"
    shutil.copytree(mini, broken)
    rows = read_metadata(broken)
    (broken / rows[0]["audio_filename"]).unlink()
    midi = broken / rows[1]["midi_filename"]
    midi.write_bytes(midi.read_bytes()[:-10])  # a truncated download
    sf.write(broken / rows[2]["audio_filename"], np.zeros((100, 1)), 16000)
    counts, problems = check_maestro(broken)
    text = "\n".join(problems)
    assert f"{rows[0]['audio_filename']}: missing audio file" in text
    assert f"{rows[1]['midi_filename']}: bad MIDI: truncated" in text
    assert f"{rows[2]['audio_filename']}: 16000 Hz" in text and "1 channel(s)" in text
    assert cli.main(["data", "check", "maestro", str(broken)]) == 1
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = Maestro(broken, split=None, segment_seconds=1.0)
    assert len(ds.rows) == 2 and "1 of 3 performances dropped" in str(w[0].message)
