"""X-ARES interop: the zero-argument ``*Encoder`` class X-ARES's runner imports from a file.

What X-ARES (xares 0.1.3, ``python -m xares.run ENCODER.py TASK.py ...``) does with an encoder: it
imports ENCODER.py as the module its path names (``a/b.py`` -> ``a.b``, relative to where it runs),
takes the one attribute whose name ends with ``Encoder``, calls it with no arguments, moves the
object with ``.to(device)`` (CUDA when there is one) and calls it on (B, samples) float32 audio at
its ``sampling_rate``. Its checker (``xares.audio_encoder_checker.check_audio_encoder``) wants an
``nn.Module`` whose class name ends with ``Encoder``, with ``output_dim``, ``sampling_rate``,
``hop_size_in_ms`` and (B, T, D) outputs. It keys its caches (encoded shards, MLP checkpoints,
``env/<task>/.../<class name>``) by the class name alone.

So the class has to carry its model, explicitly: ``libtrad export-xares --encoder SPEC --output
FILE.py [--class-name NAME]`` (:func:`write_xares_file`) writes a small file holding one
:class:`XaresEncoder` subclass bound to one spec:

* the spec as it resolves from anywhere: a local folder made absolute, a Hub id pinned to the
  commit it resolved to (``echo:ORG/NAME@<commit>``), ``logmel-stats`` or a ``py:``/``hear:``
  target as given (with ``--encoder-weights`` made absolute);
* the spec's fingerprint at export (the SHA-256 of the model's files, what ``embed``'s cache key
  holds): building the class refuses a model whose files have changed since, naming them — under
  the same class name X-ARES would otherwise reuse the old model's cached embeddings;
* the class name, by default from the model's name (``echo:/models/echo-small`` ->
  ``EchoSmallEncoder``): one name per model, as X-ARES's caches need.

No environment variable is read: the file is the whole binding, readable and committable beside a
list of X-ARES tasks. Building the class loads the model on the CPU (X-ARES then moves it).
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.folders.file_outputs import check_file_output, write_file_output
from libtrad.ray_jobs.embedding.encoders import (
    check_encoder_folder,
    load_encoder,
    parse_encoder_spec,
    preflight,
    with_timeout,
)

# The first line of every file export-xares writes: what it is, for a reader. Whether a file is
# export-xares's own to replace is its record's to say (libtrad.folders.file_outputs), never this line.
FILE_KIND = "xares-encoder"
HEADER = "# Written by `libtrad export-xares`: an X-ARES encoder bound to one libtrad encoder spec."
PRECISIONS = ("fp32", "bf16")  # the class loads on the CPU, where fp16 does not run
_MODULE_ALIAS = "_libtrad_xares"  # the generated file's only other name: X-ARES takes the one *Encoder


class XaresEncoder(nn.Module):
    """A libtrad encoder bound to one spec, built with no arguments (what X-ARES's runner calls).

    A subclass sets ``spec`` (and ``fingerprint``, ``precision``, ``weights``). An instance holds the
    built encoder (:attr:`encoder`, the kind's :class:`~.base.ClipEncoder`) as its one submodule, so
    ``.to(device)`` moves it and :attr:`device` reports where it is, and it keeps both contracts:
    libtrad's ``embed`` (so ``check_encoder`` runs on it) and X-ARES's ``forward``."""

    spec: str = ""
    fingerprint: dict | None = None  # spec.fingerprint() when the file was written; None: not checked
    precision: str = "fp32"
    weights: str | None = None  # a py: class's --encoder-weights file

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        where = _where(cls)
        if not cls.spec:
            raise LibtradError(
                f"{where}: {cls.__name__} names no encoder spec (set spec = 'echo:DIR' ..., or "
                "write the file with libtrad export-xares)"
            )
        parsed = parse_encoder_spec(cls.spec, weights=cls.weights)
        check_encoder_folder(parsed)
        if cls.fingerprint is not None:
            changed = _changes(cls.fingerprint, parsed.fingerprint())
            if changed:
                raise LibtradError(
                    f"{where}: {cls.__name__} was written for {cls.spec}, whose {', '.join(changed)} "
                    "changed since; X-ARES keys its caches by the class name, so write a new file "
                    "with libtrad export-xares and a new --class-name"
                )
        self.encoder = load_encoder(parsed, precision=cls.precision, device="cpu")

    @property
    def sampling_rate(self) -> int:
        return self.encoder.sampling_rate

    @property
    def output_dim(self) -> int:
        return self.encoder.output_dim

    @property
    def hop_size_in_ms(self) -> float:
        return self.encoder.hop_size_in_ms

    @property
    def device(self) -> torch.device:
        """Where the encoder runs: moved by this module's ``.to(device)``."""
        return self.encoder.device

    def train(self, mode: bool = True) -> XaresEncoder:
        """Stay in eval mode: the encoder is frozen (X-ARES trains its probes, never the encoder)."""
        return super().train(False)

    def embed(self, clips, **long_clips):
        """libtrad's contract: ``(clip embeddings (B, D), [frames (T_i, D)])`` for NumPy clips
        (``long_clips``: ``chunk_samples`` / ``batch_samples``, as :meth:`ClipEncoder.embed` takes them)."""
        return self.encoder.embed(clips, **long_clips)

    def forward(self, audio: torch.Tensor, audio_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """X-ARES's contract: (B, samples) -> (B, T, D) float32 on ``audio``'s device."""
        return self.encoder(audio, audio_attention_mask=audio_attention_mask)

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}"


# ----------------------------------------------------------------------------- writing the file
@dataclass(frozen=True)
class WrittenFile:
    """What :func:`write_xares_file` wrote: the file, its class, the pinned spec and the numbers."""

    path: Path
    class_name: str
    spec: str
    numbers: dict


def write_xares_file(
    encoder: str,
    output: str | Path,
    *,
    class_name: str | None = None,
    precision: str = "fp32",
    weights: str | Path | None = None,
    timeout: float | None = None,
) -> WrittenFile:
    """Write ``output`` (a ``.py`` file) holding one zero-argument :class:`XaresEncoder` subclass bound
    to the spec ``encoder``; the model is loaded once first, so a folder that cannot load fails here,
    in one line, not inside X-ARES (a ``py:``/``hear:`` encoder in a process of its own, each call into
    its code bounded by ``timeout`` seconds: :func:`~libtrad.ray_jobs.embedding.encoders.preflight`).
    Replaces only a file it wrote itself, unchanged since: its record beside it
    (:mod:`libtrad.folders.file_outputs`) says so, not its first line."""
    output = Path(output).expanduser()
    if precision not in PRECISIONS:
        raise ParameterError(
            "precision",
            precision,
            f"expected one of {', '.join(PRECISIONS)} (the class loads on the CPU, where fp16 does not run)",
        )
    check_file_output(output, FILE_KIND)  # a URL, a foreign or edited file, no folder: refused before any work
    if output.suffix != ".py":
        raise ParameterError("output", str(output), "must be a .py file (X-ARES imports the encoder from one)")
    first = parse_encoder_spec(encoder, weights=weights)
    pinned = _portable_spec(first)
    weights_text = str(first.weights.resolve()) if first.weights is not None else None
    parsed = parse_encoder_spec(pinned, weights=weights_text) if pinned != first.text else first
    name = class_name if class_name is not None else default_class_name(parsed)
    _check_class_name(name, given=class_name is not None)
    check_encoder_folder(parsed)
    numbers = preflight(with_timeout(parsed, timeout), precision=precision)
    text = _render(name, pinned, parsed.fingerprint(), precision, weights_text, numbers, output.name)
    check_file_output(output, FILE_KIND)  # the file may have changed while the model loaded
    write_file_output(output, FILE_KIND, text.encode("utf-8"))
    return WrittenFile(output, name, pinned, numbers)


def default_class_name(spec) -> str:
    """``EchoSmallEncoder`` from ``echo:/models/echo-small`` (the folder's or Hub repository's name, a
    target's class or module, else the kind), CamelCased and ending in ``Encoder``."""
    if spec.source.get("repo_id"):
        base = spec.source["repo_id"].rpartition("/")[2]
    elif spec.path is not None:
        base = spec.path.name
    elif spec.target:
        base = re.split(r"[:.]", spec.target)[-1]
    else:
        base = spec.kind
    name = "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", base)) or "Libtrad"
    name = name if name[0].isalpha() else "X" + name
    return name if name.endswith("Encoder") else name + "Encoder"


def _portable_spec(spec) -> str:
    """The spec as it resolves from any working directory, and to the same model."""
    if spec.source.get("repo_id") and spec.source.get("commit"):
        return f"{spec.kind}:{spec.source['repo_id']}@{spec.source['commit']}"
    if spec.path is not None and spec.target is None:
        return f"{spec.kind}:{spec.path}"
    return spec.text


def _check_class_name(name: str, *, given: bool) -> None:
    problem = None
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        problem = "is not a public Python class name"
    elif not name.endswith("Encoder"):
        problem = "must end with Encoder (X-ARES takes the one attribute of the file whose name ends so)"
    elif name == XaresEncoder.__name__:
        problem = "is the base class's own name; name the model (X-ARES keys its caches by the class name)"
    if problem:
        raise ParameterError("class_name" if given else "encoder", name, problem)


def _render(
    name: str, spec: str, fingerprint: dict, precision: str, weights: str | None, numbers: dict, file_name: str
) -> str:
    hop = f"{numbers['hop_size_in_ms']:g}"
    return f'''{HEADER}
"""X-ARES encoder ``{name}``: libtrad's ``{spec}``.

Run X-ARES where this file is (it imports the file by the relative path it is given)::

    python -m xares.run {file_name} TASK.py ...

sampling_rate {numbers["sampling_rate"]} Hz, output_dim {numbers["output_dim"]}, hop_size_in_ms {hop} (when written).
Building the class loads the model on the CPU at {precision}; X-ARES moves it with .to(device).
It refuses a model whose files changed since (``fingerprint``): X-ARES keys its caches by the
class name, so another model needs another file and class name (libtrad export-xares --class-name).
"""

from libtrad.ray_jobs.embedding.encoders import xares as {_MODULE_ALIAS}


class {name}({_MODULE_ALIAS}.XaresEncoder):
    spec = {spec!r}
    precision = {precision!r}
    weights = {weights!r}
    fingerprint = {_literal(fingerprint, 1)}
'''


# ----------------------------------------------------------------------------- helpers
def _where(cls) -> str:
    """The file a class was defined in (an X-ARES encoder file), for its one-line errors."""
    module = sys.modules.get(cls.__module__)
    return str(getattr(module, "__file__", None) or cls.__module__)


def _literal(value, depth: int) -> str:
    """A Python literal of a fingerprint (dicts, lists, scalars), one entry a line, keys sorted."""
    pad, inner = "    " * depth, "    " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{k!r}: {_literal(value[k], depth + 1)}," for k in sorted(value)]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)) and value:
        return "[\n" + "\n".join(f"{inner}{_literal(v, depth + 1)}," for v in value) + f"\n{pad}]"
    return repr(list(value) if isinstance(value, tuple) else value)


def _changes(expected: dict, found: dict) -> list[str]:
    """What differs between two fingerprints: the files by name, then any other entry by key."""
    old, new = expected.get("files", {}), found.get("files", {})
    files = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
    others = sorted(k for k in set(expected) | set(found) if k != "files" and expected.get(k) != found.get(k))
    return files + others
