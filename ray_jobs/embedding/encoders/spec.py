"""A parsed ``--encoder`` value and its cache identity (the bytes of its files, never a class name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from libtrad.core.errors import ParameterError, shown
from libtrad.core.paths import exists, is_dir
from libtrad.folders.checksums import sha256_file
from libtrad.folders.hub import parse_hub_id, resolve_model
from libtrad.models.weights import check_weight_files
from libtrad.ray_jobs.embedding.encoders.registry import ENCODER_KINDS

FINGERPRINT_VERSION = 1  # bump when what an encoder computes changes without its files changing
# Files whose bytes define a model folder's outputs (weights, config, feature extractor).
_IDENTITY_FILES = ("config.json", "preprocessor_config.json", "model.safetensors")
# Identity entries that say where something is on this machine (the py: kind's sys.path folder),
# recorded for the workers and left out of the cache key.
_LOCATION_KEYS = frozenset({"import_root"})


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed ``--encoder`` value.

    ``path``: the model folder of a folder kind (a local folder, or the Hub snapshot a Hub id
    resolved to — ``source`` then says which repository and commit). ``target`` and ``arguments``:
    what a ``target`` kind names (``py:package.module:Class?k=v`` → ``"package.module:Class"``,
    ``(("k", "v"),)``). ``weights``: a ``--encoder-weights`` file. ``identity``: what the kind's
    parser found that defines the outputs beyond those files (a module file's hash …).
    ``timeout_s``: ``--encoder-timeout``, the deadline of each call into a user's code (the kinds that
    run one: :mod:`.user_code`); not part of the identity (it changes no output), but carried with the
    spec to every worker that loads it. None: the default.
    """

    kind: str
    path: Path | None
    text: str
    target: str | None = None
    arguments: tuple[tuple[str, str], ...] = ()
    weights: Path | None = None
    source: dict = field(default_factory=dict, hash=False)
    identity: dict = field(default_factory=dict, hash=False)
    timeout_s: float | None = field(default=None, compare=False)

    def fingerprint(self) -> dict:
        """What identifies this encoder's outputs: kind + the SHA-256 of every file that defines them
        (+ a Hub snapshot's commit, a target kind's identity, the weights file's hash)."""
        files = {}
        if self.path is not None:
            for name in sorted(p.name for p in self.path.iterdir() if p.is_file()):
                if name in _IDENTITY_FILES or name.endswith(".safetensors"):
                    files[name] = sha256_file(self.path / name)
        out = {"kind": self.kind, "version": FINGERPRINT_VERSION, "files": files}
        if self.source.get("commit"):
            out["source"] = {k: self.source[k] for k in ("repo_id", "commit") if k in self.source}
        if self.target is not None:
            out["target"] = self.target
            out["arguments"] = [list(a) for a in self.arguments]
        if self.identity:
            out["identity"] = {k: _identity_value(k, v) for k, v in self.identity.items() if k not in _LOCATION_KEYS}
        if self.weights is not None:
            out["weights"] = sha256_file(self.weights)
        return out


def _identity_value(key: str, value):
    """A ``*_file`` entry of a kind's identity enters the cache key as the file's SHA-256: where a
    file lies on this machine is not what it computes (a moved checkout keeps its key)."""
    if key.endswith("_file") and isinstance(value, str) and Path(value).is_file():
        return sha256_file(Path(value))
    return value


def parse_encoder_spec(text: str, *, weights: str | Path | None = None) -> EncoderSpec:
    """``kind[:what]`` (see :mod:`.registry` for what each kind takes) -> :class:`EncoderSpec`.

    A folder must exist and hold a ``config.json`` and weights, complete safetensors files (a
    git-LFS pointer, a text file or a cut file is named as such); checked here from the files'
    headers alone (no torch), before any cluster or data work starts. Whether the weights are the
    model the config describes needs the model: :func:`~libtrad.ray_jobs.embedding.encoders.preflight`.
    ``weights`` (``--encoder-weights``) is for the kinds that take a target; a folder carries its own.
    """
    name, sep, rest = str(text).partition(":")
    kind = ENCODER_KINDS.get(name)
    if kind is None:
        raise ParameterError(
            "encoder",
            text,
            f"unknown encoder kind {name!r}; expected one of " + ", ".join(k.usage for k in ENCODER_KINDS.values()),
        )
    if weights is not None and kind.takes != "target":
        raise ParameterError(
            "encoder_weights",
            str(weights),
            f"is for the encoder kinds that name a class "
            f"({', '.join(k.name + ':' for k in ENCODER_KINDS.values() if k.takes == 'target')}); "
            f"{name} {'has no weights' if kind.takes == 'none' else 'reads the weights in its folder'}",
        )
    if kind.takes == "none":
        if sep:
            raise ParameterError("encoder", text, f"{name} takes no folder")
        return EncoderSpec(name, None, text)
    if not rest:
        raise ParameterError(
            "encoder", text, f"{name} needs {'a model folder' if kind.takes_folder else 'a target'}: {kind.usage}"
        )
    if kind.takes == "target":
        return kind.load_parser()(name, rest, text, Path(weights).expanduser() if weights is not None else None)
    path, source = Path(rest).expanduser(), {}
    hub_id = None if exists(path) else parse_hub_id(rest)
    if hub_id is not None:  # not a local folder, shaped ORG/NAME[@REV]: a Hub model repository
        path, commit = resolve_model(*hub_id, param="encoder", value=text)
        source = {"repo_id": hub_id[0], "revision": hub_id[1] or "main", "commit": commit}
    elif not is_dir(path):
        raise ParameterError(
            "encoder",
            text,
            f"{shown(path, quote=False)} is not a folder" + ("" if exists(path) else " (nor a Hub id ORG/NAME[@REV])"),
        )
    check_model_folder(path, text)
    # A Hub snapshot is kept as the snapshot folder itself (its files are links into the cache's
    # blobs/, read through the links); a local folder is made absolute for the actors.
    return EncoderSpec(name, path if hub_id is not None else path.resolve(), text, source=source)


def check_model_folder(path: Path, text: str) -> None:
    """A saved model folder: ``config.json`` and complete ``.safetensors`` weights (headers only)."""
    if not (path / "config.json").is_file():
        raise ParameterError("encoder", text, f"{path} has no config.json (not a saved model folder)")
    if not any(path.glob("*.safetensors")):
        raise ParameterError("encoder", text, f"{path} has no .safetensors weights")
    check_weight_files(path)
