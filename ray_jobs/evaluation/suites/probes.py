"""What the trained-probe and kNN suites share: labels, splits, folds, schedules, the training loop.

The suites ``linear-probe`` (ARCH), ``xares-mlp`` and ``xares-knn`` (X-ARES) evaluate frozen clip
embeddings (``libtrad embed`` stores one mean-pooled vector per clip) on a labelled task. One
embeddings folder is one **task**; its name is ``<dataset>/<config>`` from the folder's
``embeddings.json`` (the folder's own name when there is none), see :func:`task_name`.

Labels and metric
    ``label`` holds whole numbers (a Hugging Face ``ClassLabel``) or strings; the classes are the
    distinct labels of all rows, in sorted order, named by the ClassLabel names (Parquet
    metadata), else a ``label_name`` column, else the labels themselves. A two-class task named
    ``normal``/``anomaly`` or ``normal``/``abnormal`` (any case) is an **anomaly task**: it is
    scored by ROC AUC (and pAUC up to FPR 0.1) of the anomaly class's probability (probes) or
    vote share (kNN), not by accuracy, so it is comparable with the anomaly suites. Every other
    task is scored by accuracy. Unlabelled rows (a negative label) are refused.

Protocol (which rows train, select and test), from the columns:

* ``kfold`` — a ``fold`` column: one probe per fold; the fold is the test part, the other folds
  train. Validation is carved from the **training folds** (below), never from the test fold
  (X-ARES selects on the test fold itself).
* ``splits`` — a ``split`` column with ``train``, ``validation`` (or ``valid``/``val``) and
  ``test``: used as they are. With two splits (``train`` + ``validation`` as LiB-TRAD's
  ``*_cls`` configs, or ``train`` + ``test``) the second one is the test part and the
  validation part is carved from ``train``.
* ``5fold-for-loocv`` — one ``train`` split (or no ``split`` column) and no ``fold`` column: the
  datasets SIREN scores by leave-one-out. A probe per left-out row is thousands of trainings, so
  these are scored with 5 stratified folds instead (rows dealt class by class, in a permutation
  fixed by ``split_seed``, round-robin to the folds), and the results say so.

The carve: ``val_fraction`` (10 %) of the training rows of every class (rounded half up, a
class keeping at least one training row), drawn with a generator fixed by ``split_seed`` and the
fold — the same rows for every training seed, so seeds vary only the probe's initialisation and
batch order. A train part holding one class is refused with one line naming the suite that
fits (the unsupervised configs, whose train split is all normal).

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
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.errors import LibtradError, ParameterError
from libtrad.options import SEED_MAX, check_number

VALIDATION_NAMES = ("validation", "valid", "val")
ANOMALY_CLASS_SETS = ({"normal", "anomaly"}, {"normal", "abnormal"})
LOOCV_FOLDS = 5
MAX_FPR = 0.1
BASE_COLUMNS = ("label",)
OPTIONAL_COLUMNS = ("split", "fold", "label_name", "file", "machine", "section", "experiment")


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

    def __post_init__(self):
        check_int("seeds", self.seeds, 1, 1000)
        check_int("epochs", self.epochs, 1, 100_000)
        check_int("batch_size", self.batch_size, 1, 1 << 20)
        check_positive("lr", self.lr)
        check_fraction("val_fraction", self.val_fraction)
        check_seed("split_seed", self.split_seed)
        check_task(self.task)


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


# ----------------------------------------------------------------------------- labels
@dataclass(frozen=True)
class Classes:
    """The task's classes: names in code order, the metric, the anomaly class's code (or None)."""

    names: tuple[str, ...]
    metric: str  # "accuracy" | "auc"
    positive: int | None


def label_codes(df: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Every row's class code 0..C-1 and the raw labels in code order (sorted)."""
    if len(df) == 0:
        raise LibtradError("the embeddings hold no rows")
    if "label" not in df.columns:
        raise LibtradError(f"no column 'label' in the embeddings; columns present: {', '.join(map(str, df.columns))}")
    values = df["label"]
    if values.isna().any():
        raise LibtradError(f"column 'label': empty in {int(values.isna().sum())} row(s) (every row needs a label)")
    raw = values.to_numpy()
    if raw.dtype.kind in "iuf":
        as_int = raw.astype(np.int64)
        if not np.array_equal(as_int, raw.astype(np.float64)):
            raise LibtradError(f"column 'label': expected whole numbers or names, found {values.dtype}")
        if (as_int < 0).any():
            raise LibtradError(f"column 'label': {int((as_int < 0).sum())} unlabelled row(s) (label "
                               f"{int(as_int.min())}); the probes need a class for every row")
        raw = as_int
    else:
        raw = raw.astype(str)
    labels, codes = np.unique(raw, return_inverse=True)
    return codes.astype(np.int64), labels.tolist()


def class_names(df: pd.DataFrame, labels: list) -> list[str]:
    """A name per class: ClassLabel names, else the ``label_name`` column, else the label itself."""
    hinted = df.attrs.get("label_names")
    if hinted and all(isinstance(v, (int, np.integer)) and v < len(hinted) for v in labels):
        return [str(hinted[v]) for v in labels]
    if "label_name" in df.columns:
        pairs = pd.DataFrame({"label": df["label"].to_numpy(), "name": df["label_name"].astype(str).to_numpy()})
        per_label = pairs.drop_duplicates().groupby("label")["name"].agg(list)
        clash = next(((k, v) for k, v in per_label.items() if len(v) > 1), None)
        if clash:
            raise LibtradError(f"column 'label_name': label {clash[0]} has several names "
                               f"({', '.join(sorted(clash[1]))})")
        return [str(per_label[v][0]) for v in labels]
    return [str(v) for v in labels]


def task_classes(df: pd.DataFrame, labels: list) -> Classes:
    """The classes and how the task is scored (AUC for a normal/anomaly task, else accuracy)."""
    names = class_names(df, labels)
    lowered = [n.lower() for n in names]
    if len(names) == 2 and set(lowered) in ANOMALY_CLASS_SETS:
        return Classes(tuple(names), "auc", 1 - lowered.index("normal"))
    return Classes(tuple(names), "accuracy", None)


def columns_for(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """What a unit reads: every row's class code (by row position), the class names, the anomaly class."""
    codes, labels = label_codes(df)
    classes = task_classes(df, labels)
    return {"label": codes, "class_names": np.array(classes.names, dtype=object),
            "positive": np.array([-1 if classes.positive is None else classes.positive], dtype=np.int64)}


def classes_from_columns(columns: dict[str, np.ndarray]) -> Classes:
    """The :class:`Classes` that :func:`columns_for` packed into arrays (for a unit on a worker)."""
    positive = int(columns["positive"][0])
    return Classes(tuple(str(n) for n in columns["class_names"]), "auc" if positive >= 0 else "accuracy",
                   None if positive < 0 else positive)


# ----------------------------------------------------------------------------- splits and folds
@dataclass(frozen=True)
class Fold:
    """One train / validation / test partition of the rows (positions in the frame, sorted)."""

    name: str
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class Layout:
    protocol: str  # "splits" | "kfold" | "5fold-for-loocv"
    folds: tuple[Fold, ...]
    splits_used: dict


def _split_column(df: pd.DataFrame) -> np.ndarray:
    if "split" not in df.columns:
        return np.full(len(df), "train", dtype=object)
    split = df["split"]
    if split.isna().any():
        raise LibtradError(f"column 'split': empty in {int(split.isna().sum())} row(s)")
    return split.astype(str).to_numpy()


def _named_splits(split: np.ndarray) -> dict[str, str]:
    """{role: split name} for the splits present; unknown names refused."""
    present = sorted(set(split.tolist()))
    roles: dict[str, str] = {}
    for name in present:
        role = "train" if name == "train" else "validation" if name in VALIDATION_NAMES else \
            "test" if name == "test" else None
        if role is None or role in roles:
            raise LibtradError(f"column 'split': split {name!r} is not one the probes know (splits present: "
                               f"{', '.join(present)}; expected train, validation, test)")
        roles[role] = name
    if "train" not in roles:
        raise LibtradError(f"column 'split': no 'train' split (splits present: {', '.join(present)}); "
                           "embed the train split too")
    return roles


def protocol_of(df: pd.DataFrame) -> tuple[str, dict[str, str]]:
    """The protocol (module docstring) and, for ``splits``, the split playing each role."""
    if "fold" in df.columns:
        return "kfold", {}
    roles = _named_splits(_split_column(df))
    if len(roles) == 1:
        return "5fold-for-loocv", roles
    return "splits", roles


def carve_validation(rows: np.ndarray, codes: np.ndarray, fraction: float, seed) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation): ``fraction`` of each class's rows (half up; >= 1 kept for training), seeded."""
    rng = np.random.default_rng(seed)
    val = []
    for code in np.unique(codes[rows]):
        members = rows[codes[rows] == code]
        take = min(int(math.floor(fraction * members.size + 0.5)), members.size - 1)
        val.append(rng.permutation(members)[:take])
    validation = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    return np.setdiff1d(rows, validation), validation


def stratified_folds(codes: np.ndarray, k: int, seed) -> np.ndarray:
    """A fold number 0..k-1 per row: each class's rows permuted (seeded), all dealt round-robin."""
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(codes == c)) for c in np.unique(codes)])
    folds = np.empty(codes.size, dtype=np.int64)
    folds[order] = np.arange(codes.size) % k
    return folds


def _fold_values(df: pd.DataFrame) -> np.ndarray:
    values = df["fold"]
    if values.isna().any():
        raise LibtradError(f"column 'fold': empty in {int(values.isna().sum())} row(s)")
    return values.astype(str).to_numpy()


def _sort_names(names) -> list[str]:
    """Fold names in numeric order when they are numbers ("2" before "10"), else by text."""
    return sorted(names, key=lambda n: (0, int(n), "") if n.lstrip("-").isdigit() else (1, 0, n))


def _kfold_parts(df: pd.DataFrame) -> tuple[list, dict]:
    fold_of = _fold_values(df)
    names = _sort_names(set(fold_of.tolist()))
    if len(names) < 2:
        raise LibtradError(f"column 'fold': one fold only ({names[0]}); k-fold needs at least two")
    parts = [(n, np.flatnonzero(fold_of != n), np.flatnonzero(fold_of == n)) for n in names]
    return parts, {"train": "the other folds", "test": "each fold in turn", "folds": names}


def _loocv_parts(df: pd.DataFrame, codes: np.ndarray, split_seed: int) -> tuple[list, dict]:
    if len(df) < LOOCV_FOLDS:
        raise LibtradError(f"{len(df)} rows: {LOOCV_FOLDS} stratified folds need at least {LOOCV_FOLDS}")
    fold_of = stratified_folds(codes, LOOCV_FOLDS, split_seed)
    parts = [(str(f), np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(LOOCV_FOLDS)]
    return parts, {"train": "the other folds", "test": "each fold in turn",
                   "folds": f"{LOOCV_FOLDS} stratified folds (seed {split_seed}) instead of leave-one-out"}


def _split_parts(df: pd.DataFrame, roles: dict[str, str]) -> tuple[list, dict, tuple | None]:
    """Train vs test; with three splits also (name, rows) of the validation split, else None."""
    split = _split_column(df)
    test_role = "test" if "test" in roles else "validation"
    parts = [("test", np.flatnonzero(split == roles["train"]), np.flatnonzero(split == roles[test_role]))]
    given = roles.get("validation") if test_role == "test" else None
    used = {"train": roles["train"], "test": roles[test_role]}
    return parts, used, ((given, np.flatnonzero(split == given)) if given else None)


def layout(df: pd.DataFrame, codes: np.ndarray, *, suite: str, val_fraction: float | None, split_seed: int) -> Layout:
    """Every fold of the task; ``val_fraction=None`` (kNN): no validation part at all."""
    protocol, roles = protocol_of(df)
    given = None
    if protocol == "kfold":
        parts, used = _kfold_parts(df)
    elif protocol == "5fold-for-loocv":
        parts, used = _loocv_parts(df, codes, split_seed)
    else:
        parts, used, given = _split_parts(df, roles)
    _refuse_one_class(df, codes, parts[0][1] if protocol == "splits" else np.arange(len(df)), suite)
    folds = []
    for index, (name, train, test) in enumerate(parts):
        validation = np.zeros(0, dtype=np.int64)
        if val_fraction is not None and given is not None:
            validation = given[1]
        elif val_fraction is not None:
            train, validation = carve_validation(train, codes, val_fraction, [split_seed, index])
            _check_carve(name, train, validation, protocol)
        folds.append(Fold(name, train, validation, test))
    if val_fraction is not None:
        used["validation"] = given[0] if given else (
            f"carved from {'train' if protocol == 'splits' else 'the training folds'}: {val_fraction:g} of each "
            f"class, stratified, seed {split_seed}")
    _check_disjoint(folds)
    return Layout(protocol, tuple(folds), used)


def _check_carve(name: str, train: np.ndarray, validation: np.ndarray, protocol: str) -> None:
    if validation.size == 0:
        where = "train split" if protocol == "splits" else f"training folds of fold {name}"
        raise LibtradError(f"{where}: {train.size} row(s), too few to carve a validation part "
                           "(raise --val-fraction or give a validation split)")


def _check_disjoint(folds) -> None:
    """A defence: validation and training rows are never test rows of the same fold."""
    for fold in folds:
        if np.intersect1d(fold.test, np.union1d(fold.train, fold.validation)).size:
            raise LibtradError(f"fold {fold.name}: its test rows overlap its training or validation rows")


def _refuse_one_class(df: pd.DataFrame, codes: np.ndarray, train: np.ndarray, suite: str) -> None:
    present = np.unique(codes[train])
    if present.size >= 2:
        return
    if {"machine", "section"} <= set(df.columns):
        hint = "libtrad evaluate siren-dcase"
    elif "experiment" in df.columns:
        hint = "libtrad evaluate lib-trad"
    else:
        hint = "libtrad evaluate siren-dcase or lib-trad (anomaly detection without labels for training)"
    _, labels = label_codes(df)
    only = labels[int(present[0])] if present.size else "none"
    raise LibtradError(f"{suite}: the training rows hold one class only (label {only}, {train.size} rows): "
                       f"unsupervised anomaly-detection embeddings; evaluate them with {hint}")


# ----------------------------------------------------------------------------- task name
def dataset_label(dataset: str) -> str:
    """A Hub id (``owner/name``) as it is; a local dataset path by its folder name."""
    parts = dataset.split("/")
    hub_like = len(parts) == 2 and all(p and not p.startswith(".") for p in parts) and not Path(dataset).exists()
    return dataset if hub_like else Path(dataset).name


def task_name(folders) -> str:
    """``<dataset>/<config>`` from each folder's embeddings.json, else the folder's name; '+'-joined."""
    from libtrad.ray_jobs.evaluation.evaluate import embeddings_provenance

    names = []
    for record in embeddings_provenance(list(folders)):
        if record.get("dataset"):
            dataset = dataset_label(str(record["dataset"]))
            names.append(f"{dataset}/{record['config']}" if record.get("config") else dataset)
        else:
            names.append(Path(record["path"]).resolve().name)
    return "+".join(dict.fromkeys(names))


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
def deterministic_torch(seed: int, *, strict: bool = True):
    """One intra-op thread, a private RNG seeded with ``seed`` and (``strict``) PyTorch's deterministic
    algorithms; the caller's settings are restored afterwards.

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
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(was_strict)
        torch.set_num_threads(threads)


def unit_seed(seed: int, fold_index: int) -> int:
    """The torch seed of one (seed, fold) unit: distinct per fold, fixed by the two numbers."""
    return int(np.random.SeedSequence([seed, fold_index]).generate_state(1, dtype=np.uint64)[0] % (2**63))


# ----------------------------------------------------------------------------- probe units
@dataclass(frozen=True)
class ProbeUnit:
    """One probe: a training seed on one fold (rows are positions in the frame)."""

    key: str  # "seed<s>/fold<i>"
    seed: int
    fold: str
    fold_index: int
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def probe_units(df: pd.DataFrame, options, suite: str) -> tuple[list[ProbeUnit], Layout]:
    """One unit per (seed, fold); seeds are 0 .. ``options.seeds`` - 1."""
    codes, _ = label_codes(df)
    plan = layout(df, codes, suite=suite, val_fraction=options.val_fraction, split_seed=options.split_seed)
    units = [ProbeUnit(f"seed{seed:03d}/fold{i:03d}", seed, fold.name, i, fold.train, fold.validation, fold.test)
             for seed in range(options.seeds) for i, fold in enumerate(plan.folds)]
    return units, plan


# ----------------------------------------------------------------------------- scoring
def score(scores: np.ndarray, truth: np.ndarray, classes: Classes, max_fpr: float = MAX_FPR) -> dict:
    """``{"metric": v}`` (+ ``"pauc"`` for an anomaly task) from per-class scores of each row.

    Accuracy: the class with the highest score (the first on a tie). AUC/pAUC: the anomaly
    class's column, which must be a probability or vote share (comparable across rows).
    """
    from libtrad.ray_jobs.evaluation import metrics

    if classes.metric == "accuracy":
        predicted = np.argmax(scores, axis=1)
        return {"metric": float(np.count_nonzero(predicted == truth)) / truth.size}
    positive = (truth == classes.positive).astype(np.int64)
    if positive.min() == positive.max():
        raise LibtradError(f"an evaluation part holds only {classes.names[int(truth[0])]!r} rows: "
                           "AUC needs normal and anomalous rows")
    s = scores[:, classes.positive].astype(np.float64)
    return {"metric": metrics.roc_auc(positive, s), "pauc": metrics.partial_auc(positive, s, max_fpr)}


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
        return (logits if classes.metric == "accuracy" else torch.softmax(logits, dim=1)).double().numpy()


def select_epoch(curve: list[float]) -> int:
    """The 0-based index of the best validation value; the first one on a tie."""
    return int(np.argmax(np.asarray(curve)))


def fit_and_select(model, optimizer, lr_at, data: dict, classes: Classes, *, epochs: int, batch_size: int,
                   generator) -> FitResult:
    """Train ``epochs`` epochs (lr from ``lr_at(step, total)``), keep the best-validation epoch's weights."""
    import torch
    import torch.nn.functional as F

    x, y = data["x_train"], data["y_train"]
    n = int(y.shape[0])
    total = epochs * math.ceil(n / batch_size)
    curve, losses, best_state, step = [], [], None, 0
    y_val = data["y_val"].numpy()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        batch_losses = []
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
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
    return float((torch.stack(batch_losses).double() * sizes).sum()) / n


def tensors(unit: ProbeUnit, embeddings: np.ndarray, codes: np.ndarray) -> dict:
    """The unit's train / validation / test rows as torch tensors (copies: the input may be read-only)."""
    import torch

    out = {}
    for part, rows in (("train", unit.train), ("val", unit.validation), ("test", unit.test)):
        out[f"x_{part}"] = torch.from_numpy(np.ascontiguousarray(embeddings[rows], dtype=np.float32))
        out[f"y_{part}"] = torch.from_numpy(codes[rows].astype(np.int64))
    return out


def run_probe(unit: ProbeUnit, embeddings: np.ndarray, columns: dict, options, *, build_model, build_optimizer,
              lr_at) -> dict:
    """Train one unit's probe and score its test rows once with the best-validation weights."""
    import torch

    classes = classes_from_columns(columns)
    with deterministic_torch(unit_seed(unit.seed, unit.fold_index)):
        data = tensors(unit, embeddings, columns["label"])
        model = build_model(embeddings.shape[1], len(classes.names))
        generator = torch.Generator().manual_seed(unit_seed(unit.seed, unit.fold_index) + 1)
        fit = fit_and_select(model, build_optimizer(model), lr_at, data, classes, epochs=options.epochs,
                             batch_size=options.batch_size, generator=generator)
        tested = score(_outputs(fit.model, data["x_test"], classes), data["y_test"].numpy(), classes)
    result = {"fold": unit.fold, "seed": unit.seed, "best_epoch": fit.best_epoch,
              "val_metric": fit.val_curve[fit.best_epoch - 1], "test_metric": tested["metric"],
              "sizes": {"train": int(unit.train.size), "validation": int(unit.validation.size),
                        "test": int(unit.test.size)},
              "val_curve": fit.val_curve, "train_loss": fit.train_loss}
    if "pauc" in tested:
        result["test_pauc"] = tested["pauc"]
    return result


# ----------------------------------------------------------------------------- combine
def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(np.sum(v) / v.size), (float(np.std(v, ddof=1)) if v.size > 1 else None)


def check_unit_results(keys: list[str], unit_results: dict) -> None:
    missing, extra = sorted(set(keys) - set(unit_results)), sorted(set(unit_results) - set(keys))
    if missing or extra:
        raise LibtradError(f"unit results do not match the plan (missing: {', '.join(missing) or 'none'}; "
                           f"unexpected: {', '.join(extra) or 'none'})")


def protocol_note(protocol: str, split_seed: int) -> str | None:
    if protocol == "5fold-for-loocv":
        return (f"no fold column and one split: a leave-one-out dataset, scored with {LOOCV_FOLDS} stratified folds "
                f"(seed {split_seed}) instead of one probe per left-out row")
    return None


def combine_probe(suite: str, unit_results: dict, df: pd.DataFrame, options) -> dict:
    """The results.json dict of a trained-probe suite (module docstrings of the suites give its shape)."""
    units, plan = probe_units(df, options, suite)
    check_unit_results([u.key for u in units], unit_results)
    codes, labels = label_codes(df)
    classes = task_classes(df, labels)
    per_seed = []
    for seed in range(options.seeds):
        folds = [_fold_record(unit_results[u.key]) for u in sorted(units, key=lambda u: u.key) if u.seed == seed]
        entry = {"seed": seed, "folds": folds, "test_metric": mean_std([f["test_metric"] for f in folds])[0]}
        if classes.metric == "auc":
            entry["test_pauc"] = mean_std([f["test_pauc"] for f in folds])[0]
        per_seed.append(entry)
    mean, std = mean_std([s["test_metric"] for s in per_seed])
    results = {"suite": suite, "protocol": plan.protocol, "task": options.task, "metric": classes.metric,
               "seeds": list(range(options.seeds)), "per_seed": per_seed, "mean": mean, "std": std,
               "splits_used": plan.splits_used, "test_size": int(sum(f.test.size for f in plan.folds)),
               "classes": list(classes.names), "options": options_record(options),
               "note": protocol_note(plan.protocol, options.split_seed)}
    if classes.metric == "auc":
        p_mean, p_std = mean_std([s["test_pauc"] for s in per_seed])
        results["pauc"] = {"mean": p_mean, "std": p_std, "max_fpr": MAX_FPR}
    return results


def _fold_record(result: dict) -> dict:
    keys = ("fold", "best_epoch", "val_metric", "test_metric", "test_pauc", "sizes", "val_curve", "train_loss")
    return {k: result[k] for k in keys if k in result}


def options_record(options) -> dict:
    from dataclasses import asdict

    return {k: v for k, v in sorted(asdict(options).items())}
