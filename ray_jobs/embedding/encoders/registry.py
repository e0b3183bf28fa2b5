"""The encoder kinds ``--encoder`` accepts: one line per kind.

Adding a kind: write ``encoders/<kind>.py`` with a :class:`~.base.ClipEncoder` subclass (its
``from_spec`` builds it from a parsed spec) and add its line here. Entries are lazy
``module:name`` references, so parsing a spec (the CLI, the driver before any cluster work)
imports no torch.

What a kind takes after ``kind:`` (``takes``):

* ``"none"`` — nothing (``logmel-stats``);
* ``"folder"`` — a model folder: a local ``DIR`` or a Hub id ``ORG/NAME[@REV]``
  (:func:`~.spec.parse_encoder_spec` resolves both to a folder);
* ``"target"`` — its own text (``py:package.module:Class?k=v``, ``hear:module``), parsed by the
  kind's ``parser`` (``module:function``, called as ``parser(kind, rest, text, weights)`` and
  returning an :class:`~.spec.EncoderSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass

from libtrad.core.resolve import resolve

TAKES = ("none", "folder", "target")


@dataclass(frozen=True)
class EncoderKind:
    """One kind: its name, what it takes after ``kind:``, its class and (``target`` kinds) its parser."""

    name: str
    takes: str  # one of TAKES
    target: str  # "module:Class"
    parser: str | None = None  # "module:function" for takes="target"
    shape: str = ""  # what follows "kind:" in the usage line of a takes="target" kind
    user_code: bool = False  # runs a user's code (its module, its package): bounded, probed in a process of its own

    @property
    def takes_folder(self) -> bool:
        return self.takes == "folder"

    @property
    def usage(self) -> str:
        if self.takes == "folder":
            return f"{self.name}:DIR|ORG/NAME[@REV]"
        if self.takes == "target":
            return f"{self.name}:{self.shape}"
        return self.name

    def load_class(self) -> type:
        return resolve(self.target)

    def load_parser(self):
        return resolve(self.parser)


_HERE = __name__.rpartition(".")[0]

ENCODER_KINDS: dict[str, EncoderKind] = {
    kind.name: kind
    for kind in (
        EncoderKind("echo", "folder", f"{_HERE}.echo:EchoClipEncoder"),
        EncoderKind("attention-ae", "folder", f"{_HERE}.attention_ae:AttentionAEClipEncoder"),
        EncoderKind("logmel-stats", "none", f"{_HERE}.logmel_stats:LogMelStatsEncoder"),
        EncoderKind("hf", "folder", f"{_HERE}.hf:HFClipEncoder"),
        EncoderKind(
            "hear",
            "target",
            f"{_HERE}.hear:HearClipEncoder",
            parser=f"{_HERE}.hear:parse_spec",
            shape="module[?model_file=PATH]",
            user_code=True,
        ),
        EncoderKind(
            "py",
            "target",
            f"{_HERE}.python:PythonClipEncoder",
            parser=f"{_HERE}.python:parse_spec",
            shape="package.module:Class[?key=value...]",
            user_code=True,
        ),
    )
}
KINDS = tuple(ENCODER_KINDS)
