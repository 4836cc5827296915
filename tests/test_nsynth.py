"""NSynth reader, checker, writer and the offline mini-NSynth generator."""

import hashlib
import json
import shutil
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from coursekit.data import nsynth
from coursekit.data.mini_nsynth import FAMILY_SPECS, draw_instrument, make_mini_nsynth, synth_note
from coursekit.data.nsynth import (FAMILIES, FIELD_ORDER, FIELDS, NSynth, check_nsynth, collate,
                                   load_folder, read_examples, write_nsynth_folder)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _note(family="guitar", pitch=60, velocity=100, seconds=4.0, **extra):
    t = np.arange(int(seconds * 16000)) / 16000
    return {"audio": 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t), "pitch": pitch,
            "velocity": velocity, "instrument_family_str": family, **extra}


@pytest.fixture
def small_split(tmp_path):
    """A tiny NSynth-format split written by write_nsynth_folder (5 notes)."""
    notes = [_note("guitar", 60), _note("guitar", 62), _note("flute", 72, 50), _note("bass", 40, 127),
             _note("organ", 55, 25)]
    return write_nsynth_folder(tmp_path / "nsynth-test", notes)


# --- the real format ------------------------------------------------------------------------

def test_real_metadata_parses_with_13_typed_fields(realdata):
    ex = read_examples(realdata / "nsynth-test")
    assert len(ex) == 23
    for key, meta in ex.items():
        assert set(FIELDS) <= set(meta) and len(meta) == 13
        for field, typ in FIELDS.items():
            assert isinstance(meta[field], typ), (key, field)
        assert tuple(meta) == FIELD_ORDER
        assert meta["note_str"] == key == nsynth.note_name(meta["instrument_str"], meta["pitch"], meta["velocity"])
        assert FAMILIES[meta["instrument_family"]] == meta["instrument_family_str"]
    assert ex["keyboard_electronic_001-021-127"]["pitch"] == 21
    assert ex["keyboard_electronic_001-021-127"]["note"] == 299359        # an id, not the pitch
    # our serialisation reproduces the real file byte for byte
    text = (realdata / "nsynth-test" / "examples.json").read_text()
    assert nsynth._dumps(json.loads(text)) == text


def test_mini_examples_json_is_in_the_real_format(mini_nsynth_root, realdata):
    real = (realdata / "nsynth-test" / "examples.json").read_text()
    for split in ("train", "valid", "test"):
        text = (mini_nsynth_root / f"nsynth-{split}" / "examples.json").read_text()
        ex = json.loads(text)
        assert nsynth._dumps(ex) == text                       # same indentation and separators
        assert text.startswith('{\n    "') and real.startswith('{\n    "')
        for key, meta in ex.items():
            assert tuple(meta) == FIELD_ORDER
            assert meta["note_str"] == key
            assert meta["sample_rate"] == 16000
            assert len(meta["qualities"]) == 10
        lead = [m for m in ex.values() if m["instrument_family"] == FAMILIES.index("synth_lead")]
        assert lead and all(m["instrument_str"].startswith("synth_lead_synthetic_") for m in lead)
        assert any(m["note"] != m["pitch"] for m in ex.values())


def test_read_examples_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="examples.json") as err:
        read_examples(tmp_path)
    assert str(tmp_path) in str(err.value) and "nsynth-test" in str(err.value)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        read_examples(tmp_path / "nope")
    (tmp_path / "nsynth-valid").mkdir()
    (tmp_path / "nsynth-valid" / "examples.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="It holds nsynth-valid"):
        read_examples(tmp_path)
    shutil.rmtree(tmp_path / "nsynth-valid")
    (tmp_path / "examples.json").write_text('{"a": ')
    with pytest.raises(ValueError, match="not valid JSON"):
        read_examples(tmp_path)
    meta = {f: 0 for f in FIELDS}
    meta.update(note_str="x", instrument_str="y", qualities=[0] * 10, qualities_str=[],
                instrument_family_str="bass", instrument_source_str="acoustic")
    bad = dict(meta, pitch="60")
    del bad["velocity"]
    (tmp_path / "examples.json").write_text(json.dumps({"ok": meta, "broken-note": bad}))
    with pytest.raises(ValueError, match="broken-note") as err:
        read_examples(tmp_path)
    assert "velocity" in str(err.value) and "'pitch' should be int" in str(err.value)


# --- the Dataset ------------------------------------------------------------------------------

def test_known_noise_is_excluded_by_default(tmp_path, capsys):
    notes = [_note("brass", p, instrument_str="brass_acoustic_046", instrument_source_str="acoustic")
             for p in (60, 61, 62)]
    notes += [_note("brass", 60, instrument_source_str="acoustic"), _note("reed", 64)]
    split = write_nsynth_folder(tmp_path / "nsynth-test", notes)
    ds = NSynth(split)
    out = capsys.readouterr().out
    assert len(ds) == 2
    assert out.count("\n") == 1 and "excluded 3 notes of brass_acoustic_046" in out
    assert all(m["instrument_str"] != "brass_acoustic_046" for m in ds.metadata)
    assert len(NSynth(split, exclude_known_noise=False)) == 5
    assert capsys.readouterr().out == ""


def test_missing_wav_is_dropped_with_one_warning(small_split):
    (small_split / "audio" / "flute_synthetic_000-072-050.wav").unlink()
    with pytest.warns(UserWarning, match=r"1 note\(s\).*flute_synthetic_000-072-050") as rec:
        ds = NSynth(small_split)
    assert len(rec) == 1 and len(ds) == 4
    counts, problems = check_nsynth(small_split)
    assert counts["missing_wavs"] == 1
    assert any("flute_synthetic_000-072-050.wav: missing" in p for p in problems)


def test_dataloader_with_filters_and_segments(mini_nsynth_root):
    split = mini_nsynth_root / "nsynth-train"
    ds = NSynth(split, families=["guitar", "flute", "bass"], pitch_range=(30, 90),
                velocities=[25, 50, 75, 100, 127], segment_seconds=0.5)
    assert 0 < len(ds) <= 18
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)
    batch = next(iter(loader))
    assert batch["audio"].shape == (min(4, len(ds)), 8000) and batch["audio"].dtype == torch.float32
    assert set(batch["family"].tolist()) <= {FAMILIES.index(f) for f in ("guitar", "flute", "bass")}
    assert batch["qualities"].shape[1] == 10
    assert all(30 <= p <= 90 for p in batch["pitch"].tolist())
    # deterministic segments are the onset of the file
    y, _ = sf.read(str(split / "audio" / f"{ds.metadata[0]['note_str']}.wav"), dtype="float32")
    assert np.allclose(ds[0]["audio"].numpy(), y[:8000])
    # random segments follow torch's seed
    rs = NSynth(split, families="organ", segment_seconds=0.25, random_segment=True)
    torch.manual_seed(0)
    a = rs[0]["audio"]
    torch.manual_seed(0)
    assert torch.equal(a, rs[0]["audio"])
    assert not all(torch.equal(a, rs[0]["audio"]) for _ in range(3))
    # full notes, resampled, through our collate
    full = NSynth(split, sources=["synthetic"], sample_rate=8000)
    b = next(iter(torch.utils.data.DataLoader(full, batch_size=2, collate_fn=collate)))
    assert b["audio"].shape == (2, 32000) and b["length"].tolist() == [32000, 32000]
    with pytest.raises(ValueError, match="unknown family 'piano'"):
        NSynth(split, families=["piano"])
    with pytest.raises(ValueError, match="no notes left"):
        NSynth(split, pitch_range=(120, 127))


def test_collate_pads_clips_of_different_lengths():
    b = collate([{"audio": torch.ones(3), "pitch": 60, "note_str": "a", "qualities": torch.zeros(10)},
                 {"audio": torch.ones(5), "pitch": 62, "note_str": "b", "qualities": torch.ones(10)}])
    assert b["audio"].shape == (2, 5) and b["audio"][0, 3:].sum() == 0
    assert b["length"].tolist() == [3, 5] and b["note_str"] == ["a", "b"]
    assert b["qualities"].shape == (2, 10)


# --- the checker ------------------------------------------------------------------------------

def test_check_nsynth_names_every_problem(small_split, tmp_path):
    audio = small_split / "audio"
    counts, problems = check_nsynth(small_split)
    assert problems == [] and counts["notes"] == 5 and counts["families"]["guitar"] == 2
    (audio / "guitar_synthetic_000-060-100.wav").write_bytes(b"JUNKJUNKJUNKJUNKJUNKJUNKJUNKJUNKJUNKJUNK")
    (audio / "guitar_synthetic_000-062-100.wav").write_bytes(b"")
    sf.write(str(audio / "flute_synthetic_000-072-050.wav"), np.zeros(64000), 22050, subtype="PCM_16")
    sf.write(str(audio / "bass_synthetic_000-040-127.wav"), np.zeros((64000, 2)), 16000, subtype="PCM_16")
    sf.write(str(audio / "organ_synthetic_000-055-025.wav"), np.zeros(1000), 16000, subtype="FLOAT")
    sf.write(str(audio / "stray.wav"), np.zeros(64000), 16000, subtype="PCM_16")
    ex = json.loads((small_split / "examples.json").read_text())
    ex["organ_synthetic_000-055-025"]["velocity"] = "loud"
    ex["bass_synthetic_000-040-127"]["note_str"] = "bass_synthetic_000-041-127"
    (small_split / "examples.json").write_text(json.dumps(ex))
    counts, problems = check_nsynth(small_split)
    text = "\n".join(problems)
    assert "guitar_synthetic_000-060-100.wav: not a WAV file" in text and "RIFF" in text
    assert "guitar_synthetic_000-062-100.wav: the file is empty" in text
    assert "flute_synthetic_000-072-050.wav: sample rate 22050 Hz" in text
    assert "bass_synthetic_000-040-127.wav: 2 channels" in text
    assert "organ_synthetic_000-055-025.wav: 1000 frames" in text and "FLOAT, expected PCM_16" in text
    assert "stray.wav: WAV file not listed" in text
    assert "'organ_synthetic_000-055-025': field 'velocity' should be int" in text
    assert "note_str is 'bass_synthetic_000-041-127', not the key" in text
    assert counts["unlisted_wavs"] == 1 and counts["bad_wavs"] == 5


def test_check_nsynth_passes_on_mini_and_counts(mini_nsynth_root):
    seen = {}
    for split in ("train", "valid", "test"):
        counts, problems = check_nsynth(mini_nsynth_root / f"nsynth-{split}")
        assert problems == [], problems[:3]
        assert set(counts["families"]) == set(FAMILIES)
        assert set(counts["sources"]) == {"acoustic", "electronic", "synthetic"} or split != "train"
        assert counts["velocities"] and set(counts["velocities"]) <= {25, 50, 75, 100, 127}
        seen[split] = {m["instrument_str"] for m in read_examples(mini_nsynth_root / f"nsynth-{split}").values()}
    # as in the real dataset: valid/test instruments never appear in train; the sampled
    # instruments are each in exactly one split
    assert not (seen["train"] & seen["test"]) and not (seen["train"] & seen["valid"])
    assert not (seen["valid"] & seen["test"])
    wav = next((mini_nsynth_root / "nsynth-test" / "audio").iterdir())
    i = sf.info(str(wav))
    assert (i.samplerate, i.channels, i.frames, i.subtype) == (16000, 1, 64000, "PCM_16")


def test_cli_check_exit_status(small_split, capsys):
    from coursekit.cli import main

    assert main(["data", "check", "nsynth", str(small_split)]) == 0
    (small_split / "audio" / "stray.wav").write_bytes(b"")
    assert main(["data", "check", "nsynth", str(small_split)]) == 1
    assert "stray.wav" in capsys.readouterr().err


# --- the generator ----------------------------------------------------------------------------

def test_same_seed_same_bytes(mini_nsynth_root, tmp_path):
    again = make_mini_nsynth(tmp_path / "again", size="smoke", seed=0, progress=False)
    for split in ("train", "test"):
        a, b = mini_nsynth_root / f"nsynth-{split}", again / f"nsynth-{split}"
        assert _sha(a / "examples.json") == _sha(b / "examples.json")
        names = sorted(p.name for p in (a / "audio").iterdir())
        assert names == sorted(p.name for p in (b / "audio").iterdir())
        for name in names[:: max(1, len(names) // 5)]:
            assert _sha(a / "audio" / name) == _sha(b / "audio" / name)
    assert _sha(mini_nsynth_root / "mini-nsynth.json") == _sha(again / "mini-nsynth.json")
    # a complete dataset is left alone; a different request for the same folder is refused
    before = (again / "nsynth-test" / "examples.json").stat().st_mtime_ns
    make_mini_nsynth(again, size="smoke", seed=0, progress=False)
    assert (again / "nsynth-test" / "examples.json").stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="already holds mini-NSynth"):
        make_mini_nsynth(again, size="smoke", seed=1, progress=False)
    # other seeds make other instruments
    p0 = draw_instrument("flute", "acoustic", np.random.default_rng(0))
    p1 = draw_instrument("flute", "acoustic", np.random.default_rng(1))
    assert p0 != p1 and not np.array_equal(synth_note(p0, 72, 100, 0)[0], synth_note(p1, 72, 100, 0)[0])


def test_synth_notes_are_in_tune_loud_by_velocity_and_safe():
    """Every family: the spectral peak region agrees with the pitch (harmonic of f0), louder with
    velocity, never clipping."""
    rng = np.random.default_rng(0)
    for family, ((lo, hi), sources) in FAMILY_SPECS.items():
        p = draw_instrument(family, sources[0], rng)
        pitch = (lo + hi) // 2
        soft, _ = synth_note(p, pitch, 25, seed=1)
        loud, q = synth_note(p, pitch, 127, seed=1)
        assert loud.shape == (64000,) and loud.dtype == np.float32 and len(q) == 10
        assert np.abs(loud).max() < 1.0 and np.isfinite(loud).all()
        assert np.sqrt(np.mean(loud ** 2)) > 2 * np.sqrt(np.mean(soft ** 2)), family
        # autocorrelation of 0.1..0.6 s: the first local peak nearly as high as the highest
        # one is the period (a pitch estimate independent of the synthesis code)
        f0 = 440 * 2 ** ((pitch - 69) / 12)
        seg = loud[1600:9600].astype(np.float64)
        ac = np.fft.irfft(np.abs(np.fft.rfft(seg, 2 * len(seg))) ** 2)[:1000]
        peaks = [i for i in range(8, 999) if ac[i] >= ac[i - 1] and ac[i] >= ac[i + 1]]
        top = max(ac[i] for i in peaks)
        lag = next(i for i in peaks if ac[i] >= 0.85 * top)
        a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
        lag = lag + 0.5 * (a - c) / (a - 2 * b + c)          # parabolic interpolation
        cents = 1200 * np.log2(16000 / lag / f0)
        assert abs(cents) < 50, (family, cents)


# --- writing and reading generated folders ---------------------------------------------------

def test_write_nsynth_folder_round_trip(tmp_path):
    notes = [_note("keyboard", 60, generated_by="rnn", seed=3), _note("keyboard", 60, generated_by="rnn"),
             _note("synth_lead", 70, 75, seconds=2.0, qualities=["bright", "reverb"], seed=np.int64(4)),
             {**_note("vocal", 65, 50), "audio": torch.zeros(64000), "instrument_family_str": "vocal"}]
    out = write_nsynth_folder(tmp_path / "gen", notes)
    ex = read_examples(out)
    names = list(ex)
    assert names[:2] == ["keyboard_synthetic_000-060-100", "keyboard_synthetic_001-060-100"]
    lead = ex["synth_lead_synthetic_000-070-075"]
    assert lead["qualities_str"] == ["bright", "reverb"] and lead["qualities"][0] == 1 and lead["seed"] == 4
    assert ex[names[0]]["generated_by"] == "rnn" and tuple(ex[names[0]])[:13] == FIELD_ORDER
    assert check_nsynth(out) == (check_nsynth(out)[0], [])
    ds = NSynth(out)
    assert len(ds) == 4 and ds[2]["audio"].shape == (64000,)            # padded to 4 s
    ys, meta = load_folder(out)
    assert len(ys) == 4 and meta[0]["pitch"] == 60 and meta[0]["file"].startswith("audio/")
    assert np.allclose(ys[0][:1000], notes[0]["audio"][:1000], atol=1e-4)
    # keep each clip's length
    long = write_nsynth_folder(tmp_path / "clips", [_note("string", 50, seconds=6.0, genre="jazz")], n_frames=None)
    assert sf.info(str(next((long / "audio").iterdir()))).frames == 96000
    assert check_nsynth(long, n_frames=None)[1] == []
    # rewriting a folder it wrote replaces the old notes
    write_nsynth_folder(tmp_path / "gen", notes[:1])
    assert len(list((tmp_path / "gen" / "audio").iterdir())) == 1


def test_write_nsynth_folder_refuses_bad_notes(tmp_path):
    with pytest.raises(ValueError, match="unknown instrument_family_str 'piano'"):
        write_nsynth_folder(tmp_path / "a", [_note("piano")])
    with pytest.raises(ValueError, match="note 0: missing key"):
        write_nsynth_folder(tmp_path / "a", [{"audio": np.zeros(10), "pitch": 60}])
    bad = _note("flute")
    bad["audio"][5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_nsynth_folder(tmp_path / "a", [bad])
    with pytest.raises(ValueError, match="pitch must be an int in 0..127"):
        write_nsynth_folder(tmp_path / "a", [_note("flute", pitch=200)])
    loud = _note("flute")
    loud["audio"] = loud["audio"] * 10
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        write_nsynth_folder(tmp_path / "b", [loud])
    assert any("clipped" in str(w.message) for w in rec)


def test_load_folder_reads_plain_folders(tmp_path):
    (tmp_path / "sub").mkdir()
    sf.write(str(tmp_path / "b.wav"), np.zeros(22050, dtype=np.float32), 22050)
    sf.write(str(tmp_path / "sub" / "a.flac"), 0.1 * np.ones(8000, dtype=np.float32), 16000)
    (tmp_path / "notes.txt").write_text("not audio")
    ys, meta = load_folder(tmp_path)
    assert [m["file"] for m in meta] == ["b.wav", "sub/a.flac"]
    assert len(ys[0]) == 16000 and len(ys[1]) == 8000          # resampled to 16 kHz
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no audio found"):
        load_folder(empty)


def test_dataset_reads_a_copy_without_audio_folder_clearly(small_split, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small_split, copy)
    shutil.rmtree(copy / "audio")
    with pytest.raises(FileNotFoundError, match="audio/ folder"):
        NSynth(copy)
