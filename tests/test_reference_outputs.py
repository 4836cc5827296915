"""The shipped reference models give the very same audio, bit for bit, whatever the code's layout.

Each command below is what a student runs (``python -m coursekit sample MODEL --n 4 --seed 0`` and
the codec's reconstruction of four tones), on one thread so that the sums run in one order. The
SHA-256 of every WAV it writes was recorded from the shipped checkpoints
(``tests/data/reference_outputs.json``); a change that alters what a reference model plays
fails here. The codec's ``latent_digest`` is pinned too: the Transformers and the diffusion models
were trained on its codes and latents, and stay valid only while it holds.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

EXPECTED = json.loads((Path(__file__).parent / "data" / "reference_outputs.json").read_text())
CODEC_DIGEST = "a154e1a3873b3999"
SR = 16000


def write_inputs(folder: Path) -> None:
    """Four decaying two-partial tones (the codec's input), a 1 s C4 (the piano continuation's
    prompt) and a four-note MIDI score (the piano model's)."""
    t = np.arange(SR) / SR
    (folder / "notes" / "audio").mkdir(parents=True, exist_ok=True)
    for i, f0 in enumerate([110.0, 220.0, 440.0, 880.0]):
        y = (0.5 * np.exp(-3 * t) * np.sin(2 * np.pi * f0 * t)
             + 0.1 * np.sin(2 * np.pi * 2 * f0 * t) * np.exp(-5 * t))
        sf.write(folder / "notes" / "audio" / f"tone_{i}.wav", y.astype(np.float32), SR, subtype="PCM_16")
    sf.write(folder / "prompt.wav", (0.3 * np.sin(2 * np.pi * 261.63 * t)).astype(np.float32), SR,
             subtype="PCM_16")
    import pretty_midi
    pm = pretty_midi.PrettyMIDI()                           # a C major arpeggio, the piano's score
    piano = pretty_midi.Instrument(0)
    piano.notes = [pretty_midi.Note(80, p, 0.25 * i, 0.25 * i + 0.4) for i, p in enumerate([60, 64, 67, 72])]
    pm.instruments.append(piano)
    pm.write(str(folder / "score.mid"))


def commands(folder: Path) -> dict:
    return {
        "rnn": ["sample", "rnn", "--n", "4", "--seed", "0"],
        "gan": ["sample", "gan", "--n", "4", "--seed", "0"],
        "transformer": ["sample", "transformer", "--n", "4", "--seed", "0"],
        "transformer_piano": ["sample", "transformer", "--n", "2", "--seed", "0",
                              "--prompt", str(folder / "prompt.wav"), "--seconds", "1"],
        "diffusion": ["sample", "diffusion", "--n", "4", "--seed", "0"],
        "diffusion_genres": ["sample", "diffusion", "--n", "2", "--seed", "0", "--genre", "jazz"],
        "piano": ["sample", "piano", "--midi", str(folder / "score.mid"), "--seconds", "1.5", "--seed", "0"],
        "codec": ["codec", "reconstruct", str(folder / "notes"), str(folder / "codec")],
    }


def wav_hashes(folder: Path) -> dict:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*.wav"))}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference-outputs")
    write_inputs(folder)
    return folder


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_model_output_is_unchanged(name, inputs):
    cmd = commands(inputs)[name]
    out = inputs / name
    if name != "codec":
        cmd = cmd + ["--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COURSEKIT_PROFILE="default")
    run = subprocess.run([sys.executable, "-m", "coursekit", *cmd], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert wav_hashes(out) == EXPECTED[name]


def test_codec_latent_digest_is_pinned():
    from coursekit.recipes.codec import latent_digest, load_codec

    assert latent_digest(load_codec()) == CODEC_DIGEST


if __name__ == "__main__":  # record the hashes anew: python tests/test_reference_outputs.py
    import tempfile

    folder = Path(tempfile.mkdtemp())
    write_inputs(folder)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COURSEKIT_PROFILE="default")
    result = {}
    for name, cmd in commands(folder).items():
        out = folder / name
        subprocess.run([sys.executable, "-m", "coursekit", *cmd, *(["--out", str(out)] if name != "codec" else [])],
                       env=env, check=True, capture_output=True)
        result[name] = wav_hashes(out)
    (Path(__file__).parent / "data" / "reference_outputs.json").write_text(json.dumps(result, indent=1) + "\n")
