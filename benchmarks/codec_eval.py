"""Measure the reference codec: rate/quality on mini-NSynth, music clips, speed, codebook usage.

Writes (and prints)

- ``results/codec_nsynth.json``: for every bitrate (n_q = 1..8) on the mini-NSynth test split:
  mel distance, SI-SDR, ViSQOL, CREPE pitch accuracy of the reconstructions vs of the originals,
  FAD (crepe, classifier embeddings) of reconstructions vs originals; mu-law PCM and EnCodec
  (1.5/3/6/12 kbps, when its weights can be had) for comparison.
- ``results/codec_music.json``: held-out mini-GTZAN and mini-MAESTRO clips at the highest
  bitrate: mel distance, SI-SDR, ViSQOL, FAD (mel embedding), level change in 16 mel bands.
- ``results/codec_speed_usage.json``: encode+decode speed (times faster than real time) and
  codebook usage (perplexity and dead codes per quantizer).
- ``results/codec_tones.json``: pure tones from MIDI 48 to 100 through the codec at its highest
  bitrate: the level and strongest frequency of each reconstruction and the pitch CREPE hears.
- ``results/codec_real.json``: real recordings (:mod:`coursekit.eval.realdata`: the real GTZAN
  clips and MAESTRO excerpt of ``../shared/realdata``, any real dataset under the data root),
  cut into 4 s clips, at every bitrate: mel distance, SI-SDR, ViSQOL (mean and median); EnCodec
  beside it when its weights can be had. Run by default when any real set is found.

ViSQOL (:mod:`coursekit.eval.perceptual`, audio mode: the 16 kHz audio is resampled to 48 kHz)
is the MOS-LQO, 1 to 5, that codec papers report. It costs about half a second a 4 s clip, so it
is measured on at most ``--visqol-clips`` clips of each set at each bitrate, spread evenly over
the set (``visqol_n`` in each row says how many gave a score; a silent clip gives none). Without
visqol-python one line says so, ``"visqol"`` in the JSON says why, and the other metrics run.
EnCodec's pretrained weights come from Meta's servers; offline, ``"encodec"`` in the JSON says
``"not measured: <why>"``.

and adds a summary to the checkpoint's card. Run::

    python benchmarks/codec_eval.py                       # reference codec, default data
    python benchmarks/codec_eval.py --n-notes 8 --checkpoint my.pt --out-prefix results/tmp/codec
    python benchmarks/codec_eval.py --only real --no-card --checkpoint my.pt   # real audio only
    python benchmarks/codec_eval.py --only nsynth --add-visqol --no-card   # ViSQOL into codec_nsynth.json

``--add-visqol`` measures the nsynth part's mel distance, SI-SDR and ViSQOL only (minutes, where
CREPE and FAD take about 25) and writes the ViSQOL figures into the existing
``codec_nsynth.json``, keeping its other figures; it stops when the recomputed mel distances differ
from the stored ones (another codec, other notes), since the file would then mix two runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit import audio as A  # noqa: E402
from coursekit import checkpoint  # noqa: E402
from coursekit.recipes import codec as R  # noqa: E402
from coursekit.recipes.codec_data import codec_data_files, load_clips  # noqa: E402


def _notes_subset(folder: Path, n: int, seed: int = 0) -> list[dict]:
    from coursekit.data.nsynth import read_examples

    notes = list(read_examples(folder).values())
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(notes), size=min(n, len(notes)), replace=False))
    return [notes[i] for i in pick]


def _write_folder(out: Path, notes: list[dict], audio: list[np.ndarray], sr: int) -> Path:
    if out.exists():
        shutil.rmtree(out)
    (out / "audio").mkdir(parents=True)
    meta = {}
    for m, y in zip(notes, audio):
        A.save(out / "audio" / f"{m['note_str']}.wav", np.clip(y, -1, 1), sr)
        meta[m["note_str"]] = {k: v for k, v in m.items() if k != "audio"}
    (out / "examples.json").write_text(json.dumps(meta))
    return out


def _reconstruct_all(codec, clips: list[np.ndarray], n_q: int, batch: int = 16,
                     sr: int | None = None) -> list[np.ndarray]:
    """Every clip through ``codec`` with ``n_q`` quantizers; ``sr``: the clips' rate (default: the codec's)."""
    out = []
    for i in range(0, len(clips), batch):
        chunk = clips[i:i + batch]
        n = max(len(c) for c in chunk)
        x = np.stack([A.fix_length(c, n) for c in chunk])
        y = codec.reconstruct(x, sr=sr or codec.sample_rate, n_q=n_q)
        out += [y[j, :len(c)] for j, c in enumerate(chunk)]
    return out


VISQOL_CLIPS = 40          # clips a set, at each bitrate, that ViSQOL measures (about 0.5 s each)
ENCODEC_N_Q = (2, 4, 8, 16)  # EnCodec 24 kHz: 1.5, 3, 6 and 12 kbps


def visqol_setup(args) -> tuple[int, str]:
    """``(clips, note)``: how many clips a set ViSQOL measures at each bitrate (0: none) and the
    line the JSON keeps under ``"visqol"`` (what was measured, or ``"not measured: <why>"``).

    Without visqol-python it prints one line and returns 0; the first call in a process also
    compiles ViSQOL's code (seconds), so the first clip of a part is not the slow one.
    """
    from coursekit.eval import perceptual

    n = getattr(args, "visqol_clips", VISQOL_CLIPS)
    if n is None or n <= 0:
        return 0, "not measured: --visqol-clips 0"
    try:
        x = 0.1 * np.random.default_rng(0).standard_normal(16000)
        perceptual.visqol(x, x, 16000)                                   # import, load, compile
    except perceptual.VisqolUnavailable as err:
        print(f"ViSQOL: not measured ({err}); the other metrics run")
        return 0, f"not measured: {err}"
    return n, (f"MOS-LQO (1-5), visqol-python audio mode at {perceptual.VISQOL_SR} Hz (the audio resampled "
               f"to it: nothing above the original Nyquist), on at most {n} clips a set, spread evenly")


def visqol_scores(refs, ests, sr: int, max_clips: int) -> dict:
    """Mean and median ViSQOL MOS-LQO of at most ``max_clips`` (reference, reconstruction) pairs,
    spread evenly over the list; ``{}`` when ``max_clips`` is 0. Clips shorter than ViSQOL's
    minimum are skipped; a clip too short for one patch or silent gives no score;
    ``visqol_n`` counts the scores.

    Example
    -------
    >>> visqol_scores([x], [x_hat], 16000, max_clips=8)        # doctest: +SKIP
    {'visqol': 3.91, 'visqol_median': 3.91, 'visqol_n': 1}
    """
    from coursekit.eval.perceptual import MIN_SECONDS, visqol

    if max_clips <= 0:
        return {}
    pairs = [(r, e) for r, e in zip(refs, ests) if min(len(r), len(e)) >= MIN_SECONDS * sr]
    if len(pairs) > max_clips:
        pairs = [pairs[i] for i in np.linspace(0, len(pairs) - 1, max_clips).round().astype(int)]
    scores = []
    for r, e in pairs:
        try:
            scores.append(visqol(r, e, sr))
        except ValueError:    # too few gammatone frames for one patch (under about 1 s)
            scores.append(np.nan)
    scores = np.array(scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    if not scores.size:
        return {"visqol": None, "visqol_median": None, "visqol_n": 0}
    return {"visqol": float(np.mean(scores)), "visqol_median": float(np.median(scores)),
            "visqol_n": int(scores.size)}


def _quality(refs, ests, sr, visqol_clips: int = 0) -> dict:
    md = [R.mel_distance(r, e, sr) for r, e in zip(refs, ests)]
    sd = [R.si_sdr(r, e) for r, e in zip(refs, ests)]
    return {"mel_distance": float(np.mean(md)), "si_sdr_db": float(np.mean(sd)),
            "si_sdr_db_median": float(np.median(sd)), **visqol_scores(refs, ests, sr, visqol_clips)}


def _visqol_text(row) -> str:
    return f"  ViSQOL {row['visqol']:.2f}" if row.get("visqol") is not None else ""


@lru_cache(maxsize=1)
def encodec_model():
    """``(model, None)`` with EnCodec's pretrained 24 kHz model, or ``(None, "not measured: <why>")``."""
    from coursekit.recipes.encodec import EncodecCodec, weights_available

    ok, how = weights_available()
    if ok:
        try:
            return EncodecCodec(pretrained=True).eval(), None
        except Exception as err:  # download interrupted, checksum mismatch, package missing
            how = f"loading failed ({type(err).__name__}: {err})"
    return None, f"not measured: its pretrained weights are {how}"


def encodec_rows(encodec, clips, sr: int, visqol_clips: int, label: str = "") -> list[dict]:
    """EnCodec at 1.5/3/6/12 kbps on ``clips`` (at ``sr``): mel distance, SI-SDR, ViSQOL."""
    rows = []
    for n_q in ENCODEC_N_Q:
        rec = _reconstruct_all(encodec, clips, n_q, sr=sr)
        rows.append({"n_q": n_q, "bitrate_bps": encodec.bitrate(n_q), **_quality(clips, rec, sr, visqol_clips)})
        print(f"  {label}EnCodec {rows[-1]['bitrate_bps'] / 1000:.1f} kbps: mel {rows[-1]['mel_distance']:.3f}  "
              f"SI-SDR {rows[-1]['si_sdr_db']:.2f} dB{_visqol_text(rows[-1])}")
    return rows


def _evaluate(gen: Path, ref: Path, embeddings, n_boot: int) -> dict:
    from coursekit.eval.evaluate import evaluate_folder

    return evaluate_folder(gen, ref, embeddings=embeddings, n_boot=n_boot, with_fad_inf=False,
                           pitch=True, classify=False, cache=False, progress=False)


def bench_nsynth(codec, args, tmp: Path) -> dict:
    from coursekit.data import dataset_dir

    folder = dataset_dir("nsynth", "test", size=args.size)
    notes = _notes_subset(folder, args.n_notes, args.seed)
    originals = [A.load(folder / "audio" / f"{m['note_str']}.wav", sr=codec.sample_rate)[0] for m in notes]
    ref_dir = _write_folder(tmp / "originals", notes, originals, codec.sample_rate)
    embeddings = [e for e in args.embeddings.split(",") if e]
    try:
        from coursekit.eval.classifier import load_classifier  # noqa: F401
    except ImportError:
        embeddings = [e for e in embeddings if e != "classifier"]
    t0 = time.perf_counter()
    n_vis, vis_note = visqol_setup(args)
    base = _evaluate(ref_dir, ref_dir, ["crepe"], 0)
    result = {"data": str(folder), "n_notes": len(notes), "sample_rate": codec.sample_rate,
              "originals": {"crepe_pitch_acc": base["pitch"]["crepe_acc"],
                            "crepe_n": base["pitch"]["crepe_n"]},
              "visqol": vis_note, "bitrates": [], "mu_law": []}
    print(f"originals: CREPE pitch accuracy {base['pitch']['crepe_acc']:.3f} over {base['pitch']['crepe_n']} notes")
    for n_q in range(1, codec.n_q + 1):
        rec = _reconstruct_all(codec, originals, n_q)
        gen_dir = _write_folder(tmp / f"rec_nq{n_q}", notes, rec, codec.sample_rate)
        row = {"n_q": n_q, "bitrate_bps": codec.bitrate(n_q), **_quality(originals, rec, codec.sample_rate, n_vis)}
        try:
            r = _evaluate(gen_dir, ref_dir, embeddings, args.n_boot)
        except Exception as err:  # an embedding that cannot be loaded: say so, keep the rest
            print(f"  evaluation with {embeddings} failed ({err}); retrying with crepe only")
            r = _evaluate(gen_dir, ref_dir, ["crepe"], args.n_boot)
        row["crepe_pitch_acc"] = r["pitch"]["crepe_acc"]
        row["crepe_median_abs_cents"] = r["pitch"]["crepe_median_abs_cents"]
        row["fad"] = {k: v["fad"] for k, v in r["fad"].items()}
        row["fad_ci95"] = {k: v["ci95"] for k, v in r["fad"].items()}
        row["warnings"] = r["warnings"]
        result["bitrates"].append(row)
        print(f"  n_q={n_q} {row['bitrate_bps'] / 1000:.1f} kbps: mel {row['mel_distance']:.3f}  "
              f"SI-SDR {row['si_sdr_db']:.2f} dB{_visqol_text(row)}  pitch {row['crepe_pitch_acc']:.3f}  "
              + "  ".join(f"FAD[{k}] {v:.3f}" for k, v in row["fad"].items()))
    # which notes the top bitrate misses, and what CREPE hears instead (None: no clear pitch),
    # judged by coursekit eval's own rule (judge_pitch) on the files it judged
    from coursekit.eval.evaluate import embed_folder, judge_pitch

    frames = embed_folder([gen_dir / "audio" / f"{m['note_str']}.wav" for m in notes], "crepe",
                          cache=False, progress=False)
    misses = []
    for m, f in zip(notes, frames):
        verdict, midi, voiced = judge_pitch(f, m["pitch"])
        if verdict in ("off", "unpitched"):
            misses.append({"note": m["note_str"], "pitch": m["pitch"], "velocity": m.get("velocity"),
                           "heard_midi": round(float(midi), 2) if verdict == "off" else None,
                           "voiced_fraction": round(float(voiced), 2)})
    result["misses_at_top_bitrate"] = misses
    print(f"  missed at n_q={codec.n_q}: " + ", ".join(f"{x['note']} (heard {x['heard_midi']})" for x in misses))
    result["mu_law"] = _mu_law_rows(originals, codec.sample_rate, n_vis)
    result["encodec"] = _encodec_part(originals, codec.sample_rate, n_vis)
    rows = result["bitrates"]
    top = rows[-1]
    result["checks"] = {
        "pitch_within_2_points_at_top": bool(abs(top["crepe_pitch_acc"] - result["originals"]["crepe_pitch_acc"]) <= 0.02),
        "mel_distance_decreases": bool(all(b["mel_distance"] < a["mel_distance"] for a, b in zip(rows, rows[1:]))),
        "si_sdr_increases": bool(all(b["si_sdr_db"] > a["si_sdr_db"] for a, b in zip(rows, rows[1:]))),
        "fad_decreases": {k: bool(all(b["fad"][k] <= a["fad"][k] for a, b in zip(rows, rows[1:])))
                          for k in top["fad"]},
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def _mu_law_rows(clips, sr: int, visqol_clips: int) -> list[dict]:
    """Mu-law PCM at 8, 6 and 4 bits a sample: the classic coding at 128, 96 and 64 kbps."""
    rows = []
    for bits in (8, 6, 4):
        rec = [A.mu_law_decode(A.mu_law_encode(y, mu=2 ** bits - 1), mu=2 ** bits - 1) for y in clips]
        row = {"bits": bits, "bitrate_bps": float(bits * sr), **_quality(clips, rec, sr, visqol_clips)}
        rows.append(row)
        print(f"  mu-law {bits} bit {row['bitrate_bps'] / 1000:.0f} kbps: mel {row['mel_distance']:.3f}  "
              f"SI-SDR {row['si_sdr_db']:.2f} dB{_visqol_text(row)}")
    return rows


def _encodec_part(clips, sr: int, visqol_clips: int, label: str = ""):
    """EnCodec's rows on ``clips``, or the line saying why it was not measured (printed too)."""
    encodec, why = encodec_model()
    if encodec is None:
        print(f"  {label}EnCodec: {why}")
        return why
    return encodec_rows(encodec, clips, sr, visqol_clips, label)


def bench_nsynth_visqol(codec, args, path: Path) -> dict:
    """ViSQOL of the nsynth part added to its existing results file ``path`` (``--add-visqol``).

    The same notes are drawn (``n_notes``, ``seed``) and sent through the codec and mu-law; where
    the recomputed mel distance of any bitrate differs from the stored one by more than 0.1 %,
    the file comes from another codec or other notes and a ``ValueError`` says so. Returns the
    stored result with ``visqol``, ``visqol_median``, ``visqol_n`` in every row, ``"visqol"`` and
    ``"encodec"`` at the top and the command under ``"visqol_command"``.
    """
    from coursekit.data import dataset_dir

    if not path.exists():
        raise ValueError(f"--add-visqol: {path} does not exist; run the nsynth part first")
    result = json.loads(path.read_text())
    folder = dataset_dir("nsynth", "test", size=args.size)
    notes = _notes_subset(folder, args.n_notes, args.seed)
    if len(notes) != result["n_notes"]:
        raise ValueError(f"--add-visqol: {path} holds {result['n_notes']} notes, --n-notes gives {len(notes)}")
    originals = [A.load(folder / "audio" / f"{m['note_str']}.wav", sr=codec.sample_rate)[0] for m in notes]
    n_vis, result["visqol"] = visqol_setup(args)
    sr = codec.sample_rate
    stored = {row["n_q"]: row for row in result["bitrates"]}
    for n_q in range(1, codec.n_q + 1):
        if n_q not in stored:
            raise ValueError(f"--add-visqol: {path} has no row for n_q={n_q}")
        new = _quality(originals, _reconstruct_all(codec, originals, n_q), sr, n_vis)
        if abs(new["mel_distance"] - stored[n_q]["mel_distance"]) > 1e-3 * stored[n_q]["mel_distance"]:
            raise ValueError(f"--add-visqol: at n_q={n_q} the mel distance is {new['mel_distance']:.4f}, "
                             f"{path} says {stored[n_q]['mel_distance']:.4f}: another codec or other notes")
        stored[n_q].update({k: v for k, v in new.items() if k.startswith("visqol")})
        print(f"  n_q={n_q} {stored[n_q]['bitrate_bps'] / 1000:.1f} kbps: mel {new['mel_distance']:.3f}  "
              f"SI-SDR {new['si_sdr_db']:.2f} dB{_visqol_text(new)}")
    result["mu_law"] = _mu_law_rows(originals, sr, n_vis)
    result["encodec"] = _encodec_part(originals, sr, n_vis)
    return result


def _music_clips(files, sr, seconds, max_clips, seed=0) -> list[np.ndarray]:
    clips = load_clips(files, sr=sr, max_seconds=seconds * max_clips * 4, max_clip_seconds=seconds * 4, seed=seed)
    out = []
    for c in clips:
        n = int(seconds * sr)
        for i in range(0, len(c) - n + 1, n):
            if np.sqrt(np.mean(c[i:i + n] ** 2)) > 1e-3:
                out.append(c[i:i + n])
    return out[:max_clips]


def _band_levels(refs, ests, sr, n_bands: int = 16) -> dict:
    """Level of the reconstructions minus that of the originals (dB) in ``n_bands`` mel bands:
    where in the spectrum the codec loses or adds energy."""
    import librosa

    fb = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=n_bands)
    power = lambda ys: np.mean([fb @ np.mean(np.abs(librosa.stft(y, n_fft=1024, hop_length=256)) ** 2, axis=1)
                                for y in ys], axis=0)
    change = 10 * np.log10(power(ests) + 1e-12) - 10 * np.log10(power(refs) + 1e-12)
    centres = librosa.mel_frequencies(n_bands + 2, fmax=sr / 2)[1:-1]
    return {"band_centres_hz": [round(float(c)) for c in centres],
            "band_level_change_db": [round(float(c), 1) for c in change]}


def bench_music(codec, args, tmp: Path) -> dict:
    files = codec_data_files("test", _profile(args))
    n_vis, vis_note = visqol_setup(args)
    result = {"n_q": codec.n_q, "bitrate_bps": codec.bitrate(), "clip_seconds": args.clip_seconds,
              "visqol": vis_note}
    for name in ("gtzan", "maestro"):
        clips = _music_clips(files[name], codec.sample_rate, args.clip_seconds, args.n_clips, args.seed)
        if not clips:
            result[name] = None
            continue
        rec = _reconstruct_all(codec, clips, codec.n_q)
        ref_dir, gen_dir = tmp / f"{name}_orig", tmp / f"{name}_rec"
        for d, ys in ((ref_dir, clips), (gen_dir, rec)):
            if d.exists():
                shutil.rmtree(d)
            for i, y in enumerate(ys):
                A.save(d / f"{name}_{i:03d}.wav", np.clip(y, -1, 1), codec.sample_rate)
        r = _evaluate(gen_dir, ref_dir, ["mel"], args.n_boot)
        result[name] = {"n_clips": len(clips), "files": len(files[name]),
                        **_quality(clips, rec, codec.sample_rate, n_vis),
                        "fad_mel": r["fad"]["mel"]["fad"], "fad_mel_ci95": r["fad"]["mel"]["ci95"],
                        **_band_levels(clips, rec, codec.sample_rate)}
        print(f"  {name}: {len(clips)} clips of {args.clip_seconds:.0f} s at {codec.bitrate() / 1000:.1f} kbps: "
              f"mel {result[name]['mel_distance']:.3f}  SI-SDR {result[name]['si_sdr_db']:.2f} dB"
              f"{_visqol_text(result[name])}  FAD[mel] {result[name]['fad_mel']:.3f}")
    return result


def bench_real(codec, args, sets=None) -> dict:
    """Real recordings through the codec at every bitrate: mel distance, SI-SDR and ViSQOL; EnCodec
    beside it when its weights can be had (``"encodec"`` of each set: its rows, or why not).

    ``sets``: the :class:`coursekit.eval.realdata.RealSet` list (default: every set
    :func:`~coursekit.eval.realdata.real_sets` finds, the realdata folder ``args.realdata``).
    Each set is cut into clips of ``args.real_clip_seconds`` (at most ``args.real_per_file`` a
    file, from ``args.real_max_files`` files); a set giving no clip is left out.
    """
    from coursekit.eval.realdata import real_clips, real_sets

    sets = real_sets(realdata=args.realdata) if sets is None else sets
    n_vis, vis_note = visqol_setup(args) if sets else (0, "not measured: no real recordings")
    result = {"n_q": codec.n_q, "bitrate_bps": codec.bitrate(), "sample_rate": codec.sample_rate,
              "clip_seconds": args.real_clip_seconds, "visqol": vis_note, "sets": {}}
    for rset in sets:
        named = real_clips(rset, seconds=args.real_clip_seconds, sr=codec.sample_rate,
                           per_file=args.real_per_file, max_files=args.real_max_files)
        if not named:
            print(f"  {rset.name}: no clip louder than silence in {rset.folder}; left out")
            continue
        clips = [y for _, y in named]
        rows = []
        for n_q in range(1, codec.n_q + 1):
            rec = _reconstruct_all(codec, clips, n_q)
            rows.append({"n_q": n_q, "bitrate_bps": codec.bitrate(n_q),
                         **_quality(clips, rec, codec.sample_rate, n_vis)})
            print(f"  real {rset.name} {rows[-1]['bitrate_bps'] / 1000:.1f} kbps: mel {rows[-1]['mel_distance']:.3f}  "
                  f"SI-SDR {rows[-1]['si_sdr_db']:.2f} dB{_visqol_text(rows[-1])}")
        top = rows[-1]
        result["sets"][rset.name] = {**rset.describe(), "n_clips": len(clips),
                                     "clip_lengths_s": sorted({round(len(c) / codec.sample_rate, 3) for c in clips}),
                                     "clips": [name for name, _ in named], "top_bitrate": top, "bitrates": rows}
        print(f"  real {rset.name} ({rset.source}): {len(clips)} clip(s) from {len(rset.files)} file(s), "
              f"{top['bitrate_bps'] / 1000:.1f} kbps: mel {top['mel_distance']:.3f}  "
              f"SI-SDR {top['si_sdr_db']:.2f} dB (median {top['si_sdr_db_median']:.2f}){_visqol_text(top)}")
        result["sets"][rset.name]["encodec"] = _encodec_part(clips, codec.sample_rate, n_vis, f"real {rset.name} ")
    gtzan = result["sets"].get("gtzan")
    if gtzan:  # issue #25's bar on the real GTZAN clips at the top bitrate
        result["checks"] = {"gtzan_si_sdr_at_least_4_db": bool(gtzan["top_bitrate"]["si_sdr_db"] >= 4.0),
                            "gtzan_mel_distance_at_most_1_2": bool(gtzan["top_bitrate"]["mel_distance"] <= 1.2)}
    return result


def bench_speed_usage(codec, args) -> dict:
    from coursekit.data import dataset_dir

    folder = dataset_dir("nsynth", "test", size=args.size)
    notes = _notes_subset(folder, 32, args.seed + 1)
    x = torch.from_numpy(np.stack([A.load(folder / "audio" / f"{m['note_str']}.wav", sr=16000)[0] for m in notes]))
    seconds = x.numel() / codec.sample_rate
    speed = {}
    threads0 = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        codec.decode(codec.encode(x[:2]))                                  # warm-up
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for i in range(0, len(x), 16):
                codec.decode(codec.encode(x[i:i + 16]))
            best = min(best, time.perf_counter() - t0)
        speed[f"{threads}_threads"] = {"audio_s": seconds, "compute_s": round(best, 3),
                                       "times_real_time": round(seconds / best, 1)}
        print(f"  encode+decode, {threads} thread(s): {seconds / best:.0f}x real time")
    torch.set_num_threads(threads0)
    usage = {}
    files = codec_data_files("test", _profile(args))
    sets = {"nsynth_test": [A.load(f, sr=16000)[0] for f in files["nsynth"][:args.n_usage]]}
    sets["all_test"] = sets["nsynth_test"] + _music_clips(files["gtzan"] + files["maestro"], 16000, 4.0, args.n_usage)
    for name, clips in sets.items():
        codes = torch.cat([codec.encode(A.fix_length(c, 64000)) for c in clips if np.abs(c).max() > 1e-4], dim=-1)
        u = R.codebook_usage(codes, codec.codebook_size)
        usage[name] = {"frames": int(codes.shape[-1] * codes.shape[0]),
                       "perplexity": [round(p, 1) for p in u["perplexity"]],
                       "dead_fraction": [round(d, 4) for d in u["dead_fraction"]],
                       "max_dead_fraction": max(u["dead_fraction"])}
        print(f"  codebook usage on {name}: perplexity {usage[name]['perplexity']}, "
              f"dead {[f'{d:.0%}' for d in u['dead_fraction']]}")
    return {"speed": speed, "usage": usage, "load_average": os.getloadavg(),
            "checks": {"speed_at_least_50x_1_thread": speed["1_threads"]["times_real_time"] >= 50,
                       "speed_at_least_50x_2_threads": speed["2_threads"]["times_real_time"] >= 50,
                       "dead_codes_at_most_10_percent": {k: v["max_dead_fraction"] <= 0.10 for k, v in usage.items()}}}


def bench_tones(codec, args) -> dict:
    """Pure tones through the codec at its highest bitrate: which pitches come back.

    For each MIDI pitch, a 4 s sine at amplitude 0.2 is encoded and decoded; we keep the level
    of the reconstruction relative to the tone, the strongest frequency in it, and the pitch
    CREPE hears. This is where the codec's pitch accuracy on high notes is decided.
    """
    from coursekit.eval.embeddings import crepe_pitch

    sr = codec.sample_rate
    t = np.arange(4 * sr) / sr
    rows = []
    for midi in range(48, 101, 2):
        f = 440.0 * 2 ** ((midi - 69) / 12)
        y = (0.2 * np.sin(2 * np.pi * f * t)).astype(np.float32)
        r = codec.reconstruct(y, n_q=codec.n_q)
        spec = np.abs(np.fft.rfft(r[sr // 2:3 * sr] * np.hanning(len(r[sr // 2:3 * sr]))))
        peak_hz = float(np.fft.rfftfreq(len(r[sr // 2:3 * sr]), 1 / sr)[int(np.argmax(spec))])
        heard, voiced = crepe_pitch(r, sr)
        ok = bool(np.isfinite(heard) and abs(heard - midi) <= 0.5)
        rows.append({"midi": midi, "hz": round(f, 1), "level_ratio": round(float(np.std(r) / np.std(y)), 3),
                     "peak_hz": round(peak_hz, 1), "crepe_midi": None if not np.isfinite(heard) else round(float(heard), 2),
                     "crepe_voiced": round(float(voiced), 2), "within_50_cents": ok})
        print(f"  tone MIDI {midi} ({f:.0f} Hz): level x{rows[-1]['level_ratio']:.2f}, peak {peak_hz:.0f} Hz, "
              f"CREPE {rows[-1]['crepe_midi']}")
    lowest_miss = min((r["midi"] for r in rows if not r["within_50_cents"]), default=None)
    return {"n_q": codec.n_q, "amplitude": 0.2, "seconds": 4.0, "tones": rows,
            "lowest_pitch_missed": lowest_miss,
            "pitches_missed": [r["midi"] for r in rows if not r["within_50_cents"]]}


def _profile(args):
    from coursekit.profiles import get_profile

    return get_profile(args.profile)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="codec checkpoint (default: the reference)")
    p.add_argument("--profile", default="full", help="profile whose codec.data_size picks the data")
    p.add_argument("--size", default=None, help="mini-dataset size (default: the profile's codec.data_size)")
    p.add_argument("--n-notes", type=int, default=128)
    p.add_argument("--n-clips", type=int, default=40)
    p.add_argument("--n-usage", type=int, default=200)
    p.add_argument("--clip-seconds", type=float, default=5.0)
    p.add_argument("--n-boot", type=int, default=100)
    p.add_argument("--embeddings", default="crepe,classifier")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-prefix", default=str(REPO / "results" / "codec"))
    p.add_argument("--only", default=None, help="which parts to run, of nsynth,music,speed,tones,real "
                   "(default: all; real only when real audio is found)")
    p.add_argument("--realdata", default=None, help="folder of real recordings (default: "
                   "$COURSEKIT_REALDATA, else ../shared/realdata)")
    p.add_argument("--real-clip-seconds", type=float, default=4.0)
    p.add_argument("--real-per-file", type=int, default=None, help="clips a file at most (default: "
                   "4 a GTZAN or MAESTRO file, 1 an NSynth note)")
    p.add_argument("--real-max-files", type=int, default=40, help="files a set at most, spread evenly")
    p.add_argument("--visqol-clips", type=int, default=VISQOL_CLIPS, help="clips a set at each bitrate that "
                   "ViSQOL measures, spread evenly (about 0.5 s a 4 s clip; 0: no ViSQOL)")
    p.add_argument("--add-visqol", action="store_true", help="nsynth part: measure mel distance, SI-SDR and "
                   "ViSQOL only and add ViSQOL to the existing <out-prefix>_nsynth.json (no CREPE, no FAD)")
    p.add_argument("--no-card", action="store_true", help="do not add the summary to the card")
    args = p.parse_args(argv)
    args.size = args.size or _profile(args).codec.data_size
    parts = ("nsynth", "music", "speed", "tones", "real")
    if args.only is None:
        from coursekit.eval.realdata import real_sets

        args.only = ",".join(parts[:4]) + (",real" if real_sets(realdata=args.realdata) else "")
    only = set(args.only.split(","))
    if only - set(parts):
        p.error(f"--only: unknown part(s) {', '.join(sorted(only - set(parts)))}; choose from {', '.join(parts)}")
    if args.add_visqol and "nsynth" not in only:
        p.error("--add-visqol adds ViSQOL to the nsynth part: give --only nsynth")
    if args.real_clip_seconds <= 0 or any(v is not None and v < 1 for v in (args.real_per_file, args.real_max_files)):
        p.error("--real-clip-seconds must be positive, --real-per-file and --real-max-files at least 1")
    codec = R.load_codec(args.checkpoint)
    ckpt = Path(args.checkpoint) if args.checkpoint else checkpoint.reference(R.REFERENCE)
    print(f"codec {ckpt}: {codec.num_params():,} parameters, {codec.frame_rate:.0f} frames/s, "
          f"{codec.n_q} x {codec.codebook_size} codes, {codec.bitrate(1):.0f}..{codec.bitrate():.0f} bit/s")
    tmp = REPO / "results" / "tmp" / f"codec_eval_{os.getpid()}"   # two runs at once must not share it
    out = Path(args.out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"checkpoint": str(ckpt.relative_to(REPO)) if ckpt.is_relative_to(REPO) else str(ckpt),
            "command": "python benchmarks/codec_eval.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "hardware": checkpoint.hardware()}
    results = {}
    if "nsynth" in only and args.add_visqol:
        try:
            results["nsynth"] = {**bench_nsynth_visqol(codec, args, Path(f"{out}_nsynth.json")),
                                 "visqol_command": meta["command"]}
        except ValueError as err:
            print(err)
            return 1
    elif "nsynth" in only:
        results["nsynth"] = {**meta, **bench_nsynth(codec, args, tmp)}
    if "music" in only:
        results["music"] = {**meta, **bench_music(codec, args, tmp)}
    if "speed" in only:
        results["speed_usage"] = {**meta, **bench_speed_usage(codec, args)}
    if "tones" in only:
        results["tones"] = {**meta, **bench_tones(codec, args)}
    if "real" in only:
        real = bench_real(codec, args)
        if real["sets"]:
            results["real"] = {**meta, **real}
        else:
            print("real: no real recordings found (realdata folder, data root); nothing written")
    for name, r in results.items():
        path = Path(f"{out}_{name}.json")
        path.write_text(json.dumps(r, indent=2, default=float) + "\n")
        print(f"wrote {path}")
    card_path = ckpt.with_suffix(".json")
    if not args.no_card and card_path.exists():
        card = json.loads(card_path.read_text())
        metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
        if "nsynth" in results:
            r = results["nsynth"]
            metrics["nsynth_test"] = {
                "n_notes": r["n_notes"], "originals_crepe_pitch_acc": r["originals"]["crepe_pitch_acc"],
                "by_n_q": {row["n_q"]: {"kbps": row["bitrate_bps"] / 1000, "mel_distance": round(row["mel_distance"], 4),
                                        "si_sdr_db": round(row["si_sdr_db"], 2), "visqol": row.get("visqol"),
                                        "crepe_pitch_acc": row["crepe_pitch_acc"],
                                        "fad": row["fad"]} for row in r["bitrates"]}}
        if "music" in results:
            metrics["music_top_bitrate"] = {k: results["music"][k] for k in ("gtzan", "maestro")}
        if "speed_usage" in results:
            metrics["speed"] = results["speed_usage"]["speed"]
            metrics["codebook_usage"] = results["speed_usage"]["usage"]
        if "tones" in results:
            metrics["pure_tones"] = {k: results["tones"][k] for k in ("lowest_pitch_missed", "pitches_missed")}
        if "real" in results:
            metrics["real_audio_top_bitrate"] = {
                name: {"n_clips": r["n_clips"], "clip_seconds": results["real"]["clip_seconds"],
                       **{k: round(v, 4) for k, v in r["top_bitrate"].items()
                          if k in ("mel_distance", "si_sdr_db", "si_sdr_db_median", "visqol") and v is not None}}
                for name, r in results["real"]["sets"].items()}
        metrics["source"] = "benchmarks/codec_eval.py -> results/codec_*.json"
        card["metrics"] = metrics
        card_path.write_text(json.dumps(card, indent=2, default=float) + "\n")
        print(f"metrics added to {card_path}")
    checks = {k: r.get("checks") for k, r in results.items() if r.get("checks")}
    print("checks:", json.dumps(checks, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)       # the scratch audio; the results are written
    return 0


if __name__ == "__main__":
    sys.exit(main())
