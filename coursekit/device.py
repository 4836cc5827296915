"""Where the course computes: CUDA, else Apple's MPS where a chapter's ops allow it, else the CPU.

Every chapter's set-up has one line, ``device = ck.choose_device("ch05")``, that picks the device
and says which; every ``train`` and ``sample`` command makes the same choice when ``--device``
is not given. On a GPU, :func:`amp_dtype` says which mixed precision the ``full`` profile uses.

Example
-------
>>> from coursekit.device import pick_device
>>> pick_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "COURSEKIT_DEVICE"

# What each chapter computes on the device it is given. MPS: the chapters whose ops Apple's
# backend runs (convolutions, GRUs, attention, FFTs); chapter 07's pitch tracker and the
# listening test stay on the CPU there. (Not checked on Apple hardware by the course's CI.)
CHAPTERS = {
    "ch02": ("a SampleRNN", True),
    "ch03": ("a GANSynth-style GAN and its recipes", True),
    "ch04": ("a neural codec (your small one; the reference codec's tokens)", True),
    "ch05": ("a Transformer over codec tokens", True),
    "ch06": ("a latent diffusion model", True),
    "ch07": ("the CREPE and classifier embeddings of FAD", False),
}


def _has_mps() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def pick_device(pref: str | torch.device | None = None, mps: bool = True) -> torch.device:
    """The device to compute on: ``pref`` if given (``'cuda'``, ``'cuda:1'``, ``'mps'``,
    ``'cpu'``, ``'auto'``), else ``$COURSEKIT_DEVICE``, else the best available: CUDA, then
    Apple's MPS (when ``mps`` is true), then the CPU.

    Raises ValueError when the asked device is not available, saying what is.

    Example
    -------
    >>> pick_device("cpu").type
    'cpu'
    """
    pref = str(pref or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if pref in ("auto", "cuda") and "LOCAL_RANK" in os.environ and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # torchrun: one GPU a rank
    has_mps = _has_mps()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if (has_mps and mps) else torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": has_mps}
    kind = pref.split(":")[0]
    if kind not in available:
        raise ValueError(f"unknown device {pref!r}; use cuda, cuda:N, mps, cpu or auto")
    if not available[kind]:
        have = ", ".join(k for k, ok in available.items() if ok)
        raise ValueError(f"device {pref!r} is not available on this machine (available: {have}); "
                         "leave the device unset to pick the best one")
    return torch.device(pref)


def describe(device: torch.device) -> str:
    """``'cuda (Tesla T4, 15.8 GB)'``, ``'mps (Apple GPU)'`` or ``'cpu (2 threads)'``."""
    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device.index or 0)
        return f"cuda ({props.name}, {props.total_memory / 1e9:.1f} GB)"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def choose_device(chapter: str | None = None, pref: str | torch.device | None = None,
                  verbose: bool = True) -> torch.device:
    """The device a chapter computes on, said in one line.

    Parameters
    ----------
    chapter : str, optional
        ``'ch02'`` ... ``'ch07'``: MPS is used only for chapters whose ops it runs.
    pref : str or torch.device, optional
        Force a device (default: ``$COURSEKIT_DEVICE``, else the best available).
    verbose : bool
        Print which device, and what runs there.

    Example
    -------
    >>> choose_device("ch02", pref="cpu", verbose=False)
    device(type='cpu')
    """
    what, mps_ok = CHAPTERS.get(chapter, ("this chapter's models", True))
    device = pick_device(pref, mps=mps_ok)
    if verbose:
        where = "the GPU" if device.type in ("cuda", "mps") else "the CPU"
        line = f"device: {describe(device)}; {what} runs on {where}"
        if device.type == "cpu" and torch.cuda.is_available() is False and not _has_mps():
            line += " (no GPU here; the default profile is sized for a CPU)"
        print(line)
    return device


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision type on ``device``: bfloat16 on a GPU that has it (Ampere and later),
    float16 on an older one (T4, V100; a gradient scaler goes with it), None on a CPU or MPS."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def cuda_report() -> dict:
    """What ``doctor`` says about CUDA: torch's build, whether a GPU is usable, and if not why."""
    build = torch.version.cuda
    out = {"torch": torch.__version__, "cuda_build": build, "available": False, "why_not": None,
           "gpu": None}
    if build is None:
        out["why_not"] = ("this torch is built for the CPU only (no CUDA); install a CUDA build "
                          "from https://pytorch.org/get-started/locally/ to use an NVIDIA GPU")
        return out
    try:
        ok = torch.cuda.is_available()
    except Exception as err:  # a broken driver can raise here
        ok, err_text = False, f"{type(err).__name__}: {err}"
    else:
        err_text = None
    if ok:
        out["available"] = True
        out["gpu"] = describe(torch.device("cuda"))
        return out
    if err_text is None:
        try:
            torch.cuda.init()
        except Exception as err:
            err_text = str(err).splitlines()[0]
    out["why_not"] = (f"torch is built with CUDA {build} but no GPU is usable"
                      + (f": {err_text}" if err_text else "")
                      + " (no NVIDIA GPU or driver on this machine, or CUDA_VISIBLE_DEVICES hides it)")
    return out
