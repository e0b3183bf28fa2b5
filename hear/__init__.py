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

from libtrad.core.errors import ParameterError
from libtrad.hear.embeddings import get_scene_embeddings, get_timestamp_embeddings
from libtrad.ray_jobs.embedding.encoders import check_encoder_folder, load_encoder, parse_encoder_spec

__all__ = ["LibtradHearModel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


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
    text = str(model_file_path or "").strip()
    if not text:
        raise ParameterError(
            "model_file_path",
            "",
            "libtrad.hear needs a libtrad encoder spec as the model file "
            "(what --encoder takes: echo:DIR, attention-ae:DIR, logmel-stats, hf:DIR, ...); "
            "there is no default encoder",
        )
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
