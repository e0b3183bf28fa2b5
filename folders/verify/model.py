"""Model checks: ``config.json`` names a ``model_type`` libtrad still loads; every safetensors file is whole."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from libtrad.core.errors import LibtradError, exception_reason
from libtrad.core.resolve import resolve

from .core import VerifyReport, is_hidden, read_json

# What model types libtrad has renamed is the models room's knowledge; this room imports only core,
# so it reaches that check by name (libtrad.core.resolve), when a model folder is verified.
REFUSE_RENAMED = "libtrad.models.model_types:refuse_renamed"


# ----------------------------------------------------------------------------- model checks
_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
}


def check_model(
    root: Path, listed: Mapping[str, str], good: set[str], entries: list[str], report: VerifyReport
) -> None:
    config = root / "config.json"
    try:
        data = read_json(config)
        if not isinstance(data, dict) or not isinstance(data.get("model_type"), str) or not data["model_type"]:
            raise LibtradError(f"{config}: has no model_type (not a transformers config)")
        resolve(REFUSE_RENAMED)(data, config)  # saved before libtrad renamed it: no Auto class loads it any more
        report.checked.append(f"config.json: model_type {data['model_type']}")
    except LibtradError as exc:
        report.problems.append(str(exc) if config.is_file() else f"{config}: missing (a model folder needs it)")
    weights = sorted(rel for rel in set(entries) | set(listed) if rel.endswith(".safetensors") and not is_hidden(rel))
    if not weights:
        report.problems.append(f"{root}: no *.safetensors weights")
    for rel in weights:
        if not (root / rel).is_file():
            continue  # missing: already reported by the checksum pass
        try:
            count = check_safetensors(root / rel)
            report.checked.append(f"{rel}: opens, header consistent ({count} tensors)")
        except LibtradError as exc:
            report.problems.append(str(exc))


def check_safetensors(path: Path) -> int:
    """Parse the header by hand (offsets, dtypes, shapes vs file size), then open it with safetensors."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise LibtradError(f"{path}: truncated safetensors file (no header)")
            length = int.from_bytes(head, "little")
            if length > size - 8 or length > 100 * 2**20:
                raise LibtradError(f"{path}: truncated or corrupted safetensors file (header of {length} bytes)")
            header = json.loads(f.read(length).decode("utf-8"))
    except OSError as exc:
        raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LibtradError(f"{path}: corrupted safetensors header ({exception_reason(exc)})") from None
    if not isinstance(header, dict):
        raise LibtradError(f"{path}: corrupted safetensors header (not a mapping)")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = (int(x) for x in info["data_offsets"])
            shape = [int(d) for d in info["shape"]]
            dtype = str(info["dtype"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise LibtradError(f"{path}: corrupted safetensors header (tensor {name})") from None
        width = _DTYPE_BYTES.get(dtype)
        count = 1
        for d in shape:
            count *= d
        if begin > end or (width is not None and end - begin != count * width):
            raise LibtradError(
                f"{path}: corrupted safetensors header (tensor {name}: offsets do not fit {dtype}{shape})"
            )
        spans.append((begin, end, name))
    spans.sort()
    position = 0
    for begin, end, name in spans:
        if begin != position:
            raise LibtradError(f"{path}: corrupted safetensors header (tensor {name} overlaps or leaves a gap)")
        position = end
    if 8 + length + position != size:
        state = "truncated" if 8 + length + position > size else "has trailing bytes"
        raise LibtradError(f"{path}: {state}: the header describes {8 + length + position} bytes, the file has {size}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own SafetensorError
        raise LibtradError(f"{path}: safetensors cannot open it ({exception_reason(exc)})") from None
    return len(keys)
