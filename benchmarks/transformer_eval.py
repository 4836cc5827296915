"""Chapter 05's figures: the codec Transformer's notes, guidance, KV cache, layouts, piano continuation.

Writes ``results/transformer_eval.json`` (merging: each part can be rerun alone) and prints it.

    python benchmarks/transformer_eval.py                         # every part
    python benchmarks/transformer_eval.py --parts notes,cache     # some parts

Parts
-----
notes     64 notes (families and pitches drawn from the mini-NSynth test split) sampled with the
          reference checkpoint at several guidance scales, each judged by ``coursekit eval``
          against the test split (CREPE pitch accuracy, classifier family accuracy, FAD crepe and
          classifier); the RNN and GAN baselines from results/baselines_eval.json when it exists.
          With ``--pitch-seeds K`` (default 6) each scale is also sampled with K sampling seeds in
          all (seed 0 included) and judged for pitch alone: a 64-note figure moves by about ±2
          notes from one draw to the next, so the mean over seeds is what to compare, and the
          conditions missed by every seed show what the model cannot do.
sampling  top-k / top-p chosen on validation conditions (3 x 64 notes of the valid split, never the
          test ones), guidance 3: the CREPE pitch accuracy of each setting and the one chosen;
          rerun ``notes`` with ``--top-p`` / ``--top-k`` to measure it on the test conditions.
recon     the codec's own reconstruction of the same 64 test notes: the ceiling of the notes, and
          the notes it misses.
cache     generating 4 s (200 frames) with and without the KV cache: speed-up, audio seconds per
          second, for one note and for a batch.
patterns  flatten vs delay, each trained with the same time budget on the same tokens: sequence
          length, validation loss (nats per code), generation time and CREPE pitch accuracy.
piano     continuation of held-out mini-MAESTRO performances: FAD (mel, crepe) of continuations
          vs the real continuations, against the naive baseline that repeats the prompt, and the
          agreement (cosine) of pitch-class histograms between prompt and continuation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit import audio  # noqa: E402
from coursekit.data import dataset_dir  # noqa: E402
from coursekit.data.nsynth import FAMILIES, read_examples, write_nsynth_folder  # noqa: E402
from coursekit.eval.evaluate import evaluate_folder  # noqa: E402
from coursekit.models import patterns as P  # noqa: E402
from coursekit.models import transformer as T  # noqa: E402
from coursekit.paths import runs_root  # noqa: E402
from coursekit.recipes import transformer as R  # noqa: E402
from coursekit.checkpoint import hardware  # noqa: E402

OUT = REPO / "results" / "transformer_eval.json"
WORK = runs_root() / "ch05" / "eval"


def _summary(r: dict) -> dict:
    return {"n": r["n_gen"],
            "crepe_pitch_acc": (r["pitch"] or {}).get("crepe_acc"),
            "crepe_median_abs_cents": (r["pitch"] or {}).get("crepe_median_abs_cents"),
            "classifier_pitch_acc": (r["pitch"] or {}).get("classifier_acc"),
            "family_acc": (r["family"] or {}).get("classifier_acc"),
            "fad": {k: {"fad": v["fad"], "ci95": v["ci95"]} for k, v in r["fad"].items()},
            "warnings": r["warnings"]}


def pick_conditions(test_dir, n: int = 64, seed: int = 0):
    """n (family, pitch, velocity) triples of the test split, the same number from each family."""
    ex = list(read_examples(test_dir).values())
    rng = np.random.default_rng(seed)
    by_fam = {}
    for m in ex:
        by_fam.setdefault(m["instrument_family"], []).append(m)
    fams = sorted(by_fam)
    chosen = []
    for i in range(n):
        pool = by_fam[fams[i % len(fams)]]
        chosen.append(pool[int(rng.integers(len(pool)))])
    return ([m["instrument_family"] for m in chosen], [m["pitch"] for m in chosen],
            [m["velocity"] for m in chosen], chosen)


# ---------------------------------------------------------------------------------------------

def part_notes(args, res):
    model = R.load_model(args.checkpoint)
    tok = R.tokenizer_for(model)
    test_dir = dataset_dir("nsynth", "test", size=args.nsynth_size)
    fams, pitches, vels, chosen = pick_conditions(test_dir, args.n)
    out = {"checkpoint": str(args.checkpoint or R.reference_checkpoint()), "ref": str(test_dir),
           "n_notes": args.n, "families": sorted({FAMILIES[f] for f in fams}),
           "pitch_range": [min(pitches), max(pitches)], "temperature": args.temperature,
           "top_k": args.top_k, "top_p": args.top_p, "by_cfg_scale": {}}
    for scale in args.cfg_scales:
        t0 = time.perf_counter()
        notes = R.generate_notes(model, pitches, fams, vels, tokenizer=tok, cfg_scale=scale,
                                 temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                 seed=0, batch_size=32, progress=False)
        gen_s = time.perf_counter() - t0
        folder = write_nsynth_folder(WORK / f"notes_cfg{scale:g}", notes)
        r = evaluate_folder(folder, test_dir, embeddings=("crepe", "classifier"), n_boot=100,
                            with_fad_inf=False, progress=False)
        out["by_cfg_scale"][f"{scale:g}"] = _summary(r) | {"generation_s": round(gen_s, 1)}
        if args.pitch_seeds > 1:
            out["by_cfg_scale"][f"{scale:g}"]["over_seeds"] = _pitch_over_seeds(
                model, tok, notes, fams, pitches, vels, scale, args)
        print(f"cfg {scale:g}: {json.dumps(out['by_cfg_scale'][f'{scale:g}'])}", flush=True)
    base = REPO / "results" / "baselines_eval.json"
    out["baselines"] = json.loads(base.read_text()) if base.exists() else \
        "results/baselines_eval.json not written yet (RNN/GAN baselines)"
    res["notes"] = {**res.get("notes", {}), **out,
                    "by_cfg_scale": {**res.get("notes", {}).get("by_cfg_scale", {}), **out["by_cfg_scale"]}}


def _judge(notes) -> list[tuple[str, float, float]]:
    """Each note (a dict with 16 kHz ``audio`` and the asked ``pitch``) judged from the audio in
    memory by :func:`judge_pitch`, the rule ``coursekit eval`` applies to WAV files:
    ``(verdict, heard_midi, voiced_fraction)`` per note."""
    from coursekit.eval.embeddings import get_embedding
    from coursekit.eval.evaluate import judge_pitch

    crepe = get_embedding("crepe")
    return [judge_pitch(crepe.embed(m["audio"], 16000), m["pitch"]) for m in notes]


def _pitch_over_seeds(model, tok, seed0_notes, fams, pitches, vels, scale, args) -> dict:
    """CREPE pitch hits of the same conditions under sampling seeds 0, 1000, 2000, ...

    Seed 0's notes are those already judged in full; every seed's notes are judged here by
    :func:`_judge`."""
    hits = []                                         # [seed][condition]: at pitch or not (None: not judged)
    for k in range(args.pitch_seeds):
        notes = seed0_notes if k == 0 else R.generate_notes(
            model, pitches, fams, vels, tokenizer=tok, cfg_scale=scale, temperature=args.temperature,
            top_k=args.top_k, top_p=args.top_p, seed=1000 * k, batch_size=32, progress=False)
        verdicts = [v for v, _, _ in _judge(notes)]
        hits.append([None if v == "out_of_range" else v == "ok" for v in verdicts])
    judged = [i for i, h in enumerate(hits[0]) if h is not None]
    per_seed = [sum(h[i] for i in judged) / len(judged) for h in hits]
    never = [i for i in judged if not any(h[i] for h in hits)]
    return {"seeds": [1000 * k for k in range(args.pitch_seeds)], "n": len(judged),
            "crepe_pitch_acc": [round(a, 4) for a in per_seed],
            "mean": round(float(np.mean(per_seed)), 4), "sd": round(float(np.std(per_seed, ddof=1)), 4),
            "missed_by_every_seed": [{"family": FAMILIES[fams[i]], "pitch": int(pitches[i]),
                                     "velocity": int(vels[i])} for i in never],
            "hits_per_condition": [sum(h[i] for h in hits) for i in judged]}


SAMPLING_GRID = ({}, {"top_p": 0.9}, {"top_p": 0.8}, {"top_p": 0.7}, {"top_k": 32})


def part_sampling(args, res):
    """Choose the sampling filter on validation conditions, so the test notes judge it fairly.

    Each note is judged by ``coursekit eval``'s own rule (:func:`_judge`)."""
    model = R.load_model(args.checkpoint)
    tok = R.tokenizer_for(model)
    valid_dir = dataset_dir("nsynth", "valid", size=args.nsynth_size)
    seeds = (1, 2, 3)
    conditions = [pick_conditions(valid_dir, args.n, seed=cseed)[:3] for cseed in seeds]
    rows = []
    for kw in SAMPLING_GRID:
        verdicts = []
        for fams, pitches, vels in conditions:
            notes = R.generate_notes(model, pitches, fams, vels, tokenizer=tok, cfg_scale=3.0,
                                     temperature=args.temperature, seed=0, batch_size=32,
                                     progress=False, **kw)
            verdicts += [v for v, _, _ in _judge(notes)]
        judged = [v for v in verdicts if v != "out_of_range"]
        hits = judged.count("ok")
        rows.append({"top_k": kw.get("top_k", 0), "top_p": kw.get("top_p", 0.0), "n": len(judged),
                     "crepe_pitch_acc": round(hits / len(judged), 4)})
        print(f"sampling {kw or 'no filter'}: pitch {hits}/{len(judged)}", flush=True)
    best = max(rows, key=lambda r: r["crepe_pitch_acc"])          # a tie keeps the earlier row
    res["sampling"] = {"checkpoint": str(args.checkpoint or R.reference_checkpoint()),
                       "conditions": f"{len(seeds)} x {args.n} (family, pitch, velocity) of {valid_dir} "
                                     f"(pick_conditions seeds {list(seeds)})",
                       "cfg_scale": 3.0, "temperature": args.temperature, "settings": rows,
                       "chosen": {"top_k": best["top_k"], "top_p": best["top_p"]}}


def part_recon(args, res):
    """The ceiling: the codec's own reconstruction (n_q codebooks) of the same 64 test notes."""
    from coursekit.profiles import get_profile

    ckpt = Path(args.checkpoint) if args.checkpoint else R.reference_checkpoint()
    tok_name = args.tokenizer or (R.load_model(ckpt).cfg.tokenizer if ckpt.exists() else R.default_tokenizer())
    n_q = get_profile("full").ch05.n_q
    tok, digest = R.load_tokenizer(tok_name, n_q)
    test_dir = dataset_dir("nsynth", "test", size=args.nsynth_size)
    _, _, _, chosen = pick_conditions(test_dir, args.n)
    recon = []
    for m in chosen:
        y, _ = audio.load(test_dir / "audio" / f"{m['note_str']}.wav", sr=16000)
        codes = tok.encode(y[None] + 1e-4 * np.random.default_rng(0).standard_normal(len(y)).astype(np.float32),
                           n_q=n_q)
        recon.append({"audio": R.decode_codes(tok, codes)[0], "pitch": m["pitch"], "velocity": m["velocity"],
                      "instrument_family_str": m["instrument_family_str"]})
    folder = write_nsynth_folder(WORK / "codec_reconstruction", recon)
    r = evaluate_folder(folder, test_dir, embeddings=("crepe", "classifier"), n_boot=100,
                        with_fad_inf=False, progress=False)
    missed = []                                    # the notes the codec itself loses: no model can do better
    for m, (verdict, heard, voiced) in zip(recon, _judge(recon)):
        if verdict not in ("ok", "out_of_range"):
            missed.append({"family": m["instrument_family_str"], "pitch": int(m["pitch"]),
                           "velocity": int(m["velocity"]), "verdict": verdict,
                           "heard_midi": None if np.isnan(heard) else round(float(heard), 2),
                           "voiced_fraction": round(float(voiced), 2)})
    res["recon"] = {"tokenizer": tok_name, "latent_digest": digest, "n_q": n_q} | _summary(r) | {"missed": missed}
    print(f"codec reconstruction: {json.dumps(res['recon'])}", flush=True)


def _update_card(checkpoint, task, metrics):
    """Copy the measured figures into the reference checkpoint's card."""
    if checkpoint is not None:
        return
    card = R.reference_checkpoint(task).with_suffix(".json")
    if card.exists():
        info = json.loads(card.read_text())
        info.setdefault("metrics", {})["measured"] = metrics | {"by": "benchmarks/transformer_eval.py",
                                                               "results": "results/transformer_eval.json"}
        card.write_text(json.dumps(info, indent=2) + "\n")


def part_cache(args, res):
    model = R.load_model(args.checkpoint)
    n_frames = int(round(4.0 * model.cfg.frame_rate))
    out = {"n_frames": n_frames, "steps": P.sequence_length(n_frames, model.cfg.n_q, model.cfg.pattern),
           "threads": torch.get_num_threads()}
    for batch in (1, 16):
        times = {}
        for use_cache in (True, False):
            t0 = time.perf_counter()
            T.generate(model, n_frames, family=[1] * batch, pitch=[60] * batch, velocity=[100] * batch,
                       cfg_scale=3.0, seed=0, use_cache=use_cache)
            times[use_cache] = time.perf_counter() - t0
        out[f"batch{batch}"] = {"with_cache_s": round(times[True], 2), "without_cache_s": round(times[False], 2),
                                "speedup": round(times[False] / times[True], 2),
                                "audio_s_per_s_with_cache": round(4.0 * batch / times[True], 2),
                                "audio_s_per_s_without_cache": round(4.0 * batch / times[False], 2)}
        print(f"batch {batch}: {out[f'batch{batch}']}", flush=True)
    res["cache"] = out


def part_patterns(args, res):
    from coursekit.profiles import get_profile

    p = get_profile("default").ch05
    ckpt = Path(args.checkpoint) if args.checkpoint else R.reference_checkpoint()
    tok_name = args.tokenizer or (R.load_model(ckpt).cfg.tokenizer if ckpt.exists() else R.default_tokenizer())
    tok, digest = R.load_tokenizer(tok_name, p.n_q)
    ref = T.CodecLM(T.LMConfig(n_q=p.n_q, card=tok.codebook_size, tokenizer=tok_name, frame_rate=tok.frame_rate))
    train_dir = dataset_dir("nsynth", "train", size=args.nsynth_size)
    test_dir = dataset_dir("nsynth", "test", size=args.nsynth_size)
    tokens = R.tokenize_nsynth(train_dir, tok, digest, ref.cfg.n_q, 4.0, None)
    val = R.tokenize_nsynth(dataset_dir("nsynth", "valid", size=args.nsynth_size), tok, digest, ref.cfg.n_q, 4.0, 64)
    fams, pitches, vels, _ = pick_conditions(test_dir, args.n_patterns)
    out = {"time_budget_s": args.pattern_budget, "tokenizer": tok_name, "model": {"d_model": p.d_model, "n_layer": p.n_layer},
           "n_notes_judged": args.n_patterns}
    for name in ("delay", "flatten"):
        torch.manual_seed(0)
        n_frames = tokens["codes"].shape[-1]
        cfg = T.LMConfig(n_q=ref.cfg.n_q, card=ref.cfg.card, pattern=name, d_model=p.d_model,
                         n_layer=p.n_layer, n_head=p.n_head, max_steps=P.sequence_length(n_frames, ref.cfg.n_q, name),
                         tokenizer=ref.cfg.tokenizer, latent_digest=digest, frame_rate=ref.cfg.frame_rate)
        model = T.CodecLM(cfg)
        hist = R.train_lm(model, R.NoteSteps(tokens, name, cfg.card), batch_size=16, lr=2e-3,
                          time_budget_s=args.pattern_budget, progress=False,
                          # (resumable; named by codec and budget, so another codec starts afresh)
                          ckpt_path=WORK / f"pattern_{name}_{digest}_{args.pattern_budget:g}s.train.pt",
                          resume=True)
        model.eval()
        vs = R.NoteSteps(val, name, cfg.card)
        seq, fam, pit, vel = (torch.stack([vs[i][j] for i in range(len(vs))]) for j in range(4))
        with torch.no_grad():
            vloss = float(T.lm_loss(model, seq, model.condition_ids(fam, pit, vel)))
        t0 = time.perf_counter()
        notes = R.generate_notes(model, pitches, fams, vels, tokenizer=tok, cfg_scale=3.0, seed=0,
                                 progress=False)
        gen_s = time.perf_counter() - t0
        folder = write_nsynth_folder(WORK / f"pattern_{name}", notes)
        r = evaluate_folder(folder, test_dir, embeddings=("crepe",), n_boot=50, with_fad_inf=False,
                            classify=False, progress=False)
        out[name] = {"sequence_length": cfg.max_steps, "train_steps": hist[-1]["step"],
                     "val_loss_nats_per_code": round(vloss, 4),
                     "generation_s": round(gen_s, 1), "crepe_pitch_acc": r["pitch"]["crepe_acc"],
                     "fad_crepe": r["fad"]["crepe"]["fad"]}
        print(f"{name}: {out[name]}", flush=True)
    res["patterns"] = out


def _chroma(y, sr=16000):
    import librosa

    c = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=4096, hop_length=1024).mean(axis=1)
    return c / (np.linalg.norm(c) + 1e-9)


def _window_loss(model, tok, folder, split: str, n_windows: int = 256) -> float:
    """Mean loss (nats a code) of ``model`` over ``n_windows`` random windows (seeded) of the
    ``split`` performances, each as long as the model's training window."""
    n_frames = next(t for t in range(model.cfg.max_steps, 0, -1)
                    if P.sequence_length(t, model.cfg.n_q, model.cfg.pattern) <= model.cfg.max_steps)
    codes = R.tokenize_maestro(folder, tok, model.cfg.latent_digest, model.cfg.n_q, split)["codes"]
    torch.manual_seed(0)
    ds = R.PerformanceWindows(codes, n_frames, model.cfg.pattern, model.cfg.card, n_items=n_windows)
    losses = []
    with torch.no_grad():
        for seq, fam, pit, vel in torch.utils.data.DataLoader(ds, batch_size=32):
            losses.append(T.lm_loss(model, seq, model.condition_ids(fam, pit, vel)).item())
    return round(float(np.mean(losses)), 3)


def part_piano(args, res):
    model = R.load_model(args.piano_checkpoint, task="piano")
    tok = R.tokenizer_for(model)
    folder = dataset_dir("maestro", size=args.maestro_size)
    files = R.maestro_audio_files(folder, "heldout")
    prompt_s, cont_s = args.prompt_s, args.continue_s
    clips = []                                   # (prompt, real continuation)
    for f in files:
        y, _ = audio.load(f, sr=16000)
        span = int((prompt_s + cont_s) * 16000)
        for start in range(0, len(y) - span + 1, span):
            seg = y[start:start + span]
            if np.sqrt(np.mean(seg ** 2)) > 1e-3:
                clips.append((seg[:int(prompt_s * 16000)], seg[int(prompt_s * 16000):]))
    clips = clips[:args.n_piano]
    gen_dir, real_dir, naive_dir = (WORK / "piano" / k for k in ("generated", "real", "naive"))
    for d in (gen_dir, real_dir, naive_dir):
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.wav"):
            old.unlink()
    n_cont = int(round(cont_s * 16000))
    sims = {"generated": [], "real": [], "naive": []}
    t0 = time.perf_counter()
    prompts = np.stack([c[0] for c in clips])
    codes = tok.encode(prompts + 1e-4 * np.random.default_rng(0).standard_normal(prompts.shape).astype(np.float32),
                       n_q=model.cfg.n_q)                                  # [N, K, T_prompt]
    n_new = int(round(cont_s * model.cfg.frame_rate))
    gen = T.generate(model, codes.shape[-1] + n_new, prompt=codes, seed=0)
    outs = R.decode_codes(tok, gen)
    for i, (prompt, real) in enumerate(clips):
        cont = outs[i][len(prompt):len(prompt) + n_cont]
        naive = np.resize(prompt, n_cont)        # the prompt again (and again)
        for name, y in (("generated", cont), ("real", real), ("naive", naive)):
            audio.save(WORK / "piano" / name / f"{i:03d}.wav", y.astype(np.float32), 16000)
            sims[name].append(float(_chroma(prompt) @ _chroma(y)))
    gen_s = time.perf_counter() - t0
    out = {"folder": str(folder), "n_clips": len(clips), "held_out_performances": len(files),
           "prompt_s": prompt_s, "continuation_s": cont_s, "generation_s": round(gen_s, 1),
           "pitch_class_cosine_prompt_vs_continuation": {k: round(float(np.mean(v)), 4) for k, v in sims.items()},
           "fad_vs_real_continuations": {},
           # memorised or learnt? the same loss on performances it trained on and on held-out ones
           "loss_nats_per_code": {split: _window_loss(model, tok, folder, split) for split in ("train", "heldout")},
           "checkpoint": str(args.piano_checkpoint or R.reference_checkpoint("piano"))}
    out["loss_nats_per_code"]["uniform_guess"] = round(float(np.log(model.cfg.card)), 3)
    # a different performance's continuation: what unrelated piano music gives
    sims_other = [float(_chroma(clips[i][0]) @ _chroma(clips[(i + len(clips) // 2) % len(clips)][1]))
                  for i in range(len(clips))]
    out["pitch_class_cosine_prompt_vs_continuation"]["other_performance"] = round(float(np.mean(sims_other)), 4)
    for name, d in (("generated", gen_dir), ("naive_repeat_prompt", naive_dir)):
        r = evaluate_folder(d, real_dir, embeddings=("mel", "crepe"), n_boot=100, with_fad_inf=False,
                            pitch=False, classify=False, progress=False)
        out["fad_vs_real_continuations"][name] = {k: {"fad": v["fad"], "ci95": v["ci95"]} for k, v in r["fad"].items()}
    print(f"piano: {json.dumps(out)}", flush=True)
    res["piano"] = out


def _save(out_path: Path, res: dict, done: set) -> dict:
    """Write this run's parts (``done``) into ``out_path``, re-read just before writing, so that
    another run writing other parts to the same file in the meantime keeps its results."""
    now = json.loads(out_path.read_text()) if out_path.exists() else {}
    now.update({k: res[k] for k in done})
    out_path.parent.mkdir(exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(now, indent=2) + "\n")
    os.replace(tmp, out_path)
    return now


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="sampling,notes,recon,cache,patterns,piano")
    ap.add_argument("--checkpoint", default=None, help="notes model (default: the reference)")
    ap.add_argument("--piano-checkpoint", default=None)
    ap.add_argument("--tokenizer", default=None, help="codec for the patterns part (default: the model's)")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--cfg-scales", default="1,3,5")
    ap.add_argument("--pitch-seeds", type=int, default=6, help="notes: sampling seeds judged for pitch "
                    "at each scale (1: seed 0 only)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0, help="notes: keep the k likeliest codes (0: all)")
    ap.add_argument("--top-p", type=float, default=None, help="notes: nucleus sampling, 0 for off "
                    "(default: the full profile's, the one the sampling part chose)")
    ap.add_argument("--merge", nargs="*", default=[], help="JSON files of parts run separately to merge in")
    ap.add_argument("--nsynth-size", default="default")
    ap.add_argument("--maestro-size", default="default")
    ap.add_argument("--pattern-budget", type=float, default=600.0)
    ap.add_argument("--n-patterns", type=int, default=32)
    ap.add_argument("--n-piano", type=int, default=24)
    ap.add_argument("--out", default=str(OUT), help="JSON file to write (merged with what is there)")
    ap.add_argument("--prompt-s", type=float, default=3.0)
    ap.add_argument("--continue-s", type=float, default=3.0)
    args = ap.parse_args()
    args.cfg_scales = [float(s) for s in args.cfg_scales.split(",")]
    if args.pitch_seeds < 1:
        ap.error("--pitch-seeds must be at least 1 (seed 0)")
    if args.top_p is None:
        from coursekit.profiles import get_profile

        args.top_p = get_profile("full").ch05.top_p
    torch.set_num_threads(1)
    WORK.mkdir(parents=True, exist_ok=True)
    out_path = Path(args.out)
    res = json.loads(out_path.read_text()) if out_path.exists() else {}
    done = set()                                   # the parts this run writes back
    for extra in args.merge:                       # parts run in separate processes
        for key, value in json.loads(Path(extra).read_text()).items():
            if key == "notes" and "notes" in res:
                value = {**res["notes"], **value,
                         "by_cfg_scale": {**res["notes"].get("by_cfg_scale", {}), **value.get("by_cfg_scale", {})}}
            res[key] = value
            done.add(key)
    if done:
        res = _save(out_path, res, done)
    for part in [p for p in args.parts.split(",") if p]:
        t0 = time.perf_counter()
        {"notes": part_notes, "cache": part_cache, "patterns": part_patterns, "piano": part_piano,
         "recon": part_recon, "sampling": part_sampling}[part](args, res)
        res[part]["wall_s"] = round(time.perf_counter() - t0, 1)
        res[part]["command"] = "python benchmarks/transformer_eval.py " + " ".join(sys.argv[1:])
        res[part]["hardware"] = hardware() + " (shared with other jobs)"
        done.add(part)
        res = _save(out_path, res, done)
    # the reference cards quote the reference results file only (not an experiment's --out)
    official = out_path.resolve() == OUT.resolve()
    if official and args.checkpoint is None and "by_cfg_scale" in res.get("notes", {}):
        _update_card(None, "notes", {
            f"cfg_{k}": {"crepe_pitch_acc": v["crepe_pitch_acc"], "family_acc": v["family_acc"],
                         "fad_crepe": v["fad"]["crepe"]["fad"], "fad_classifier": v["fad"]["classifier"]["fad"]}
            | ({"crepe_pitch_acc_over_seeds": {m: v["over_seeds"][m] for m in ("seeds", "mean", "sd")}}
               if "over_seeds" in v else {})
            for k, v in res["notes"]["by_cfg_scale"].items()}
            | {"sampling": {"temperature": res["notes"].get("temperature"), "top_k": res["notes"].get("top_k", 0),
                            "top_p": res["notes"].get("top_p", 0.0)}})
    if official and args.piano_checkpoint is None and "piano" in res:
        _update_card(None, "piano", {
            "pitch_class_cosine": res["piano"]["pitch_class_cosine_prompt_vs_continuation"],
            "fad_vs_real_continuations": res["piano"]["fad_vs_real_continuations"],
            "loss_nats_per_code": res["piano"].get("loss_nats_per_code")})
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
