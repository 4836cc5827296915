"""Every model trains and samples on a GPU, checked on machines without one.

``tests/fakecuda.py`` simulates a CUDA GPU on the CPU: tensors moved to ``'cuda'`` report
``cuda:0``, compute on the CPU, and every mistake a real GPU punishes (an op mixing GPU and CPU
tensors, ``.numpy()`` of a GPU tensor, a GPU checkpoint read on a CPU-only machine without
``map_location``) raises CUDA's own error. Each test runs what a student runs (a ``train`` and a
``sample`` command, a chapter's device line, an embedding) with no ``--device``: on a machine
with a GPU that must mean the GPU, so the test also counts the ops that ran there.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from coursekit.cli import main
from fakecuda import FakeCudaTensor, cpu_only_machine, fake_cuda

pytestmark = pytest.mark.usefixtures("one_thread")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_the_simulation_catches_what_a_gpu_catches(tmp_path):
    with fake_cuda() as gpu:
        x = torch.randn(3, 4, device="cuda")
        layer = torch.nn.Linear(4, 2).to("cuda")
        assert x.device.type == "cuda" and layer.weight.device.type == "cuda"
        layer(x).sum().backward()
        assert isinstance(layer.weight.grad, FakeCudaTensor) and gpu.cuda_ops > 0
        with pytest.raises(RuntimeError, match="same device"):
            layer(torch.randn(3, 4))
        with pytest.raises(TypeError, match="can't convert cuda:0"):
            layer(x).detach().numpy()
        assert layer(x).detach().cpu().numpy().shape == (3, 2)
        assert (x * torch.tensor(2.0)).device.type == "cuda"  # a 0-d CPU tensor is allowed
        torch.save(layer.state_dict(), tmp_path / "w.pt")
    with cpu_only_machine():
        with pytest.raises(RuntimeError, match="deserialize object on a CUDA device"):
            torch.load(tmp_path / "w.pt")
        assert torch.load(tmp_path / "w.pt", map_location="cpu")["weight"].shape == (2, 4)


def _run(argv):
    rc = main(list(map(str, argv)))
    assert rc == 0, f"{' '.join(map(str, argv))} exited with {rc}"


# (model, extra train flags, extra sample flags)
MODELS = [
    ("rnn", [], []),
    ("gan", [], []),
    ("transformer", [], []),
    ("diffusion", [], []),
]


@pytest.mark.parametrize("model,train_flags,sample_flags", MODELS, ids=[m[0] for m in MODELS])
def test_train_and_sample_run_on_the_gpu_by_default(model, train_flags, sample_flags, tmp_path):
    out = tmp_path / f"{model}.pt"
    with fake_cuda() as gpu:
        _run(["train", model, "--profile", "smoke", "--out", out, *train_flags])
        trained_on_gpu = gpu.cuda_ops
        _run(["sample", model, "--n", 2, "--out", tmp_path / "gen", "--checkpoint", out,
              *sample_flags])
        sampled_on_gpu = gpu.cuda_ops - trained_on_gpu
    assert trained_on_gpu > 0, f"train {model} did not use the GPU"
    assert sampled_on_gpu > 0, f"sample {model} did not use the GPU"
    assert len(list((tmp_path / "gen").rglob("*.wav"))) == 2
    # what was written on the GPU machine opens on a laptop without one
    with cpu_only_machine():
        _run(["sample", model, "--n", 1, "--out", tmp_path / "cpu", "--checkpoint", out,
              "--device", "cpu", *sample_flags])


def test_codec_trains_resumes_on_a_cpu_only_machine_and_reconstructs(tmp_path):
    from coursekit.recipes import resume_path

    out = tmp_path / "codec.pt"
    with fake_cuda() as gpu:
        _run(["train", "codec", "--profile", "smoke", "--out", out])
        assert gpu.cuda_ops > 0, "train codec did not use the GPU"
        n = gpu.cuda_ops
        src = tmp_path / "src"
        src.mkdir()
        import soundfile as sf
        t = np.arange(16000) / 16000
        sf.write(src / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
        _run(["codec", "reconstruct", src, tmp_path / "rec", "--checkpoint", out])
        assert gpu.cuda_ops > n, "codec reconstruct did not use the GPU"
    assert resume_path(out).exists()
    with cpu_only_machine():
        _run(["train", "codec", "--profile", "smoke", "--out", out, "--resume", "--device", "cpu"])


def test_codebook_usage_of_codes_on_the_gpu():
    from coursekit.recipes.codec import codebook_usage

    with fake_cuda():
        codes = torch.randint(0, 8, (2, 2, 50), device="cuda")
        usage = codebook_usage(codes, 8)
    assert len(usage["perplexity"]) == 2


def test_classifier_trains_on_the_gpu(mini_nsynth_root, tmp_path):
    with fake_cuda() as gpu:
        _run(["train", "classifier", "--data", mini_nsynth_root, "--profile", "smoke",
              "--out", tmp_path / "clf.pt"])
    assert gpu.cuda_ops > 0, "train classifier did not use the GPU"


@pytest.mark.parametrize("name", ["crepe", "classifier", "mel"])
def test_embeddings_run_on_the_gpu(name):
    from coursekit.eval import embeddings

    embeddings._CACHE.clear()
    t = np.arange(16000) / 16000
    y = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    try:
        with fake_cuda() as gpu:
            emb = embeddings.get_embedding(name)
            frames = emb.embed(y, 16000)
    finally:
        embeddings._CACHE.clear()
    assert isinstance(frames, np.ndarray) and frames.shape[-1] == emb.dim
    if name != "mel":  # the mel embedding is a plain NumPy feature
        assert gpu.cuda_ops > 0, f"the {name} embedding did not run on the GPU"


def _device_cell(path):
    """The code cell of a chapter that chooses the device (it calls ``choose_device``)."""
    nb = json.loads(path.read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    found = [c for c in cells if "choose_device(" in c]
    assert found, f"{path.name} has no cell that chooses the device (coursekit.choose_device)"
    return found[0]


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS.glob("0[2-7]_*.ipynb")), ids=lambda p: p.stem[:2])
def test_each_training_chapter_chooses_the_gpu(nb, capsys):
    import coursekit as ck

    code = "\n".join(line for line in _device_cell(nb).splitlines()
                     if not line.lstrip().startswith(("%", "!")))
    scope = {"ck": ck, "coursekit": ck}
    with fake_cuda():
        exec(compile(code, nb.name, "exec"), scope)
    assert scope["device"].type == "cuda", f"{nb.name} chose {scope['device']} with a GPU there"
    assert "cuda" in capsys.readouterr().out.lower(), f"{nb.name} does not say which device"
