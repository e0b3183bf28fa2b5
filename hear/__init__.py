"""Every libtrad encoder as a HEAR module (the HEAR 2021 common API, https://hearbenchmark.com/hear-api.html).

    import libtrad.hear as hear
    model = hear.load_model("echo:DIR")            # any --encoder spec: echo:DIR, logmel-stats, hf:DIR, ...
    scene = hear.get_scene_embeddings(audio, model)                 # (n_sounds, D) float32
    frames, timestamps = hear.get_timestamp_embeddings(audio, model)  # (n_sounds, T, D), (n_sounds, T) ms

``hear-validator libtrad.hear --model SPEC`` (where hearvalidator imports) and ``python -m
libtrad.hear SPEC`` (libtrad's own check of the same API shape) run on it.

``model_file_path`` is a libtrad encoder spec, exactly what ``--encoder`` takes. An empty one is
refused: there is no default encoder, and a benchmark run should never embed with one the user
did not name. The model is a ``torch.nn.Module`` loaded on the CPU at fp32 (``model.to("cuda")``
moves the encoder); ``sample_rate`` is the encoder's ``sampling_rate`` (audio is not resampled,
as HEAR specifies) and ``scene_embedding_size == timestamp_embedding_size`` is its ``output_dim``.

Scene embeddings are libtrad's clip embeddings, timestamp embeddings its frames, so
``embed``, ``check-encoder`` and a HEAR evaluation see the same numbers. Timestamps are the
centre of the audio each frame is computed from, in ms from the start of the clip:

* ``logmel-stats``, ``attention-ae``: centred STFT frames (``n_fft // 2`` zero padding on each
  side), so frame k is centred on sample k x hop: t_k = k x 32 ms at 16 kHz (hop 512);
* ``echo``: a patch covers 16 spectrogram frames (25-ms windows every 10 ms), so patch k spans
  [160 k, 160 k + 175] ms and t_k = 160 k + 87.5 ms. The last patch of a clip is zero-padded
  to 16 frames; when its centre falls after the end of the clip (more than half of it padding)
  it is left out of the timestamp embeddings, since HEAR timestamps lie inside the audio. ECHO
  runs 20-s chunks (2000 frames); its own output re-covers a longer clip's tail with an
  overlapping chunk, whose patches would leave the 160-ms grid, so here a longer clip's
  spectrogram is cut into consecutive 2000-frame chunks instead (the same patches for every
  whole chunk, a short last chunk) and the timestamps stay regular. Scene embeddings are
  ECHO's utterance embedding, unchanged;
* an encoder that places its own frames (``hear:``, whose module gives timestamps) says so
  through its ``frame_times_ms``;
* any other kind (``hf:``, ``py:``): frames are assumed to tile the clip from its start,
  t_k = (k + 0.5) x hop_size_in_ms (``python -m libtrad.hear`` reports timestamps past the end).

Hop: HEAR suggests timestamps at most 50 ms apart (music transcription's onset tolerance); the
hop is each encoder's own — 32 ms for logmel-stats and the attention AE, 160 ms for ECHO, whose
patches are that far apart. libtrad does not interpolate a finer hop it does not compute.
"""

from __future__ import annotations

import numpy as np

from libtrad.core.errors import LibtradError, ParameterError

__all__ = ["LibtradHearModel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]

_CENTRED_KINDS = ("logmel-stats", "attention-ae")  # centred STFT frames: frame k centred on sample k x hop


def __getattr__(name: str):
    """``LibtradHearModel`` from :mod:`.model`, imported on first use (``import libtrad.hear`` imports no torch)."""
    if name == "LibtradHearModel":
        from libtrad.hear.model import LibtradHearModel

        return LibtradHearModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_model(model_file_path: str = ""):
    """HEAR ``load_model``: ``model_file_path`` is a libtrad encoder spec (``echo:DIR``, ``logmel-stats``,
    ``hf:DIR`` ...); returns a ``torch.nn.Module`` on the CPU. A libtrad folder is checked against its
    checksums first, as ``embed`` checks it."""
    from libtrad.ray_jobs.embedding.encoders import check_encoder_folder, load_encoder, parse_encoder_spec

    text = str(model_file_path or "").strip()
    if not text:
        raise ParameterError("model_file_path", "", "libtrad.hear needs a libtrad encoder spec as the model file "
                             "(what --encoder takes: echo:DIR, attention-ae:DIR, logmel-stats, hf:DIR, ...); "
                             "there is no default encoder")
    try:
        spec = parse_encoder_spec(text)
        check_encoder_folder(spec)
        encoder = load_encoder(spec, precision="fp32", device="cpu")
    except ParameterError as exc:
        if exc.param != "encoder":
            raise
        raise ParameterError("model_file_path", exc.value, exc.problem) from None
    from libtrad.hear.model import LibtradHearModel

    return LibtradHearModel(encoder, spec)


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
    return (torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(device),
            torch.from_numpy(np.ascontiguousarray(stamps)).to(device))


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
        raise LibtradError(f"libtrad.hear: audio must be (n_sounds, n_samples) mono at {model.sample_rate} Hz, "
                           f"got shape {shape}")
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

    from libtrad.core.devices import autocast, to_device

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
            piece = to_device(values[..., start:start + chunk].contiguous(), encoder.device)
            with autocast(encoder.device, encoder.precision):
                out = wave.model(input_values=piece, sampling_rate=encoder.sampling_rate)
            parts.append(out.last_hidden_state.float().cpu())
    return torch.cat(parts, dim=1).numpy()
