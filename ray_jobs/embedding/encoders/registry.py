"""The encoder kinds ``--encoder`` accepts: one line per kind.

Adding a kind: write ``encoders/<kind>.py`` with a :class:`~.base.ClipEncoder` subclass (its
``from_spec`` builds it from a parsed spec) and add its line here. Entries are lazy
``module:Class`` references, so parsing a spec (the CLI, the driver before any cluster work)
imports no torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class EncoderKind:
    """One kind: its name, whether it takes a model folder (``kind:DIR``), and its class."""

    name: str
    takes_folder: bool
    target: str  # "module:Class"

    @property
    def usage(self) -> str:
        return f"{self.name}:DIR" if self.takes_folder else self.name

    def load_class(self) -> type:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


_HERE = __name__.rpartition(".")[0]

ENCODER_KINDS: dict[str, EncoderKind] = {kind.name: kind for kind in (
    EncoderKind("echo", True, f"{_HERE}.echo:EchoClipEncoder"),
    EncoderKind("attention-ae", True, f"{_HERE}.attention_ae:AttentionAEClipEncoder"),
    EncoderKind("logmel-stats", False, f"{_HERE}.logmel_stats:LogMelStatsEncoder"),
    EncoderKind("hf", True, f"{_HERE}.hf:HFClipEncoder"),
)}
KINDS = tuple(ENCODER_KINDS)
