"""How long will each chapter's ``full`` run take on a Colab T4 and on an H100? A projection
from counted work, measured on the CPU (no GPU, no clock: counts do not depend on the load).

For each chapter's training runs (the ones ``benchmarks/gpu_check.py`` defines: the recipes'
own training functions on inputs of the right shapes) this runs two training steps of the
full-size model on the CPU and counts, over the second step (forward, backward, optimizer,
the loop's own work):

- FLOPs (``torch.utils.flop_counter.FlopCounterMode``: matrix products, convolutions, attention),
- aten ops (a ``TorchDispatchMode``), each taken as one kernel launch, leaving out views and
  bare allocations,
- bytes each op reads and writes (its tensor arguments and results).

Optimizers and gradient clipping run their multi-tensor (``foreach``) code paths during the
count, as they do on a CUDA device (on the CPU they would loop over the tensors).

Each op then costs ``max(launch, FLOPs / (peak x efficiency), bytes / (bandwidth x efficiency))``
on a GPU; a step costs the sum over its ops; a run ``steps`` times that. The chapter's
generation, tokenizing and encoding are counted the same way on a short call and scaled (the
``factor`` of each in gpu_check.py). Making the mini datasets runs on the CPU: its measured CPU
seconds (results/mini_nsynth_make.json, results/mini_data_make.json) times ``COLAB_CPU_SLOWDOWN``.
Also written: the simpler whole-step bound ``max(FLOPs / (peak x efficiency), launches x launch)``.

Usage::

    python benchmarks/gpu_projection.py                  # writes results/gpu_projection.json
    python benchmarks/gpu_projection.py --chapters 05    # one chapter, printed only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_check  # noqa: E402  (the chapters' runs, shared with the measurement on a GPU)

REPO = gpu_check.REPO
OUT = REPO / "results" / "gpu_projection.json"

# The GPUs. Peaks are the vendors' dense tensor-core figures at the precision the profile's
# mixed precision uses there (the T4 has no bfloat16: float16 with a scaler).
GPUS = {
    "T4": {"peak_flops": 65e12, "precision": "float16", "bandwidth": 320e9,
           # Colab's two slow vCPUs drive the launches: eager PyTorch op + Python overhead
           "launch_s": 20e-6},
    "H100": {"peak_flops": 990e12, "precision": "bfloat16", "bandwidth": 3.35e12,   # SXM
             "launch_s": 10e-6},
}
# a recurrent layer (nn.GRU/LSTM) is one cuDNN call forward and one backward on a GPU, not the
# per-time-step ops the CPU runs; inside it each of those ops costs a GPU-side kernel step
RNN_INTERNAL_OP_S = 2e-6
EFFICIENCY = 0.30            # fraction of the peak FLOPs an eager PyTorch model reaches
BANDWIDTH_EFFICIENCY = 0.60  # fraction of the memory bandwidth an elementwise kernel reaches
AMP_BYTES = 0.5              # under mixed precision activations take half the bytes counted in float32
COLAB_CPU_SLOWDOWN = 2.0     # Colab's 2 vCPUs against the machine that measured the dataset making
BUDGET_MIN = 15.0            # what a chapter's full run may take on a T4

# which mini datasets (and at which size) a chapter makes at the full profile, when it is the first
DATASETS = {"02": [("nsynth", "ch02")], "03": [("nsynth", "ch03")], "04": [("nsynth", "codec"), ("gtzan", "codec"),
            ("maestro", "codec")], "05": [("nsynth", "ch05"), ("maestro", "ch05")],
            "06": [("nsynth", "ch06"), ("gtzan", "ch06")], "07": [("nsynth", None)]}


class OpCounter:
    """Counts aten ops, FLOPs and bytes, and sums the per-op roofline time on each GPU."""

    SKIP = {"empty.memory_format", "empty_strided.default", "empty_like.default", "detach.default",
            "lift_fresh.default", "set_.source_Storage", "resize_.default", "new_empty.default",
            "new_empty_strided.default"}

    def __init__(self, amp: bool):
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten
        from torch.utils.flop_counter import FlopCounterMode

        self.flop_mode = FlopCounterMode(display=False)
        self.totals = {"ops": 0, "flops": 0, "bytes": 0, **{f"{g}_s": 0.0 for g in GPUS}}
        self.in_rnn, self.rnn_nodes = 0, set()          # autograd nodes of recurrent layers' steps
        counter, byte_scale = self, AMP_BYTES if amp else 1.0

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                f0 = counter.flop_mode.get_total_flops()
                out = func(*args, **(kwargs or {}))
                name = f"{func._opname}.{func._overloadname}"
                if func.is_view or name in OpCounter.SKIP:
                    return out
                flops = counter.flop_mode.get_total_flops() - f0
                nbytes = byte_scale * sum(t.numel() * t.element_size() for t in tree_flatten((args, kwargs, out))[0]
                                          if isinstance(t, torch.Tensor))
                inside = counter.in_rnn > 0 or torch._C._current_autograd_node() in counter.rnn_nodes
                counter.add(0 if inside else 1, flops, nbytes, RNN_INTERNAL_OP_S if inside else None)
                return out

        self.mode = Mode()

    def add(self, ops: int, flops: float, nbytes: float, floor_s: float | None = None) -> None:
        tot = self.totals
        tot["ops"] += ops
        tot["flops"] += flops
        tot["bytes"] += nbytes
        for g, spec in GPUS.items():
            tot[f"{g}_s"] += max(spec["launch_s"] if floor_s is None else floor_s,
                                 flops / (spec["peak_flops"] * EFFICIENCY),
                                 nbytes / (spec["bandwidth"] * BANDWIDTH_EFFICIENCY))

    def _rnn_pre(self, module, args):
        import torch

        if isinstance(module, torch.nn.RNNBase):
            self.in_rnn += 1

    def _rnn_post(self, module, args, output):
        import torch

        if not isinstance(module, torch.nn.RNNBase):
            return
        self.in_rnn -= 1
        self.add(1, 0, 0)                                   # the forward call
        outs = [t for t in (output if isinstance(output, tuple) else (output,)) if torch.is_tensor(t)]
        if not any(t.grad_fn is not None for t in outs):
            return
        self.add(1, 0, 0)                                   # its backward call
        stop = {a.grad_fn for a in args if torch.is_tensor(a) and a.grad_fn is not None}
        todo = [t.grad_fn for t in outs]
        while todo:                                         # the nodes this call added to the graph
            node = todo.pop()
            if node is None or node in stop or node in self.rnn_nodes:
                continue
            self.rnn_nodes.add(node)
            todo.extend(n for n, _ in node.next_functions)

    def snapshot(self) -> dict:
        return dict(self.totals)

    @contextmanager
    def counting(self):
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

        hooks = [register_module_forward_pre_hook(self._rnn_pre), register_module_forward_hook(self._rnn_post)]
        try:
            with foreach_everywhere(), self.flop_mode, self.mode:
                yield self
        finally:
            for h in hooks:
                h.remove()
            self.rnn_nodes.clear()


@contextmanager
def foreach_everywhere():
    """Let optimizers and clip_grad_norm_ take their multi-tensor path on the CPU too (as on CUDA)."""
    import torch.optim.optimizer as optimizer
    import torch.utils._foreach_utils as foreach_utils

    devices = foreach_utils._get_foreach_kernels_supported_devices() + ["cpu"]
    with mock.patch.object(foreach_utils, "_get_foreach_kernels_supported_devices", lambda: devices), \
            mock.patch.object(optimizer, "_get_foreach_kernels_supported_devices", lambda: devices):
        yield


def _diff(a: dict, b: dict) -> dict:
    return {k: b[k] - a[k] for k in a}


def count_step(train: gpu_check.Train, amp: bool) -> dict:
    """Counts of the second of two training steps (between the ends of their optimizer steps)."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    counter = OpCounter(amp)
    marks = []
    handle = register_optimizer_step_post_hook(lambda *a: marks.append(counter.snapshot()))
    try:
        with counter.counting():
            train.run(2, torch.device("cpu"))
    finally:
        handle.remove()
    if len(marks) < 2 or len(marks) % 2:
        raise RuntimeError(f"{train.name}: expected an even number of optimizer steps in two training steps, "
                           f"got {len(marks)}")
    return _diff(marks[len(marks) // 2 - 1], marks[-1])


def count_call(sample: gpu_check.Sample, amp: bool) -> dict:
    import torch

    counter = OpCounter(amp)
    with counter.counting():
        sample.run(torch.device("cpu"))
    return counter.snapshot()


def simple_bound(c: dict, gpu: str) -> float:
    """The whole-step bound: max(FLOPs / (peak x efficiency), launches x launch cost), seconds."""
    spec = GPUS[gpu]
    return max(c["flops"] / (spec["peak_flops"] * EFFICIENCY), c["ops"] * spec["launch_s"])


def data_making_s(chapter: str, profile) -> tuple[float, str]:
    """CPU seconds (on Colab) to make the mini datasets the chapter reads, from measured CPU time."""
    made = {}
    f = REPO / "results" / "mini_nsynth_make.json"
    if f.exists():
        d = json.loads(f.read_text())
        made[("nsynth", d["dataset"]["size"])] = d["cpu_seconds_all_processes"]
    f = REPO / "results" / "mini_data_make.json"
    if f.exists():
        d = json.loads(f.read_text())
        for name, row in d["datasets"].items():
            made[(name.replace("mini-", ""), d["size"])] = row["make"]["cpu_seconds"]
    total, parts = 0.0, []
    for name, section in DATASETS[chapter]:
        sec = profile[section] if section else {}
        size = sec.get(f"{name}_size") or sec.get("data_size") or "default"
        if (name, size) not in made and name == "gtzan" and (name, "default") in made:
            from coursekit.data.mini_gtzan import SIZES          # CPU time scales with the audio made

            audio = {k: v["clips"] * v["seconds"] for k, v in SIZES.items()}
            cpu = made[(name, "default")] * audio[size] / audio["default"]
            total += cpu * COLAB_CPU_SLOWDOWN
            parts.append(f"{name} ({size}) {cpu:.1f} CPU s: the default size's, per second of audio made")
            continue
        if (name, size) not in made:
            parts.append(f"{name} ({size}): not measured")
            continue
        total += made[(name, size)] * COLAB_CPU_SLOWDOWN
        parts.append(f"{name} ({size}) {made[(name, size)]:.1f} CPU s measured")
    return total, "; ".join(parts)


def project(profile_name: str, chapters) -> dict:
    from coursekit.profiles import get_profile

    profile = get_profile(profile_name)
    amp = bool(profile.train.amp)
    plan = gpu_check.chapter_plan(profile_name)
    out = {}
    for ch in chapters:
        c = plan[ch]
        rows, total = [], {g: 0.0 for g in GPUS}
        for t in c.trains:
            step = count_step(t, amp)
            row = {"run": t.name, "parameters": gpu_check.count_params(t.models()), "steps": t.steps,
                   "flops_per_step": int(step["flops"]), "launches_per_step": step["ops"],
                   "bytes_per_step": int(step["bytes"])}
            for g in GPUS:
                row[f"{g}_ms_per_step"] = round(1000 * step[f"{g}_s"], 3)
                row[f"{g}_ms_per_step_simple_bound"] = round(1000 * simple_bound(step, g), 3)
                row[f"{g}_min"] = round(t.steps * step[f"{g}_s"] / 60, 2)
                if not t.outside_chapter:
                    total[g] += t.steps * step[f"{g}_s"]
            if t.outside_chapter:
                row["outside_chapter"] = True
            rows.append(row)
            print(f"{ch} {t.name:30s} {sum(row['parameters'].values()) / 1e6:7.2f} M  {t.steps:6d} steps  "
                  f"{step['flops'] / 1e9:8.1f} GFLOP  {step['ops']:6d} ops/step  "
                  + "  ".join(f"{g} {row[f'{g}_min']:6.2f} min" for g in GPUS), flush=True)
        calls = []
        for s in c.samples:
            k = count_call(s, amp)
            row = {"what": s.name, "scaled_as": s.what, "factor": round(s.factor, 2),
                   "flops": int(k["flops"] * s.factor), "launches": int(k["ops"] * s.factor)}
            for g in GPUS:
                row[f"{g}_min"] = round(s.factor * k[f"{g}_s"] / 60, 2)
                total[g] += s.factor * k[f"{g}_s"]
            calls.append(row)
            print(f"{ch} {s.name:30s} x{s.factor:8.1f}  {row['flops'] / 1e12:8.2f} TFLOP  {row['launches']:9d} ops   "
                  + "  ".join(f"{g} {row[f'{g}_min']:6.2f} min" for g in GPUS), flush=True)
        data_s, data_how = data_making_s(ch, profile)
        out[ch] = {"train": rows, "generation_and_encoding": calls,
                   "data_making_cpu_min": round(data_s / 60, 2), "data_making": data_how,
                   **{f"{g}_min": round((total[g] + data_s) / 60, 1) for g in GPUS}}
        print(f"{ch} chapter: " + ", ".join(f"{g} {out[ch][f'{g}_min']} min" for g in GPUS), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="full", help="profile projected (default: full)")
    ap.add_argument("--chapters", default=",".join(gpu_check.CHAPTERS), help="comma-separated (default: all)")
    ap.add_argument("--out", default=None, help=f"JSON written (default: {OUT.relative_to(REPO)} when every "
                    "chapter is projected; otherwise nothing is written)")
    args = ap.parse_args(argv)
    chapters = [c.strip().zfill(2) for c in args.chapters.split(",") if c.strip()]
    bad = [c for c in chapters if c not in gpu_check.CHAPTERS]
    if bad:
        print(f"gpu_projection: unknown chapter(s) {', '.join(bad)}", file=sys.stderr)
        return 2
    os.environ["COURSEKIT_PROFILE"] = args.profile
    import torch

    from coursekit.profiles import get_profile

    torch.manual_seed(0)
    try:
        result = project(args.profile, chapters)
    except ValueError as e:
        print(f"gpu_projection: {e}", file=sys.stderr)
        return 2
    over = [ch for ch, r in result.items() if r["T4_min"] > BUDGET_MIN]
    doc = {
        "what": "projected minutes of each chapter's full run (training + generation + tokenizing/encoding "
                "on the GPU, dataset making on the CPU) from FLOPs, aten ops and bytes counted on the CPU",
        "command": "python benchmarks/gpu_projection.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "profile": args.profile, "amp": bool(get_profile(args.profile).train.amp),
        "assumptions": {"gpus": GPUS, "efficiency": EFFICIENCY, "bandwidth_efficiency": BANDWIDTH_EFFICIENCY,
                        "amp_bytes": AMP_BYTES, "colab_cpu_slowdown": COLAB_CPU_SLOWDOWN,
                        "per_op_time": "max(launch_s, flops / (peak_flops x efficiency), "
                                       "bytes / (bandwidth x bandwidth_efficiency))",
                        "launch": "every aten op but views and bare allocations is one kernel launch "
                                  "(CPU-side data collation included); optimizers and clipping counted "
                                  "on their multi-tensor (foreach) path; a recurrent layer is one launch "
                                  "forward and one backward (cuDNN), its per-time-step ops cost "
                                  "max(rnn_internal_op_s, FLOPs, bytes) each",
                        "rnn_internal_op_s": RNN_INTERNAL_OP_S,
                        "not_counted": "loading and resampling notes into memory (CPU), the notebooks' "
                                       "CPU-side measures (CREPE drift, FAD bootstraps), mel embeddings"},
        "budget_min_T4": BUDGET_MIN, "chapters_over_budget_T4": over,
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "python": platform.python_version()},
        "chapters": result,
    }
    out = Path(args.out) if args.out else (OUT if set(chapters) == set(gpu_check.CHAPTERS) else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {out}")
    print("over the T4 budget: " + (", ".join(over) if over else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
