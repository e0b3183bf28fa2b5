"""HEAR's embedding functions over a loaded model (:class:`~libtrad.hear.model.LibtradHearModel`): the scene
embeddings (libtrad's clip embeddings) and the timestamp embeddings (its frames, with each frame's centre in
ms; the timestamps per kind are :mod:`libtrad.hear`'s docstring). Apart from the package so that the model's
``forward`` and the package's API use one implementation without importing each other."""

from __future__ import annotations

import numpy as np

from libtrad.core.devices import autocast, to_device
from libtrad.core.errors import LibtradError

_CENTRED_KINDS = ("logmel-stats", "attention-ae")  # centred STFT frames: frame k centred on sample k x hop


def get_scene_embeddings(audio, model):
    """HEAR scene embeddings: (n_sounds, n_samples) audio at ``model.sample_rate`` -> (n_sounds, D)
    float32 on the audio's device (libtrad's clip embeddings)."""
    import torch

    clips, device = _clips(audio, model)
    if not clips:
        return torch.zeros(0, model.scene_embedding_size, device=device)
    pooled, _ = model.encoder.embed(clips)
    return torch.from_numpy(np.ascontiguousarray(pooled, dtype=np.float32)).to(device)


def get_timestamp_embeddings(audio, model):
    """HEAR timestamp embeddings: -> ((n_sounds, T, D) float32, (n_sounds, T) float32 ms), on the
    audio's device; the timestamps are each frame's centre (see the module docstring per kind)."""
    import torch

    clips, device = _clips(audio, model)
    n_samples = int(audio.shape[-1])
    if not clips:
        return (torch.zeros(0, 0, model.timestamp_embedding_size, device=device), torch.zeros(0, 0, device=device))
    frames = _frames(model, clips)  # (n_sounds, T, D)
    times = frame_times_ms(model.encoder, model.spec.kind, n_samples, frames.shape[1])
    if model.spec.kind == "echo":  # a zero-padded tail patch centred after the clip's end is left out
        keep = times <= 1000.0 * n_samples / model.sample_rate
        frames, times = frames[:, keep], times[keep]
    stamps = np.tile(times.astype(np.float32), (frames.shape[0], 1))
    return (
        torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(device),
        torch.from_numpy(np.ascontiguousarray(stamps)).to(device),
    )


def frame_times_ms(encoder, kind: str, n_samples: int, n_frames: int) -> np.ndarray:
    """The centre (ms) of each of ``n_frames`` frames an encoder of ``kind`` gives for ``n_samples``."""
    own = getattr(encoder, "frame_times_ms", None)
    if callable(own):
        return np.asarray(own(n_samples, n_frames), dtype=np.float64)
    k = np.arange(n_frames, dtype=np.float64)
    if kind in _CENTRED_KINDS:
        return k * float(encoder.hop_size_in_ms)
    if kind == "echo":
        wave = encoder.encoder
        window, hop = wave.feature_extractor.stft_params(encoder.sampling_rate)
        patch = wave.model.config.patch_frames
        centres = k * patch * hop + ((patch - 1) * hop + window) / 2.0  # samples
        return 1000.0 * centres / encoder.sampling_rate
    return (k + 0.5) * float(encoder.hop_size_in_ms)


def _clips(audio, model) -> tuple[list[np.ndarray], object]:
    """(n_sounds, n_samples) torch tensor or array -> CPU float32 clips, and the device to answer on."""
    import torch

    shape = tuple(getattr(audio, "shape", ()))
    if len(shape) != 2:
        raise LibtradError(
            f"libtrad.hear: audio must be (n_sounds, n_samples) mono at {model.sample_rate} Hz, got shape {shape}"
        )
    if isinstance(audio, torch.Tensor):
        device = audio.device
        array = audio.detach().to("cpu", torch.float32).numpy()
    else:
        device, array = torch.device("cpu"), np.asarray(audio, dtype=np.float32)
    return list(array), device


def _frames(model, clips: list[np.ndarray]) -> np.ndarray:
    """libtrad's frames of equal-length clips, (n_sounds, T, D) float32 (ECHO: see :func:`_echo_frames`)."""
    if model.spec.kind == "echo":
        return _echo_frames(model.encoder, clips)
    _, frames = model.encoder.embed(clips)
    return np.stack(frames)


def _echo_frames(encoder, clips: list[np.ndarray]) -> np.ndarray:
    """ECHO's patches on one 160-ms grid: a clip of at most one chunk (2000 spectrogram frames) is
    ECHO's own output; a longer one's spectrogram runs as consecutive 2000-frame chunks (ECHO's own
    chunks, without the overlapping re-run of the tail), so patch k is always centred at 160 k + 87.5 ms."""
    import torch

    wave = encoder.encoder
    window, hop = wave.feature_extractor.stft_params(encoder.sampling_rate)
    spectrogram_frames = 1 + (len(clips[0]) - window) // hop if len(clips[0]) >= window else 0
    chunk = wave.model.config.max_frames
    if spectrogram_frames <= chunk:
        _, frames = encoder.embed(clips)
        return np.stack(frames)
    with torch.inference_mode():
        values = wave.feature_extractor(clips, sampling_rate=encoder.sampling_rate, return_tensors="pt")["input_values"]
        parts = []
        for start in range(0, values.shape[-1], chunk):
            piece = to_device(values[..., start : start + chunk].contiguous(), encoder.device)
            with autocast(encoder.device, encoder.precision):
                out = wave.model(input_values=piece, sampling_rate=encoder.sampling_rate)
            parts.append(out.last_hidden_state.float().cpu())
    return torch.cat(parts, dim=1).numpy()
