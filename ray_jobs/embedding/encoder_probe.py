"""Running an encoder for ``check-encoder``: each check clip embedded (or forwarded) once and shared by the
checks (:class:`Probe`), the structure ``embed`` must return, and an X-ARES encoder seen through libtrad's
contract (:class:`ForwardContract`). A broken promise found while running is a :class:`ContractError`,
whose message is the failing check's."""

from __future__ import annotations

import numpy as np

from libtrad.core.errors import first_line

SILENCE = None  # the seed of a silent clip


class ContractError(Exception):
    """A broken promise found while running the encoder; its message is the check's message."""


class StructureError(ContractError):
    """``embed`` returned another structure than ``(clip embeddings, frames)``."""


class ForwardContract:
    """An X-ARES encoder seen through libtrad's contract for the checks: ``embed`` from ``forward``.

    Equal-length clips go through ``forward`` together (as ``ClipEncoder.embed`` batches them), each
    clip's frames are its row, its clip embedding their mean over frames; dtypes are kept as
    ``forward`` gives them, so ``dtype`` still sees a float64 encoder."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.sampling_rate, self.output_dim, self.hop_size_in_ms = (
            encoder.sampling_rate,
            encoder.output_dim,
            encoder.hop_size_in_ms,
        )

    def embed(self, clips: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        import torch

        pooled: list = [None] * len(clips)
        frames: list = [None] * len(clips)
        groups: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            groups.setdefault(len(clip), []).append(i)
        for group in groups.values():
            batch = torch.from_numpy(np.stack([np.asarray(clips[i], dtype=np.float32) for i in group]))
            with torch.inference_mode():
                out, _ = to_numpy(self.encoder.forward(batch))
            if out.ndim != 3 or out.shape[0] != len(group):
                raise StructureError(
                    f"forward on {len(group)} clip(s) of {len(clips[group[0]])} samples gives shape "
                    f"{out.shape}, not ({len(group)}, T, D)"
                )
            for row, i in enumerate(group):
                frames[i] = out[row]
                pooled[i] = out[row].mean(axis=0) if out.shape[1] else np.full(out.shape[2], np.nan, out.dtype)
        return np.stack(pooled), frames

    def forward(self, audio, audio_attention_mask=None):
        if audio_attention_mask is None:
            return self.encoder.forward(audio)
        return self.encoder.forward(audio, audio_attention_mask=audio_attention_mask)


class Probe:
    """The encoder plus its outputs on the check clips, computed once and shared by the checks."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.rate = int(encoder.sampling_rate)
        self.dim = int(encoder.output_dim)
        self.hop = float(encoder.hop_size_in_ms)
        self._embedded: dict[tuple, tuple[np.ndarray, list[np.ndarray]]] = {}
        self._forwarded: dict[tuple, tuple[np.ndarray, str]] = {}

    def clip(self, seconds: float, seed: int | None) -> np.ndarray:
        """Seeded noise (0.1 RMS) at the encoder's rate; ``seed=None`` is silence."""
        n = int(round(seconds * self.rate))
        if seed is SILENCE:
            return np.zeros(n, dtype=np.float32)
        return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)

    def embed(self, specs: tuple) -> tuple[np.ndarray, list[np.ndarray]]:
        """``embed`` on the clips ``specs`` names ((seconds, seed) each), cached."""
        if specs not in self._embedded:
            self._embedded[specs] = self.embed_arrays([self.clip(*s) for s in specs], describe_clips(specs))
        return self._embedded[specs]

    def embed_arrays(self, clips: list[np.ndarray], what: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """``embed`` uncached, its result checked for the (B, D) + B x (T, D) structure."""
        try:
            result = self.encoder.embed(clips)
        except Exception as exc:  # noqa: BLE001 - any failure of the encoder is a check result
            raise ContractError(f"embed on {what} raised {type(exc).__name__}: {first_line(exc)}") from None
        return embed_structure(result, len(clips), what)

    def forward(self, specs: tuple, pad_to: float | None = None) -> tuple[np.ndarray, str]:
        """``forward`` on the clips stacked; ``pad_to`` seconds: noise-padded under a mask. Cached."""
        key = (specs, pad_to)
        if key not in self._forwarded:
            self._forwarded[key] = self._forward(specs, pad_to)
        return self._forwarded[key]

    def _forward(self, specs: tuple, pad_to: float | None) -> tuple[np.ndarray, str]:
        import torch

        clips = [self.clip(*s) for s in specs]
        width = int(round(pad_to * self.rate)) if pad_to else max(len(c) for c in clips)
        audio = (0.5 * np.random.default_rng(99).standard_normal((len(clips), width))).astype(np.float32)
        mask = np.zeros((len(clips), width), dtype=np.int64)
        for i, c in enumerate(clips):
            audio[i, : len(c)], mask[i, : len(c)] = c, 1
        what = describe_clips(specs) + (f" padded to {pad_to:g} s under a mask" if pad_to else "")
        try:
            with torch.inference_mode():
                out = (
                    self.encoder.forward(torch.from_numpy(audio), audio_attention_mask=torch.from_numpy(mask))
                    if pad_to
                    else self.encoder.forward(torch.from_numpy(audio))
                )
        except Exception as exc:  # noqa: BLE001
            raise ContractError(f"forward on {what} raised {type(exc).__name__}: {first_line(exc)}") from None
        return to_numpy(out)


def embed_structure(result, count: int, what: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(clip (B, D), [frames (T_i, D)] * B)`` as arrays (dtype kept), or a ContractError."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise StructureError(f"embed on {what} returned {type(result).__name__}, not (clip embeddings, frames)")
    pooled, frames = np.asarray(result[0]), [np.asarray(f) for f in result[1]]
    if pooled.ndim != 2 or pooled.shape[0] != count:
        raise StructureError(f"embed on {what} returned clip embeddings of shape {pooled.shape}, expected ({count}, D)")
    if len(frames) != count or any(f.ndim != 2 for f in frames):
        raise StructureError(
            f"embed on {what} returned frames of shapes {[f.shape for f in frames]}, expected {count} arrays of (T, D)"
        )
    return pooled, frames


def to_numpy(out) -> tuple[np.ndarray, str]:
    """A torch tensor (or array) as NumPy, with the dtype name it had (``float32``)."""
    if hasattr(out, "detach"):
        name = str(out.dtype).replace("torch.", "")
        tensor = out.detach().cpu()
        return (tensor.float() if name == "bfloat16" else tensor).numpy(), name
    array = np.asarray(out)
    return array, str(array.dtype)


def describe_clips(specs: tuple) -> str:
    """``"a 0.5-s clip"``, ``"a 1-s silent clip"``, ``"3 clips of 1, 1, 0.5 s"``."""
    if len(specs) == 1:
        seconds, seed = specs[0]
        return f"a {seconds:g}-s {'silent ' if seed is SILENCE else ''}clip"
    return f"{len(specs)} clips of {', '.join(f'{s:g}' for s, _ in specs)} s"
