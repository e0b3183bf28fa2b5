"""The one encoder contract behind ``libtrad embed`` (and ``libtrad check-encoder``), one module per kind.

Contract (X-ARES's, plus a clip-level call): an encoder has ``sampling_rate`` (Hz it expects),
``output_dim`` (D), ``hop_size_in_ms`` (time between frames) and

* ``embed(clips) -> (clips_embeddings (B, D) float32, frames [(T_i, D) float32, ...])`` for mono
  float32 NumPy clips of any lengths at ``sampling_rate``; every clip's result equals the clip run
  alone (clips of equal length are batched together, others run apart, so padding never leaks);
  ``embed(clips, chunk_samples=, batch_samples=)`` bounds the audio per forward and, for a
  frame-local encoder (``context_in_ms``), cuts long clips into exactly stitched chunks (:mod:`.chunking`);
* ``forward(audio (B, samples), audio_attention_mask=None) -> (B, T, D)`` torch, for X-ARES-style callers.

Every kind's object is a ``torch.nn.Module`` (:class:`~.base.ClipEncoder`) with a working
``.to(device)``, so X-ARES's own checker and runner take it as they are; :mod:`.xares` gives the
zero-argument class X-ARES's loader imports from a file (``libtrad export-xares``).

The kinds (``--encoder``) are listed once in :mod:`.registry`, each in its own module:
:mod:`.echo` (``echo:DIR``), :mod:`.attention_ae` (``attention-ae:DIR``), :mod:`.logmel_stats`
(``logmel-stats``), :mod:`.hf` (``hf:DIR``). :mod:`.spec` parses a value and gives its cache
identity: the SHA-256 of its files' bytes (weights, config, feature extractor config) and its
options — never a class name — so a changed weight re-embeds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from libtrad.core.devices import check_precision, node_name, parse_device, resolve_device
from libtrad.core.errors import LibtradError, ParameterError, first_line
from libtrad.core.options import check_number
from libtrad.folders.verify.inputs import check_input_folder
from libtrad.ray_jobs.embedding.encoders.contract import describe
from libtrad.ray_jobs.embedding.encoders.registry import ENCODER_KINDS, KINDS, EncoderKind
from libtrad.ray_jobs.embedding.encoders.sandbox import run_isolated
from libtrad.ray_jobs.embedding.encoders.spec import FINGERPRINT_VERSION, EncoderSpec, parse_encoder_spec
from libtrad.ray_jobs.embedding.encoders.user_code import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S

if TYPE_CHECKING:  # the base is a torch Module: imported when an encoder is built, not to parse a spec
    from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder


def load_encoder(spec: EncoderSpec | str, *, precision: str = "fp32", device="auto") -> ClipEncoder:
    """Build the encoder a spec names (weights loaded once; callers keep it for many batches), on
    ``device`` (``auto|cpu|cuda|cuda:N``, resolved here: call it where the work runs) at ``precision``."""
    spec = parse_encoder_spec(spec) if isinstance(spec, str) else spec
    placed = place(device, precision)
    cls = ENCODER_KINDS[spec.kind].load_class()
    try:
        return cls.from_spec(spec, precision=precision, device=placed)
    except LibtradError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ParameterError(
            "encoder", spec.text, f"cannot load the {spec.kind} model ({type(exc).__name__}: {first_line(exc)})"
        ) from None


def place(device="auto", precision: str = "fp32"):
    """The ``torch.device`` an encoder runs on here, with ``precision`` checked against it.

    ``--precision fp16`` needs CUDA: with ``--device auto`` on a node without one the refusal says
    that auto resolved to the CPU there (not a bare "fp16 runs on CUDA only")."""
    spec = parse_device(device)
    check_precision(precision)
    resolved = resolve_device(spec)
    if precision == "fp16" and resolved.type != "cuda" and spec.kind == "auto":
        raise ParameterError(
            "precision",
            precision,
            f"fp16 runs on CUDA only, and --device auto resolved to cpu on "
            f"node {node_name()} (no CUDA GPU visible); use bf16 or fp32, or run where a GPU is",
        )
    check_precision(precision, resolved)
    return resolved


def with_timeout(spec: EncoderSpec, seconds: float | None) -> EncoderSpec:
    """``spec`` carrying ``--encoder-timeout`` (seconds, in (0, 86400]; None: the default,
    :data:`~.user_code.DEFAULT_TIMEOUT_S`) to wherever it is loaded."""
    if seconds is None:
        return spec
    check_number("encoder_timeout", seconds, low=0, low_open=True, high=MAX_TIMEOUT_S)
    return replace(spec, timeout_s=float(seconds))


def runs_user_code(spec: EncoderSpec) -> bool:
    """Whether loading ``spec`` runs a user's code (``py:``, ``hear:``): then it is probed in a process of
    its own (:mod:`.sandbox`)."""
    return ENCODER_KINDS[spec.kind].user_code


def describe_loaded(spec: EncoderSpec) -> dict:
    """The contract's numbers of the encoder ``spec`` names, loaded on the CPU at fp32 (and dropped)."""
    return describe(load_encoder(spec, precision="fp32", device="cpu"))


def preflight(spec: EncoderSpec | str, *, precision: str = "fp32") -> dict:
    """Load the encoder once where the job starts (the driver), before any worker: returns its
    :func:`describe` numbers and drops it.

    Why: ``libtrad embed`` loads the encoder inside each Ray actor. An encoder that cannot load
    there (a git-LFS pointer instead of weights, weights of another model, a text model) killed
    every actor it was sent to in turn — Ray printing each traceback, the job retrying the unit
    until it gave up with "out of memory?". Loaded here first, the same folder fails at once in
    one line naming the file. Costs one load (and the torch import) in the driver.

    Always on the CPU at fp32 (a load is the same on every device, and the driver may have no GPU
    or need it for nothing): ``precision`` is only checked by name here; whether it runs on the
    device is the actors' check (:func:`place`), or the driver's for a local job.

    A kind that runs a user's code (``py:``, ``hear:``) is loaded in a process of its own
    (:func:`~.sandbox.run_isolated`): a module that calls ``os._exit`` or crashes while it imports, is
    built or runs its probe is one error line naming the stage, not a driver that vanished with exit
    status 0; each stage is bounded by the spec's ``--encoder-timeout``.
    """
    check_precision(precision)
    spec = parse_encoder_spec(spec) if isinstance(spec, str) else spec
    if runs_user_code(spec):
        return run_isolated("libtrad.ray_jobs.embedding.encoders:describe_loaded", spec, text=spec.text)
    return describe_loaded(spec)


def check_encoder_folder(spec: EncoderSpec, *, no_verify: bool = False) -> dict | None:
    """An encoder folder libtrad wrote (``convert echo``, ``train ae``) against its ``.libtrad.json``
    checksums, as every libtrad folder is checked before it is read; None for a kind without a folder.
    A folder of someone else's (an ``hf:`` checkout) is used with a note."""
    if spec.path is None:
        return None

    return check_input_folder(spec.path, f"--encoder {spec.text}", kinds=("model",), no_verify=no_verify)


def __getattr__(name: str):
    """The kinds' classes by name (``encoders.EchoClipEncoder`` …) and their base ``ClipEncoder`` (an
    ``nn.Module``), imported on first use: this package is imported to parse a spec, without torch."""
    if name == "ClipEncoder":
        from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder

        return ClipEncoder
    for kind in ENCODER_KINDS.values():
        if kind.target.endswith(":" + name):
            return kind.load_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ClipEncoder",
    "DEFAULT_TIMEOUT_S",
    "ENCODER_KINDS",
    "EncoderKind",
    "EncoderSpec",
    "FINGERPRINT_VERSION",
    "KINDS",
    "check_encoder_folder",
    "describe",
    "describe_loaded",
    "load_encoder",
    "parse_encoder_spec",
    "place",
    "preflight",
    "runs_user_code",
    "with_timeout",
]
