"""Venting events from trained LiB-TRAD attention auto-encoders: frame scores → events → event metrics.

The attention AE scores every log-mel frame (``n_fft`` 2048, hop 512 = 32 ms at 16 kHz, centred frames) two
ways (:func:`ae_frame_scores`):

* ``mahalanobis`` — the model's own ``frame_scores``: the Mahalanobis distance of the frame's attended latent
  (with ``context_frames`` > 1, of its window of frames) to the training frames' latents;
* ``reconstruction`` — the frame's reconstruction error, the mean over mel bins of (x̂ − x)².

Each clip's scores are one :class:`~libtrad.models.events.FrameScores` (hop = hop_length / sampling rate,
``start_s = −hop/2``: frame ``t`` is centred on ``t·hop``). Per experiment the model scores the ``test`` split
of ``tr1``/``tr2``/``tr3`` (20 % of its normal segments and all abnormal ones, with the export's
``event_onset_s``/``event_offset_s``) and, when the dataset has it, the ``normal_charging`` config; then
:func:`libtrad.ray_jobs.evaluation.event_tuning.evaluate_recordings` chooses the post-processing by
cross-fitting and measures event F1, latency and false alarms per hour. The CNN classifies whole clips and has
no frame scores: it is refused (one line).

:func:`evaluate_event_models` writes a ``results`` folder (suite ``lib-trad-events``, protocol ``model``),
:func:`attach_event_models` adds the same numbers under ``"model"`` to an embeddings run of the suite, and
:func:`score_event_models` gives them as a dict (the demo's summary rows beside the AUCs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from libtrad.core.devices import resolve_device
from libtrad.core.errors import LibtradError
from libtrad.folders.outputs import atomic_output, check_output
from libtrad.models.events import FrameScores
from libtrad.ray_jobs.evaluation import event_report
from libtrad.ray_jobs.evaluation.event_tuning import Recording, annotated_events, evaluate_recordings
from libtrad.ray_jobs.lib_trad.data import Clips, load_clips, split_exists
from libtrad.ray_jobs.lib_trad.loading import load_lib_trad_model
from libtrad.ray_jobs.lib_trad.scoring import NOT_FITTED, anomaly_model_type, clip_features, pad_stack, scorer_is_fitted

FRAME_SCORES = ("mahalanobis", "reconstruction")
CHARGING_CONFIG = "normal_charging"


@torch.no_grad()
def ae_frame_scores(model, extractor, features: list[torch.Tensor], batch_size: int = 32) -> dict[str, list]:
    """Per clip and per kind (:data:`FRAME_SCORES`), the AE's frame scores as :class:`FrameScores`."""
    if anomaly_model_type(model).family != "attention_ae":
        raise LibtradError(
            f"--model {getattr(model, 'name_or_path', '')}: a {model.config.model_type} scores whole clips; "
            "venting events need frame scores (train an attention auto-encoder: libtrad train ae)"
        )
    if not scorer_is_fitted(model):
        raise LibtradError(NOT_FITTED)
    model.eval()
    device = next(model.parameters()).device
    hop_s = extractor.hop_length / extractor.sampling_rate
    out: dict[str, list] = {kind: [] for kind in FRAME_SCORES}
    for start in range(0, len(features), batch_size):
        chunk = features[start : start + batch_size]
        x, mask = pad_stack(chunk, frames_dim=0)
        result = model(input_features=x.to(device), attention_mask=mask.to(device))
        error = (result.reconstruction - x.to(device)).pow(2).mean(-1)
        for i, f in enumerate(chunk):
            n = f.shape[0]
            for kind, values in (("mahalanobis", result.frame_scores), ("reconstruction", error)):
                scores = values[i, :n].double().cpu().numpy()
                out[kind].append(FrameScores(scores, hop_s, -hop_s / 2))
    return out


def _recordings(clips: Clips, scores: list[FrameScores]) -> tuple[list[Recording], int]:
    columns, out, unannotated = clips.columns, [], 0
    for i, frame_scores in enumerate(scores):

        def value(name: str, row: int = i):
            return columns[name][row] if name in columns else None

        events = annotated_events(clips.labels[i], value("event_onset_s"), value("event_offset_s"))
        if events is None:
            unannotated += 1
            continue
        group = f"{clips.experiments[i].lower()}/{value('segment') if value('segment') is not None else i}"
        channel = value("channel")
        key = f"{group}/ch{channel}" if channel is not None else f"{group}/row{i}"
        channels = (str(channel),) if channel is not None else ()
        shown = FrameScores(frame_scores.scores, frame_scores.hop_s, frame_scores.start_s, channels)
        out.append(Recording(key, group, shown, events))
    return out, unannotated


def score_event_models(
    models: dict[str, str | Path],
    dataset: str,
    *,
    cache_dir=None,
    progress: bool = True,
    no_verify=False,
    device="auto",
) -> dict:
    """Every experiment's AE on its test split (and the normal-charging sets): ``{"scorers", "examples", ...}``."""
    run_on = resolve_device(device)
    loaded = {str(d): load_lib_trad_model(d, no_verify=no_verify) for d in dict.fromkeys(map(str, models.values()))}
    for model, _ in loaded.values():
        model.to(run_on)
    has_charging = split_exists(dataset, CHARGING_CONFIG, "train", cache_dir=cache_dir)
    charging = (
        load_clips(dataset, CHARGING_CONFIG, "train", cache_dir=cache_dir, progress=progress) if has_charging else None
    )
    scorers: dict = {f"attention_ae {k}": {"experiments": {}} for k in FRAME_SCORES}
    examples: dict = {name: {} for name in scorers}
    for experiment, model_dir in models.items():
        model, extractor = loaded[str(model_dir)]
        clips = load_clips(dataset, experiment, "test", cache_dir=cache_dir, progress=progress)
        test_scores = ae_frame_scores(model, extractor, clip_features(extractor, clips, progress))
        charging_scores = (
            ae_frame_scores(model, extractor, clip_features(extractor, charging, progress)) if charging else None
        )
        for kind in FRAME_SCORES:
            test, unannotated = _recordings(clips, test_scores[kind])
            normal = _recordings(charging, charging_scores[kind])[0] if charging else []
            try:
                result = evaluate_recordings(test, normal)
            except ValueError as exc:
                raise LibtradError(f"--dataset {dataset} {experiment}/test: {exc}") from None
            result["counts"]["unannotated"] = unannotated
            name = f"attention_ae {kind}"
            scorers[name]["experiments"][experiment] = result
            examples[name][experiment] = event_report.examples(test, result)
    return {
        "scorers": scorers,
        "examples": examples,
        "models": {e: str(d) for e, d in models.items()},
        "dataset": str(dataset),
    }


def evaluate_event_models(models: dict, dataset: str, output_dir, *, cache_dir=None, progress=True, **kwargs) -> dict:
    """:func:`score_event_models` into a ``results`` folder: results.json (suite ``lib-trad-events``), results.md,
    one scores-over-time PNG per scorer and experiment."""
    inputs = {f"--model {e}": Path(d) for e, d in models.items()}
    local = Path(str(dataset)).expanduser()
    inputs["--dataset"] = local if local.exists() else None
    out = check_output(output_dir, "results", inputs=inputs)
    summary = score_event_models(models, dataset, cache_dir=cache_dir, progress=progress, **kwargs)
    results = {
        "suite": "lib-trad-events",
        "protocol": "model",
        **summary,
        # one leaderboard row: the trained AEs (one per experiment, as Table 3) are one method
        "inputs": [
            {"path": str(d), "encoder": "lib-trad attention AE (trained)"} for d in dict.fromkeys(models.values())
        ],
    }
    with atomic_output(out, "results", inputs=inputs) as staging:
        (staging / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        text = event_report.markdown(results["scorers"], "LiB-TRAD venting events (trained attention AEs)")
        (staging / "results.md").write_text(text, encoding="utf-8")
        event_report.write_plots(results["examples"], staging)
    return results


def attach_event_models(models: dict, dataset: str, **kwargs):
    """The ``attach`` of :func:`~libtrad.ray_jobs.evaluation.evaluate.evaluate_embeddings` adding the AEs' event
    numbers under ``"model"`` (and their table at the end of results.md, their plots as ``model_events_*.png``)."""

    def attach() -> tuple[dict, Callable[[Path], list]]:
        summary = score_event_models(models, dataset, **kwargs)

        def write(folder: Path) -> list:
            text = event_report.markdown(summary["scorers"], "LiB-TRAD venting events (trained attention AEs)")
            with (folder / "results.md").open("a", encoding="utf-8") as f:
                f.write("\n" + text)
            return event_report.write_plots(summary["examples"], folder, prefix="model_events")

        return {"model": summary}, write

    return attach


__all__ = [
    "FRAME_SCORES",
    "ae_frame_scores",
    "attach_event_models",
    "evaluate_event_models",
    "score_event_models",
]
