"""The columns ``siren-fault`` reads, each checked with a one-line error naming the column and the row.

Labels must be whole non-negative numbers; ``file`` is unique (the same embeddings given twice would
otherwise count twice); ``subset`` holds only ``train`` and ``test``; class names come from the options,
a ``label_name`` column or the ``ClassLabel`` names, in that order. The protocol follows from the
columns present (:func:`pick_protocol`), and ``folds=N`` draws scikit-learn's stratified folds over the
rows in ``file`` order (:func:`stratified_folds`). The suite itself is :mod:`.siren_fault`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from libtrad.core.errors import LibtradError, ParameterError

if TYPE_CHECKING:
    from libtrad.ray_jobs.evaluation.suites.siren_fault import FaultOptions

SUBSETS = ("train", "test")  # the ``subset`` values of the external protocol (IIEE's train_cut / test_cut)


def int_column(df: pd.DataFrame, name: str) -> np.ndarray:
    values = df[name]
    if values.isna().any():
        raise LibtradError(f"column {name!r}: empty in the row file={df.loc[values.isna(), 'file'].iloc[0]!r}")
    try:
        raw = values.to_numpy()
        as_int = raw.astype(np.int64)
        exact = np.array_equal(as_int, raw.astype(np.float64))
    except (TypeError, ValueError):
        exact = False
    if not exact:
        raise LibtradError(f"column {name!r}: expected whole numbers, found {values.dtype}")
    if (as_int < 0).any():
        row = int(np.flatnonzero(as_int < 0)[0])
        raise LibtradError(
            f"column {name!r}: {as_int[row]} in the row file={df['file'].iloc[row]!r} (expected a non-negative index)"
        )
    return as_int


def class_names(df: pd.DataFrame, classes=None) -> dict[int, str]:
    """A name for every label index in ``df`` (see the module docstring for the sources, in order)."""
    labels = np.unique(int_column(df, "label")).tolist()
    if classes is not None:
        if labels[-1] >= len(classes):
            raise ParameterError(
                "classes", list(classes), f"names {len(classes)} classes but the rows have label {labels[-1]}"
            )
        return {i: str(classes[i]) for i in labels}
    if "label_name" in df.columns:
        return _names_from_column(df)
    hinted = df.attrs.get("label_names")
    if hinted and labels[-1] < len(hinted):
        return {i: str(hinted[i]) for i in labels}
    return {i: str(i) for i in labels}


def _names_from_column(df: pd.DataFrame) -> dict[int, str]:
    pairs = pd.DataFrame({"label": int_column(df, "label"), "name": df["label_name"].astype(str).to_numpy()})
    per_label = pairs.drop_duplicates().groupby("label")["name"].agg(list)
    for label, names in per_label.items():
        if len(names) > 1:
            raise LibtradError(f"column 'label_name': label {label} has several names ({', '.join(sorted(names))})")
    return {int(label): names[0] for label, names in per_label.items()}


def pick_protocol(df: pd.DataFrame, options: FaultOptions) -> str:
    if options.protocol == "kfold" and options.folds is None and "fold" not in df.columns:
        raise ParameterError(
            "protocol",
            "kfold",
            "needs a 'fold' column or --folds N (stratified folds); these embeddings have no 'fold' column",
        )
    if options.protocol == "external" and "subset" not in df.columns:
        raise ParameterError(
            "protocol",
            "external",
            "needs a 'subset' column with 'train' and 'test' rows (IIEE's); these embeddings have none",
        )
    if options.protocol == "auto":
        return "kfold" if options.folds is not None or "fold" in df.columns else "loocv"
    return options.protocol


def subset_column(df: pd.DataFrame) -> np.ndarray:
    """The ``subset`` column as text, every row ``train`` or ``test`` (checked: none is left out unnamed)."""
    values = df["subset"]
    if values.isna().any():
        raise LibtradError(f"column 'subset': empty in the row file={df.loc[values.isna(), 'file'].iloc[0]!r}")
    subset = values.astype(str).to_numpy()
    other = sorted(set(subset.tolist()) - set(SUBSETS))
    if other:
        raise LibtradError(
            f"column 'subset': {', '.join(map(repr, other))} (the external protocol trains on "
            "'train' and tests on 'test'; no other value)"
        )
    for name in SUBSETS:
        if not (subset == name).any():
            raise LibtradError(
                f"column 'subset': no {name!r} rows (the external protocol trains on 'train' and tests on 'test')"
            )
    return subset


def stratified_folds(labels: np.ndarray, files: np.ndarray, options: FaultOptions) -> np.ndarray:
    """The fold of each row: scikit-learn's ``StratifiedKFold(folds, shuffle=True, random_state=split_seed)``
    over the rows in ``file`` order (so the folds do not depend on the order the shards were read in)."""
    from sklearn.model_selection import StratifiedKFold

    names, counts = np.unique(labels, return_counts=True)
    if options.folds > counts.min():
        smallest = names[np.argmin(counts)]
        raise ParameterError(
            "folds",
            options.folds,
            f"exceeds the rows of the smallest class (label {smallest}: "
            f"{counts.min()} rows); stratified k-fold needs folds <= {counts.min()}",
        )
    order = np.argsort(files, kind="stable")
    fold = np.empty(len(labels), dtype=np.int64)
    split = StratifiedKFold(n_splits=options.folds, shuffle=True, random_state=options.split_seed)
    for i, (_, test) in enumerate(split.split(np.zeros((len(order), 1)), labels[order])):
        fold[order[test]] = i
    return fold


def file_column(df: pd.DataFrame) -> np.ndarray:
    files = df["file"]
    if files.isna().any():
        raise LibtradError(f"column 'file': empty in row {int(np.flatnonzero(files.isna().to_numpy())[0])}")
    files = files.astype(str).to_numpy()
    unique, counts = np.unique(files, return_counts=True)
    if (counts > 1).any():
        raise LibtradError(
            f"column 'file': {unique[counts > 1][0]!r} appears {counts[counts > 1][0]} times "
            "(several --embeddings of the same data?)"
        )
    return files
