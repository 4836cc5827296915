"""Can the 11 families of mini-NSynth be told apart? MFCC statistics + a simple classifier.

Features: mean and standard deviation over time of 20 MFCCs (librosa) of each whole note.
Classifiers (scikit-learn): logistic regression on standardised features, and a random forest.
Trained on the train split, tested on the test split, whose instruments never appear in train
(as in the real NSynth), so the score measures telling *families* apart, not remembering
instruments. Chance is 1/11.

Usage::

    python benchmarks/nsynth_family_mfcc.py --root /tmp/nsd      # a made mini-NSynth
    python benchmarks/nsynth_family_mfcc.py                      # makes a default one in a temp dir

Writes ``results/nsynth_family_mfcc.json`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit.data.nsynth import FAMILIES, SAMPLE_RATE, read_examples  # noqa: E402


def features(split_dir: Path, n_mfcc: int = 20):
    """(n_notes, 2 * n_mfcc) MFCC mean+std, family ids, note names."""
    import librosa
    import soundfile as sf

    ex = read_examples(split_dir)
    X, y = [], []
    for key, meta in ex.items():
        audio, sr = sf.read(str(split_dir / "audio" / f"{key}.wav"), dtype="float32")
        m = librosa.feature.mfcc(y=audio, sr=SAMPLE_RATE, n_mfcc=n_mfcc, n_fft=1024, hop_length=512)
        X.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
        y.append(meta["instrument_family"])
    return np.array(X), np.array(y), list(ex)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="an existing mini-NSynth root (default: make one)")
    ap.add_argument("--size", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "results" / "nsynth_family_mfcc.json"))
    args = ap.parse_args(argv)

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    tmp = None
    if args.root is None:
        tmp = tempfile.TemporaryDirectory(prefix="mini-nsynth-")
        root = Path(tmp.name) / "nsd"
        subprocess.run([sys.executable, "-m", "coursekit", "data", "make", "mini-nsynth", "--root", str(root),
                        "--size", args.size, "--seed", str(args.seed)], check=True, cwd=REPO,
                       env={**os.environ, "TQDM_DISABLE": "1"})
    else:
        root = Path(args.root)

    t0 = time.perf_counter()
    data = {s: features(root / f"nsynth-{s}") for s in ("train", "valid", "test")}
    feat_s = time.perf_counter() - t0
    Xtr, ytr, _ = data["train"]

    result = {"benchmark": "nsynth_family_mfcc",
              "command": "python benchmarks/nsynth_family_mfcc.py" + (" --root DIR (made by `python -m coursekit "
                         f"data make mini-nsynth --root DIR --size {args.size} --seed {args.seed}`)"
                         if args.root else f" --size {args.size} --seed {args.seed}"),
              "dataset": json.loads((root / "mini-nsynth.json").read_text()) if (root / "mini-nsynth.json").exists()
              else str(root),
              "features": "mean and std over time of 20 MFCCs (librosa, n_fft 1024, hop 512) of the 4 s note",
              "train_notes": int(len(ytr)), "valid_notes": int(len(data["valid"][1])),
              "test_notes": int(len(data["test"][1])),
              "instruments_shared_between_train_and_test": 0, "chance": round(1 / len(FAMILIES), 4),
              "feature_seconds": round(feat_s, 1), "classifiers": {}}
    models = {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0)),
        "random_forest": RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=1),
    }
    for name, model in models.items():
        model.fit(Xtr, ytr)
        entry = {}
        for split in ("valid", "test"):
            X, y, _ = data[split]
            pred = model.predict(X)
            entry[f"{split}_accuracy"] = round(float(np.mean(pred == y)), 4)
            if split == "test":
                entry["test_per_family"] = {FAMILIES[f]: round(float(np.mean(pred[y == f] == f)), 3)
                                            for f in range(len(FAMILIES)) if np.any(y == f)}
                cm = confusion_matrix(y, pred, labels=list(range(len(FAMILIES))))
                entry["test_confusion"] = {"labels": list(FAMILIES), "rows_true_cols_predicted": cm.tolist()}
        result["classifiers"][name] = entry
    result["test_accuracy_best"] = max(e["test_accuracy"] for e in result["classifiers"].values())

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "classifiers"}, indent=2))
    for name, e in result["classifiers"].items():
        print(f"{name}: valid {e['valid_accuracy']:.1%}, test {e['test_accuracy']:.1%}; per family {e['test_per_family']}")
    print(f"written to {out}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
