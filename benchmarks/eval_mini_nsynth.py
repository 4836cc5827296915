"""Does ``coursekit eval`` measure what it should? Real notes score well, noise scores badly.

On mini-NSynth (the profile's size, default: ``default``):

1. ``evaluate_folder(valid, ref=test)``: real notes judged against other real notes of the same
   instruments. Pitch accuracy (CREPE within 50 cents of the asked pitch; the classifier) and
   family accuracy should be high, and the FAD close to the real-vs-real floor.
2. The floor: valid and test notes pooled, split at random into two halves of the same sizes
   as valid and test, FAD between the halves (mean of 3 splits). Both sets then come from one
   distribution, so what remains is the sample-size bias.
3. ``evaluate_folder(noise, ref=test)``: white-noise "notes" (4 s, held 3 s then released, at
   the loudness of the valid note they replace) with the valid split's metadata. The FAD must be
   far larger, pitch accuracy near zero.
4. For scale: the train split (other instruments of the same families) against test.

FAD, its 95 % intervals and FAD-inf (over clips) for the crepe, mel and classifier embeddings. Writes
``results/eval_mini_nsynth.json`` and prints it.

Usage::

    COURSEKIT_DATA=/tmp/bench-data python benchmarks/eval_mini_nsynth.py [--size default]

(the data root's mini-NSynth is generated on first use; its ``mini-nsynth.json`` is recorded)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EMBEDDINGS = ("crepe", "mel", "classifier")


def write_noise_folder(like, out, seed=0):
    """White-noise notes with the metadata of the NSynth folder ``like``."""
    import numpy as np

    from coursekit import audio as A
    from coursekit.data.nsynth import read_examples, write_nsynth_folder

    rng = np.random.default_rng(seed)
    t = np.arange(64000) / 16000
    env = np.where(t < 3.0, 1.0, np.exp(-(t - 3.0) / 0.15))
    notes = []
    for key, m in read_examples(like).items():
        y, _ = A.load(Path(like) / "audio" / f"{key}.wav")
        rms = float(np.sqrt(np.mean(y[:48000] ** 2))) or 0.05
        noise = (rng.standard_normal(64000) * env * rms).astype(np.float32)
        notes.append({"audio": np.clip(noise, -1, 1), "pitch": m["pitch"], "velocity": m["velocity"],
                      "instrument_family_str": m["instrument_family_str"],
                      "generated_by": "white noise (benchmark)"})
    return write_nsynth_folder(out, notes)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="default", choices=["smoke", "default", "full"])
    ap.add_argument("--train-notes", type=int, default=100, help="train notes for row 4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "results" / "eval_mini_nsynth.json"))
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from coursekit.data import dataset_dir
    from coursekit.eval.classifier import DEFAULT_PATH, evaluate_split
    from coursekit.eval.evaluate import embed_folder, evaluate_folder, fad_with_ci, list_audio
    from coursekit.paths import cache_root
    from coursekit.checkpoint import hardware, read_card

    t_start = time.perf_counter()
    split = {s: dataset_dir("nsynth", s, size=args.size) for s in ("train", "valid", "test")}
    noise = write_noise_folder(split["valid"], cache_root() / f"bench-noise-{args.size}")
    train_subset = cache_root() / f"bench-train-{args.size}"
    train_paths, _, _ = list_audio(split["train"])
    pick = np.random.default_rng(0).choice(len(train_paths), min(args.train_notes, len(train_paths)),
                                           replace=False)
    train_subset.mkdir(parents=True, exist_ok=True)
    for i in sorted(pick):
        link = train_subset / train_paths[i].name
        if not link.exists():
            link.symlink_to(train_paths[i])

    made = split["test"].parent / "mini-nsynth.json"
    result = {"hardware": hardware(), "load_before": round(os.getloadavg()[0], 2),
              "command": "python benchmarks/eval_mini_nsynth.py " + " ".join(sys.argv[1:]),
              "size": args.size, "data": {k: str(v) for k, v in split.items()},
              "mini_nsynth": json.loads(made.read_text()) if made.exists() else None,
              "classifier_checkpoint": str(DEFAULT_PATH),
              "classifier_card_commit": read_card(DEFAULT_PATH.with_suffix(".json")).get("git_commit")}
    result["valid_vs_test"] = evaluate_folder(split["valid"], split["test"], EMBEDDINGS)
    result["noise_vs_test"] = evaluate_folder(noise, split["test"], EMBEDDINGS)
    result["train_subset_vs_test"] = evaluate_folder(train_subset, split["test"], EMBEDDINGS,
                                                     pitch=False)

    # the floor: valid + test pooled, split at random into halves of the sizes of valid and test
    floor = {}
    for name in EMBEDDINGS:
        pooled = (embed_folder(list_audio(split["valid"])[0], name, progress=False)
                  + embed_folder(list_audio(split["test"])[0], name, progress=False))
        n_valid = len(list_audio(split["valid"])[0])
        fads, infs = [], []
        for s in range(3):
            order = np.random.default_rng(100 + s).permutation(len(pooled))
            a = [pooled[i] for i in order[:n_valid]]
            b = [pooled[i] for i in order[n_valid:]]
            r, _ = fad_with_ci(b, a, n_boot=0, seed=s)
            fads.append(r["fad"])
            infs.append(r["fad_inf"])
        floor[name] = {"fad": float(np.mean(fads)), "fad_splits": fads, "fad_inf": float(np.mean(infs))}
    result["floor_random_halves"] = floor

    summary = {}
    for name in EMBEDDINGS:
        summary[name] = {
            "floor_fad": round(floor[name]["fad"], 4),
            "valid_vs_test_fad": round(result["valid_vs_test"]["fad"][name]["fad"], 4),
            "valid_vs_test_ci95": [round(v, 4) for v in result["valid_vs_test"]["fad"][name]["ci95"]],
            "valid_vs_test_fad_inf": round(result["valid_vs_test"]["fad"][name]["fad_inf"], 4),
            "floor_fad_inf": round(floor[name]["fad_inf"], 4),
            "train_subset_vs_test_fad": round(result["train_subset_vs_test"]["fad"][name]["fad"], 4),
            "train_subset_vs_test_fad_inf": round(result["train_subset_vs_test"]["fad"][name]["fad_inf"], 4),
            "noise_vs_test_fad": round(result["noise_vs_test"]["fad"][name]["fad"], 4),
            "noise_vs_test_fad_inf": round(result["noise_vs_test"]["fad"][name]["fad_inf"], 4),
            "noise_over_valid": round(result["noise_vs_test"]["fad"][name]["fad"]
                                      / result["valid_vs_test"]["fad"][name]["fad"], 1)}
    v, n = result["valid_vs_test"], result["noise_vs_test"]
    summary["pitch_acc_crepe_valid"] = v["pitch"]["crepe_acc"]
    summary["pitch_acc_classifier_valid"] = v["pitch"].get("classifier_acc")
    summary["pitch_acc_1_classifier_valid"] = v["pitch"].get("classifier_acc_1")
    summary["family_acc_classifier_valid"] = (v["family"] or {}).get("classifier_acc")
    summary["pitch_acc_crepe_noise"] = n["pitch"]["crepe_acc"]
    summary["family_acc_classifier_noise"] = (n["family"] or {}).get("classifier_acc")
    # the reference classifier on the test split of this data (its card has the split it was
    # trained beside: mini-NSynth full, possibly an older version of the synthesis)
    result["classifier_test_split"] = evaluate_split(split["test"], progress=False)
    summary["classifier_test_split"] = {k: result["classifier_test_split"][k]
                                        for k in ("n", "pitch_acc", "pitch_acc_1", "family_acc")}
    result["summary"] = summary
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    result["load_after"] = round(os.getloadavg()[0], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return result


if __name__ == "__main__":
    main()
