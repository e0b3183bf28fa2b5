"""The one training pipeline of the LiB-TRAD models: load → log-mel → seeded Adam loop → save.

Both models share :func:`fit` (epochs, shuffling, progress bar, per-epoch metrics); each model
only says how a batch is drawn and what to measure after an epoch. Every default of a recipe is
the paper's, except where the paper is silent (marked).

Device (``device=``, ``--device``: :mod:`libtrad.core.devices`): the model, its batches and the scoring
after each epoch run on the resolved device; the weights are saved from the CPU, and
``training_history.json`` and the model card record :func:`~libtrad.core.devices.device_record`.
Reproducibility: on the CPU the run is exactly what it always was (same seed → bit-identical
weights). On CUDA, :func:`libtrad.core.devices.deterministic` is on (cuDNN deterministic, no autotuning,
PyTorch's deterministic algorithms with warnings for an op that has none,
``CUBLAS_WORKSPACE_CONFIG=:4096:8``): the same seed on the same GPU model, driver and torch gives
the same weights; a GPU run is not bit-identical to a CPU run (other kernels and summation
orders), nor across GPU models. Initial weights and batch orders come from the CPU generator, so
they are the same on every device.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from libtrad.builders.lib_trad.plan import CITATION
from libtrad.cards.lib_trad_card import write_training_card
from libtrad.core.devices import deterministic, device_record, resolve_device
from libtrad.core.errors import LibtradError, first_line
from libtrad.core.options import check_number, check_seed
from libtrad.folders.outputs import atomic_output, check_output
from libtrad.ray_jobs.evaluation.metrics import auc_or_none
from libtrad.ray_jobs.lib_trad.calibration import (
    DEFAULT_FALSE_ALARMS_PER_HOUR,
    calibrate_model,
    calibration_clips,
    card_rows,
)
from libtrad.ray_jobs.lib_trad.data import Clips, dataset_is_synthetic, load_clips, split_exists
from libtrad.ray_jobs.lib_trad.scoring import check_clip_frames, clip_features, clip_scores, cnn_min_frames, pad_stack

MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536
MAX_LEARNING_RATE = 10.0


@dataclass
class Recipe:
    """Optimisation settings; Adam with ``learning_rate`` is the paper's optimiser for both models."""

    epochs: int
    batch_size: int
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        # The CLI's own bounds (libtrad.core.options), so a library caller gets the same one-line refusal.
        check_number("epochs", self.epochs, low=1, high=MAX_EPOCHS, integer=True)
        check_number("batch_size", self.batch_size, low=1, high=MAX_BATCH_SIZE, integer=True)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True, high=MAX_LEARNING_RATE)
        check_seed(self.seed)


# Paper: 200 epochs, batches of 128 frames, Adam 1e-3.
AE_RECIPE = Recipe(epochs=200, batch_size=128)
# Paper: BCE, Adam 1e-3, validation AUC each epoch. Epochs and batch size are not given: libtrad's choice.
CNN_RECIPE = Recipe(epochs=50, batch_size=32)


@dataclass
class TrainResult:
    output_dir: Path
    history: list[dict]
    eval_results: list[dict]
    seconds: float


def fit(
    model: torch.nn.Module,
    batches: Callable[[torch.Generator], Iterator[dict]],
    recipe: Recipe,
    *,
    after_epoch: Callable[[torch.nn.Module], dict] | None = None,
    desc: str = "training",
    progress: bool = True,
) -> list[dict]:
    """Seeded Adam loop: each epoch draws a freshly shuffled pass from ``batches(generator)``.

    Returns one dict per epoch (mean loss plus whatever ``after_epoch`` measured).
    """
    generator = torch.Generator().manual_seed(recipe.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    history = []
    bar = tqdm(range(1, recipe.epochs + 1), desc=desc, unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for batch in batches(generator):  # already on the model's device
            optimiser.zero_grad(set_to_none=True)
            loss = model(**batch).loss
            loss.backward()
            optimiser.step()
            size = len(batch["input_features"])
            total += loss.item() * size
            count += size
        if count == 0:
            raise LibtradError(f"--batch-size {recipe.batch_size}: no batch could be drawn from the training data")
        record = {"epoch": epoch, "loss": total / count}
        if not math.isfinite(record["loss"]):
            raise LibtradError(
                f"--lr {recipe.learning_rate}: training diverged (loss {record['loss']} in epoch {epoch}); "
                "nothing was written: try a smaller --lr"
            )
        if after_epoch is not None:
            model.eval()
            record.update(after_epoch(model))
        history.append(record)
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch" and v is not None})
    model.eval()
    return history


def _save(model, extractor, staging: Path, history: list[dict], meta: dict) -> None:
    """Weights, feature extractor and history into ``staging`` (an :func:`outputs.atomic_output` folder)."""
    model.save_pretrained(staging)
    extractor.save_pretrained(staging)
    (staging / "training_history.json").write_text(
        json.dumps({**meta, "history": history}, indent=2) + "\n", encoding="utf-8"
    )


def _auc_results(dataset: str, config: str, split: str, auc: float | None) -> list[dict]:
    """The model card's ``eval_results``: the one AUC measured on ``split``, none where it is undefined."""
    if auc is None:
        return []
    return [{"dataset": dataset, "config": config, "split": split, "metric": "roc_auc", "value": auc}]


def _write_model(
    output: Path,
    inputs: dict,
    model,
    extractor,
    history: list[dict],
    run_on,
    *,
    family: str,
    dataset: str,
    config: str,
    recipe: Recipe,
    synthetic: bool,
    eval_results: list[dict],
    summary: str,
    extra: dict,
    training: dict | None = None,
) -> None:
    """The trained model folder, written atomically: the weights (saved from the CPU), the feature
    extractor, ``training_history.json`` (dataset, config, recipe, ``training``, where it ran) and the
    model card (``extra`` rows, then the device it was trained on)."""
    model.to("cpu")
    record = device_record(run_on)
    meta = {"dataset": str(dataset), "config": config, "recipe": asdict(recipe), **(training or {}), "device": record}
    with atomic_output(output, "model", inputs=inputs) as staging:
        _save(model, extractor, staging, history, meta)
        write_training_card(
            model,
            staging,
            model_id=output.name,
            family=family,
            dataset=str(dataset),
            synthetic=synthetic,
            config=config,
            recipe=asdict(recipe),
            eval_results=eval_results,
            summary=summary,
            citation=CITATION,
            extra={**extra, "trained on": _device_text(record)},
        )


def _model_config(config_class, model_kwargs: dict | None):
    """The model's config from ``model_kwargs``; a value the config refuses is one line."""
    try:
        return config_class(**(model_kwargs or {}))
    except (TypeError, ValueError) as exc:
        raise LibtradError(f"model settings {model_kwargs}: {first_line(exc)}") from None


def _device_text(record: dict) -> str:
    """The model card's line of :func:`~libtrad.core.devices.device_record`: where the weights were trained."""
    return f"{record['device']} ({record['device_name']}), torch {record['torch']}" + (
        f", CUDA {record['cuda']}" if record["device"].startswith("cuda") else ""
    )


def _train_inputs(dataset: str, cache_dir: str | Path | None) -> dict[str, str | Path | None]:
    """The inputs an output may not be, contain or lie inside: a local dataset folder and the cache."""
    local = Path(str(dataset)).expanduser()
    return {"--dataset": local if str(dataset).strip() and local.exists() else None, "--cache-dir": cache_dir}


# --------------------------------------------------------------------------- CNN
def train_cnn(
    dataset: str,
    output_dir: str | Path,
    *,
    config: str = "tr1_cls",
    recipe: Recipe = CNN_RECIPE,
    model_kwargs: dict | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    device: str = "auto",
    false_alarms_per_hour: float | None = DEFAULT_FALSE_ALARMS_PER_HOUR,
    require_calibration: bool = False,
) -> TrainResult:
    """Supervised CNN on ``config``'s train split, validation AUC after every epoch (paper Table 2).

    ``device``: auto|cpu|cuda|cuda:N (module docstring: what is bit-identical where). ``false_alarms_per_hour``:
    the calibration target (:mod:`~libtrad.ray_jobs.lib_trad.calibration`; None: none; too little held-out
    audio: a note, or an error with ``require_calibration``)."""
    from libtrad.models.cnn import LibTradCNNConfig, LibTradCNNFeatureExtractor, LibTradCNNForAudioClassification

    inputs = _train_inputs(dataset, cache_dir)
    output = check_output(output_dir, "model", inputs=inputs)
    run_on = resolve_device(device)  # before any clip is read: CUDA asked for but missing fails now
    synthetic = dataset_is_synthetic(dataset)
    if recipe.batch_size < 2:
        raise LibtradError(f"--batch-size {recipe.batch_size}: the CNN needs batches of at least 2 clips (BatchNorm)")
    cnn_config = _model_config(LibTradCNNConfig, model_kwargs)
    started = time.perf_counter()
    train = load_clips(dataset, config, "train", cache_dir=cache_dir, progress=progress)
    if len(set(train.labels.tolist())) < 2:
        raise LibtradError(f"--config {config}: the train split has one class only; the CNN needs a *_cls config")
    valid = load_clips(dataset, config, "validation", cache_dir=cache_dir, progress=progress)
    plan = calibration_clips(dataset, config, false_alarms_per_hour, require_calibration, cache_dir, progress)
    test = _test_clips(dataset, config, cache_dir, progress) if plan is not None else None
    extractor = LibTradCNNFeatureExtractor()
    train_features = check_clip_frames(clip_features(extractor, train, progress), train, 1, cnn_min_frames(cnn_config))
    x_train, _ = pad_stack(train_features, frames_dim=1)
    y_train = torch.as_tensor(train.labels, dtype=torch.float32)
    valid_features = check_clip_frames(clip_features(extractor, valid, progress), valid, 1, cnn_min_frames(cnn_config))

    torch.manual_seed(recipe.seed)
    model = LibTradCNNForAudioClassification(cnn_config).to(run_on)  # initialised on the CPU: the same on every device
    x_train, y_train = x_train.to(run_on), y_train.to(run_on)

    def batches(generator: torch.Generator) -> Iterator[dict]:
        order = torch.randperm(len(x_train), generator=generator).to(run_on)
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            if len(idx) < 2 and len(order) > 1:  # BatchNorm cannot train on a batch of one
                continue
            yield {"input_features": x_train[idx], "labels": y_train[idx]}

    def validation_auc(m) -> dict:
        return {"val_auc": auc_or_none(valid.labels, clip_scores(m, valid_features))}

    with deterministic(run_on):
        history = fit(
            model, batches, recipe, after_epoch=validation_auc, desc=f"train cnn on {config}", progress=progress
        )
    eval_results = _auc_results(dataset, config, "validation", history[-1]["val_auc"])
    detection = calibrate_model(model, extractor, plan, test) if plan is not None else None
    _write_model(
        output,
        inputs,
        model,
        extractor,
        history,
        run_on,
        family="cnn",
        dataset=dataset,
        config=config,
        recipe=recipe,
        synthetic=synthetic,
        eval_results=eval_results,
        summary=f"LiB-TRAD CNN classifier trained on `{config}`.",
        extra={"train clips": len(train), "validation clips": len(valid), **card_rows(detection)},
    )
    return TrainResult(Path(output_dir), history, eval_results, time.perf_counter() - started)


# --------------------------------------------------------------------------- attention AE
def frame_windows(x: torch.Tensor, mask: torch.Tensor, clip_idx: torch.Tensor, frame_idx: torch.Tensor, context: int):
    """Windows of ``context`` frames centred on (clip, frame) pairs -> (batch, context, mels), key mask, centre mask."""
    half = context // 2
    offsets = torch.arange(-half, half + 1)
    positions = frame_idx[:, None] + offsets[None, :]
    inside = (positions >= 0) & (positions < x.shape[1])
    clamped = positions.clamp(0, x.shape[1] - 1)
    windows = x[clip_idx[:, None], clamped]
    key_mask = inside & mask[clip_idx[:, None], clamped].bool()
    centre = torch.zeros_like(key_mask)
    centre[:, half] = True
    return windows, key_mask.long(), centre


def train_attention_ae(
    dataset: str,
    output_dir: str | Path,
    *,
    config: str = "tr1",
    recipe: Recipe = AE_RECIPE,
    model_kwargs: dict | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    device: str = "auto",
    false_alarms_per_hour: float | None = DEFAULT_FALSE_ALARMS_PER_HOUR,
    require_calibration: bool = False,
) -> TrainResult:
    """Attention AE on the normal clips of ``config``'s train split; each frame is a sample.

    ``device``: auto|cpu|cuda|cuda:N (module docstring: what is bit-identical where).
    ``false_alarms_per_hour``/``require_calibration``: as :func:`train_cnn`.

    After training, μ and Σ⁻¹ of the attended latent of every training frame are stored in the
    model, and the test split (if present) gives the AUC written to the model card.
    """
    from libtrad.models.attention_ae import (
        LibTradAttentionAEConfig,
        LibTradAttentionAEFeatureExtractor,
        LibTradAttentionAEForAnomalyDetection,
    )

    inputs = _train_inputs(dataset, cache_dir)
    output = check_output(output_dir, "model", inputs=inputs)
    run_on = resolve_device(device)  # before any clip is read: CUDA asked for but missing fails now
    synthetic = dataset_is_synthetic(dataset)
    ae_config = _model_config(LibTradAttentionAEConfig, model_kwargs)
    started = time.perf_counter()
    train = _normal_train_clips(dataset, config, cache_dir, progress)
    test = _test_clips(dataset, config, cache_dir, progress)
    plan = calibration_clips(dataset, config, false_alarms_per_hour, require_calibration, cache_dir, progress)
    extractor = LibTradAttentionAEFeatureExtractor()
    x, mask = pad_stack(clip_features(extractor, train, progress), frames_dim=0)
    clip_idx, frame_idx = mask.nonzero(as_tuple=True)

    torch.manual_seed(recipe.seed)
    model = LibTradAttentionAEForAnomalyDetection(ae_config).to(run_on)  # initialised on the CPU: the same everywhere
    batches = _frame_batches(x, mask, clip_idx, frame_idx, model.config.context_frames, recipe.batch_size, run_on)
    with deterministic(run_on):
        history = fit(model, batches, recipe, desc=f"train ae on {config}", progress=progress)
        _fit_scorer(model, x, mask, run_on, config)

    test_auc = None
    if test is not None:
        with deterministic(run_on):
            test_auc = auc_or_none(test.labels, clip_scores(model, clip_features(extractor, test, progress)))
    eval_results = _auc_results(dataset, config, "test", test_auc)
    if history:
        history[-1]["test_auc"] = test_auc
    with deterministic(run_on):
        detection = calibrate_model(model, extractor, plan, test) if plan is not None else None
    _write_model(
        output,
        inputs,
        model,
        extractor,
        history,
        run_on,
        family="attention_ae",
        dataset=dataset,
        config=config,
        recipe=recipe,
        synthetic=synthetic,
        eval_results=eval_results,
        summary=f"LiB-TRAD attention auto-encoder trained on the normal clips of `{config}`.",
        extra={"train clips (normal)": len(train), "training frames": int(len(clip_idx)), **card_rows(detection)},
        training={"training_frames": int(len(clip_idx))},
    )
    return TrainResult(Path(output_dir), history, eval_results, time.perf_counter() - started)


def _test_clips(dataset: str, config: str, cache_dir, progress: bool) -> Clips | None:
    """The test split if ``config`` has one (None otherwise); read before training, so a broken one
    fails now rather than after every epoch."""
    if not split_exists(dataset, config, "test", cache_dir=cache_dir):
        return None
    return load_clips(dataset, config, "test", cache_dir=cache_dir, progress=progress)


def _frame_batches(x, mask, clip_idx, frame_idx, context: int, batch_size: int, run_on):
    """The auto-encoder's batches for :func:`fit`: each epoch, every training frame once in a shuffled
    order, as the window of ``context`` frames around it (:func:`frame_windows`), on ``run_on``."""

    def batches(generator: torch.Generator) -> Iterator[dict]:
        order = torch.randperm(len(clip_idx), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            windows, key_mask, centre = frame_windows(x, mask, clip_idx[idx], frame_idx[idx], context)
            yield {
                "input_features": windows.to(run_on),
                "attention_mask": key_mask.to(run_on),
                "loss_mask": centre.to(run_on),
            }

    return batches


def _normal_train_clips(dataset: str, config: str, cache_dir, progress: bool) -> Clips:
    """The normal clips of ``config``'s train split (the auto-encoder learns normal audio only; a note
    says how many abnormal ones are left out)."""
    train = load_clips(dataset, config, "train", cache_dir=cache_dir, progress=progress)
    normal = [w for w, y in zip(train.waveforms, train.labels) if y == 0]
    if not normal:
        raise LibtradError(f"--config {config}: the train split has no normal clips to learn from")
    if len(normal) < len(train):
        tqdm.write(
            f"note: {len(train) - len(normal)} abnormal clips in {config}/train are left out: "
            "the auto-encoder learns normal audio only"
        )
    return Clips(train.dataset, config, "train", normal, np.zeros(len(normal), dtype=np.int64))


def _fit_scorer(model, x: torch.Tensor, mask: torch.Tensor, run_on, config: str) -> None:
    """μ and Σ⁻¹ of the attended latent of every training frame, stored in the model; refused (nothing
    written) when they cannot be fitted or are not finite."""
    with torch.no_grad():
        latents = torch.cat(
            [
                model.autoencoder(
                    x[i : i + 64].to(run_on), attention_mask=mask[i : i + 64].to(run_on)
                ).last_hidden_state[mask[i : i + 64].to(run_on).bool()]
                for i in range(0, len(x), 64)
            ]
        )
    try:
        model.fit_scorer(latents)
    except ValueError as exc:  # e.g. fewer than two training frames
        raise LibtradError(
            f"--config {config}: cannot fit the Mahalanobis scorer on the train split ({first_line(exc)})"
        ) from None
    if not model.is_scorer_fitted or not all(
        torch.isfinite(t).all() for t in model.scorer.state_dict().values() if t.is_floating_point()
    ):
        raise LibtradError(
            f"--config {config}: the Mahalanobis statistics of the train split are not finite; "
            "nothing was written: try a smaller --lr"
        )
