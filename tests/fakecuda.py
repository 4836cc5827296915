"""A CUDA GPU simulated on the CPU, strict enough to catch what breaks on a real one.

``with fake_cuda():`` makes ``torch.cuda.is_available()`` true. Tensors put on ``'cuda'`` (by
``.to``, ``.cuda()``, ``device=`` of a factory function, ``module.to``) report ``device='cuda:0'``
and compute on the CPU, and the mistakes a real GPU punishes raise the error CUDA raises:

- an op mixing a CUDA tensor with a CPU tensor (a 0-d CPU tensor is allowed, as on CUDA):
  ``RuntimeError: Expected all tensors to be on the same device ...``;
- ``.numpy()`` (or ``np.asarray``) of a CUDA tensor: ``TypeError: can't convert cuda:0 ...``;
- a checkpoint written from CUDA tensors and read back on a CPU-only machine without
  ``map_location`` (:func:`cpu_only_machine`): ``RuntimeError: Attempting to deserialize object
  on a CUDA device ...``. ``torch.save`` of a CUDA tensor records the storage's location as
  ``cuda:0``, exactly as on a GPU, so the real loader raises the real error.

The mechanism: a ``TorchDispatchMode`` sees every aten op. CUDA tensors are wrapper tensors
(``_make_wrapper_subclass`` with ``device='cuda'``) around a CPU tensor; the mode unwraps the
arguments, checks their devices, runs the op on the CPU and wraps what comes back.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import torch
import torch.serialization
from torch.utils._pytree import tree_flatten, tree_map
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, return_and_correct_aliasing

CUDA = torch.device("cuda", 0)
aten = torch.ops.aten
_ACTIVE = []          # the running FakeCudaMode, if any
_IN_CUDA_CALL = []   # torch functions running with a GPU tensor among their arguments
_TO_CPU = []         # set while a tensor is explicitly copied to the CPU
_SAVING = set()       # data pointers of CPU storages that stand for CUDA storages in a torch.save
# ops CUDA accepts with CPU tensors beside CUDA ones (a copy between devices; CPU indices)
_CROSS_DEVICE_OK = {aten.copy_.default, aten._to_copy.default, aten.index.Tensor,
                    aten.index_put_.default, aten.index_put.default, aten._index_put_impl_.default,
                    aten.set_.source_Tensor, aten.lift_fresh.default}


class FakeCudaTensor(torch.Tensor):
    """A tensor that says it is on ``cuda:0`` and keeps its values in a CPU tensor ``inner``."""

    @staticmethod
    def __new__(cls, inner: torch.Tensor):
        assert type(inner) is torch.Tensor and inner.device.type == "cpu", type(inner)
        out = torch.Tensor._make_wrapper_subclass(
            cls, inner.size(), strides=inner.stride(), storage_offset=inner.storage_offset(),
            dtype=inner.dtype, layout=inner.layout, device="cpu", requires_grad=inner.requires_grad)
        out.inner = inner
        return out

    # To torch's C++ side the wrapper is a CPU tensor (a real CUDA device would need a driver for
    # autograd's streams); to Python code it is on cuda:0, as FakeTensor does it.
    device = property(lambda self: CUDA)
    is_cuda = property(lambda self: True)
    is_cpu = property(lambda self: False)

    def get_device(self):
        return 0

    def __init__(self, inner):
        pass

    def __tensor_flatten__(self):
        return ["inner"], None

    @staticmethod
    def __tensor_unflatten__(inner_tensors, meta, outer_size, outer_stride):
        return FakeCudaTensor(inner_tensors["inner"])

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        if not _ACTIVE:
            raise RuntimeError("a simulated CUDA tensor was used after the fake_cuda() block ended")
        return _ACTIVE[-1].__torch_dispatch__(func, types, args, kwargs)

    def numpy(self, *a, **k):
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to "
                        "copy the tensor to host memory first.")

    def __array__(self, *a, **k):
        return self.numpy()

    def tolist(self):
        return self.cpu().tolist()

    def __repr__(self, *, tensor_contents=None):
        return f"{self.inner!r} (simulated on cuda:0)"

    def __reduce_ex__(self, proto):  # pickling / torch.save: see FakeCudaMode's torch.save
        return torch.Tensor.__reduce_ex__(self.inner, proto)


def _is_cuda(device) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def _unwrap(x):
    return x.inner if isinstance(x, FakeCudaTensor) else x


def _wrap(x):
    if isinstance(x, torch.Tensor) and not isinstance(x, FakeCudaTensor) and x.device.type == "cpu":
        return FakeCudaTensor(x)
    return x


class FakeCudaMode(TorchDispatchMode):
    """Counts in ``cuda_ops`` the aten ops that ran on the simulated GPU."""

    cuda_ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        flat, _ = tree_flatten((args, kwargs))
        tensors = [t for t in flat if isinstance(t, torch.Tensor)]
        on_cuda = [t for t in tensors if isinstance(t, FakeCudaTensor)]
        on_cpu = [t for t in tensors if not isinstance(t, FakeCudaTensor) and t.device.type == "cpu"]
        want_cuda = _is_cuda(kwargs.get("device")) or (
            not tensors and _IN_CUDA_CALL and torch.device(kwargs.get("device") or "cpu").type == "cpu")
        if want_cuda:
            kwargs["device"] = torch.device("cpu")
        if func in (aten._pin_memory.default,):
            return args[0].clone()
        if func in (aten.is_pinned.default,):
            return False

        if func is aten._to_copy.default:  # .to(device / dtype), .cpu(), .cuda(), .float()
            src = args[0]
            to_cuda = want_cuda or (isinstance(src, FakeCudaTensor) and not _TO_CPU)
            out = func(_unwrap(src), **kwargs)
            return FakeCudaTensor(out) if to_cuda else out

        if on_cuda and func not in _CROSS_DEVICE_OK:
            big_cpu = [t for t in on_cpu if t.dim() > 0]
            if big_cpu:
                raise RuntimeError(
                    "Expected all tensors to be on the same device, but found at least two "
                    f"devices, cuda:0 and cpu! (in {func}, simulated CUDA)")
        out = func(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs))
        if on_cuda or want_cuda:
            self.cuda_ops += 1
            if func is aten.copy_.default or func is aten.set_.source_Tensor:
                return args[0] if isinstance(args[0], FakeCudaTensor) else out
            return return_and_correct_aliasing(func, args, kwargs, tree_map(_wrap, out))
        return out


class _MoveToFakeCuda(TorchFunctionMode):
    """``Tensor.to('cuda')``, ``.cuda()`` and ``torch.tensor(..., device='cuda')`` reach CUDA's
    runtime before any aten op runs; this rewrites them as the aten op ``_to_copy``."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if any(isinstance(t, FakeCudaTensor) for t in tree_flatten((args, kwargs))[0]):
            # torch's own C++ code for this call (a composite op, a backward formula) makes its
            # helper tensors with the input's options, i.e. on the GPU: factories inside it do too
            _IN_CUDA_CALL.append(func)
            try:
                return self._call(func, args, kwargs)
            finally:
                _IN_CUDA_CALL.pop()
        return self._call(func, args, kwargs)

    def _call(self, func, args, kwargs):
        if func is torch.Tensor.to:
            copy = kwargs.pop("copy", False)
            device, dtype, _, _ = torch._C._nn._parse_to(*args[1:], **kwargs)
            t = args[0]
            if _is_cuda(device) or (device is None and isinstance(t, FakeCudaTensor)):
                out = _to_cuda(t, dtype)
                return out.clone() if copy and out is t else out
            if isinstance(t, FakeCudaTensor):  # to the CPU
                return _to_cpu(t, dtype)
        elif func is torch.Tensor.cuda:
            return _to_cuda(args[0], None)
        elif func is torch.Tensor.cpu and isinstance(args[0], FakeCudaTensor):
            return _to_cpu(args[0], None)
        elif func in (torch.tensor, torch.as_tensor) and _is_cuda(kwargs.get("device")):
            kwargs.pop("device")
            return _to_cuda(func(*args, **kwargs), None)
        return func(*args, **kwargs)


def _to_cpu(t, dtype):
    _TO_CPU.append(True)
    try:
        return aten._to_copy.default(t, dtype=dtype or t.dtype, device=torch.device("cpu"))
    finally:
        _TO_CPU.pop()


def _to_cuda(t, dtype):
    if isinstance(t, FakeCudaTensor) and dtype in (None, t.dtype):
        return t
    return aten._to_copy.default(t, dtype=dtype or t.dtype, device=CUDA)


# torch.save of a simulated CUDA tensor: its CPU storage is tagged 'cuda:0', as a GPU's would be.
def _tag(storage):
    try:
        return "cuda:0" if storage.data_ptr() in _SAVING else None
    except Exception:
        return None


def _restore(storage, location):
    # inside fake_cuda() a 'cuda' storage loads (as the CPU storage it is); outside, the real
    # CUDA deserializer runs and raises what it raises on a CPU-only machine
    if _ACTIVE and location.startswith("cuda"):
        return storage
    return None


torch.serialization.register_package(1, _tag, _restore)


def _collect(obj, found):
    if isinstance(obj, FakeCudaTensor):
        found.append(obj.inner.untyped_storage().data_ptr())
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect(v, found)
    elif hasattr(obj, "__dict__") and not isinstance(obj, (type, torch.nn.Module)):
        for v in vars(obj).values():
            _collect(v, found)
    return found


@contextlib.contextmanager
def fake_cuda():
    """Simulate one CUDA GPU for the duration of the block (see the module's docstring); yields
    the dispatch mode, whose ``cuda_ops`` counts the ops that ran on the GPU."""
    real_save = torch.save
    props = SimpleNamespace(name="Simulated CUDA (CPU)", total_memory=16 * 2**30, major=8,
                            minor=0, multi_processor_count=40)
    patches = {
        "is_available": lambda: True,
        "device_count": lambda: 1,
        "current_device": lambda: 0,
        "get_device_name": lambda *a: props.name,
        "get_device_capability": lambda *a: (8, 0),
        "get_device_properties": lambda *a: props,
        "is_bf16_supported": lambda *a, **k: True,
        "synchronize": lambda *a: None,
        "empty_cache": lambda: None,
        "max_memory_allocated": lambda *a: 0,
        "memory_allocated": lambda *a: 0,
        "reset_peak_memory_stats": lambda *a: None,
        "manual_seed": lambda *a: None,
        "manual_seed_all": lambda *a: None,
        "get_rng_state": lambda *a: torch.zeros(16, dtype=torch.uint8),
        "get_rng_state_all": lambda: [torch.zeros(16, dtype=torch.uint8)],
        "set_rng_state": lambda *a: None,
        "set_rng_state_all": lambda *a: None,
        "_lazy_init": lambda: None,  # torch.randn(device='cuda') starts CUDA before dispatching
        "is_initialized": lambda: True,
    }
    saved = {k: getattr(torch.cuda, k) for k in patches}

    def save(obj, f, *args, **kwargs):
        ptrs = _collect(obj, [])
        _SAVING.update(ptrs)
        try:
            return real_save(obj, f, *args, **kwargs)
        finally:
            _SAVING.difference_update(ptrs)

    mode = FakeCudaMode()
    opt = torch.optim.Optimizer
    real_check = opt._accelerator_graph_capture_health_check  # asks the driver about graphs
    opt._accelerator_graph_capture_health_check = lambda self: None
    rnn = torch.nn.RNNBase
    real_flatten = rnn.flatten_parameters  # cuDNN's weight layout: a GPU-only speed-up
    rnn.flatten_parameters = lambda self: None
    for k, v in patches.items():
        setattr(torch.cuda, k, v)
    torch.save = save
    _ACTIVE.append(mode)
    try:
        with mode, _MoveToFakeCuda():
            yield mode
    finally:
        _ACTIVE.pop()
        torch.save = real_save
        opt._accelerator_graph_capture_health_check = real_check
        rnn.flatten_parameters = real_flatten
        for k, v in saved.items():
            setattr(torch.cuda, k, v)


@contextlib.contextmanager
def cpu_only_machine():
    """A machine without CUDA (``torch.cuda.is_available()`` is false), for loading checkpoints."""
    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: False
    try:
        yield
    finally:
        torch.cuda.is_available = real


