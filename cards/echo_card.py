"""The model card written next to a converted ECHO checkpoint, through the shared card renderer."""

from __future__ import annotations

from pathlib import Path

from libtrad.cards.model_card import write_model_card

ECHO_CITATION = """\
@misc{echo2025,
  title  = {{ECHO}: a band-split Vision Transformer foundation encoder for machine signals},
  author = {{The ECHO authors}},
  year   = {2025},
  note   = {Used by the SIREN benchmark; weights converted with libtrad}
}"""

USAGE = """\
```python
import libtrad  # registers ECHO with the Auto classes
from transformers import AutoFeatureExtractor, AutoModel

extractor = AutoFeatureExtractor.from_pretrained("{repo}")
model = AutoModel.from_pretrained("{repo}").eval()
inputs = extractor(waveforms, sampling_rate=16000, return_tensors="pt")
out = model(**inputs, sampling_rate=16000)
out.pooler_output      # (batch, {dim}) utterance embedding at 16 kHz
out.last_hidden_state  # (batch, patches, {dim}) one frame per 160 ms; see out.frames_mask
```"""

PROCESSING = """\
- Mono waveform at any sample rate; the clip mean is subtracted; |STFT| with a periodic Hann
  window of 25 ms (`n_fft = win = int(0.025 * sr)`), hop 10 ms, no centring; `log(x + 1e-9)`,
  then `(x + 5.874158) / (2 * 5.223174)`.
- Frequency is cut into 32-bin bands (7 at 16 kHz); the last, short band is zero-padded on its
  low-index side (`short_band_padding="{padding}"`; `"high"` is offered as an option). Each band
  is its own token sequence with a CLS token; the band's position `(s + e - 1) / n_fft`, scaled
  by 25, is added as an interleaved sin/cos encoding.
- 32×16 patches; time is zero-padded to a multiple of 16 frames (that tail patch is part of the
  output). At most 2000 frames per pass: longer clips are cut into 2000-frame chunks, the
  remainder taken as the last 2000 frames.
- Utterance embedding: every band's CLS output concatenated (low frequency first), averaged over
  chunks. Frame embeddings: per-patch outputs with bands concatenated, chunks stacked.
- Parity with the official implementation is tested in libtrad on reference fixtures: utterance
  and frame embeddings within 1e-5."""


def write_echo_model_card(
    model, out_dir: str | Path, *, source: str, repo_hint: str = "path/to/converted-echo"
) -> Path:
    """README.md for a converted :class:`EchoModel`; ``source`` names the original checkpoint file."""
    cfg = model.config
    size = {384: "Small", 768: "Base"}.get(cfg.hidden_size, f"D{cfg.hidden_size}")
    return write_model_card(
        out_dir,
        model_id=f"ECHO-{size} (converted)",
        family="echo",
        summary=(
            f"A transformers port of the ECHO band-split ViT encoder for machine sounds, converted from "
            f"`{source}` with `libtrad convert echo`. Load it after `import libtrad` (no remote code)."
        ),
        hyperparameters={
            "embedding dim": cfg.hidden_size,
            "layers": f"{cfg.num_hidden_layers} (post-norm, GELU, LayerNorm eps 1e-6)",
            "heads": cfg.num_attention_heads,
            "parameters": f"{model.num_parameters():,}",
            "official model type": cfg.official_model_type or "unknown",
            "output dim at 16 kHz": cfg.output_dim(),
        },
        eval_results=[],
        synthetic=False,
        datasets=[],
        intended_use="Frozen embeddings of machine sounds (utterance and 160-ms frames) for anomaly "
        "detection and fault classification probes, as in the SIREN benchmark.",
        limitations="Weights are the original release's, converted unchanged; their licence is the "
        "original release's. Spectrograms can differ from the official code by float32 FFT "
        "rounding at near-silent bins (a few values above 1e-5 in normalised log units).",
        citation=ECHO_CITATION,
        extra_sections={
            "Usage": USAGE.format(repo=repo_hint, dim=cfg.output_dim()),
            "Processing (as the official implementation)": PROCESSING.format(padding=cfg.short_band_padding),
        },
        pipeline_tag="feature-extraction",
        tags=("audio", "machine-sound", "anomaly-detection", "echo"),
        license=None,
    )


__all__ = ["write_echo_model_card"]
