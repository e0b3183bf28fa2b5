"""``py:package.module:Class[?key=value&...]`` — a user's own encoder class (or factory), as X-ARES asks for.

The contract (X-ARES's, what its ``audio_encoder_checker`` checks): the object that
``Class(**arguments)`` returns has ``sampling_rate`` (Hz), ``output_dim`` (D), ``hop_size_in_ms``
and ``forward(audio)`` taking a float tensor ``(B, samples)`` at ``sampling_rate`` and returning
a tensor ``(B, T, D)``. Nothing else: libtrad's ``embed`` (clips of any length, per-clip results)
is built around it here, so one class serves X-ARES and libtrad.

* **Target**: ``package.module:Class`` — any importable module (installed, on ``PYTHONPATH``, or
  in the current directory: it is appended to ``sys.path`` when the module is not found without
  it) and a class or any callable returning such an object (``Class.from_config`` works too).
* **Arguments**: ``?key=value&key2=value2``, passed as keyword arguments. Each value is
  percent-decoded, then read as a JSON literal when it parses as one (``64`` → int, ``0.5`` →
  float, ``true``/``false``/``null``, ``[1,2]``, ``"64"`` → the string ``64``), else taken as
  the text itself (``name=small`` → ``"small"``). Keys are Python identifiers, each once.
* **Weights**: ``--encoder-weights FILE.safetensors`` is loaded strictly into the object's
  ``state_dict`` (every tensor present with its shape, none extra: a mismatch is one line naming
  the file) — so a class can build an untrained model and the file says what it computes.
* **Clip embedding**: the mean of the frames ``forward`` returns. The contract gives frames only;
  the mean weighs every frame alike, does not depend on how clips were batched, and is what the
  other frame-only kinds (``attention-ae:``, ``hf:``) use, so clip embeddings of different kinds
  mean the same thing.
* **Device**: an ``nn.Module`` (or any object with ``.to``) is moved to the device and put in
  ``eval()`` mode; the audio reaches ``forward`` on that device, under the precision's autocast.
* **Long clips** (optional): a frame-local class may declare ``context_in_ms`` — how far a frame's input
  reaches beyond its own hop, on either side (a centred 64-ms window at a 10-ms hop: 32). ``embed`` then
  cuts records longer than twice ``--chunk-seconds`` into chunks with that much context and stitches
  the frames exactly (:mod:`.chunking`), so memory stays that of a batch of short clips. Leave it out
  when a frame depends on the whole clip (attention over time, per-clip normalisation): clips then
  run whole. Its hop must be a whole number of samples.

Identity (the cache key): the SHA-256 of the module's file, found with
``importlib.util.find_spec`` (the module itself is not executed to find it; a parent package's
``__init__`` is), the target, the arguments and the weights file's hash. Only that one file is
hashed: code the class imports from other modules is not, so keep what decides the outputs in the
named module (or change an argument) when it matters. ``spec.identity`` also records where the
module lives — ``module_file`` and ``import_root`` (the ``sys.path`` folder it imports from) — so
a worker can import it: a local Ray's actors add ``import_root`` to their ``sys.path``; a cluster's
get the file itself (``embedding/encoder_files``) and import it from there when ``import_root`` is
not on their node. Either way the module's bytes are checked against the hash in the key.

Every breach of the contract is one :class:`~libtrad.core.errors.ParameterError` naming the spec: a
module that does not import (missing, a syntax error, an exception while it runs — ``sys.exit`` too),
no such class, a constructor that raises, a missing attribute, one that raises or is out of its
declared range (:data:`.contract.DECLARED`: ``sampling_rate`` an integer in (0, 384000],
``output_dim`` in (0, 65536], ``hop_size_in_ms`` in (0, 60000] ms — checked before any tensor is
sized by them), and — checked on one short probe at load and on every batch — a ``forward`` that
returns no tensor, the wrong rank, batch or width, or NaN / infinite values.

Bounded (:mod:`.user_code`): the import, the constructor, each attribute read, ``.to``, ``eval``,
``load_state_dict`` and every ``forward`` run in a worker thread with the spec's deadline
(``--encoder-timeout``, 120 s by default, each); one that does not return by then is named with its
stage. ``check-encoder`` and ``embed``'s load-time probe run the whole load in a process of their own
(:mod:`.sandbox`), so even ``os._exit`` in the module is one error line.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import keyword
import os
import sys
from pathlib import Path
from urllib.parse import unquote

from libtrad.core.errors import ParameterError, first_line
from libtrad.folders.checksums import sha256_file
from libtrad.folders.outputs import refuse_input_url
from libtrad.models.weights import check_safetensors, listed_names
from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder
from libtrad.ray_jobs.embedding.encoders.contract import declared_problem, declared_value
from libtrad.ray_jobs.embedding.encoders.spec import EncoderSpec
from libtrad.ray_jobs.embedding.encoders.user_code import call_user, failure, find_module_spec, timeout_of

CONTRACT = "sampling_rate, output_dim, hop_size_in_ms and forward(audio (B, samples)) -> (B, T, D)"
_PROBE_SECONDS = 0.5  # the probe forward at load: short, any model's receptive field aside
_IMPORTED: dict[str, str] = {}  # module name -> SHA-256 of the file this process imported it from


# ----------------------------------------------------------------------------- parsing (no import of the module)
def parse_spec(kind: str, rest: str, text: str, weights: Path | None):
    """``package.module:Class[?k=v&...]`` -> :class:`~.spec.EncoderSpec` (see the module for the rules)."""
    target, has_query, query = rest.partition("?")
    module, sep, attribute = target.partition(":")
    if not sep or not _dotted(module) or not _dotted(attribute):
        raise ParameterError(
            "encoder",
            text,
            f"{kind}: needs package.module:Class[?key=value...] (a module path and "
            f"a class or factory name, each dotted Python identifiers), not {rest!r}",
        )
    arguments = _arguments(query, text) if has_query else ()
    if weights is not None:
        _check_weights(weights)
    found, root = _find_module(module, text)
    identity = {"module": module, "module_file": str(found), "module_sha256": _sha256(found), "import_root": str(root)}
    return EncoderSpec(kind, None, text, target=target, arguments=arguments, weights=weights, identity=identity)


def argument_values(arguments) -> dict:
    """The keyword arguments a spec's ``(key, text)`` pairs stand for (JSON literal, else the text)."""
    values = {}
    for key, raw in arguments:
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def _dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))


def _arguments(query: str, text: str) -> tuple[tuple[str, str], ...]:
    """``k=v&k2=v2`` -> sorted ``((k, v), ...)`` (percent-decoded; the order given does not matter)."""
    pairs: dict[str, str] = {}
    for piece in query.split("&"):
        key, eq, value = piece.partition("=")
        key = unquote(key)
        if not eq or not key:
            raise ParameterError(
                "encoder", text, f"argument {piece!r} is not key=value (arguments: ?key=value&key2=value2)"
            )
        if not key.isidentifier() or keyword.iskeyword(key):
            raise ParameterError("encoder", text, f"argument name {key!r} is not a Python identifier")
        if key in pairs:
            raise ParameterError("encoder", text, f"argument {key!r} is given twice")
        pairs[key] = unquote(value)
    return tuple(sorted(pairs.items()))


def _find_module(module: str, text: str) -> tuple[Path, Path]:
    """``(the module's file, the sys.path folder it imports from)``, without running the module."""
    found = _spec_of(module, text)
    if found is None and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # `libtrad` (a console script) does not put the current folder there
        found = _spec_of(module, text)
    if found is None:
        raise ParameterError(
            "encoder",
            text,
            f"cannot import {module}: no module named {module!r} (install it, or run "
            "from the folder that holds it, or add that folder to PYTHONPATH)",
        )
    origin = Path(found.origin) if found.origin and found.has_location else None
    if origin is None or not origin.is_file():
        raise ParameterError(
            "encoder",
            text,
            f"{module} has no module file (a namespace package or a built-in "
            "module); name the module that defines the class",
        )
    origin = origin.resolve()
    levels = len(module.split(".")) - (0 if found.submodule_search_locations is not None else 1)
    root = origin.parent
    for _ in range(levels):
        root = root.parent
    return origin, root


def _spec_of(module: str, text: str):
    """The module's import spec, found without running it or its packages (:func:`.user_code.find_module_spec`)."""
    try:
        return find_module_spec(module)
    except ModuleNotFoundError as exc:  # a parent package is missing
        if exc.name and (module + ".").startswith(exc.name + "."):
            return None
        raise ParameterError("encoder", text, f"cannot import {module}: {first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a finder's own failure
        raise ParameterError("encoder", text, f"cannot import {module}: {failure(exc)}") from None


def _check_weights(weights: Path) -> None:
    refuse_input_url(weights, "--encoder-weights", "a local .safetensors file")
    if weights.suffix != ".safetensors":
        raise ParameterError(
            "encoder_weights",
            str(weights),
            "must be a .safetensors file (other formats run "
            "code when they load; convert with safetensors.torch.save_file)",
        )
    if not weights.is_file():
        raise ParameterError(
            "encoder_weights", str(weights), "does not exist" if not weights.exists() else "is not a file"
        )
    check_safetensors(weights)


def _sha256(path: Path) -> str:
    return sha256_file(path)


# ----------------------------------------------------------------------------- loading
def import_target(spec):
    """The class or factory ``spec.target`` names, from the module whose bytes the spec hashed."""
    module_name, _, attribute = spec.target.partition(":")
    module = _import_module(spec, module_name)
    value = module
    for part in attribute.split("."):
        found = call_user(spec.text, f"{module_name}.{attribute}", getattr, value, part, None, timeout=timeout_of(spec))
        if found is None:
            raise ParameterError(
                "encoder", spec.text, f"{module_name} ({spec.identity.get('module_file')}) has no {attribute!r}"
            )
        value = found
    if not callable(value):
        raise ParameterError("encoder", spec.text, f"{spec.target} is a {type(value).__name__}, not a class or factory")
    return value


def _import_module(spec, name: str):
    """Import ``name`` where this process can (its ``import_root``, else the shipped ``module_file``),
    and check that its file is the one the spec hashed. A module this process imported earlier from
    other bytes (edited since) is imported afresh."""
    expected = spec.identity.get("module_sha256")
    root = spec.identity.get("import_root")
    if root and Path(root).is_dir() and root not in sys.path:
        sys.path.append(root)  # a local Ray actor: the driver's folder is on this node too
    if name in sys.modules and _IMPORTED.get(name) == expected:
        module = sys.modules[name]
    else:  # anything the module raises while it runs (SystemExit too) is the module's failure
        module = call_user(
            spec.text,
            f"import {name}",
            importlib.reload if name in sys.modules else _import_or_load_file,
            *((sys.modules[name],) if name in sys.modules else (spec, name)),
            timeout=timeout_of(spec),
            message=lambda exc: f"cannot import {name}: {failure(exc).removeprefix('raised ')}",
        )
    file = getattr(module, "__file__", None)
    actual = _sha256(Path(file)) if file and Path(file).is_file() else None
    if expected and actual != expected:
        raise ParameterError(
            "encoder",
            spec.text,
            f"{name} imported here from {file}, whose bytes differ from the "
            f"module file the job was keyed on ({spec.identity.get('module_file')}); "
            "the same module must be importable on every node",
        )
    _IMPORTED[name] = actual
    return module


def _import_or_load_file(spec, name: str):
    """A normal import; on a node without the module, the shipped file itself (a single-file module)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        shipped = spec.identity.get("module_file")
        if not (exc.name and (name + ".").startswith(exc.name + ".") and shipped and Path(shipped).is_file()):
            raise
    location = importlib.util.spec_from_file_location(name, shipped)
    module = importlib.util.module_from_spec(location)
    sys.modules[name] = module
    try:
        location.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


class PythonClipEncoder(ClipEncoder):
    """A user's encoder object (``py:package.module:Class``) behind libtrad's ``embed``: clip = mean of
    its frames; every output checked against the contract."""

    @classmethod
    def from_spec(cls, spec, *, precision: str = "fp32", device=None) -> PythonClipEncoder:
        encoder = cls(spec)
        encoder.place(device, precision)
        encoder._probe()
        return encoder

    def __init__(self, spec):
        self.spec = spec
        self.timeout = timeout_of(spec)
        factory = import_target(spec)
        values = argument_values(spec.arguments)
        call = f"{spec.target.partition(':')[2]}({', '.join(f'{k}={v!r}' for k, v in values.items())})"
        model = self._user(call, factory, **values)  # the user's constructor: its failure, in one line
        self.sampling_rate = self._attribute(model, call, "sampling_rate")
        self.output_dim = self._attribute(model, call, "output_dim")
        self.hop_size_in_ms = self._attribute(model, call, "hop_size_in_ms")
        if self._user(f"{call}.context_in_ms", getattr, model, "context_in_ms", None) is not None:
            self.context_in_ms = self._attribute(model, call, "context_in_ms")
        if not callable(self._user(f"{call}.forward", getattr, model, "forward", None)):
            raise ParameterError(
                "encoder", spec.text, f"{call} has no forward method (the encoder contract: {CONTRACT})"
            )
        if spec.weights is not None:
            _load_weights(model, spec.weights, call, self._user)
        if callable(getattr(model, "eval", None)):
            self._user(f"{call}.eval()", model.eval)
        self.model = model

    def _user(self, stage: str, function, *args, **kwargs):
        """``function(*args, **kwargs)``, the user's code, bounded (:func:`.user_code.call_user`)."""
        return call_user(self.spec.text, stage, function, *args, timeout=self.timeout, **kwargs)

    def place(self, device=None, precision: str = "fp32") -> PythonClipEncoder:
        """The base's placing, plus the user's object itself: a torch module (or anything with a
        ``.to``) is moved to ``device``."""
        import torch

        placed = super().place(device, precision)
        if callable(getattr(self.model, "to", None)):
            moved = call_user(  # the user's object may not go there
                self.spec.text,
                f"moving the encoder to {device}",
                self.model.to,
                torch.device("cpu") if device is None else torch.device(device),
                timeout=self.timeout,
                message=lambda exc: f"cannot move the encoder to {device} ({failure(exc).removeprefix('raised ')})",
            )
            if moved is not None:
                self.model = moved
        return placed

    def _attribute(self, model, call: str, name: str):
        """A declared number, read (a property is the user's code: bounded, its raise named) and checked
        against its range (:data:`.contract.DECLARED`) before anything is sized by it."""

        def missing(exc: BaseException) -> str:
            if isinstance(exc, AttributeError):
                return f"{call} has no {name} (the encoder contract: {CONTRACT})"
            return f"{call}.{name} {failure(exc)}"

        value = call_user(self.spec.text, f"{call}.{name}", getattr, model, name, timeout=self.timeout, message=missing)
        problem = declared_problem(name, value)
        if problem is not None:
            raise ParameterError("encoder", self.spec.text, f"{call}.{problem}")
        return declared_value(name, value)

    def _forward(self, batch):
        """``forward`` (through the module's ``__call__``, hooks included, when it is a torch module) on the
        batch on the encoder's device, under its autocast — bounded: inference mode and autocast are
        entered in the thread that runs it (both are per thread)."""
        import torch

        inference = torch.is_inference_mode_enabled()

        def run():
            with torch.inference_mode(inference), self._autocast():
                audio = self._to_device(batch.float())
                return self.model(audio) if isinstance(self.model, torch.nn.Module) else self.model.forward(audio)

        return call_user(
            self.spec.text,
            f"forward on audio of shape {tuple(batch.shape)}",
            run,
            timeout=self.timeout,
        )

    def _probe(self) -> None:
        """One forward on two short noise clips on the encoder's device: a contract breach is named at
        load (the driver's preflight, check-encoder), before any data is read."""
        import torch

        generator = torch.Generator().manual_seed(0)
        samples = max(1, int(_PROBE_SECONDS * self.sampling_rate))
        with torch.inference_mode():
            self._batch(0.1 * torch.randn(2, samples, generator=generator))

    def _batch(self, batch):
        import torch

        out = self._forward(batch)  # the user's forward: what it raises is named with the batch's shape
        where = f"forward on audio of shape {tuple(batch.shape)}"
        if not isinstance(out, torch.Tensor):
            raise ParameterError(
                "encoder",
                self.spec.text,
                f"{where} returned a {type(out).__name__}, not a tensor (batch, frames, output_dim)",
            )
        if out.ndim != 3 or out.shape[0] != batch.shape[0]:
            raise ParameterError(
                "encoder",
                self.spec.text,
                f"{where} returned shape {tuple(out.shape)}, not "
                f"(batch {batch.shape[0]}, frames, output_dim {self.output_dim})",
            )
        if out.shape[2] != self.output_dim:
            raise ParameterError(
                "encoder",
                self.spec.text,
                f"{where} returned {out.shape[2]} values per frame, but output_dim says {self.output_dim}",
            )
        if out.shape[1] == 0:
            raise ParameterError("encoder", self.spec.text, f"{where} returned no frames")
        frames = out.float()
        if not torch.isfinite(frames).all():
            raise ParameterError("encoder", self.spec.text, f"{where} returned NaN or infinite values")
        return frames.mean(dim=1), frames


def _load_weights(model, path: Path, call: str, user) -> None:
    """``path`` into ``model``'s ``state_dict``, strictly: every tensor present with its shape, none extra."""
    from safetensors.torch import load_file

    if not (callable(getattr(model, "state_dict", None)) and callable(getattr(model, "load_state_dict", None))):
        raise ParameterError(
            "encoder_weights", str(path), f"{call} has no state_dict to load weights into (make it a torch.nn.Module)"
        )
    state = load_file(str(path))
    own = {k: tuple(v.shape) for k, v in user(f"{call}.state_dict()", model.state_dict).items()}
    stored = {k: tuple(v.shape) for k, v in state.items()}
    problems = [
        listed_names(one, many, items)
        for one, many, items in (
            ("missing tensor", "missing tensors", sorted(set(own) - set(stored))),
            ("unexpected tensor", "unexpected tensors", sorted(set(stored) - set(own))),
            (
                "tensor of another shape",
                "tensors of another shape",
                [
                    f"{k} {stored[k]} in the file, {own[k]} in the model"
                    for k in sorted(set(own) & set(stored))
                    if own[k] != stored[k]
                ],
            ),
        )
        if items
    ]
    if problems:
        raise ParameterError("encoder_weights", str(path), f"does not fit {call}'s state_dict ({'; '.join(problems)})")
    try:
        user(f"{call}.load_state_dict", model.load_state_dict, state, strict=True)
    except ParameterError as exc:  # a custom load_state_dict: the weights file is what it could not take
        raise ParameterError("encoder_weights", str(path), f"{exc.problem}") from None
