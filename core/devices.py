"""The one device policy of libtrad: which torch device a heavy step runs on, and at what precision.

Every command that runs a model or a large matrix product (``embed``, ``check-encoder``,
``train``, the trained probes, the KNN/Mahalanobis scorers, ``demo``) takes ``--device`` and the
same ``device=`` keyword in Python:

* ``auto`` (default) — CUDA (``cuda:0`` of what the process sees) when ``torch.cuda.is_available()``,
  else the CPU;
* ``cpu``; ``cuda`` (= ``cuda:0``); ``cuda:N``.

Asking for CUDA where there is none (or for ``cuda:7`` on a one-GPU node) is one
:class:`~libtrad.core.errors.ParameterError` naming the node (its host name) and what it found — never a
silent fallback to the CPU. Resolution happens where the work runs (a Ray actor or task resolves
on its own node, with the GPUs Ray assigned it: ``CUDA_VISIBLE_DEVICES`` makes them ``cuda:0…``).

Precision: ``fp32`` everywhere; ``bf16`` (autocast) on CPU and CUDA; ``fp16`` (autocast) on CUDA
only — on a CPU it is refused (CPU half-precision matmuls are slower than fp32 and lose accuracy).

:func:`device_record` is the provenance every output stores (device, its name, torch and CUDA
versions, precision). Heavy imports (torch) happen inside the functions.
"""

from __future__ import annotations

import re
import socket
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from libtrad.core.errors import ParameterError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
PRECISIONS = ("fp32", "bf16", "fp16")
_PATTERN = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


@dataclass(frozen=True)
class DeviceSpec:
    """What the user asked for: ``kind`` auto|cpu|cuda and, for cuda, an index (None: the first)."""

    kind: str
    index: int | None = None

    @property
    def text(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"

    @property
    def wants_gpu(self) -> bool:
        """Whether this spec may use a GPU (``auto`` and ``cuda``): GPU actors/tasks are requested for it."""
        return self.kind != "cpu"


def parse_device(text, *, param: str = "device") -> DeviceSpec:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> :class:`DeviceSpec` (syntax only; availability is
    :func:`resolve_device`'s, on the node where the work runs)."""
    if isinstance(text, DeviceSpec):
        return text
    match = _PATTERN.match(str(text).strip().lower()) if text is not None else None
    if not match or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ParameterError(param, text, f"expected one of {', '.join(DEVICE_CHOICES)}")
    return DeviceSpec(match.group(1), None if match.group(2) is None else int(match.group(2)))


def node_name() -> str:
    """How an error names the machine: its host name."""
    try:
        return socket.gethostname() or "this machine"
    except OSError:
        return "this machine"


def resolve_device(spec="auto", *, param: str = "device"):
    """The ``torch.device`` to run on here; CUDA asked for but missing is one error naming the node."""
    import torch

    spec = parse_device(spec, param=param)
    if spec.kind == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if spec.kind == "auto":
        return torch.device("cuda", 0) if available else torch.device("cpu")
    count = torch.cuda.device_count() if available else 0
    if not count:
        why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        raise ParameterError(
            param,
            spec.text,
            f"node {node_name()} has no CUDA GPU ({why}; torch {torch.__version__}); use --device cpu or auto",
        )
    index = spec.index or 0
    if index >= count:
        raise ParameterError(
            param,
            spec.text,
            f"node {node_name()} has {count} CUDA GPU(s) visible (cuda:0{f'..cuda:{count - 1}' if count > 1 else ''})",
        )
    return torch.device("cuda", index)


def check_precision(precision: str, device=None, *, param: str = "precision") -> str:
    """``precision`` is one of :data:`PRECISIONS` and runs on ``device`` (fp16 needs CUDA)."""
    if precision not in PRECISIONS:
        raise ParameterError(param, precision, f"expected one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device is not None and getattr(device, "type", str(device)) != "cuda":
        raise ParameterError(
            param,
            precision,
            "fp16 runs on CUDA only (CPU half-precision matrix products are "
            "slower than fp32); use bf16 or fp32 on the CPU",
        )
    return precision


def autocast(device, precision: str):
    """The autocast context of ``precision`` on ``device`` (fp32: none)."""
    import torch

    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def default_batch_size(device, cpu: int = 8, gpu: int = 64) -> int:
    """Clips per encoder call when the user gives none: more on a GPU, whose cost per call is launches."""
    return gpu if getattr(device, "type", str(device)) == "cuda" else cpu


def to_device(tensor, device):
    """``tensor`` on ``device``; a host-to-GPU copy goes through pinned memory (asynchronous, no extra
    staging copy by the driver). Pinning needs CUDA, so a CPU target is a plain ``.to``."""
    if getattr(device, "type", str(device)) == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def device_record(device, precision: str = "fp32") -> dict:
    """Provenance of a run: device, its name, torch and CUDA versions, precision (JSON-ready)."""
    import torch

    record = {"device": str(device), "precision": precision, "torch": torch.__version__, "cuda": torch.version.cuda}
    if getattr(device, "type", None) == "cuda":
        record["device_name"] = torch.cuda.get_device_name(device)
    else:
        import platform

        record["device_name"] = platform.processor() or platform.machine() or "cpu"
    return record


@contextmanager
def deterministic(device, *, warn_only: bool = True):
    """Run-to-run identical CUDA kernels on ``device`` (a CUDA one; on the CPU nothing changes, so CPU
    results stay what they were): cuDNN's deterministic kernels without autotuning, PyTorch's
    deterministic algorithms (``warn_only``: an op without one warns instead of failing) and cuBLAS's
    fixed workspace ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (unless the user set one; cuBLAS reads it when
    the process's first CUDA matrix product creates its handle, so set it before any). Same GPU
    model, driver, torch and seed → same numbers; CPU and GPU, or two GPU models, are not
    bit-identical (other kernels, other summation orders). The caller's settings are restored."""
    import os

    import torch

    if getattr(device, "type", str(device)) != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[0], saved[1]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])


def cluster_gpus(ray) -> float:
    """GPUs in the running Ray cluster (0 when there are none)."""
    return float(ray.cluster_resources().get("GPU", 0))


__all__ = [
    "DEVICE_CHOICES",
    "PRECISIONS",
    "DeviceSpec",
    "autocast",
    "check_precision",
    "cluster_gpus",
    "default_batch_size",
    "deterministic",
    "device_record",
    "node_name",
    "parse_device",
    "resolve_device",
    "to_device",
]
