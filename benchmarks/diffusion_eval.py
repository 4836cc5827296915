"""Chapter 06's measured figures: the reference diffusion models, judged.

1. Notes: 64 notes from the reference checkpoint, with the (pitch, family, velocity) of 64 notes
   drawn (seeded) from the mini-NSynth test split, judged by ``coursekit eval`` against that
   split: CREPE pitch accuracy (+-50 cents), family accuracy (course classifier), FAD (crepe,
   mel, classifier). Compared with chapters 02/03 (results/baselines_eval.json) and 05
   (results/transformer_eval.json) when those files exist.
   The codec's own ceiling: the same test notes encoded and decoded, no diffusion.
2. Steps vs quality: FAD (crepe) and pitch accuracy of ``--curve-n`` notes for each step count
   and sampler (DDIM, DPM-Solver++), with the sampling time of each.
3. Genre clips: ``--per-genre`` clips of 4 s per genre from the genre checkpoint; the mel FAD of
   each genre's clips against the real clips of every genre (a held-out mini-GTZAN, seed 1,
   that the model never saw); how often the nearest real genre is the asked one. Two reference
   points by the same measure: real training clips cut to 4 s, and the same clips through the
   codec (latents decoded as the model's are): the codec's ceiling.

Usage (the parts can run at the same time, each into its own file)::

    python benchmarks/diffusion_eval.py --only notes,ceiling,guidance     # results/diffusion_eval.json
    python benchmarks/diffusion_eval.py --only curve --out results/diffusion_steps.json
    python benchmarks/diffusion_eval.py --only genres --out results/diffusion_genres.json

(``--only`` defaults to every part; a part's result is merged into an existing ``--out``.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit.data import dataset_dir, make_dataset  # noqa: E402
from coursekit.data.gtzan import GENRES, genre_of, list_clips  # noqa: E402
from coursekit.data.nsynth import FAMILIES, read_examples, write_nsynth_folder  # noqa: E402
from coursekit.eval.evaluate import evaluate_folder  # noqa: E402
from coursekit.models.diffusion import sample_latents  # noqa: E402
from coursekit.recipes import diffusion as R  # noqa: E402
from coursekit.paths import CHECKPOINT_DIR, cache_root, samples_root  # noqa: E402
from coursekit.checkpoint import hardware  # noqa: E402


def _ref(name: str) -> str:
    """A reference checkpoint's path, as the results should name it (relative inside the repo)."""
    path = CHECKPOINT_DIR / name
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def test_conditions(test_dir: Path, n: int, seed: int = 0):
    ex = read_examples(test_dir)
    names = sorted(ex)
    pick = np.random.default_rng(seed).choice(len(names), n, replace=len(names) < n)
    rows = [ex[names[i]] for i in pick]
    return ([r["pitch"] for r in rows], [r["instrument_family_str"] for r in rows],
            [r["velocity"] for r in rows])


def summarise(r: dict) -> dict:
    out = {"n_gen": r["n_gen"], "n_ref": r["n_ref"],
           "fad": {k: {"fad": v["fad"], "ci95": v["ci95"], "fad_inf": v.get("fad_inf")}
                   for k, v in r["fad"].items()},
           "pitch": r["pitch"], "family": r["family"], "warnings": r["warnings"]}
    return out


def eval_notes(args, model, codec, test_dir, result):
    pitches, families, vels = test_conditions(test_dir, args.n)
    out_dir = samples_root() / "diffusion"
    t0 = time.perf_counter()
    notes = R.generate_notes(model, codec, pitches, families, vels, steps=args.steps, sampler=args.sampler,
                             guidance=args.cfg, seed=0)
    gen_s = time.perf_counter() - t0
    write_nsynth_folder(out_dir, notes)
    embeddings = ["crepe", "mel"] + (["classifier"] if args.classifier else [])
    r = evaluate_folder(out_dir, test_dir, embeddings=embeddings, n_boot=100, with_fad_inf=False)
    result["notes"] = {"checkpoint": str(args.checkpoint or _ref("diffusion.pt")),
                       "samples": str(out_dir), "ref": str(test_dir), "sampler": args.sampler,
                       "steps": args.steps, "cfg": args.cfg,
                       "conditions": "pitch/family/velocity of notes drawn from the test split (seed 0)",
                       "sampling_seconds": round(gen_s, 1),
                       "sampling_seconds_per_note": round(gen_s / args.n, 3), **summarise(r)}
    print(json.dumps(result["notes"], indent=1))
    # the other chapters, when their results are there
    compare = {}
    for name in ("baselines_eval.json", "transformer_eval.json"):
        p = REPO / "results" / name
        compare[name] = json.loads(p.read_text()) if p.exists() else "not present when this ran"
    result["compare_files"] = {k: (v if isinstance(v, str) else "read") for k, v in compare.items()}
    result["comparison_table"] = comparison_table(result)


def _fad(d, name):
    v = (d or {}).get(name)
    return v.get("fad") if isinstance(v, dict) else v


def comparison_table(result) -> list[dict]:
    """One row per model of chapters 02, 03, 05 and 06 (64 notes each vs the same test split)."""
    rows = []
    if result.get("notes"):
        n = result["notes"]
        rows.append({"model": "06 diffusion", "pitch_acc": n["pitch"]["crepe_acc"],
                     "family_acc": (n["family"] or {}).get("classifier_acc"),
                     "fad_crepe": _fad(n["fad"], "crepe"), "fad_classifier": _fad(n["fad"], "classifier"),
                     "seconds_per_note": n["sampling_seconds_per_note"]})
    p = REPO / "results" / "baselines_eval.json"
    if p.exists():
        for name, m in json.loads(p.read_text()).get("models", {}).items():
            e = m.get("eval") or {}
            rows.append({"model": {"rnn": "02 rnn", "gan": "03 gan"}.get(name, name),
                         "pitch_acc": (e.get("pitch") or {}).get("crepe_acc"),
                         "family_acc": (e.get("family") or {}).get("classifier_acc"),
                         "fad_crepe": _fad(e.get("fad"), "crepe"), "fad_classifier": _fad(e.get("fad"), "classifier"),
                         "seconds_per_note": round(m["sample_wall_s"] / 64, 3) if m.get("sample_wall_s") else None})
    p = REPO / "results" / "transformer_eval.json"
    if p.exists():
        t = json.loads(p.read_text()).get("notes", {})
        for scale, e in t.get("by_cfg_scale", {}).items():
            rows.append({"model": f"05 transformer (cfg {scale})", "pitch_acc": e.get("crepe_pitch_acc"),
                         "family_acc": e.get("family_acc"), "fad_crepe": _fad(e.get("fad"), "crepe"),
                         "fad_classifier": _fad(e.get("fad"), "classifier"),
                         "seconds_per_note": round(e["generation_s"] / e["n"], 3) if e.get("generation_s") else None})
    return rows


def eval_compare(args, model, codec, test_dir, result):
    result["comparison_table"] = comparison_table(result)
    result.pop("comparison", None)
    for r in result["comparison_table"]:
        print(r)


def eval_ceiling(args, model, codec, test_dir, result):
    """The same test notes, encoded and decoded by the model's codec (no diffusion): the best
    pitch and family accuracy a perfect denoiser of these latents could reach."""
    from coursekit.audio import load

    ex = read_examples(test_dir)
    names = sorted(ex)
    pick = np.random.default_rng(0).choice(len(names), args.n, replace=len(names) < args.n)
    notes = []
    for i in pick:
        e = ex[names[i]]
        y, _ = load(test_dir / "audio" / f"{names[i]}.wav", sr=codec.sample_rate)
        y = y + 1e-4 * np.random.default_rng(int(i)).standard_normal(len(y)).astype(np.float32)
        y_hat = R.decode(codec, codec.encode_latent(y, sr=codec.sample_rate))[0, :len(y)]
        notes.append({"audio": y_hat, "pitch": e["pitch"], "velocity": e["velocity"],
                      "instrument_family_str": e["instrument_family_str"]})
    out_dir = cache_root() / "diffusion-bench" / "codec-reconstructions"
    write_nsynth_folder(out_dir, notes)
    embeddings = ["crepe"] + (["classifier"] if args.classifier else [])
    r = evaluate_folder(out_dir, test_dir, embeddings=embeddings, n_boot=0, with_fad_inf=False, progress=False)
    result["codec_ceiling"] = {"what": f"{args.n} test notes (the ones whose conditions the notes part asks "
                                       "for) through the codec's encoder and decoder, no quantization",
                               **summarise(r)}
    print(json.dumps(result["codec_ceiling"], indent=1))


def eval_guidance(args, model, codec, test_dir, result):
    pitches, families, vels = test_conditions(test_dir, args.curve_n, seed=1)
    rows = []
    for g in [float(x) for x in args.cfg_list.split(",")]:
        out_dir = cache_root() / "diffusion-bench" / f"cfg-{g}"
        t0 = time.perf_counter()
        notes = R.generate_notes(model, codec, pitches, families, vels, steps=args.steps, sampler=args.sampler,
                                 guidance=g, seed=1, progress=False)
        dt = time.perf_counter() - t0
        write_nsynth_folder(out_dir, notes)
        r = evaluate_folder(out_dir, test_dir, embeddings=["crepe"], n_boot=0, with_fad_inf=False,
                            classify=args.classifier, progress=False)
        row = {"cfg": g, "fad_crepe": r["fad"]["crepe"]["fad"], "pitch_acc": r["pitch"]["crepe_acc"],
               "family_acc": (r["family"] or {}).get("classifier_acc"), "seconds": round(dt, 1)}
        print(row, flush=True)
        rows.append(row)
    result["guidance"] = {"n_notes": args.curve_n, "sampler": args.sampler, "steps": args.steps, "rows": rows}


def eval_curve(args, model, codec, test_dir, result):
    pitches, families, vels = test_conditions(test_dir, args.curve_n, seed=1)
    rows = []
    for sampler in args.samplers.split(","):
        for steps in [int(s) for s in args.steps_list.split(",")]:
            out_dir = cache_root() / "diffusion-bench" / f"{sampler}-{steps}"
            t0 = time.perf_counter()
            z = sample_latents(model, {"pitch": torch.tensor(pitches),
                                       "family": torch.tensor([FAMILIES.index(f) for f in families]),
                                       "velocity": torch.tensor(vels)},
                               frames=200, steps=steps, sampler=sampler, guidance=args.cfg, seed=1,
                               progress=False)
            t_sample = time.perf_counter() - t0
            y = R.decode(codec, z)[:, :64000]
            t_total = time.perf_counter() - t0
            notes = [{"audio": y[i], "pitch": pitches[i], "velocity": vels[i],
                      "instrument_family_str": families[i], "sampler": sampler, "steps": steps}
                     for i in range(len(y))]
            write_nsynth_folder(out_dir, notes)
            r = evaluate_folder(out_dir, test_dir, embeddings=["crepe"], n_boot=0, with_fad_inf=False,
                                classify=False, progress=False)
            row = {"sampler": sampler, "steps": steps, "fad_crepe": r["fad"]["crepe"]["fad"],
                   "pitch_acc": r["pitch"]["crepe_acc"], "denoise_seconds": round(t_sample, 2),
                   "total_seconds_with_decoding": round(t_total, 2),
                   "seconds_per_note": round(t_total / len(y), 3)}
            print(row, flush=True)
            rows.append(row)
    result["steps_curve"] = {"n_notes": args.curve_n, "cfg": args.cfg,
                             "note": "FAD from 32 notes is biased upward vs the 64-note figure; compare "
                                     "rows with each other", "rows": rows}


def eval_genres(args, result):
    from coursekit.eval.embeddings import get_embedding
    from coursekit.eval.fad import frechet_distance

    model, codec = R.load_diffusion(args.genres_checkpoint, task="genres")
    held_out = cache_root() / "diffusion-bench" / "mini-gtzan-seed1"
    if not (held_out / "genres").is_dir():
        make_dataset("mini-gtzan", held_out, size="default", seed=1)
    emb = get_embedding("mel")
    from coursekit.audio import load

    real = {g: [] for g in GENRES}
    for c in list_clips(held_out):
        y, sr = load(c)
        real[genre_of(c)].append(emb.embed(y, sr))
    gen, t0 = {}, time.perf_counter()
    all_clips = []
    for gi, g in enumerate(GENRES):
        clips = R.generate_clips(model, codec, [g] * args.per_genre, seconds=args.seconds, steps=args.steps,
                                 sampler=args.sampler, guidance=args.genre_cfg, seed=100 * gi, progress=False)
        all_clips += clips
        gen[g] = [emb.embed(c["audio"], 16000) for c in clips]
    gen_s = time.perf_counter() - t0
    write_nsynth_folder(samples_root() / "diffusion_genres", all_clips, n_frames=None)
    matrix, nearest = {}, {}
    for g in GENRES:
        row = {h: float(frechet_distance(np.concatenate(real[h]), np.concatenate(gen[g]))) for h in GENRES}
        matrix[g] = row
        nearest[g] = min(row, key=row.get)
    # reference point: real held-out clips of each genre vs the training clips (seed 0)
    train_root = dataset_dir("gtzan", size="default", verbose=False)
    # and the codec's ceiling: the same clips through the codec, encoded to latents and decoded
    # as the model's latents are (continuous, no quantizer)
    train_real, train_codec = {g: [] for g in GENRES}, {g: [] for g in GENRES}
    for c in list_clips(train_root):
        y, sr = load(c, duration=args.seconds)
        train_real[genre_of(c)].append(emb.embed(y, sr))
        y16, _ = load(c, duration=args.seconds, sr=codec.sample_rate)
        with torch.no_grad():
            z = codec.encode_latent(torch.from_numpy(y16.astype(np.float32))[None, None])
            rec = codec.decode_latent(z)[0, 0, :len(y16)].numpy()
        train_codec[genre_of(c)].append(emb.embed(rec, codec.sample_rate))

    def nearest_heldout(sets):
        return {g: min(GENRES, key=lambda h: frechet_distance(np.concatenate(real[h]), np.concatenate(sets[g])))
                for g in GENRES}

    real_nearest, codec_nearest = nearest_heldout(train_real), nearest_heldout(train_codec)
    hits = sum(nearest[g] == g for g in GENRES)
    result["genres"] = {"checkpoint": str(args.genres_checkpoint or _ref("diffusion_genres.pt")),
                        "clips_per_genre": args.per_genre, "seconds": args.seconds, "steps": args.steps,
                        "sampler": args.sampler, "cfg": args.genre_cfg, "embedding": "mel",
                        "real": f"held-out mini-GTZAN (default size, seed 1): {held_out}",
                        "generation_seconds": round(gen_s, 1),
                        "nearest_real_genre": nearest, "hits": hits, "of": len(GENRES),
                        "fad_to_asked_genre": {g: matrix[g][g] for g in GENRES},
                        "fad_matrix_gen_rows_real_cols": matrix,
                        "real_training_clips_4s_nearest_heldout_genre_hits":
                            sum(real_nearest[g] == g for g in GENRES),
                        "codec_decoded_training_clips_4s_nearest_heldout_genre_hits":
                            sum(codec_nearest[g] == g for g in GENRES),
                        "codec_decoded_training_clips_4s_nearest_heldout_genre": codec_nearest}
    print(json.dumps({k: result["genres"][k] for k in ("nearest_real_genre", "hits", "fad_to_asked_genre")},
                     indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--genres-checkpoint", default=None)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--curve-n", type=int, default=32)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--sampler", default="dpm")
    ap.add_argument("--cfg", type=float, default=2.0)
    ap.add_argument("--genre-cfg", type=float, default=2.0)
    ap.add_argument("--steps-list", default="5,10,25,50,100")
    ap.add_argument("--samplers", default="ddim,dpm")
    ap.add_argument("--cfg-list", default="0,1,2,4")
    ap.add_argument("--per-genre", type=int, default=12)  # 12 x 14 mel frames > 128 dims
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--only", default="notes,ceiling,curve,guidance,compare,genres")
    ap.add_argument("--out", default=str(REPO / "results" / "diffusion_eval.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    parts = args.only.split(",")
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result.update({"what": "chapter 06 diffusion: notes judged, steps/quality curve, guidance, genre clips",
                   "command": "python benchmarks/" + " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
                   "hardware": hardware(), "platform": platform.platform(),
                   "load_average_at_start": os.getloadavg()[0]})
    from coursekit.paths import CHECKPOINT_DIR

    args.classifier = (CHECKPOINT_DIR / "classifier.pt").exists()
    if not args.classifier:
        result.setdefault("notes_on_run", []).append("no classifier checkpoint: family accuracy and "
                                                      "classifier FAD not computed")
    test_dir = dataset_dir("nsynth", "test", size="default", verbose=False)
    if set(parts) & {"notes", "ceiling", "curve", "guidance", "compare"}:
        model, codec = R.load_diffusion(args.checkpoint)
        result["model"] = {"parameters": model.num_params(), "latent_digest": model.cfg.latent_digest,
                           "conditions": model.cfg.conditions}
        for part, fn in (("notes", eval_notes), ("ceiling", eval_ceiling), ("curve", eval_curve),
                         ("guidance", eval_guidance), ("compare", eval_compare)):
            if part in parts:
                t0 = time.perf_counter()
                fn(args, model, codec, test_dir, result)
                result.setdefault("part_seconds", {})[part] = round(time.perf_counter() - t0, 1)
                out.write_text(json.dumps(result, indent=1) + "\n")
    if "genres" in parts:
        t0 = time.perf_counter()
        eval_genres(args, result)
        result.setdefault("part_seconds", {})["genres"] = round(time.perf_counter() - t0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
