"""The clip encoder every kind derives from: a ``torch.nn.Module`` that keeps both contracts —
libtrad's ``embed(clips)`` (exact equal-length batches, clip and frame outputs per clip) and
X-ARES's ``forward(audio, audio_attention_mask=None) -> (B, T, D)``.

Why a Module: X-ARES's checker (``xares.audio_encoder_checker.check_audio_encoder``) and its runner
take an ``nn.Module`` and move it with ``.to(device)``; so does any torch code that puts an encoder
inside a bigger model. This module imports torch, so only the kinds' modules import it (when an
encoder is built); parsing a spec and ``libtrad --help`` never do (``encoders.ClipEncoder`` is
served lazily).

Device and precision are the encoder's: :meth:`ClipEncoder.place` (called by ``from_spec``) or any
``.to(device)`` / ``.cuda()`` / ``.cpu()`` — also a parent module's — moves its submodules and a
zero-size buffer whose device :attr:`ClipEncoder.device` reports, so the device reported is always
where the encoder's tensors are, parameters or not (``logmel-stats`` has none). Each kind copies its
model inputs there (:meth:`ClipEncoder._to_device`: pinned memory for a GPU) and runs its model
under :meth:`ClipEncoder._autocast`; ``embed`` always hands back CPU float32 NumPy arrays and
``forward`` a float32 tensor on the input's device."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from libtrad.core.devices import autocast, check_precision, to_device
from libtrad.ray_jobs.embedding.encoders.chunking import budget_batches, frame_hop_samples, kept_frames, plan_pieces
from libtrad.ray_jobs.embedding.encoders.contract import describe


def _groups_by_length(lengths: list[int]) -> list[list[int]]:
    """Indices of equal lengths, in first-seen order: each group is one exact batch (or several, by budget)."""
    groups: dict[int, list[int]] = {}
    for i, length in enumerate(lengths):
        groups.setdefault(length, []).append(i)
    return list(groups.values())


class ClipEncoder(nn.Module):
    """Shared driver: equal-length batches through :meth:`_batch`, clip and frame outputs per clip.

    A frozen encoder: it stays in eval mode (``train()`` keeps dropout off), so ``embed`` gives the
    same bytes whatever a parent module is doing."""

    sampling_rate: int
    output_dim: int
    hop_size_in_ms: float
    context_in_ms: float | None = None  # frame-local encoders only: see chunking (their clip = mean of frames)
    precision: str = "fp32"

    def __new__(cls, *args, **kwargs):
        # The Module is set up here, before any __init__: a kind's __init__ may assign its model
        # without calling super().__init__() first (the kinds were written when this base was no
        # Module, and a user's kind need not know it is one).
        self = super().__new__(cls)
        nn.Module.__init__(self)
        self.register_buffer("_device_anchor", torch.empty(0), persistent=False)
        self.training = False
        return self

    def __init__(self) -> None:
        """Nothing to set up: :meth:`__new__` made the Module (calling this again resets nothing)."""

    @classmethod
    def from_spec(cls, spec, *, precision: str = "fp32", device=None) -> ClipEncoder:
        """Build from a parsed :class:`~.spec.EncoderSpec` (a folder kind gets its folder), placed on
        ``device`` (a resolved ``torch.device``; None: the CPU) at ``precision``."""
        encoder = cls(spec.path) if spec.path is not None else cls()
        return encoder.place(device, precision)

    @property
    def device(self) -> torch.device:
        """The torch device this encoder runs on: where its last ``place``/``.to`` put it."""
        return self._device_anchor.device

    def place(self, device=None, precision: str = "fp32") -> ClipEncoder:
        """Move the encoder to ``device`` and run at ``precision`` (fp16 needs CUDA)."""
        device = torch.device("cpu") if device is None else torch.device(device)
        self.precision = check_precision(precision, device)
        return self.to(device)

    def train(self, mode: bool = True) -> ClipEncoder:
        """Stay in eval mode: an encoder is frozen (its outputs must not depend on dropout)."""
        return super().train(False)

    def extra_repr(self) -> str:
        numbers = describe(self) if hasattr(self, "output_dim") else {}
        return ", ".join([f"{k}={v}" for k, v in numbers.items()] + [f"precision={self.precision}"])

    def _to_device(self, tensor):
        """A model input on the encoder's device (through pinned memory when that is a GPU)."""
        return to_device(tensor, self.device)

    def _autocast(self):
        """The autocast context of the encoder's precision on its device (fp32: none)."""
        return autocast(self.device, self.precision)

    def embed(
        self, clips: list[np.ndarray], *, chunk_samples: int | None = None, batch_samples: int | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``clips`` (mono float32, any lengths) -> (clip embeddings (B, D), frames [(T_i, D)]).

        ``chunk_samples``: cut clips of at least twice that length into chunks and stitch their frames
        exactly, where this encoder is frame-local (``context_in_ms``); ``batch_samples``: at most that
        many samples per forward (a batch of long clips is split, never a clip). Neither changes a
        clip's result (:mod:`.chunking`); both None: every equal-length group in one forward."""
        pieces = plan_pieces(
            [int(np.shape(c)[-1]) for c in clips], self.hop_samples(), self.context_samples(), chunk_samples
        )
        pooled: list[np.ndarray | None] = [None] * len(clips)
        parts: list[list] = [[] for _ in clips]  # per clip: (piece index, its kept frames)
        with torch.inference_mode():
            for group in _groups_by_length([p.length for p in pieces]):
                for batch_ids in budget_batches(group, pieces[group[0]].length, batch_samples):
                    batch = torch.from_numpy(
                        np.stack(
                            [
                                np.asarray(clips[pieces[i].clip][pieces[i].start : pieces[i].end], dtype=np.float32)
                                for i in batch_ids
                            ]
                        )
                    )
                    clip_out, frame_out = self._batch(batch)
                    for row, i in enumerate(batch_ids):
                        piece = pieces[i]
                        frames = frame_out[row].float().cpu().numpy()
                        if piece.whole:
                            pooled[piece.clip] = clip_out[row].float().cpu().numpy()
                        parts[piece.clip].append((i, kept_frames(piece, frames, self._shown())))
        frames_out = []
        for c, found in enumerate(parts):
            frames = (
                np.concatenate([f for _, f in sorted(found, key=lambda item: item[0])])
                if len(found) > 1
                else found[0][1]
            )
            if pooled[c] is None:  # a chunked clip: the mean of its stitched frames, as the whole run's clip
                pooled[c] = frames.mean(axis=0, dtype=np.float64).astype(np.float32)
            frames_out.append(frames)
        return np.stack(pooled).astype(np.float32, copy=False), frames_out

    def _shown(self) -> str:
        spec = getattr(self, "spec", None)
        return f"encoder {spec.text}" if spec is not None else type(self).__name__

    def hop_samples(self) -> int | None:
        """The hop in samples when it is a whole number, else None."""
        return frame_hop_samples(float(self.hop_size_in_ms), int(self.sampling_rate))

    def context_samples(self) -> int | None:
        """How far a frame reads beyond its own hop, in samples, where the encoder declares it
        (``context_in_ms``): then long clips may be chunked (:mod:`.chunking`). None: never chunked."""
        context = getattr(self, "context_in_ms", None)
        if context is None or self.hop_samples() is None:
            return None
        return int(math.ceil(float(context) * int(self.sampling_rate) / 1000.0 - 1e-9))

    def forward(self, audio: torch.Tensor, audio_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """X-ARES: (B, samples) -> (B, T, D) float32 on ``audio``'s device; with a mask, each clip is cut
        to its real samples and shorter clips' frames are zero-padded at the end. Runs through
        :meth:`embed`, so both contracts give the same numbers."""
        audio = audio.unsqueeze(0) if audio.dim() == 1 else audio
        lengths = (
            audio_attention_mask.sum(-1).tolist()
            if audio_attention_mask is not None
            else [audio.shape[-1]] * len(audio)
        )
        _, frames = self.embed([a[: int(n)].numpy() for a, n in zip(audio.detach().cpu().float(), lengths)])
        longest = max(f.shape[0] for f in frames)
        out = np.zeros((len(frames), longest, self.output_dim), dtype=np.float32)
        for i, f in enumerate(frames):
            out[i, : f.shape[0]] = f
        return torch.from_numpy(out).to(audio.device)

    def _batch(self, batch):  # (B, samples) -> (clip (B, D), frames (B, T, D))
        raise NotImplementedError
