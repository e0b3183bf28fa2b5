"""``hear:MODULE[?model_file=PATH][&clip=scene|mean]`` — any installed HEAR-API package as an encoder.

The HEAR 2021 common API (https://hearbenchmark.com/hear-api.html) is three functions of a module:
``load_model(model_file_path)`` returns a PyTorch or TensorFlow module with ``sample_rate``,
``scene_embedding_size`` and ``timestamp_embedding_size``; ``get_scene_embeddings(audio, model)``
maps mono audio (n_sounds, n_samples) in [-1, 1] to (n_sounds, scene_embedding_size);
``get_timestamp_embeddings(audio, model)`` to embeddings (n_sounds, n_timestamps,
timestamp_embedding_size) centred at timestamps (n_sounds, n_timestamps) in milliseconds, at
regular intervals. libtrad's contract maps onto it as:

* clip embedding = the scene embedding; frames = the timestamp embeddings;
* ``hop_size_in_ms`` = the median difference of the timestamps the module gives for a 4-s probe
  clip at load time (HEAR lets each module pick its hop; the module is trusted to keep it, and
  every batch is checked against it: timestamps that do not increase, are irregular — more than
  1 ms off their median step, hearvalidator's tolerance — or move to another hop are refused);
* ``output_dim`` = the one width D of libtrad's ``embedding`` and ``frames`` columns: a module
  whose scene and timestamp sizes differ is refused unless ``clip=mean`` asks for the clip
  embedding to be the mean of its timestamp embeddings instead (D = timestamp_embedding_size);
  libtrad never pads, cuts or projects an embedding to make two widths agree.

``model_file`` is what the module's ``load_model`` takes (a checkpoint file or folder; without it
``load_model()`` gets no argument, as hearvalidator calls it). For ``libtrad.hear`` — libtrad's
own encoders as HEAR modules — it is a libtrad encoder spec instead (``hear:libtrad.hear?
model_file=logmel-stats``), and that spec's own fingerprint joins the identity.

Identity (the cache key): the SHA-256 of the module's source (its file; a package's ``.py`` files),
its distribution's name and version where ``importlib.metadata`` knows them, and the SHA-256 of
``model_file`` (a folder: of each file in it). Where it runs: a model *file* travels to the Ray
actors with the encoder's files (``embedding/encoder_files``); the module itself must be importable
on every node — a local Ray's actors add the folder the driver imported it from to their
``sys.path``, a cluster's nodes need the HEAR package installed (as any dependency); a model
*folder* must be readable on every node.

Devices: a HEAR module runs its model itself; a PyTorch model is a submodule of the encoder, so
it moves with it (``place``/``.to(device)``, as hearvalidator moves it), stays in eval mode and
gets its audio on that device; a TensorFlow model gets TensorFlow tensors and runs where
TensorFlow places it. Every refusal is one line naming the spec.

The module's code is bounded (:mod:`.user_code`): its import, ``load_model``, each of the model's
declared sizes (a property that raises is the module's error, named) and every call of its two
functions run with the spec's deadline (``--encoder-timeout``, 120 s by default, each), and anything
they raise — ``SystemExit`` included — is one line naming the stage. ``sample_rate``,
``scene_embedding_size`` and ``timestamp_embedding_size`` must be integers within
:data:`.contract.DECLARED`'s ranges (a rate of at most 384 kHz, sizes of at most 65,536), checked
before the probe clip is sized by the rate; the measured hop must be at most 60,000 ms.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np

from libtrad.core.errors import ParameterError, first_line
from libtrad.folders.checksums import sha256_file
from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder
from libtrad.ray_jobs.embedding.encoders.contract import declared_problem, declared_value
from libtrad.ray_jobs.embedding.encoders.spec import EncoderSpec, parse_encoder_spec
from libtrad.ray_jobs.embedding.encoders.user_code import call_user, failure, find_module_spec, timeout_of

API = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")
SIZES = ("sample_rate", "scene_embedding_size", "timestamp_embedding_size")  # what the model declares
OPTIONS = {"model_file": None, "clip": ("scene", "mean")}  # option -> allowed values (None: any)
LIBTRAD_HEAR = "libtrad.hear"  # our own HEAR module: its model_file is a libtrad encoder spec
PROBE_S = 4.0  # the load-time clip the hop is measured on (hearvalidator's longest clip)
TIMESTAMP_TOLERANCE_MS = 1.0  # hearvalidator's: adjacent timestamps at most 1 ms off the regular step


# ----------------------------------------------------------------------------- parsing
def parse_spec(kind: str, rest: str, text: str, weights: Path | None):
    """``MODULE[?model_file=PATH][&clip=scene|mean]`` -> EncoderSpec (target = the module name).

    Finds the module without running it (a dotted name imports its parent packages), hashes its
    source and ``model_file``; the module is imported and its model loaded by :class:`HearClipEncoder`."""
    if weights is not None:
        raise ParameterError(
            "encoder_weights",
            str(weights),
            f"{kind}: takes no --encoder-weights; a HEAR module loads its own weights: {kind}:MODULE?model_file=PATH",
        )
    name, _, query = rest.partition("?")
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise ParameterError(
            "encoder", text, f"{name!r} is not a Python module name ({kind}:MODULE, e.g. {kind}:hearbaseline)"
        )
    options = _parse_options(query, text, kind)
    identity = {"module": name, **_module_identity(name, text)}
    arguments = []
    if "model_file" in options:
        value = options["model_file"]
        if name == LIBTRAD_HEAR:
            try:
                identity["model"] = parse_encoder_spec(value).fingerprint()
            except ParameterError as exc:  # named as part of this spec
                raise ParameterError(
                    "encoder", text, f"model_file {value!r} (a libtrad encoder spec for {LIBTRAD_HEAR}): {exc.problem}"
                ) from None
        else:
            path = Path(value).expanduser()
            if not path.exists():
                raise ParameterError("encoder", text, f"model_file {path} does not exist")
            value = str(path.resolve())
            if path.is_file():  # hashed into the key and shipped to the actors as a *_file entry (encoder_files)
                identity["model_file"] = value
            else:
                identity["model_folder_files"] = _folder_digests(path)
        arguments.append(("model_file", value))
    if "clip" in options:
        arguments.append(("clip", options["clip"]))
    return EncoderSpec(kind, None, text, target=name, arguments=tuple(arguments), identity=identity)


def _parse_options(query: str, text: str, kind: str) -> dict[str, str]:
    """``model_file=PATH&clip=mean`` -> dict; unknown, repeated or empty options are refused."""
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if key not in OPTIONS:
            raise ParameterError(
                "encoder", text, f"unknown option {key!r}; {kind}: takes " + ", ".join(f"{k}=" for k in OPTIONS)
            )
        if not sep or not value:
            raise ParameterError("encoder", text, f"option {key} needs a value ({key}=...)")
        if key in options:
            raise ParameterError("encoder", text, f"option {key} is given twice")
        allowed = OPTIONS[key]
        if allowed is not None and value not in allowed:
            raise ParameterError("encoder", text, f"{key}={value}: expected one of {', '.join(allowed)}")
        options[key] = value
    return options


def _module_identity(name: str, text: str) -> dict:
    """The SHA-256 of the module's source files and its distribution's version (when installed as one)."""
    try:
        found = find_module_spec(name)  # runs none of its packages' code
    except Exception as exc:  # noqa: BLE001 - a parent package missing or failing on import
        raise ParameterError(
            "encoder", text, f"cannot find HEAR module {name} ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    if found is None:
        raise ParameterError(
            "encoder",
            text,
            f"no module named {name} is installed here (pip install the HEAR "
            "package in this environment, or put it on PYTHONPATH)",
        )
    files: dict[str, str] = {}
    if found.submodule_search_locations:  # a package: every .py file under it
        for location in found.submodule_search_locations:
            root = Path(location)
            for path in sorted(root.rglob("*.py")):
                if "__pycache__" not in path.relative_to(root).parts:
                    files[path.relative_to(root).as_posix()] = sha256_file(path)
    elif found.origin and Path(found.origin).is_file():
        files[Path(found.origin).name] = sha256_file(found.origin)
    out: dict = {"module_files": files}
    root = _import_root(name)
    if root:
        out["import_root"] = root  # where it imports from here (not part of the key): a local Ray's actors use it
    distribution = _distribution(name.partition(".")[0])
    if distribution:
        out["distribution"] = distribution
    return out


def _import_root(name: str) -> str | None:
    """The ``sys.path`` folder the module's top-level package imports from, if it is a folder."""
    found = importlib.util.find_spec(name.partition(".")[0])
    if found is None:
        return None
    if found.submodule_search_locations:
        return str(Path(next(iter(found.submodule_search_locations))).parent)
    return str(Path(found.origin).parent) if found.origin and Path(found.origin).is_file() else None


def _distribution(top: str) -> dict | None:
    """``{"name", "version"}`` of the installed distribution providing package ``top``, if any."""
    import importlib.metadata as metadata

    names = metadata.packages_distributions().get(top) or []
    for dist in dict.fromkeys(names):
        try:
            return {"name": dist, "version": metadata.version(dist)}
        except metadata.PackageNotFoundError:
            continue
    return None


def _folder_digests(path: Path) -> dict[str, str]:
    """A model folder's files' SHA-256, by relative path."""
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in sorted(path.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- the encoder
class HearClipEncoder(ClipEncoder):
    """A HEAR module's model: clip = scene embedding (or, ``clip=mean``, the timestamp embeddings'
    mean), frames = timestamp embeddings, hop measured from the timestamps."""

    @classmethod
    def from_spec(cls, spec, *, precision: str = "fp32", device=None) -> HearClipEncoder:
        encoder = cls(spec)
        encoder.place(device, precision)
        encoder._measure()  # on the device it will run on
        return encoder

    def __init__(self, spec):
        self.spec = spec
        self.module_name = spec.target
        options = dict(spec.arguments)
        # a file's copy where the actor materialised it (encoder_files), else what the spec names
        self.model_file = spec.identity.get("model_file") or options.get("model_file", "")
        self.clip_from = options.get("clip", "scene")
        root = spec.identity.get("import_root")
        if root and Path(root).is_dir() and root not in sys.path:
            sys.path.append(root)  # a local Ray actor: the driver's import folder is on this node too
        self.timeout = timeout_of(spec)
        self.module = call_user(  # its own imports failing (a missing dependency ...), sys.exit, a hang
            spec.text,
            f"import {self.module_name}",
            importlib.import_module,
            self.module_name,
            timeout=self.timeout,
            message=lambda exc: (
                f"cannot import HEAR module {self.module_name} ({failure(exc).removeprefix('raised ')})"
            ),
        )
        missing = [f for f in API if not callable(getattr(self.module, f, None))]
        if missing:
            raise self._error(
                f"{self.module_name} is not a HEAR module: it has no {' and no '.join(missing)} "
                f"(the HEAR API is {', '.join(API)})"
            )
        call = (
            f"{self.module_name}.load_model({self.model_file!r})"
            if self.model_file
            else f"{self.module_name}.load_model()"
        )
        self.model = self._user(call, self.module.load_model, *([self.model_file] if self.model_file else []))
        rate, scene, stamp = (self._size(call, a) for a in SIZES)
        self.sampling_rate, self.scene_size, self.timestamp_size = rate, scene, stamp
        if self.clip_from == "scene" and self.scene_size != self.timestamp_size:
            raise self._error(
                f"scene_embedding_size {self.scene_size} differs from timestamp_embedding_size "
                f"{self.timestamp_size}, and libtrad's clip and frame embeddings share one width; "
                f"add clip=mean to use the mean of the timestamp embeddings as the clip embedding "
                f"(D {self.timestamp_size})"
            )
        self.output_dim = self.timestamp_size
        self.hop_size_in_ms = math.nan  # measured by _measure, once placed
        self._first_ms = 0.0

    def _error(self, problem: str) -> ParameterError:
        return ParameterError("encoder", self.spec.text, problem)

    def _user(self, stage: str, function, *args):
        """``function(*args)``, the module's code, bounded (:func:`.user_code.call_user`)."""
        return call_user(self.spec.text, stage, function, *args, timeout=self.timeout)

    def _size(self, call: str, name: str) -> int:
        """One of the model's declared sizes: read (a property that raises is the module's error), then an
        integer within its range (:data:`.contract.DECLARED`) before anything is sized by it."""

        def problem(exc: BaseException) -> str:
            if isinstance(exc, AttributeError):
                return f"the model {call} returned ({type(self.model).__name__}) has no {name}; the HEAR API needs it"
            return f"{call}.{name} {failure(exc)}"

        value = call_user(
            self.spec.text, f"{call}.{name}", getattr, self.model, name, timeout=self.timeout, message=problem
        )
        wrong = declared_problem(name, value)
        if wrong is not None:
            raise self._error(
                f"the model {call} returned ({type(self.model).__name__}): {wrong} (the HEAR API needs integers)"
            )
        return declared_value(name, value)

    def _measure(self) -> None:
        """The hop: the median step of the timestamps of a 4-s noise clip (every check of a batch runs too)."""
        n = int(round(PROBE_S * self.sampling_rate))
        clip = (0.1 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
        import torch

        with torch.inference_mode():
            _, _, stamps = self._run(torch.from_numpy(clip[None]), probe=True)
        if stamps.shape[1] < 2:
            raise self._error(
                f"get_timestamp_embeddings gives {stamps.shape[1]} timestamp(s) for a "
                f"{PROBE_S:g}-s clip: no hop to measure"
            )
        hop = float(np.median(np.diff(stamps[0])))
        wrong = declared_problem("hop_size_in_ms", hop)
        if wrong is not None:
            raise self._error(f"the timestamps of a {PROBE_S:g}-s clip are {hop:g} ms apart: {wrong}")
        self.hop_size_in_ms = hop
        self._first_ms = float(stamps[0, 0])

    def frame_times_ms(self, n_samples: int, n_frames: int) -> np.ndarray:
        """Where frame k is centred (ms), as the module's timestamps place it: first + k x hop."""
        return self._first_ms + self.hop_size_in_ms * np.arange(n_frames, dtype=np.float64)

    def _batch(self, batch):
        import torch

        scene, frames, _ = self._run(batch)
        frames = torch.from_numpy(frames)
        clip = frames.mean(dim=1) if self.clip_from == "mean" else torch.from_numpy(scene)
        return clip, frames

    def _run(self, batch, *, probe: bool = False):
        """The module's two calls on one equal-length batch (B, samples) -> checked float32 scene
        (B, S) (None with ``clip=mean``), frames (B, T, D) and float64 timestamps (B, T)."""
        audio = self._audio(batch)
        count, seconds = int(batch.shape[0]), batch.shape[-1] / self.sampling_rate
        what = f"{'a' if count == 1 else count} {seconds:g}-s clip{'s' if count > 1 else ''}"
        out = self._call("get_timestamp_embeddings", audio, what)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise self._error(
                f"get_timestamp_embeddings on {what} returned {type(out).__name__}, not (embeddings, timestamps)"
            )
        scene = self._call("get_scene_embeddings", audio, what) if self.clip_from == "scene" else None
        frames, stamps = _as_numpy(out[0]), _as_numpy(out[1])
        if (
            frames.ndim != 3
            or frames.shape[0] != count
            or frames.shape[2] != self.timestamp_size
            or frames.shape[1] < 1
        ):
            raise self._error(
                f"get_timestamp_embeddings on {what} gave embeddings of shape {frames.shape}, "
                f"expected ({count}, T >= 1, {self.timestamp_size})"
            )
        if stamps.shape != frames.shape[:2]:
            raise self._error(
                f"get_timestamp_embeddings on {what} gave timestamps of shape {stamps.shape} for "
                f"embeddings of shape {frames.shape}, expected {frames.shape[:2]}"
            )
        arrays = {"timestamp embeddings": frames, "timestamps": stamps}
        if scene is not None:
            scene = _as_numpy(scene)
            if scene.shape != (count, self.scene_size):
                raise self._error(
                    f"get_scene_embeddings on {what} gave shape {scene.shape}, expected ({count}, {self.scene_size})"
                )
            arrays["scene embeddings"] = scene
        bad = [
            f"{int(np.count_nonzero(~np.isfinite(a)))} of {a.size} ({label})"
            for label, a in arrays.items()
            if not np.isfinite(a).all()
        ]
        if bad:
            raise self._error(f"{self.module_name} gives NaN or infinite values on {what}: {', '.join(bad)}")
        self._check_timestamps(stamps.astype(np.float64), what, probe)
        return (None if scene is None else scene.astype(np.float32)), frames.astype(np.float32), stamps

    def _call(self, function: str, audio, what: str):
        """One of the module's two functions on a batch, bounded; inference mode and autocast are entered
        in the thread that runs it (both are per thread)."""
        import torch

        inference = torch.is_inference_mode_enabled()

        def run():
            with torch.inference_mode(inference), self._autocast():
                return getattr(self.module, function)(audio, self.model)

        return self._user(f"{function} on {what}", run)

    def _check_timestamps(self, stamps: np.ndarray, what: str, probe: bool) -> None:
        """Increasing, regular (hearvalidator's 1 ms) and, after the probe, at the measured hop."""
        if stamps.shape[1] < 2:
            return
        steps = np.diff(stamps, axis=1)
        if not (steps > 0).all():
            raise self._error(
                f"get_timestamp_embeddings on {what} gave timestamps that do not increase "
                f"(a step of {steps.min():g} ms)"
            )
        median = float(np.median(steps))
        off = float(np.max(np.abs(steps - median)))
        if off > TIMESTAMP_TOLERANCE_MS:
            raise self._error(
                f"get_timestamp_embeddings on {what} gave irregular timestamps (steps from "
                f"{steps.min():g} to {steps.max():g} ms; HEAR timestamps are regular, within "
                f"{TIMESTAMP_TOLERANCE_MS:g} ms)"
            )
        if not probe and abs(median - self.hop_size_in_ms) > TIMESTAMP_TOLERANCE_MS:
            raise self._error(
                f"get_timestamp_embeddings on {what} gave timestamps {median:g} ms apart, but "
                f"{self.hop_size_in_ms:g} ms on the {PROBE_S:g}-s probe clip at load"
            )

    def _audio(self, batch):
        """The batch as the model's framework takes it: a torch model gets it on its device, a
        TensorFlow model a TensorFlow tensor, anything else the CPU torch tensor."""
        import torch

        if isinstance(self.model, torch.nn.Module):
            return self._to_device(batch)
        tf = sys.modules.get("tensorflow")
        if tf is not None and isinstance(self.model, tf.Module):
            return tf.convert_to_tensor(batch.numpy())
        return batch


def _as_numpy(value) -> np.ndarray:
    """A torch / TensorFlow tensor or array as NumPy (half precision widened to float32)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if value.dtype.is_floating_point and value.element_size() < 4:
            value = value.float()
        return value.numpy()
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype.kind == "f" and array.itemsize < 4 else array
