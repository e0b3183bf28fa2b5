"""Checking a model folder's weights: the files before transformers reads them, the load after.

Why this exists. transformers reports a bad folder in ways a user cannot act on: a truncated
``model.safetensors``, a text file or a git-LFS pointer in its place (a clone made without
``git lfs``) end in a ``SafetensorError`` about header lengths; weights of another model load
*anyway* — every missing tensor initialised at random, a multi-line LOAD REPORT logged — so an
encoder whose ``config.json`` and weights disagree embeds with random weights and passes every
contract check. Here every such folder is refused in one line naming the file and saying what is
wrong (:class:`~libtrad.core.errors.LibtradError`; the CLI prints it as ``error: ...`` and exits 2).

* :func:`check_weight_files` — the safetensors files ``from_pretrained`` would read
  (``model.safetensors``, or the shards a ``model.safetensors.index.json`` lists) are complete
  safetensors files: an LFS pointer, a text file or a cut file is named as such. Reads only the
  headers (no torch import), so a driver can run it before any worker starts.
* :func:`load_checked` — a ``from_pretrained`` call with the files checked first and
  transformers' own loading report (``output_loading_info``: missing, unexpected, mismatched
  keys, with its key renames and prefix handling applied) checked after: any missing,
  unexpected or mismatched tensor refuses the folder by name (counts, the first keys). The one
  exception is transformers' intended use of a head's folder as its base model (a
  ``Wav2Vec2ForCTC`` folder read by ``AutoModel``, a fitted attention AE read as the bare
  auto-encoder): tensors that belong to the head class the folder's ``config.json``
  ``architectures`` names, outside that head's base model, are the head's and are left out.
* :class:`CheckedWeights` — the mixin every libtrad ``PreTrainedModel`` puts first in its
  bases, so ``EchoModel.from_pretrained(dir)`` and ``AutoModel.from_pretrained(dir)`` on a
  libtrad folder get both checks, and refuse a ``config.json`` of another model type.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from libtrad.core.errors import LibtradError, exception_reason, first_line
from libtrad.models.model_types import model_type_of, read_json_object

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
LFS_POINTER = b"version https://git-lfs.github.com/spec/"
SHOWN_KEYS = 5  # keys named per problem in an error line (then the count of the rest)
_SNIFF_BYTES = 200


# ----------------------------------------------------------------------------- the files
def weight_files(folder: str | Path) -> list[Path]:
    """The safetensors files ``from_pretrained(folder)`` reads: the shards of
    ``model.safetensors.index.json`` when there is one, else ``model.safetensors`` (if present)."""
    folder = Path(folder)
    index = folder / WEIGHTS_INDEX_NAME
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
        except (OSError, ValueError, AttributeError) as exc:
            raise LibtradError(f"{index}: not a readable safetensors index ({exception_reason(exc)})") from None
        if not isinstance(weight_map, dict) or not weight_map:
            raise LibtradError(f"{index}: has no weight_map (tensor name -> shard file)")
        shards = sorted({str(v) for v in weight_map.values()})
        bad = [s for s in shards if Path(s).name != s]
        if bad:
            raise LibtradError(f"{index}: shard {bad[0]!r} is not a file name inside {folder}")
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise LibtradError(
                f"{folder / missing[0]}: missing ({len(missing)} of the {len(shards)} shards "
                f"{index.name} lists are absent)"
            )
        return [folder / s for s in shards]
    single = folder / WEIGHTS_NAME
    return [single] if single.exists() or single.is_symlink() else []


def check_weight_files(folder: str | Path) -> list[Path]:
    """Every file of :func:`weight_files` passes :func:`check_safetensors`; returns them."""
    files = weight_files(folder)
    for path in files:
        check_safetensors(path)
    return files


def check_safetensors(path: str | Path) -> None:
    """``path`` is a complete safetensors file, or one line says what it is instead.

    A git-LFS pointer (a small text file starting ``version https://git-lfs.github.com/spec/``)
    gets the fix (``git lfs pull``); any other text file is called one; a file whose header or
    tensor data is cut short is "not a complete safetensors file" with its size. safetensors'
    own parser has the last word (offsets covering the file exactly, known dtypes).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise LibtradError(f"{path}: {'missing' if not path.exists() else 'not a regular file'}")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError as exc:
        raise LibtradError(f"{path}: cannot be read ({exception_reason(exc)})") from None
    if head.startswith(LFS_POINTER):
        raise LibtradError(
            f"{path}: a git-LFS pointer file ({size} bytes), not the weights; the repository was "
            f"cloned without git-lfs: run `git lfs pull` in it (or download the file itself)"
        )
    if size < 8:
        raise LibtradError(f"{path}: not a complete safetensors file ({size} bytes)")
    header = int.from_bytes(head[:8], "little")
    if head[7] != 0 and _is_text(head):  # a header length >= 2**56 bytes: these are characters, not a length
        raise LibtradError(f"{path}: a text file (starts {_snippet(head)!r}), not safetensors weights")
    if 8 + header > size:
        raise LibtradError(
            f"{path}: not a complete safetensors file (its header claims {header} bytes, the "
            f"whole file holds {size}: cut short, or not safetensors)"
        )
    try:
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():
                f.get_slice(key).get_shape()
    except Exception as exc:  # noqa: BLE001 - SafetensorError for cut or foreign files
        raise LibtradError(f"{path}: not a complete safetensors file ({size} bytes; {first_line(exc)})") from None


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the sniffed bytes is still text
        if exc.start < len(data) - 3:
            return False
        text = data[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def _snippet(data: bytes) -> str:
    text = data.decode("utf-8", errors="ignore").splitlines()
    first = text[0] if text else ""
    return first[:40] + ("..." if len(first) > 40 else "")


# ----------------------------------------------------------------------------- the load
class _NoLoadReport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in str(record.msg)


@contextmanager
def _quiet_load_report():
    """transformers logs a multi-line LOAD REPORT for any key problem; it is reported in one line here.

    A filter, not a raised level: transformers 5 runs an extra tensor-parallel check (and logs its
    own warning) when this logger's level is WARNING or above.
    """
    logger = logging.getLogger("transformers.modeling_utils")
    only = _NoLoadReport()
    logger.addFilter(only)
    try:
        yield
    finally:
        logger.removeFilter(only)


def load_checked(load, source, *args, **kwargs):
    """``load(source, *args, **kwargs)`` — a ``from_pretrained`` — with a local folder's weight
    files checked first and the loading report checked after (see the module docstring).

    ``output_loading_info=True`` still returns ``(model, info)``; ``ignore_mismatched_sizes=True``
    from the caller accepts re-initialised mismatched tensors, as transformers documents.
    """
    folder = Path(str(source)).expanduser()
    local = folder.is_dir()
    if local:
        check_weight_files(folder)
    want_info = kwargs.pop("output_loading_info", False)
    accept_mismatched = bool(kwargs.get("ignore_mismatched_sizes", False))
    kwargs["ignore_mismatched_sizes"] = True  # mismatches are refused below in one line, not raised mid-report
    with _quiet_load_report():
        model, info = load(source, *args, output_loading_info=True, **kwargs)
    check_loading_info(
        model, info, _weights_name(folder) if local else str(source), accept_mismatched=accept_mismatched
    )
    return (model, info) if want_info else model


def _weights_name(folder: Path) -> Path:
    index = folder / WEIGHTS_INDEX_NAME
    return index if index.is_file() else folder / WEIGHTS_NAME


def check_loading_info(model, info: dict, where: str | Path, *, accept_mismatched: bool = False) -> None:
    """Refuse what transformers' ``output_loading_info`` reports: missing tensors (they would be
    random), unexpected ones (weights of something else), mismatched shapes, load errors."""
    missing = sorted(map(str, info.get("missing_keys") or ()))
    unexpected = set(map(str, info.get("unexpected_keys") or ()))
    if unexpected:
        unexpected -= head_tensors(model)
    mismatched = [] if accept_mismatched else [_mismatch(m) for m in sorted(info.get("mismatched_keys") or (), key=str)]
    errors = [(str(e).strip().splitlines() or ["?"])[0] for e in info.get("error_msgs") or ()]
    problems = [
        listed_names(one, many, items)
        for one, many, items in (
            ("missing tensor", "missing tensors", missing),
            ("unexpected tensor", "unexpected tensors", sorted(unexpected)),
            ("tensor of another shape", "tensors of another shape", mismatched),
            ("load error", "load errors", errors),
        )
        if items
    ]
    if problems:
        raise LibtradError(
            f"{where}: does not match config.json ({'; '.join(problems)}): these weights are not "
            f"the model config.json describes"
        )


def _mismatch(entry) -> str:
    if isinstance(entry, (tuple, list)) and len(entry) == 3:
        key, stored, expected = entry
        return f"{key} {tuple(stored)} in the file, {tuple(expected)} in the model"
    return str(entry[0] if isinstance(entry, (tuple, list)) else entry)


def listed_names(one: str, many: str, items: list[str]) -> str:
    """``"18 missing tensors: a, b, c, d, e, ... 13 more"``."""
    shown = ", ".join(items[:SHOWN_KEYS])
    more = f", ... {len(items) - SHOWN_KEYS} more" if len(items) > SHOWN_KEYS else ""
    return f"{len(items)} {one if len(items) == 1 else many}: {shown}{more}"


def head_tensors(model) -> set[str]:
    """Tensor names of the head class ``model.config.architectures`` names that lie outside the
    head's base model, when ``model`` is that base (a ``Wav2Vec2ForCTC`` folder read by
    ``AutoModel``: ``lm_head.*``). Empty otherwise. Built on the meta device: nothing allocated."""
    import torch
    from transformers import PreTrainedModel

    found: set[str] = set()
    own = type(model)
    for name in getattr(model.config, "architectures", None) or ():
        if not isinstance(name, str) or name == own.__name__:
            continue
        head_class = getattr(sys.modules.get(own.__module__), name, None) or _transformers_class(name)
        if not (isinstance(head_class, type) and issubclass(head_class, PreTrainedModel)):
            continue
        prefix = head_class.base_model_prefix
        try:
            with torch.device("meta"):
                head = head_class(model.config)
        except Exception:  # noqa: BLE001 - a class this config cannot build is not this folder's head
            continue
        if not prefix or not isinstance(getattr(head, prefix, None), own):
            continue
        found |= {k for k in head.state_dict() if not k.startswith(prefix + ".")}
    return found


def _transformers_class(name: str):
    import transformers

    try:
        return getattr(transformers, name)
    except (AttributeError, ImportError, RuntimeError):  # not a transformers class (or not importable here)
        return None


# ----------------------------------------------------------------------------- libtrad's models
class CheckedWeights:
    """First base of every libtrad ``PreTrainedModel``: ``from_pretrained`` through :func:`load_checked`,
    and a local folder whose ``config.json`` names another model type refused by name (transformers
    only warns and then loads the weights it can into a model of the wrong family)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        folder = Path(str(pretrained_model_name_or_path)).expanduser()
        if kwargs.get("config") is None and (folder / "config.json").is_file():
            _check_model_type(cls, folder / "config.json")
        return load_checked(super().from_pretrained, pretrained_model_name_or_path, *args, **kwargs)


def _check_model_type(cls, config_file: Path) -> None:
    stored = read_json_object(config_file)
    model_type_of(
        stored.get("model_type"), config_file, (cls.config_class.model_type,), what=f"what {cls.__name__} loads"
    )


__all__ = [
    "CheckedWeights",
    "LFS_POINTER",
    "WEIGHTS_INDEX_NAME",
    "WEIGHTS_NAME",
    "check_loading_info",
    "check_safetensors",
    "check_weight_files",
    "head_tensors",
    "load_checked",
    "weight_files",
]
