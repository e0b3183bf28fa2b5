"""Training one probe of the trained-probe suites: options, learning-rate schedules, determinism, the training loop.

One concern: one unit's probe (``linear-probe``, ``xares-mlp``), trained and scored once on its
test rows; the option checks and :func:`deterministic_torch` serve ``xares-knn`` too. The task
(labels, classes, splits, folds, units) is :mod:`libtrad.ray_jobs.evaluation.suites.probe_task`;
scoring and combining the units' results is :mod:`libtrad.ray_jobs.evaluation.suites.probe_results`.

Training (:func:`fit_and_select`): mini-batches of ``batch_size`` rows in an order drawn from the
unit's generator (the last batch may be smaller), the learning rate set before every step from
the suite's schedule, cross-entropy loss. After every epoch the validation metric is computed; the
weights of the best epoch (the first one on a tie) are kept, and only they score the test part,
once. The validation curve and the mean training loss per epoch are recorded.

Determinism: every unit runs in :func:`deterministic_torch` — one intra-op thread, PyTorch's
deterministic algorithms and its own seeded RNG state (the caller's settings are restored
afterwards) — so a unit gives bit-identical numbers in this process and on a Ray worker, and two
runs give an identical ``results.json``. One thread per unit is also the fast choice here: the
matrices of one step are small, and units run side by side as Ray tasks, one per core.

Device (``device``: auto|cpu|cuda|cuda:N, :mod:`libtrad.core.devices`): resolved inside the unit, where
it runs. The initial weights and the batch orders come from the CPU generator, so they are the same
on every device; on the CPU the numbers are exactly those of a CPU-only run. On CUDA
:func:`libtrad.core.devices.deterministic` is on too: the same GPU model, driver and torch give the same
numbers run after run, but not the CPU's bits (other kernels; they agree to float32 rounding).
Each unit reports its :func:`~libtrad.core.devices.device_record` under ``"device"``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from libtrad.core.devices import deterministic, device_record, parse_device, resolve_device
from libtrad.core.errors import ParameterError
from libtrad.core.options import SEED_MAX, check_number
from libtrad.ray_jobs.evaluation.probe_report import write_probe_report
from libtrad.ray_jobs.evaluation.suites import probe_task
from libtrad.ray_jobs.evaluation.suites.base import Suite
from libtrad.ray_jobs.evaluation.suites.probe_results import combine_probe, score
from libtrad.ray_jobs.evaluation.suites.probe_task import Classes, ProbeUnit, classes_from_columns, probe_units


@dataclass(frozen=True)
class TrainedProbeOptions:
    """What every trained probe takes (the suites add their optimiser's own settings)."""

    seeds: int = 3
    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    val_fraction: float = 0.1
    split_seed: int = 0
    task: str | None = None
    device: str = "auto"

    def __post_init__(self):
        check_int("seeds", self.seeds, 1, 1000)
        check_int("epochs", self.epochs, 1, 100_000)
        check_int("batch_size", self.batch_size, 1, 1 << 20)
        check_positive("lr", self.lr)
        check_fraction("val_fraction", self.val_fraction)
        check_seed("split_seed", self.split_seed)
        check_task(self.task)
        parse_device(self.device)


# ----------------------------------------------------------------------------- option checks
def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """A whole number in [low, high] (bools refused), else a ParameterError naming ``name``."""
    return check_number(name, value, low=low, high=high, integer=True)


def check_fraction(name: str, value) -> float:
    """A number strictly between 0 and 1."""
    return float(check_number(name, value, low=0, high=1, low_open=True, high_open=True))


def check_number_in(name: str, value, low: float | None, high: float | None) -> float:
    """A number in [low, high] (None: unbounded)."""
    return float(check_number(name, value, low=low, high=high))


def check_positive(name: str, value) -> float:
    return float(check_number(name, value, low=0, low_open=True))


def check_task(value) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ParameterError("task", value, "must be text (the task's name) or None")
    return value


def check_seed(name: str, value) -> int:
    return check_int(name, value, 0, SEED_MAX)


# ----------------------------------------------------------------------------- schedules
def arch_lr(step: int, total: int, peak: float, warmup_fraction: float = 0.1) -> float:
    """ARCH: linear warm-up from 0 over the first ``warmup_fraction`` of the steps, then linear decay.

    ``step`` counts optimiser updates from 0; the warm-up has ``W = floor(warmup_fraction * total)``
    steps (lr ``peak * (step / W)``), the decay reaches 0 just after the last update
    (``peak * ((total - step) / (total - W))``). Computed as ``peak * factor``, the way
    PyTorch's ``LambdaLR`` does, so a hand-written loop with that scheduler gets the same bits.
    """
    warmup = int(warmup_fraction * total)
    return peak * (step / warmup if step < warmup else (total - step) / (total - warmup))


def cosine_lr(step: int, total: int, peak: float, floor_ratio: float = 0.1) -> float:
    """X-ARES: cosine decay from ``peak`` (step 0) towards ``floor_ratio * peak`` (at ``total``)."""
    floor = floor_ratio * peak
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * step / total))


# ----------------------------------------------------------------------------- determinism
@contextmanager
def deterministic_torch(seed: int, *, strict: bool = True, device=None):
    """One intra-op thread, a private RNG seeded with ``seed`` and (``strict``) PyTorch's deterministic
    algorithms; on a CUDA ``device`` also :func:`libtrad.core.devices.deterministic` (its kernels; an op
    without a deterministic one warns there rather than failing the unit). The caller's settings are
    restored afterwards.

    ``strict`` costs nothing per step, but its first call in a process imports TorchDynamo (about a
    second) — the import that constructing a ``torch.optim`` optimiser does anyway, so the probes
    pay it once either way; the kNN, which trains nothing, passes ``strict=False`` (its matrix
    product on one thread is deterministic without it).
    """
    import torch

    threads, was_strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    if strict:
        torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]), deterministic(device or "cpu"):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(was_strict)
        torch.set_num_threads(threads)


def unit_seed(seed: int, fold_index: int) -> int:
    """The torch seed of one (seed, fold) unit: distinct per fold, fixed by the two numbers."""
    return int(np.random.SeedSequence([seed, fold_index]).generate_state(1, dtype=np.uint64)[0] % (2**63))


# ----------------------------------------------------------------------------- training loop
@dataclass
class FitResult:
    best_epoch: int  # 1-based
    val_curve: list[float]
    train_loss: list[float]
    model: object  # the best epoch's weights loaded


def _outputs(model, x, classes: Classes) -> np.ndarray:
    """Per-class scores of each row: logits (accuracy: their argmax) or probabilities (AUC)."""
    import torch

    model.eval()
    with torch.no_grad():
        logits = model(x)
        return (logits if classes.metric == "accuracy" else torch.softmax(logits, dim=1)).double().cpu().numpy()


def select_epoch(curve: list[float]) -> int:
    """The 0-based index of the best validation value; the first one on a tie."""
    return int(np.argmax(np.asarray(curve)))


def fit_and_select(
    model, optimizer, lr_at, data: dict, classes: Classes, *, epochs: int, batch_size: int, generator
) -> FitResult:
    """Train ``epochs`` epochs (lr from ``lr_at(step, total)``), keep the best-validation epoch's weights."""
    import torch
    import torch.nn.functional as F

    x, y = data["x_train"], data["y_train"]
    n = int(y.shape[0])
    total = epochs * math.ceil(n / batch_size)
    curve, losses, best_state, step = [], [], None, 0
    y_val = data["y_val"].cpu().numpy()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator).to(x.device)  # drawn on the CPU: the same order everywhere
        batch_losses = []
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            lr = lr_at(step, total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.detach())
            step += 1
        losses.append(_epoch_loss(batch_losses, n, batch_size))
        curve.append(score(_outputs(model, data["x_val"], classes), y_val, classes)["metric"])
        if select_epoch(curve) == len(curve) - 1:  # a new best (strictly better than every earlier epoch)
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return FitResult(select_epoch(curve) + 1, curve, losses, model)


def _epoch_loss(batch_losses: list, n: int, batch_size: int) -> float:
    """The mean training loss over the epoch's rows (each batch's mean weighted by its size)."""
    import torch

    sizes = torch.full((len(batch_losses),), float(batch_size), dtype=torch.float64)
    sizes[-1] = n - batch_size * (len(batch_losses) - 1)
    return float((torch.stack(batch_losses).double().cpu() * sizes).sum()) / n


def tensors(unit: ProbeUnit, embeddings: np.ndarray, codes: np.ndarray, device=None) -> dict:
    """The unit's train / validation / test rows as torch tensors on ``device`` (default the CPU; copies:
    the input may be read-only)."""
    import torch

    out = {}
    for part, rows in (("train", unit.train), ("val", unit.validation), ("test", unit.test)):
        out[f"x_{part}"] = torch.from_numpy(np.ascontiguousarray(embeddings[rows], dtype=np.float32))
        out[f"y_{part}"] = torch.from_numpy(codes[rows].astype(np.int64))
    return out if device is None else {k: v.to(device) for k, v in out.items()}


def run_probe(
    unit: ProbeUnit, embeddings: np.ndarray, columns: dict, options, *, build_model, build_optimizer, lr_at
) -> dict:
    """Train one unit's probe on ``options.device`` (resolved here, where the unit runs) and score its test
    rows once with the best-validation weights."""
    import torch

    classes = classes_from_columns(columns)
    device = resolve_device(getattr(options, "device", "auto"))
    with deterministic_torch(unit_seed(unit.seed, unit.fold_index), device=device):
        data = tensors(unit, embeddings, columns["label"], device)
        model = build_model(embeddings.shape[1], len(classes.names)).to(device)  # initialised on the CPU
        generator = torch.Generator().manual_seed(unit_seed(unit.seed, unit.fold_index) + 1)
        fit = fit_and_select(
            model,
            build_optimizer(model),
            lr_at,
            data,
            classes,
            epochs=options.epochs,
            batch_size=options.batch_size,
            generator=generator,
        )
        tested = score(_outputs(fit.model, data["x_test"], classes), data["y_test"].cpu().numpy(), classes)
    result = {
        "fold": unit.fold,
        "seed": unit.seed,
        "best_epoch": fit.best_epoch,
        "val_metric": fit.val_curve[fit.best_epoch - 1],
        "test_metric": tested["metric"],
        "sizes": {"train": int(unit.train.size), "validation": int(unit.validation.size), "test": int(unit.test.size)},
        "val_curve": fit.val_curve,
        "train_loss": fit.train_loss,
        "device": device_record(device),
    }
    if "pauc" in tested:
        result["test_pauc"] = tested["pauc"]
    return result


# ----------------------------------------------------------------------------- the trained-probe suites
class ProbeSuite(Suite):
    """A trained-probe suite (``linear-probe``, ``xares-mlp``): one unit per (seed, fold), each a probe trained
    by :func:`run_probe`; a subclass gives its name, options, model, optimiser and learning-rate schedule."""

    required_columns = probe_task.BASE_COLUMNS
    optional_columns = probe_task.OPTIONAL_COLUMNS

    def columns_for(self, df) -> dict:
        return probe_task.columns_for(df)

    def plan(self, df, options=None) -> list[ProbeUnit]:
        """One unit per (seed, fold); the task's classes are checked here (a one-class train is refused)."""
        units, _ = probe_units(df, self.defaults(options), self.name)
        probe_task.columns_for(df)
        return units

    def run_unit(self, unit: ProbeUnit, embeddings: np.ndarray, columns: dict, options=None) -> dict:
        """Train one probe (one seed on one fold) and score its test rows with the best-validation epoch."""
        options = self.defaults(options)
        return run_probe(
            unit,
            embeddings,
            columns,
            options,
            build_model=self.model,
            build_optimizer=partial(self.optimizer, options),
            lr_at=partial(self.lr, options),
        )

    def combine(self, unit_results: dict, df, options=None) -> dict:
        return combine_probe(self.name, unit_results, df, self.defaults(options))

    def write_report(self, results: dict, folder: Path, df=None, options=None) -> list[Path]:
        """results.md and the per-fold figure (:func:`libtrad.ray_jobs.evaluation.probe_report.write_probe_report`)."""
        return write_probe_report(results, folder)

    def model(self, dim: int, n_classes: int):
        raise NotImplementedError

    def optimizer(self, options, model):
        raise NotImplementedError

    def lr(self, options, step: int, total: int) -> float:
        raise NotImplementedError
