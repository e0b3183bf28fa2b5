"""ECHO encoder configuration (the defaults are ECHO-Small).

Heads are not visible in a checkpoint, so they live here; the spectrogram settings the model
itself needs (sample rate and window length, for each band's frequency position) are kept
beside the architecture so a saved model is self-describing.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from libtrad.models.model_types import refuse_renamed

# Heads of the released sizes (head dim 64 in both); used by the converter.
HEADS_BY_MODEL_TYPE = {"small": 6, "base": 12}


@strict
class EchoConfig(PreTrainedConfig):
    r"""
    hidden_size: token width D (384 Small, 768 Base).
    num_hidden_layers / num_attention_heads / intermediate_size: post-norm Transformer layers.
    band_width: frequency bins per sub-band (32); each band is its own token sequence.
    patch_frames: spectrogram frames per patch (16), i.e. one output frame per 160 ms.
    max_frames: spectrogram frames per pass (2000); longer inputs are cut into chunks.
    frequency_position_scale: multiplier on a band's relative centre ``(s + e - 1) / n_fft`` (25).
    short_band_padding: where the last, short band gets its zero rows: ``"low"`` (official:
        zeros before the real rows) or ``"high"`` (zeros after them).
    sampling_rate / window_seconds: default input rate and STFT window; ``n_fft =
        int(window_seconds * sampling_rate)`` sets each band's frequency position.
    official_model_type: the ``model_type`` string of the converted checkpoint, if any.
    """

    model_type = "libtrad-echo"  # prefixed: a plain "echo" could shadow a future transformers model

    hidden_size: int = 384
    num_hidden_layers: int = 12
    num_attention_heads: int = 6
    intermediate_size: int = 1536
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    band_width: int = 32
    patch_frames: int = 16
    max_frames: int = 2000
    frequency_position_scale: float | int = 25.0
    short_band_padding: str = "low"
    sampling_rate: int = 16000
    window_seconds: float = 0.025
    hop_seconds: float = 0.01
    official_model_type: str | None = None

    def __post_init__(self, **kwargs):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"EchoConfig: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.hidden_size % 4:
            raise ValueError(f"EchoConfig: hidden_size {self.hidden_size} must be a multiple of 4 (sin/cos tables)")
        if self.max_frames % self.patch_frames:
            raise ValueError(
                f"EchoConfig: max_frames {self.max_frames} is not a multiple of patch_frames {self.patch_frames}"
            )
        if self.short_band_padding not in ("low", "high"):
            raise ValueError(f"EchoConfig: short_band_padding must be 'low' or 'high', not {self.short_band_padding!r}")
        super().__post_init__(**kwargs)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        """transformers' reading of config.json, refusing a folder saved under ECHO's old model type
        ("echo") with the fix, rather than loading it with a warning."""
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        refuse_renamed(config_dict, pretrained_model_name_or_path)
        return config_dict, kwargs

    @property
    def max_patches(self) -> int:
        """Patches per pass; the temporal table has one more (unused) row."""
        return self.max_frames // self.patch_frames

    def n_fft(self, sampling_rate: int | None = None) -> int:
        return int(self.window_seconds * (sampling_rate or self.sampling_rate))

    def num_bands(self, sampling_rate: int | None = None) -> int:
        bins = self.n_fft(sampling_rate) // 2 + 1
        return -(-bins // self.band_width)

    def output_dim(self, sampling_rate: int | None = None) -> int:
        """Width of the utterance / frame embeddings: bands x D (2688 for Small at 16 kHz)."""
        return self.num_bands(sampling_rate) * self.hidden_size


__all__ = ["EchoConfig", "HEADS_BY_MODEL_TYPE"]
