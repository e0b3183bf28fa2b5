"""The model card every LiB-TRAD training run writes: intended use, limitations, design choices, usage.

Rendered by the shared model-card code (:mod:`libtrad.cards.model_card`); only what is
LiB-TRAD-specific lives here.
"""

from __future__ import annotations

from libtrad.cards.model_card import write_model_card

INTENDED_USE = (
    "Research on acoustic early warning of lithium-battery thermal runaway: scoring 10-s, 16 kHz "
    "single-microphone clips recorded like LiB-TRAD (higher score = more likely abnormal, e.g. "
    "safety-valve opening or venting)."
)
LIMITATIONS = (
    "Trained on one small dataset (three overcharge experiments, one lab, one microphone array); "
    "not validated for other cells, chargers, rooms or microphones, and not a safety device: do not "
    "use it as the only protection against thermal runaway. AUC on the paper's random splits can be "
    "optimistic because channels/segments of one recording are correlated."
)


def write_training_card(
    model, output_dir, *, model_id, family, dataset, synthetic, config, recipe, eval_results, summary, extra, citation
):
    """LiB-TRAD's call of the shared model-card renderer (``output_dir`` may be a staging folder); ``citation``:
    the LiB-TRAD paper's (:data:`libtrad.builders.lib_trad.plan.CITATION`)."""

    hyper = {
        **{
            k: v
            for k, v in model.config.to_diff_dict().items()
            if k not in {"architectures", "transformers_version", "id2label", "label2id", "dtype", "detection"}
        },
        **{f"train.{k}": v for k, v in recipe.items()},
        **extra,
    }
    notes = {
        "cnn": (
            "Channel widths (16, 32, 64), 3×3 kernels, 2×2 pooling, 50 epochs and batch 32 are libtrad's "
            "choices (the paper does not give them). The single BCE logit z is exposed as two-class logits "
            '[0, z], so `pipeline("audio-classification")` returns P(normal) = 1 − σ(z) and P(abnormal) = σ(z).'
        ),
        "attention_ae": (
            "`context_frames=1` (default) is the paper's literal attention over one frame's latent, "
            "which reduces exactly to V = W_v z; `context_frames=N` (odd) attends over N neighbouring "
            "frames of the same clip. The Mahalanobis inverse adds a ridge of "
            "`covariance_shrinkage`·tr(Σ)/d to Σ and takes the pseudo-inverse; μ and Σ⁻¹ are stored "
            "in model.safetensors. Clip score = mean of frame scores (`score_reduction`)."
        ),
    }[family]
    usage = {
        "cnn": "```python\nimport libtrad  # registers the Auto classes\nfrom transformers import pipeline\n\n"
        'clf = pipeline("audio-classification", model="MODEL_DIR")\nclf("clip.wav")\n```',
        "attention_ae": "```python\nimport libtrad\nfrom transformers import AutoFeatureExtractor\n"
        "from libtrad.models.attention_ae import AutoModelForAudioAnomalyDetection\n\n"
        'model = AutoModelForAudioAnomalyDetection.from_pretrained("MODEL_DIR")\n'
        'fe = AutoFeatureExtractor.from_pretrained("MODEL_DIR")\n'
        "score = model(**fe(waveform_16k)).scores  # Mahalanobis clip score\n```",
    }[family] + (
        "\n\nFor deployment without torch: `libtrad export onnx --model MODEL_DIR --output model.onnx` writes "
        "one ONNX graph from raw 16 kHz audio to these scores (log-mel front end inside), checked against "
        "torch with ONNX Runtime, with this model's config.json inside."
        "\n\nEvents with the model's own calibrated threshold (the `detection` section of config.json; the "
        "rows above state it, its calibration data and the measured false alarms per hour and latency): "
        "`model.detect(waveform_16k, sampling_rate=16000)` in Python, `libtrad detect --model MODEL_DIR "
        "recording.wav` (or `--stream` from a microphone) on the command line."
    )
    write_model_card(
        output_dir,
        model_id=model_id,
        family=f"lib-trad-{family.replace('_', '-')}",
        summary=summary,
        hyperparameters=hyper,
        eval_results=eval_results,
        synthetic=synthetic,
        datasets=[dataset],
        intended_use=INTENDED_USE,
        limitations=LIMITATIONS,
        citation=citation,
        extra_sections={"Design choices": notes, "Usage": usage},
        pipeline_tag="audio-classification" if family == "cnn" else None,
        tags=["lib-trad", "anomaly-detection", "audio"],
    )


__all__ = ["INTENDED_USE", "LIMITATIONS", "write_training_card"]
