"""The encoder's files travel to the actors through Ray's object store, not as a path every node must see.

Why: on most Ray clusters (cloud VMs, Kubernetes) the nodes share no filesystem, so a model folder
on the driver's disk (or in its Hub cache) does not exist where the actors run. The driver reads
the files that define the encoder once — a folder kind's model folder, ``--encoder-weights``, a
``py:`` kind's module file — into one ``{relname: bytes}`` mapping and ``ray.put``s it once; every
actor gets the same object (Ray fetches it to each node once), writes the files into a temporary
folder of its own, checks each one's SHA-256 against the digests the driver took, loads the
encoder from there and deletes the folder (the loaded model no longer needs it).

Relative names say where each file goes back in the :class:`~.encoders.spec.EncoderSpec`:
``model/<path in the folder>`` (``spec.path``), ``weights/<name>`` (``spec.weights``) and
``identity/<key>/<name>`` for a file a kind's parser recorded in ``spec.identity`` under a
``*_file`` key (the ``py:`` kind's ``module_file``). Nothing else of the spec changes, so the
cache key (computed by the driver from the original files) is the same on every node.

What a folder ships: every regular file, except hidden entries (``.git/``, ``.cache/``, libtrad's
``.libtrad.json``: nothing a loader reads) and weight formats of other frameworks that
transformers never loads beside the safetensors every encoder folder must have (``*.bin``,
``*.h5``, ``*.msgpack``, ``*.onnx``, ``*.ckpt`` …: :data:`libtrad.folders.hub.FOREIGN_WEIGHTS`) — a Hub
checkout often carries them, and they would multiply what crosses the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

from libtrad.core.errors import LibtradError
from libtrad.folders.hub import FOREIGN_WEIGHTS  # the one list of weight formats libtrad never loads

_SKIPPED_SUFFIXES = tuple(pattern.lstrip("*") for pattern in FOREIGN_WEIGHTS)


def spec_files(spec) -> dict[str, Path]:
    """``relname -> local file`` for every file the encoder ``spec`` is loaded from (see the module)."""
    files: dict[str, Path] = {}
    if spec.path is not None:
        root = Path(spec.path)
        for dirpath, dirnames, filenames in os.walk(root):  # links to folders are not followed
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES) or not path.is_file():
                    continue
                files[f"model/{path.relative_to(root).as_posix()}"] = path
    if spec.weights is not None:
        files[f"weights/{Path(spec.weights).name}"] = Path(spec.weights)
    for key, value in sorted((spec.identity or {}).items()):
        if key.endswith("_file") and isinstance(value, str) and Path(value).is_file():
            files[f"identity/{key}/{Path(value).name}"] = Path(value)
    return files


def pack(spec, keyed: dict | None = None) -> tuple[dict[str, str], dict[str, bytes]]:
    """The driver's side: ``(digests, blobs)`` — each file's SHA-256 and bytes, read once.

    ``keyed``: the ``spec.fingerprint()`` the job's cache key was computed from (default: taken
    now). The files it hashed must still have those bytes: a folder changed between the key and
    the shipping is refused, never shipped under the old key."""
    blobs, digests = {}, {}
    for rel, path in spec_files(spec).items():
        try:
            blobs[rel] = path.read_bytes()
        except OSError as exc:
            raise LibtradError(f"{path}: cannot read the encoder's file ({exc.strerror or exc})") from None
        digests[rel] = hashlib.sha256(blobs[rel]).hexdigest()
    keyed = spec.fingerprint() if keyed is None else keyed
    expected = {f"model/{name}": digest for name, digest in keyed.get("files", {}).items()}
    if spec.weights is not None and "weights" in keyed:
        expected[f"weights/{Path(spec.weights).name}"] = keyed["weights"]
    for rel, digest in expected.items():
        if digests.get(rel) != digest:
            raise LibtradError(
                f"{spec_files(spec).get(rel, rel)}: changed while the job started (its SHA-256 "
                f"differs from the one in the cache key); run again when it no longer changes"
            )
    return digests, blobs


def materialise(spec, digests: dict[str, str], blobs: dict[str, bytes], folder: Path):
    """The actor's side: write ``blobs`` under ``folder`` (checked against ``digests``) and return
    the spec pointing there."""
    if set(blobs) != set(digests):
        raise LibtradError(
            f"encoder {spec.text}: the files that reached this worker are not the ones the driver "
            f"sent ({sorted(set(blobs) ^ set(digests))[:3]})"
        )
    folder = Path(folder)
    for rel, data in blobs.items():
        parts = PurePosixPath(rel).parts
        if PurePosixPath(rel).is_absolute() or ".." in parts or len(parts) < 2:
            raise LibtradError(f"encoder {spec.text}: refusing a shipped file named {rel!r}")
        if hashlib.sha256(data).hexdigest() != digests[rel]:
            raise LibtradError(
                f"encoder {spec.text}: {rel} arrived with another SHA-256 than the driver sent "
                "(corrupted in transit); run again"
            )
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    changes: dict = {}
    if spec.path is not None:
        changes["path"] = folder / "model"
        (folder / "model").mkdir(parents=True, exist_ok=True)
    if spec.weights is not None:
        changes["weights"] = folder / "weights" / Path(spec.weights).name
    moved = {
        key: str(folder / "identity" / key / Path(value).name)
        for key, value in (spec.identity or {}).items()
        if f"identity/{key}/{Path(str(value)).name}" in blobs
    }
    if moved:
        changes["identity"] = {**spec.identity, **moved}
    return replace(spec, **changes)


class Materialised:
    """``with Materialised(spec, digests, blobs) as local_spec:`` — the files in a temporary folder of
    this process for as long as the block runs (the encoder is loaded inside it), then deleted."""

    def __init__(self, spec, digests: dict[str, str] | None, blobs: dict[str, bytes] | None):
        self.spec, self.digests, self.blobs, self.folder = spec, digests, blobs, None

    def __enter__(self):
        if self.blobs is None:
            return self.spec
        self.folder = Path(tempfile.mkdtemp(prefix="libtrad-encoder-"))
        try:
            return materialise(self.spec, self.digests, self.blobs, self.folder)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.folder is None:
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        if isinstance(exc, LibtradError):
            _name_the_users_files(exc, self._origins())

    def _origins(self) -> dict[str, str]:
        """Where each materialised path came from on the driver (longest first)."""
        origins = {}
        if self.spec.path is not None:
            origins[str(self.folder / "model")] = str(self.spec.path)
        if self.spec.weights is not None:
            origins[str(self.folder / "weights" / Path(self.spec.weights).name)] = str(self.spec.weights)
        for key, value in (self.spec.identity or {}).items():
            if key.endswith("_file") and isinstance(value, str):
                origins[str(self.folder / "identity" / key / Path(value).name)] = value
        return dict(sorted(origins.items(), key=lambda kv: -len(kv[0])))


def _name_the_users_files(exc: LibtradError, origins: dict[str, str]) -> None:
    """An error raised while loading from the temporary copy names the user's file, not the copy
    (the copy is gone, and the user fixes their own folder): rewritten in place, type kept."""

    def swap(text):
        if not isinstance(text, str):
            return text
        for copy, origin in origins.items():
            text = text.replace(copy, origin)
        return text

    exc.args = tuple(swap(a) for a in exc.args)
    for name in ("problem", "value"):
        if name in exc.__dict__:
            exc.__dict__[name] = swap(exc.__dict__[name])
