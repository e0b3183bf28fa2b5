"""``python -m libtrad.hear SPEC``: does libtrad's HEAR module keep the HEAR 2021 API for SPEC?

The published checker, hearvalidator, cannot run beside libtrad (2021.0.6 needs Python < 3.9,
libtrad >= 3.10; 2021.0.2 imports TensorFlow at import time), so these are its checks, written
again from its published behaviour and run the same way (white noise in [-1, 1] at the model's
sample rate, on the model's device):

* ``load_model`` returns a ``torch.nn.Module`` that moves with ``.to(device)``;
* ``sample_rate`` is one of hearvalidator's 16000, 22050, 44100, 48000 Hz;
* ``scene_embedding_size`` and ``timestamp_embedding_size`` are ints;
* ``get_timestamp_embeddings`` on 2 sounds of 1.07, 1.98 and 4 s: float32 (2, T, D) embeddings
  with D = ``timestamp_embedding_size`` and (2, T) timestamps; adjacent timestamps within 1 ms of
  their mean step; the last timestamp at most the clip's duration and at least the duration minus
  two steps. Warnings (hearvalidator's, not failures): a step over 50 ms (HEAR's suggestion for
  music transcription), a first timestamp after one step, a last one more than a step (or 50 ms)
  before the end;
* ``get_scene_embeddings`` on 4 sounds of 2.74 s: float32 (4, ``scene_embedding_size``).

Added here: every value finite (hearvalidator does not look). Exit status 0 when nothing failed,
1 when a check failed; a spec libtrad refuses is one ``error:`` line, exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from libtrad.core.devices import resolve_device

SAMPLE_RATES = (16000, 22050, 44100, 48000)  # hearvalidator 2021's ACCEPTABLE_SAMPLE_RATE
TIMESTAMP_RUNS = ((2, 1.07), (2, 1.98), (2, 4.0))  # (sounds, seconds), as hearvalidator runs them
SCENE_RUN = (4, 2.74)
SUGGESTED_HOP_MS = 50.0
REGULAR_MS = 1.0


@dataclass
class Check:
    """One line of the report: ``status`` is ok, warn or FAIL."""

    name: str
    status: str
    message: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.message}"


def self_check(spec: str, *, device: str = "auto", module=None) -> list[Check]:
    """Run the checks on ``module`` (default :mod:`libtrad.hear`) with ``load_model(spec)`` on ``device``
    (``auto|cpu|cuda|cuda:N``). A spec libtrad refuses raises its LibtradError (one line)."""
    import torch

    if module is None:
        import libtrad.hear as module
    placed = resolve_device(device)
    model = module.load_model(spec)
    checks: list[Check] = []
    if not isinstance(model, torch.nn.Module):
        return [Check("load_model", "FAIL", f"returned a {type(model).__name__}, not a torch.nn.Module")]
    moved = model.to(placed)
    checks.append(
        Check("load_model", "ok", f"{type(model).__name__} (torch.nn.Module) on {placed}")
        if moved is model
        else Check("load_model", "FAIL", ".to(device) did not return the model")
    )
    checks.append(_check_sample_rate(model))
    checks.extend(_check_sizes(model))
    if any(c.status == "FAIL" for c in checks):
        return checks
    generator = torch.Generator().manual_seed(0)
    for sounds, seconds in TIMESTAMP_RUNS:
        checks.extend(_check_timestamps(module, model, _noise(sounds, seconds, model, placed, generator), seconds))
    checks.append(_check_scene(module, model, _noise(*SCENE_RUN, model, placed, generator)))
    return checks


def format_report(checks: list[Check]) -> str:
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    return "\n".join([c.line() for c in checks] + [f"{len(checks)} checks, {failed} failed, {warned} warnings"])


def _noise(sounds: int, seconds: float, model, device, generator):
    import torch

    audio = torch.rand((sounds, int(seconds * model.sample_rate)), generator=generator) * 2 - 1.0
    return audio.to(device)


def _check_sample_rate(model) -> Check:
    rate = getattr(model, "sample_rate", None)
    if rate not in SAMPLE_RATES:
        return Check(
            "sample_rate",
            "FAIL",
            f"{rate!r} is not one of hearvalidator's {', '.join(map(str, SAMPLE_RATES))} "
            "Hz (HEAR does not resample for the model)",
        )
    return Check("sample_rate", "ok", f"{rate} Hz")


def _check_sizes(model) -> list[Check]:
    out = []
    for name in ("scene_embedding_size", "timestamp_embedding_size"):
        value = getattr(model, name, None)
        ok = isinstance(value, int) and not isinstance(value, bool)
        out.append(Check(name, "ok" if ok else "FAIL", str(value) if ok else f"{value!r} is not an int"))
    return out


def _check_timestamps(module, model, audio, seconds: float) -> list[Check]:
    import torch

    name = f"timestamp_embeddings {tuple(audio.shape)[0]} x {seconds:g} s"
    embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
    if not (isinstance(embeddings, torch.Tensor) and isinstance(timestamps, torch.Tensor)):
        return [
            Check(name, "FAIL", f"returned {type(embeddings).__name__}, {type(timestamps).__name__}, not torch tensors")
        ]
    problems = []
    if embeddings.dtype != torch.float32:
        problems.append(f"embeddings are {embeddings.dtype}, not torch.float32")
    e, t = embeddings.detach().cpu().float().numpy(), timestamps.detach().cpu().double().numpy()
    length_ms = 1000.0 * seconds
    if e.ndim != 3 or t.ndim != 2:
        return [
            Check(
                name,
                "FAIL",
                f"embeddings of shape {e.shape} and timestamps of shape {t.shape}; expected "
                "(n_sounds, T, D) and (n_sounds, T)",
            )
        ]
    if e.shape[0] != audio.shape[0]:
        problems.append(f"{e.shape[0]} embeddings rows for {audio.shape[0]} sounds")
    if e.shape[:2] != t.shape:
        problems.append(f"timestamps of shape {t.shape} for embeddings of shape {e.shape}")
    if e.shape[2] != model.timestamp_embedding_size:
        problems.append(
            f"embedding size {e.shape[2]}, but timestamp_embedding_size is {model.timestamp_embedding_size}"
        )
    if not (np.isfinite(e).all() and np.isfinite(t).all()):
        problems.append("NaN or infinite values")
    warnings, summary = [], f"{e.shape}"
    if not problems and t.shape[1] > 1:
        steps = np.diff(t)
        mean, deviation = float(steps.mean()), float(np.max(np.abs(steps - steps.mean())))
        first, last = float(t.min()), float(t.max())
        summary = f"{e.shape}, every {mean:g} ms from {first:g} to {last:g} ms"
        if deviation > REGULAR_MS:
            problems.append(f"timestamps are not regular: a step {deviation:g} ms off their mean {mean:g} ms")
        if last > length_ms:
            problems.append(f"timestamps end at {last:g} ms, after the {length_ms:g}-ms audio")
        elif last < length_ms - 2 * mean:
            problems.append(
                f"timestamps end at {last:g} ms, more than two steps before the end of the {length_ms:g}-ms audio"
            )
        elif last < length_ms - mean or last < length_ms - 50:
            warnings.append(
                f"timestamps end at {last:g} ms: the last {length_ms - last:g} ms of the audio have no "
                "embedding centred in them"
            )
        if np.max(steps) > SUGGESTED_HOP_MS:
            warnings.append(
                f"timestamps {np.max(steps):g} ms apart; HEAR suggests at most {SUGGESTED_HOP_MS:g} ms "
                "(this encoder's own hop: libtrad does not interpolate a finer one)"
            )
        if first > mean:
            warnings.append(f"timestamps begin at {first:g} ms, after one step")
    if problems:
        return [Check(name, "FAIL", "; ".join(problems))]
    return [Check(name, "ok", summary)] + [Check(name, "warn", w) for w in warnings]


def _check_scene(module, model, audio) -> Check:
    import torch

    name = f"scene_embeddings {tuple(audio.shape)[0]} x {audio.shape[1] / model.sample_rate:g} s"
    embeddings = module.get_scene_embeddings(audio, model)
    if not isinstance(embeddings, torch.Tensor):
        return Check(name, "FAIL", f"returned {type(embeddings).__name__}, not a torch tensor")
    problems = []
    if embeddings.dtype != torch.float32:
        problems.append(f"embeddings are {embeddings.dtype}, not torch.float32")
    e = embeddings.detach().cpu().float().numpy()
    if e.ndim != 2 or e.shape[0] != audio.shape[0]:
        problems.append(f"shape {e.shape}, expected ({audio.shape[0]}, scene_embedding_size)")
    elif e.shape[1] != model.scene_embedding_size:
        problems.append(f"embedding size {e.shape[1]}, but scene_embedding_size is {model.scene_embedding_size}")
    if not np.isfinite(e).all():
        problems.append("NaN or infinite values")
    return Check(name, "FAIL" if problems else "ok", "; ".join(problems) if problems else f"{e.shape}")
