"""The one encoder contract behind ``libtrad embed`` (and ``libtrad check-encoder``), and its four kinds.

Contract (X-ARES's, plus a clip-level call): an encoder has ``sampling_rate`` (Hz it expects),
``output_dim`` (D), ``hop_size_in_ms`` (time between frames) and

* ``embed(clips) -> (clips_embeddings (B, D) float32, frames [(T_i, D) float32, ...])`` for mono
  float32 NumPy clips of any lengths at ``sampling_rate``; every clip's result equals the clip run
  alone (clips of equal length are batched together, others run apart, so padding never leaks);
* ``forward(audio (B, samples)) -> (B, T, D)`` torch, for X-ARES-style callers.

Specs (``--encoder``):

* ``echo:DIR`` — a converted ECHO folder; clip = the utterance embedding (band CLS outputs), frames
  = the per-patch outputs.
* ``attention-ae:DIR`` — a trained LiB-TRAD attention auto-encoder; frames = its attended latent
  (``last_hidden_state``, what the decoder reads), clip = their mean.
* ``logmel-stats`` — no weights: per-band mean and standard deviation of LiB-TRAD's log-mel front
  end (64 bands, librosa defaults) -> 128 values; frames = each frame's log-mel and its absolute
  deviation from the clip's mean (the clip's std is the RMS of the second half over frames).
* ``hf:DIR`` — any transformers ``AutoModel`` + ``AutoFeatureExtractor`` audio encoder folder;
  frames = ``last_hidden_state``, clip = their mean. Its hop is measured once (frames of 1 s vs
  2 s of silence), since configs do not state it uniformly.

The cache identity of an encoder is the SHA-256 of its files' bytes (weights, config, feature
extractor config) and its options — never a class name — so a changed weight re-embeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from libtrad.errors import LibtradError, ParameterError, first_line
from libtrad.outputs import sha256_file

KINDS = ("echo", "attention-ae", "logmel-stats", "hf")
FINGERPRINT_VERSION = 1  # bump when what an encoder computes changes without its files changing
# Files whose bytes define a model folder's outputs (weights, config, feature extractor).
_IDENTITY_FILES = ("config.json", "preprocessor_config.json", "model.safetensors")


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed ``--encoder`` value: its kind and, for the kinds with weights, the folder."""

    kind: str
    path: Path | None
    text: str

    def fingerprint(self) -> dict:
        """What identifies this encoder's outputs: kind + the SHA-256 of every file that defines them."""
        files = {}
        if self.path is not None:
            for name in sorted(p.name for p in self.path.iterdir() if p.is_file()):
                if name in _IDENTITY_FILES or name.endswith(".safetensors"):
                    files[name] = sha256_file(self.path / name)
        return {"kind": self.kind, "version": FINGERPRINT_VERSION, "files": files}


def parse_encoder_spec(text: str) -> EncoderSpec:
    """``echo:DIR`` | ``attention-ae:DIR`` | ``logmel-stats`` | ``hf:DIR`` -> :class:`EncoderSpec`.

    The folder must exist and hold a ``config.json`` and weights; checked here, before any cluster
    or data work starts.
    """
    kind, sep, rest = str(text).partition(":")
    if kind not in KINDS:
        raise ParameterError("encoder", text, f"unknown encoder kind {kind!r}; expected one of "
                             "echo:DIR, attention-ae:DIR, logmel-stats, hf:DIR")
    if kind == "logmel-stats":
        if sep:
            raise ParameterError("encoder", text, "logmel-stats takes no folder")
        return EncoderSpec(kind, None, text)
    if not rest:
        raise ParameterError("encoder", text, f"{kind} needs a model folder: {kind}:DIR")
    path = Path(rest).expanduser()
    if not path.is_dir():
        raise ParameterError("encoder", text, f"{path} is not a folder")
    if not (path / "config.json").is_file():
        raise ParameterError("encoder", text, f"{path} has no config.json (not a saved model folder)")
    if not any(path.glob("*.safetensors")):
        raise ParameterError("encoder", text, f"{path} has no .safetensors weights")
    return EncoderSpec(kind, path.resolve(), text)


def load_encoder(spec: EncoderSpec | str, *, precision: str = "fp32"):
    """Build the encoder a spec names (weights loaded once; callers keep it for many batches)."""
    spec = parse_encoder_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "logmel-stats":
        return LogMelStatsEncoder()
    try:
        if spec.kind == "echo":
            return EchoClipEncoder(spec.path, precision=precision)
        if spec.kind == "attention-ae":
            return AttentionAEClipEncoder(spec.path)
        return HFClipEncoder(spec.path)
    except LibtradError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ParameterError("encoder", spec.text, f"cannot load the {spec.kind} model ({type(exc).__name__}: "
                             f"{first_line(exc)})") from None


def _groups_by_length(clips: list[np.ndarray]) -> list[list[int]]:
    """Indices of equal-length clips, in first-seen order: each group is one exact batch."""
    groups: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        groups.setdefault(int(clip.shape[-1]), []).append(i)
    return list(groups.values())


class ClipEncoder:
    """Shared driver: equal-length batches through :meth:`_frames`, clip = ``_pool`` of the frames."""

    sampling_rate: int
    output_dim: int
    hop_size_in_ms: float

    def embed(self, clips: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        import torch

        pooled: list[np.ndarray | None] = [None] * len(clips)
        frames: list[np.ndarray | None] = [None] * len(clips)
        with torch.inference_mode():
            for group in _groups_by_length(clips):
                batch = torch.from_numpy(np.stack([np.asarray(clips[i], dtype=np.float32) for i in group]))
                clip_out, frame_out = self._batch(batch)
                for row, i in enumerate(group):
                    pooled[i] = clip_out[row].float().numpy()
                    frames[i] = frame_out[row].float().numpy()
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


class EchoClipEncoder(ClipEncoder):
    """ECHO (``echo:DIR``): utterance embedding per clip, per-patch frames."""

    def __init__(self, path: Path, precision: str = "fp32"):
        from libtrad.models.echo.encoder_echo import EchoWaveformEncoder

        self.encoder = EchoWaveformEncoder.from_pretrained(path)
        self.precision = precision
        self.sampling_rate = int(self.encoder.sampling_rate)
        self.output_dim = int(self.encoder.output_dim)
        self.hop_size_in_ms = float(self.encoder.hop_size_in_ms)

    def _batch(self, batch):
        out = self.encoder.embed(list(batch), precision=self.precision)
        return out.pooler_output, out.last_hidden_state


class AttentionAEClipEncoder(ClipEncoder):
    """The LiB-TRAD attention AE (``attention-ae:DIR``): attended latent frames, clip = their mean."""

    def __init__(self, path: Path):
        from libtrad.models.attention_ae import LibTradAttentionAEFeatureExtractor, LibTradAttentionAEModel

        self.feature_extractor = LibTradAttentionAEFeatureExtractor.from_pretrained(path)
        self.model = LibTradAttentionAEModel.from_pretrained(path).eval()
        self.sampling_rate = int(self.feature_extractor.sampling_rate)
        self.output_dim = int(self.model.config.latent_size)
        self.hop_size_in_ms = 1000.0 * self.feature_extractor.hop_length / self.sampling_rate

    def _batch(self, batch):
        inputs = self.feature_extractor(list(batch.numpy()), sampling_rate=self.sampling_rate, return_tensors="pt")
        frames = self.model(input_features=inputs["input_features"]).last_hidden_state
        return frames.mean(dim=1), frames


class LogMelStatsEncoder(ClipEncoder):
    """``logmel-stats``: per-band mean and std of LiB-TRAD's log-mel front end (no weights)."""

    N_MELS, N_FFT, HOP = 64, 2048, 512

    def __init__(self, sampling_rate: int = 16_000):
        self.sampling_rate = sampling_rate
        self.output_dim = 2 * self.N_MELS
        self.hop_size_in_ms = 1000.0 * self.HOP / sampling_rate

    def _batch(self, batch):
        import torch

        from libtrad.models.frontend import log_mel_spectrogram

        mel = log_mel_spectrogram(batch.double(), self.sampling_rate, n_fft=self.N_FFT, hop_length=self.HOP,
                                  n_mels=self.N_MELS).transpose(1, 2)  # (B, T, 64), float64
        mean = mel.mean(dim=1, keepdim=True)
        deviation = (mel - mean).abs()
        clip = torch.cat([mean[:, 0], deviation.pow(2).mean(dim=1).sqrt()], dim=-1)
        return clip, torch.cat([mel, deviation], dim=-1)


class HFClipEncoder(ClipEncoder):
    """Any transformers audio encoder folder (``hf:DIR``): mean-pooled ``last_hidden_state``."""

    def __init__(self, path: Path):
        import torch
        from transformers import AutoFeatureExtractor, AutoModel

        import libtrad  # noqa: F401 - registers libtrad's own model types with the Auto classes

        self.feature_extractor = AutoFeatureExtractor.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        rate = getattr(self.feature_extractor, "sampling_rate", None)
        if not rate:
            raise LibtradError(f"{path}: the feature extractor states no sampling_rate")
        self.sampling_rate = int(rate)
        with torch.inference_mode():
            one = self._batch(torch.zeros(1, self.sampling_rate))[1]
            two = self._batch(torch.zeros(1, 2 * self.sampling_rate))[1]
        self.output_dim = int(one.shape[-1])
        step = two.shape[1] - one.shape[1]
        if step <= 0:
            raise LibtradError(f"{path}: the model's frame count does not grow with the input length")
        self.hop_size_in_ms = 1000.0 / step

    def _batch(self, batch):
        inputs = self.feature_extractor(list(batch.numpy()), sampling_rate=self.sampling_rate, return_tensors="pt")
        inputs.pop("attention_mask", None)  # equal-length batches: nothing is padded
        frames = self.model(**inputs).last_hidden_state
        return frames.mean(dim=1), frames


def describe(encoder) -> dict:
    """The contract's numbers, for embeddings.json and the checker."""
    return {"sampling_rate": int(encoder.sampling_rate), "output_dim": int(encoder.output_dim),
            "hop_size_in_ms": float(encoder.hop_size_in_ms)}
