"""A parsed ``--encoder`` value and its cache identity (the bytes of its files, never a class name)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from libtrad.errors import ParameterError
from libtrad.models.weights import check_weight_files
from libtrad.outputs import sha256_file
from libtrad.ray_jobs.embedding.encoders.registry import ENCODER_KINDS

FINGERPRINT_VERSION = 1  # bump when what an encoder computes changes without its files changing
# Files whose bytes define a model folder's outputs (weights, config, feature extractor).
_IDENTITY_FILES = ("config.json", "preprocessor_config.json", "model.safetensors")


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed ``--encoder`` value: its kind and, for the kinds with weights, the folder."""

    kind: str
    path: Path | None
    text: str

    def fingerprint(self) -> dict:
        """What identifies this encoder's outputs: kind + the SHA-256 of every file that defines them."""
        files = {}
        if self.path is not None:
            for name in sorted(p.name for p in self.path.iterdir() if p.is_file()):
                if name in _IDENTITY_FILES or name.endswith(".safetensors"):
                    files[name] = sha256_file(self.path / name)
        return {"kind": self.kind, "version": FINGERPRINT_VERSION, "files": files}


def parse_encoder_spec(text: str) -> EncoderSpec:
    """``echo:DIR`` | ``attention-ae:DIR`` | ``logmel-stats`` | ``hf:DIR`` -> :class:`EncoderSpec`.

    The folder must exist and hold a ``config.json`` and weights, complete safetensors files (a
    git-LFS pointer, a text file or a cut file is named as such); checked here from the files'
    headers alone (no torch), before any cluster or data work starts. Whether the weights are the
    model the config describes needs the model: :func:`~libtrad.ray_jobs.embedding.encoders.preflight`.
    """
    name, sep, rest = str(text).partition(":")
    kind = ENCODER_KINDS.get(name)
    if kind is None:
        raise ParameterError("encoder", text, f"unknown encoder kind {name!r}; expected one of "
                             + ", ".join(k.usage for k in ENCODER_KINDS.values()))
    if not kind.takes_folder:
        if sep:
            raise ParameterError("encoder", text, f"{name} takes no folder")
        return EncoderSpec(name, None, text)
    if not rest:
        raise ParameterError("encoder", text, f"{name} needs a model folder: {kind.usage}")
    path = Path(rest).expanduser()
    if not path.is_dir():
        raise ParameterError("encoder", text, f"{path} is not a folder")
    if not (path / "config.json").is_file():
        raise ParameterError("encoder", text, f"{path} has no config.json (not a saved model folder)")
    if not any(path.glob("*.safetensors")):
        raise ParameterError("encoder", text, f"{path} has no .safetensors weights")
    check_weight_files(path)
    return EncoderSpec(name, path.resolve(), text)
