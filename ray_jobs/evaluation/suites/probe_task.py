"""The task the trained-probe and kNN suites score: its name, its classes and metric, which rows train, select and test.

One concern: everything decided from the embeddings' columns before anything trains — labels,
classes, the metric, the protocol and its folds, one unit per (seed, fold). Training one unit is
:mod:`libtrad.ray_jobs.evaluation.suites.probes`; scoring and combining the units' results is
:mod:`libtrad.ray_jobs.evaluation.suites.probe_results`.

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

The carve: ``val_fraction`` (10 %) of the training rows of every class (rounded half up), drawn
with a generator fixed by ``split_seed`` and the fold — the same rows for every training seed, so
seeds vary only the probe's initialisation and batch order. Every class with at least two
training rows keeps at least one of them for validation and at least one for training (a
LiB-TRAD ``tr1_cls`` train split of 24 normal / 4 abnormal rows rounds 10 % of 4 to 0: without
this its validation part held one class and no AUC could select the epoch). Rows that are the
channels of one recording (a ``segment`` + ``channel`` column: LiB-TRAD's four microphones of a
segment) are carved as whole groups — all four on the same side, as the builder's splits keep
them — so a segment never trains and validates at once; the counts above are then counted in
segments. A class that cannot be on both sides is refused with one line naming the part, the
class, its count and what to do. A train part holding one class is refused with one line naming
the suite that fits (the unsupervised configs, whose train split is all normal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.evaluation.evaluate import embeddings_provenance

VALIDATION_NAMES = ("validation", "valid", "val")
ANOMALY_CLASS_SETS = ({"normal", "anomaly"}, {"normal", "abnormal"})
LOOCV_FOLDS = 5
BASE_COLUMNS = ("label",)
OPTIONAL_COLUMNS = ("split", "fold", "label_name", "file", "machine", "section", "experiment", "segment", "channel")
# Columns that together name the recording a row is one channel of (rows sharing them are carved together).
GROUP_COLUMNS = ("experiment", "label", "segment")


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
            raise LibtradError(
                f"column 'label': {int((as_int < 0).sum())} unlabelled row(s) (label "
                f"{int(as_int.min())}); the probes need a class for every row"
            )
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
            raise LibtradError(
                f"column 'label_name': label {clash[0]} has several names ({', '.join(sorted(clash[1]))})"
            )
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
    return {
        "label": codes,
        "class_names": np.array(classes.names, dtype=object),
        "positive": np.array([-1 if classes.positive is None else classes.positive], dtype=np.int64),
    }


def classes_from_columns(columns: dict[str, np.ndarray]) -> Classes:
    """The :class:`Classes` that :func:`columns_for` packed into arrays (for a unit on a worker)."""
    positive = int(columns["positive"][0])
    return Classes(
        tuple(str(n) for n in columns["class_names"]),
        "auc" if positive >= 0 else "accuracy",
        None if positive < 0 else positive,
    )


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
        role = (
            "train"
            if name == "train"
            else "validation"
            if name in VALIDATION_NAMES
            else "test"
            if name == "test"
            else None
        )
        if role is None or role in roles:
            raise LibtradError(
                f"column 'split': split {name!r} is not one the probes know (splits present: "
                f"{', '.join(present)}; expected train, validation, test)"
            )
        roles[role] = name
    if "train" not in roles:
        raise LibtradError(
            f"column 'split': no 'train' split (splits present: {', '.join(present)}); embed the train split too"
        )
    return roles


def protocol_of(df: pd.DataFrame) -> tuple[str, dict[str, str]]:
    """The protocol (module docstring) and, for ``splits``, the split playing each role."""
    if "fold" in df.columns:
        return "kfold", {}
    roles = _named_splits(_split_column(df))
    if len(roles) == 1:
        return "5fold-for-loocv", roles
    return "splits", roles


def recording_groups(df: pd.DataFrame) -> np.ndarray | None:
    """A group number per row when rows are channels of one recording (``segment`` and ``channel``
    columns: LiB-TRAD's per-microphone configs), else None (every row its own group)."""
    if not {"segment", "channel"} <= set(df.columns):
        return None
    keys = [c for c in GROUP_COLUMNS if c in df.columns]
    return df.groupby(keys, sort=True, dropna=False).ngroup().to_numpy(dtype=np.int64)


def carve_validation(
    rows: np.ndarray,
    codes: np.ndarray,
    fraction: float,
    seed,
    *,
    groups: np.ndarray | None = None,
    class_names=None,
    where: str = "the train split",
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation): ``fraction`` of each class's rows (half up; a class with >= 2 rows keeps
    >= 1 on each side), seeded; with ``groups``, whole groups of rows (counted in groups).

    A class with fewer than two rows (groups) cannot be on both sides: refused, naming it, when the
    class is needed in validation (``class_names`` given: an AUC task); else it stays in training."""
    rng = np.random.default_rng(seed)
    unit = rows if groups is None else groups[rows]  # what is drawn: a row, or a recording's group
    val = []
    for code in np.unique(codes[rows]):
        members = np.unique(unit[codes[rows] == code])
        if members.size < 2:
            if class_names is not None:
                counted = "row" if groups is None else "recording (its channels carved together)"
                raise LibtradError(
                    f"{where}: class {class_names[int(code)]!r} has {members.size} training {counted}, too few to "
                    "keep one for validation and one for training; give a validation split, use a bigger "
                    "dataset, or evaluate it with the suite that fits (libtrad evaluate lib-trad for LiB-TRAD)"
                )
            continue
        take = min(max(1, int(math.floor(fraction * members.size + 0.5))), members.size - 1)
        val.append(rng.permutation(members)[:take])
    chosen = np.concatenate(val) if val else np.zeros(0, np.int64)
    validation = rows[np.isin(unit, chosen)]
    return np.setdiff1d(rows, validation), np.sort(validation)


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
    return parts, {
        "train": "the other folds",
        "test": "each fold in turn",
        "folds": f"{LOOCV_FOLDS} stratified folds (seed {split_seed}) instead of leave-one-out",
    }


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
    classes = task_classes(df, label_codes(df)[1])
    groups = recording_groups(df)
    folds = []
    for index, (name, train, test) in enumerate(parts):
        validation = np.zeros(0, dtype=np.int64)
        if val_fraction is not None and given is not None:
            validation = given[1]
        elif val_fraction is not None:
            where = "the train split" if protocol == "splits" else f"the training folds of fold {name}"
            train, validation = carve_validation(
                train,
                codes,
                val_fraction,
                [split_seed, index],
                groups=groups,
                class_names=classes.names if classes.metric == "auc" else None,
                where=f"{suite}: {where}",
            )
            _check_carve(name, train, validation, protocol)
        folds.append(Fold(name, train, validation, test))
    if val_fraction is not None:
        used["validation"] = (
            given[0]
            if given
            else (
                f"carved from {'train' if protocol == 'splits' else 'the training folds'}: {val_fraction:g} of each "
                f"class, stratified, seed {split_seed}"
            )
        )
    _check_disjoint(folds)
    _check_scorable(folds, codes, classes, suite)
    return Layout(protocol, tuple(folds), used)


def _check_scorable(folds, codes: np.ndarray, classes: Classes, suite: str) -> None:
    """Before any probe trains: every test part has rows, and for AUC both classes (as does a
    validation part, which selects the epoch by the same metric) — one line naming part and counts."""
    for fold in folds:
        for part, rows in (("test", fold.test), ("validation", fold.validation)):
            if part == "validation" and not rows.size:
                continue  # kNN: no validation part at all
            where = f"{suite}: fold {fold.name}: the {part} part" if len(folds) > 1 else f"{suite}: the {part} part"
            if not rows.size:
                raise LibtradError(f"{where} has no rows; no {classes.metric} can be computed")
            if classes.metric == "auc":
                counts = np.bincount(codes[rows], minlength=len(classes.names))
                if (counts == 0).any():
                    shown = ", ".join(f"{n} {name}" for name, n in zip(classes.names, counts.tolist()))
                    raise LibtradError(f"{where} holds {shown} rows; AUC needs rows of both classes")


def _check_carve(name: str, train: np.ndarray, validation: np.ndarray, protocol: str) -> None:
    if validation.size == 0:
        where = "train split" if protocol == "splits" else f"training folds of fold {name}"
        raise LibtradError(
            f"{where}: {train.size} row(s), too few to carve a validation part "
            "(raise --val-fraction or give a validation split)"
        )


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
    raise LibtradError(
        f"{suite}: the training rows hold one class only (label {only}, {train.size} rows): "
        f"unsupervised anomaly-detection embeddings; evaluate them with {hint}"
    )


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
    units = [
        ProbeUnit(f"seed{seed:03d}/fold{i:03d}", seed, fold.name, i, fold.train, fold.validation, fold.test)
        for seed in range(options.seeds)
        for i, fold in enumerate(plan.folds)
    ]
    return units, plan


# ----------------------------------------------------------------------------- task name
def dataset_label(dataset: str) -> str:
    """A Hub id (``owner/name``) as it is; a local dataset path by its folder name."""
    parts = dataset.split("/")
    hub_like = len(parts) == 2 and all(p and not p.startswith(".") for p in parts) and not Path(dataset).exists()
    return dataset if hub_like else Path(dataset).name


def task_name(folders) -> str:
    """``<dataset>/<config>`` from each folder's embeddings.json, else the folder's name; '+'-joined."""
    names = []
    for record in embeddings_provenance(list(folders)):
        if record.get("dataset"):
            dataset = dataset_label(str(record["dataset"]))
            names.append(f"{dataset}/{record['config']}" if record.get("config") else dataset)
        else:
            names.append(Path(record["path"]).resolve().name)
    return "+".join(dict.fromkeys(names))
