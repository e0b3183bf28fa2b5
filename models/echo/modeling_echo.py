"""ECHO: a band-split ViT encoder over normalised log-magnitude spectrograms.

Parameter names follow the official checkpoint (``cls_token``, ``pos_embed``,
``patch_embed.proj``, ``encoder.layers.N.self_attn.in_proj_weight``, ...), so conversion is a
strict key/shape check rather than a renaming table, and weights compare 1:1 with the release.

Batching: every (chunk, band) pair is one independent token sequence, so all clips x chunks x
bands go through the encoder as one batch; patches that exist only because a shorter clip was
padded to the batch's longest are masked out of attention. The zero patch at the end of each
clip's own tail (time padded to a multiple of 16 frames) is part of the official output and
is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from libtrad.core.errors import LibtradError
from libtrad.models.echo.configuration_echo import EchoConfig
from libtrad.models.weights import CheckedWeights


@dataclass
class EchoModelOutput(ModelOutput):
    """``pooler_output`` (B, bands*D): the utterance embedding (mean over chunks of the band CLS
    outputs, band-major). ``last_hidden_state`` (B, P, bands*D): frame embeddings, one per
    16-frame patch, chunks stacked in time. ``frames_mask`` (B, P): which frames are real
    (False where a clip is shorter than the batch's longest)."""

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    frames_mask: torch.BoolTensor | None = None


# --------------------------------------------------------------------------- fixed tables
def temporal_position_table(rows: int, dim: int) -> torch.Tensor:
    """(rows, dim) [sin | cos] table; row 0 is all zeros (the CLS slot), row i encodes patch i-1."""
    half = dim // 2
    omega = torch.exp(torch.arange(half, dtype=torch.float64) * (-math.log(10000.0) / half))
    angles = torch.arange(rows - 1, dtype=torch.float64)[:, None] * omega
    table = torch.zeros(rows, dim, dtype=torch.float64)
    table[1:] = torch.cat([angles.sin(), angles.cos()], dim=1)
    return table.float()


def frequency_position_encoding(positions: torch.Tensor, dim: int, scale: float) -> torch.Tensor:
    """(bands, dim) interleaved sin/cos of each band's relative position ``p * scale``."""
    omega = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angles = (positions.float() * scale)[:, None] * omega
    pe = torch.zeros(len(positions), dim)
    pe[:, 0::2] = angles.sin()
    pe[:, 1::2] = angles.cos()
    return pe


def band_edges(num_bins: int, band_width: int) -> list[tuple[int, int]]:
    """``[s, e)`` bins of each band, low frequency first; the last may be short."""
    return [(s, min(s + band_width, num_bins)) for s in range(0, num_bins, band_width)]


def chunk_starts(num_frames: int, max_frames: int) -> list[int]:
    """Official chunking: whole ``max_frames`` chunks, then the remainder as the *last*
    ``max_frames`` frames (overlapping the previous chunk)."""
    if num_frames <= max_frames:
        return [0]
    starts = list(range(0, num_frames - max_frames + 1, max_frames))
    if num_frames % max_frames:
        starts.append(num_frames - max_frames)
    return starts


# --------------------------------------------------------------------------- modules
class EchoPatchEmbeddings(nn.Module):
    """One conv over the band-stacked spectrogram: kernel height = band width, so each output
    row is one band and all bands are embedded in a single call."""

    def __init__(self, config: EchoConfig):
        super().__init__()
        kernel = (config.band_width, config.patch_frames)
        self.proj = nn.Conv2d(1, config.hidden_size, kernel_size=kernel, stride=kernel)

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        """(N, bands*band_width, T) -> (N, bands, patches, D)."""
        return self.proj(bands.unsqueeze(1)).permute(0, 2, 3, 1)


class EchoSelfAttention(nn.Module):
    """Multi-head attention with a packed qkv projection (``in_proj_*``), computed with SDPA."""

    def __init__(self, config: EchoConfig):
        super().__init__()
        d = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d))
        self.out_proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        n, s, d = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(n, s, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out_proj(out.transpose(1, 2).reshape(n, s, d))


class EchoLayer(nn.Module):
    """Post-norm Transformer layer: x = LN(x + MHA(x)); x = LN(x + FFN(x)), GELU (erf)."""

    def __init__(self, config: EchoConfig):
        super().__init__()
        d = config.hidden_size
        self.self_attn = EchoSelfAttention(config)
        self.linear1 = nn.Linear(d, config.intermediate_size)
        self.linear2 = nn.Linear(config.intermediate_size, d)
        self.norm1 = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.norm2 = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(x, attn_mask))
        return self.norm2(x + self.linear2(F.gelu(self.linear1(x))))


class EchoTransformerEncoder(nn.Module):
    """The stack of post-norm Transformer layers (``encoder.layers.N.*`` in the official state_dict)."""

    def __init__(self, config: EchoConfig):
        super().__init__()
        self.layers = nn.ModuleList(EchoLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, attn_mask)
        return x


# --------------------------------------------------------------------------- models
class EchoPreTrainedModel(CheckedWeights, PreTrainedModel):
    config: EchoConfig
    config_class = EchoConfig
    base_model_prefix = "echo"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    _no_split_modules = ["EchoLayer"]
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module):
        """Random init for training from scratch; the ``init`` helpers skip tensors loaded from a
        checkpoint, so ``from_pretrained`` keeps the stored values (incl. ``pos_embed``)."""
        super()._init_weights(module)
        if isinstance(module, EchoSelfAttention):
            init.xavier_uniform_(module.in_proj_weight)
            init.zeros_(module.in_proj_bias)
        elif isinstance(module, EchoModel):
            init.trunc_normal_(module.cls_token, std=self.config.initializer_range)
            table = temporal_position_table(module.pos_embed.shape[1], module.pos_embed.shape[2])
            init.copy_(module.pos_embed, table.unsqueeze(0))


class EchoModel(EchoPreTrainedModel):
    """Spectrograms (from :class:`EchoFeatureExtractor`) -> utterance and frame embeddings."""

    def __init__(self, config: EchoConfig):
        super().__init__(config)
        d = config.hidden_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        # A fixed table, stored in the checkpoint (and counted in its 21,540,096 parameters).
        self.pos_embed = nn.Parameter(torch.zeros(1, config.max_patches + 1, d), requires_grad=False)
        self.patch_embed = EchoPatchEmbeddings(config)
        self.encoder = EchoTransformerEncoder(config)
        self.norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.post_init()

    # X-ARES style attributes, for the configured sample rate.
    @property
    def sampling_rate(self) -> int:
        return self.config.sampling_rate

    @property
    def output_dim(self) -> int:
        return self.config.output_dim()

    @property
    def hop_size_in_ms(self) -> float:
        return self.config.patch_frames * self.config.hop_seconds * 1000.0

    def _n_fft(self, num_bins: int, sampling_rate: int | None) -> int:
        n_fft = self.config.n_fft(sampling_rate)
        if n_fft // 2 + 1 != num_bins:
            raise LibtradError(
                f"input_values: {num_bins} frequency bins do not match sampling_rate "
                f"{sampling_rate or self.config.sampling_rate} (expects {n_fft // 2 + 1}); "
                "pass the sampling_rate the spectrogram was computed at"
            )
        return n_fft

    def _band_stack(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, F, T) -> (N, bands*band_width, T) with the short band zero-padded, and each band's
        frequency position ``(s + e - 1) / n_fft`` (of its unpadded bins)."""
        n, num_bins, t = chunks.shape
        width = self.config.band_width
        edges = band_edges(num_bins, width)
        stacked = chunks.new_zeros(n, len(edges) * width, t)
        full = (len(edges) - 1) * width
        stacked[:, :full] = chunks[:, :full]
        short = num_bins - full
        offset = full + (width - short if self.config.short_band_padding == "low" else 0)
        stacked[:, offset : offset + short] = chunks[:, full:]
        centres = torch.tensor([s + e - 1 for s, e in edges], dtype=torch.float32)
        return stacked, centres

    def _chunks(self, input_values: torch.Tensor, lengths: list[int]) -> tuple[list[tuple], torch.Tensor]:
        """Every clip cut into the official chunks of at most ``max_frames`` frames: the spans
        ``(clip, start, frames)``, grouped by clip in order, and the chunks (N, F, W), each zero-filled
        to ``W``, the longest chunk rounded up to a multiple of ``patch_frames``."""
        cfg = self.config
        spans = [
            (i, s, min(length, cfg.max_frames))
            for i, length in enumerate(lengths)
            for s in chunk_starts(length, cfg.max_frames)
        ]
        longest = max(n for _, _, n in spans)
        width = -(-longest // cfg.patch_frames) * cfg.patch_frames
        if all(n == width for _, _, n in spans):
            return spans, torch.stack([input_values[i, :, s : s + n] for i, s, n in spans])
        chunks = input_values.new_zeros(len(spans), input_values.shape[1], width)
        for c, (i, s, n) in enumerate(spans):
            chunks[c, :, :n] = input_values[i, :, s : s + n]
        return spans, chunks

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        sampling_rate: int | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> EchoModelOutput | tuple:
        """``input_values`` (B, F, T) or (F, T) normalised spectrogram; ``attention_mask`` (B, T)
        marks real frames (1) vs batch padding (0); ``sampling_rate`` selects the band positions
        when it is not the configured one."""
        cfg = self.config
        if input_values.dim() == 2:
            input_values = input_values.unsqueeze(0)
            attention_mask = None if attention_mask is None else attention_mask.reshape(1, -1)
        if input_values.dim() != 3:
            raise LibtradError(f"input_values: expected (batch, bins, frames), got shape {tuple(input_values.shape)}")
        batch, num_bins, total = input_values.shape
        n_fft = self._n_fft(num_bins, sampling_rate)
        lengths = [total] * batch if attention_mask is None else attention_mask.sum(-1).long().tolist()
        if min(lengths) < 1:
            raise LibtradError("input_values: every clip needs at least one spectrogram frame")

        # 1. Cut every clip into official chunks; zero-fill each chunk to a multiple of 16 frames.
        spans, chunks = self._chunks(input_values, lengths)
        patches_per_chunk = [-(-n // cfg.patch_frames) for _, _, n in spans]

        # 2. Tokens: patches + temporal row i+1 + band frequency encoding; CLS + band encoding.
        stacked, centres = self._band_stack(chunks)
        freq = frequency_position_encoding(centres / n_fft, cfg.hidden_size, cfg.frequency_position_scale)
        freq = freq.to(device=stacked.device, dtype=stacked.dtype)
        tokens = self.patch_embed(stacked)  # (N, bands, P, D)
        n_chunks, n_bands, n_patches, d = tokens.shape
        table = self.pos_embed.detach()  # fixed, even if loading reset its requires_grad flag
        tokens = tokens + (table[:, 1 : n_patches + 1].unsqueeze(0) + freq[None, :, None])
        cls = (self.cls_token + table[:, :1]).unsqueeze(0) + freq[None, :, None]
        tokens = torch.cat([cls.expand(n_chunks, -1, -1, -1), tokens], dim=2)

        # 3. One batch of (chunk, band) sequences; mask only what batching padded.
        attn_mask = None
        if min(patches_per_chunk) < n_patches:
            valid = (
                torch.arange(n_patches + 1, device=tokens.device)[None]
                <= torch.tensor(patches_per_chunk, device=tokens.device)[:, None]
            )
            attn_mask = valid.repeat_interleave(n_bands, dim=0)[:, None, None, :]
        hidden = self.norm(self.encoder(tokens.reshape(n_chunks * n_bands, n_patches + 1, d), attn_mask))
        hidden = hidden.view(n_chunks, n_bands, n_patches + 1, d)
        chunk_cls = hidden[:, :, 0].reshape(n_chunks, n_bands * d)
        chunk_frames = hidden[:, :, 1:].permute(0, 2, 1, 3).reshape(n_chunks, n_patches, n_bands * d)

        # 4. Per clip: utterance = mean over its chunks, frames = its chunks stacked in time.
        first = [0] * (batch + 1)  # spans are grouped by clip, in order
        for i, _, _ in spans:
            first[i + 1] += 1
        for i in range(batch):
            first[i + 1] += first[i]
        pooled = torch.stack([chunk_cls[first[i] : first[i + 1]].mean(0) for i in range(batch)])
        per_clip = [[] for _ in range(batch)]
        for c, (i, _, _) in enumerate(spans):
            per_clip[i].append(chunk_frames[c, : patches_per_chunk[c]])
        frames = [torch.cat(parts) for parts in per_clip]
        longest_frames = max(len(f) for f in frames)
        last = hidden.new_zeros(batch, longest_frames, n_bands * d)
        frames_mask = torch.zeros(batch, longest_frames, dtype=torch.bool, device=hidden.device)
        for i, f in enumerate(frames):
            last[i, : len(f)] = f
            frames_mask[i, : len(f)] = True

        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return last, pooled, frames_mask
        return EchoModelOutput(last_hidden_state=last, pooler_output=pooled, frames_mask=frames_mask)


__all__ = ["EchoModel", "EchoModelOutput", "EchoPreTrainedModel"]
