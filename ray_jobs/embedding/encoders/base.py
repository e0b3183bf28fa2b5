"""The clip encoder every kind derives from: exact equal-length batches, X-ARES's ``forward``.

Device and precision are the encoder's (:meth:`ClipEncoder.place`, called by ``from_spec``): its
torch modules (``_modules``) move to the device, each kind copies its model inputs there
(:meth:`ClipEncoder._to_device`: pinned memory for a GPU) and runs its model under
:meth:`ClipEncoder._autocast`; ``embed`` always hands back CPU float32 NumPy arrays."""

from __future__ import annotations

import numpy as np


def _groups_by_length(clips: list[np.ndarray]) -> list[list[int]]:
    """Indices of equal-length clips, in first-seen order: each group is one exact batch."""
    groups: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        groups.setdefault(int(clip.shape[-1]), []).append(i)
    return list(groups.values())


class ClipEncoder:
    """Shared driver: equal-length batches through :meth:`_batch`, clip and frame outputs per clip."""

    sampling_rate: int
    output_dim: int
    hop_size_in_ms: float
    precision: str = "fp32"
    _modules: tuple[str, ...] = ()  # attributes holding the torch modules that move to the device

    @classmethod
    def from_spec(cls, spec, *, precision: str = "fp32", device=None) -> "ClipEncoder":
        """Build from a parsed :class:`~.spec.EncoderSpec` (a folder kind gets its folder), placed on
        ``device`` (a resolved ``torch.device``; None: the CPU) at ``precision``."""
        encoder = cls(spec.path) if spec.path is not None else cls()
        return encoder.place(device, precision)

    @property
    def device(self):
        """The torch device this encoder runs on (the CPU until :meth:`place`)."""
        import torch

        return self.__dict__.get("_device") or torch.device("cpu")

    def place(self, device=None, precision: str = "fp32") -> "ClipEncoder":
        """Move the encoder's modules to ``device`` and run at ``precision`` (fp16 needs CUDA)."""
        import torch

        from libtrad.devices import check_precision

        device = torch.device("cpu") if device is None else torch.device(device)
        self.precision = check_precision(precision, device)
        for name in self._modules:
            setattr(self, name, getattr(self, name).to(device))
        self._device = device
        return self

    def _to_device(self, tensor):
        """A model input on the encoder's device (through pinned memory when that is a GPU)."""
        from libtrad.devices import to_device

        return to_device(tensor, self.device)

    def _autocast(self):
        """The autocast context of the encoder's precision on its device (fp32: none)."""
        from libtrad.devices import autocast

        return autocast(self.device, self.precision)

    def embed(self, clips: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        import torch

        pooled: list[np.ndarray | None] = [None] * len(clips)
        frames: list[np.ndarray | None] = [None] * len(clips)
        with torch.inference_mode():
            for group in _groups_by_length(clips):
                batch = torch.from_numpy(np.stack([np.asarray(clips[i], dtype=np.float32) for i in group]))
                clip_out, frame_out = self._batch(batch)
                for row, i in enumerate(group):
                    pooled[i] = clip_out[row].float().cpu().numpy()
                    frames[i] = frame_out[row].float().cpu().numpy()
        return np.stack(pooled).astype(np.float32, copy=False), frames

    def forward(self, audio, audio_attention_mask=None):
        """X-ARES: (B, samples) -> (B, T, D); with a mask, each clip is cut to its real samples and
        shorter clips' frames are zero-padded at the end."""
        import torch

        audio = audio.unsqueeze(0) if audio.dim() == 1 else audio
        lengths = (audio_attention_mask.sum(-1).tolist() if audio_attention_mask is not None
                   else [audio.shape[-1]] * len(audio))
        _, frames = self.embed([a[: int(n)].numpy() for a, n in zip(audio.cpu(), lengths)])
        longest = max(f.shape[0] for f in frames)
        out = np.zeros((len(frames), longest, self.output_dim), dtype=np.float32)
        for i, f in enumerate(frames):
            out[i, : f.shape[0]] = f
        return torch.from_numpy(out)

    __call__ = forward

    def _batch(self, batch):  # (B, samples) -> (clip (B, D), frames (B, T, D))
        raise NotImplementedError


def describe(encoder) -> dict:
    """The contract's numbers, for embeddings.json and the checker."""
    return {"sampling_rate": int(encoder.sampling_rate), "output_dim": int(encoder.output_dim),
            "hop_size_in_ms": float(encoder.hop_size_in_ms)}
