"""linear-probe / xares-mlp: schedules, best-epoch selection, splits and folds, refusals, determinism, Ray = local."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.evaluation.suites import linear_probe as L
from libtrad.ray_jobs.evaluation.suites import probe_task as T
from libtrad.ray_jobs.evaluation.suites import probes as P
from libtrad.ray_jobs.evaluation.suites import xares_mlp as M


def frame(x, y, **columns) -> pd.DataFrame:
    return pd.DataFrame({"label": np.asarray(y), **columns, "embedding": list(np.asarray(x, dtype=np.float32))})


def blobs(n=240, dim=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return rng.normal(size=(n, dim)) + 3 * rng.normal(size=(classes, dim))[y], y


# ----------------------------------------------------------------------------- schedules
def test_arch_schedule_warms_up_from_zero_then_decays_linearly():
    peak = 1e-3  # 100 steps: 10 of warm-up, 90 of decay
    assert P.arch_lr(0, 100, peak) == 0.0
    assert P.arch_lr(5, 100, peak) == pytest.approx(5e-4)
    assert P.arch_lr(9, 100, peak) == pytest.approx(9e-4)
    assert P.arch_lr(10, 100, peak) == pytest.approx(1e-3)  # the peak, right after the warm-up
    assert P.arch_lr(55, 100, peak) == pytest.approx(5e-4)  # half-way down the decay
    assert P.arch_lr(99, 100, peak) == pytest.approx(1e-3 / 90)  # the last update; 0 would come next


def test_xares_schedule_is_a_cosine_to_a_tenth():
    assert P.cosine_lr(0, 100, 1e-3) == pytest.approx(1e-3)
    assert P.cosine_lr(50, 100, 1e-3) == pytest.approx(1e-4 + 0.9e-3 / 2)
    assert P.cosine_lr(100, 100, 1e-3) == pytest.approx(1e-4)


def test_the_schedule_is_applied_once_per_optimiser_step():
    """Every update gets lr_at(step, total) for step 0..total-1, total = epochs × ceil(rows / batch)."""
    import torch

    x, y = blobs(50, 4, 2)
    data = {
        "x_train": torch.tensor(x, dtype=torch.float32),
        "y_train": torch.tensor(y),
        "x_val": torch.tensor(x[:10], dtype=torch.float32),
        "y_val": torch.tensor(y[:10]),
    }
    seen, applied = [], []
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    original_step = optimizer.step

    def step(*args, **kwargs):
        applied.append(optimizer.param_groups[0]["lr"])
        return original_step(*args, **kwargs)

    optimizer.step = step

    def lr_at(s, total):
        seen.append((s, total))
        return P.arch_lr(s, total, 1e-3)

    P.fit_and_select(
        model,
        optimizer,
        lr_at,
        data,
        P.Classes(("0", "1"), "accuracy", None),
        epochs=3,
        batch_size=16,
        generator=torch.Generator().manual_seed(0),
    )
    total = 3 * math.ceil(50 / 16)
    assert seen == [(s, total) for s in range(total)]
    assert applied == [P.arch_lr(s, total, 1e-3) for s in range(total)]


# ----------------------------------------------------------------------------- selection
def test_select_epoch_takes_the_first_best():
    assert P.select_epoch([0.5, 0.9, 0.9, 0.7]) == 1


def shortcut_task(seed=0):
    """Train rows: feature A (±3) follows the label on 80 % of rows, feature B (±0.3) on all of them.

    Training first leans on the large A; fitting the 20 % where A is wrong then makes B dominate.
    Validation rows (also the test split) have A right and B wrong: right early, wrong late.
    """
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], 100)
    sign = 2 * y - 1
    a = 3.0 * sign * np.where(np.arange(200) % 5 == 0, -1, 1)
    b = 0.3 * sign
    train = np.c_[a, b] + rng.normal(scale=0.01, size=(200, 2))
    yv = np.tile([0, 1], 20)
    val = np.c_[3.0 * (2 * yv - 1), -0.3 * (2 * yv - 1)] + rng.normal(scale=0.01, size=(40, 2))
    x = np.r_[train, val, val]
    split = ["train"] * 200 + ["validation"] * 40 + ["test"] * 40
    return frame(x, np.r_[y, yv, yv], split=split)


def test_the_best_validation_epoch_is_scored_not_the_last():
    res = L.SUITE.evaluate_local(shortcut_task(), L.LinearProbeOptions(seeds=1, epochs=60, lr=0.05))
    fold = res["per_seed"][0]["folds"][0]
    curve = fold["val_curve"]
    assert curve[-1] < max(curve)  # the last epoch is worse: ARCH's code would report it
    assert fold["best_epoch"] == int(np.argmax(curve)) + 1 < 60
    assert fold["test_metric"] == fold["val_metric"] == max(curve)  # test = validation rows, best weights
    assert res["mean"] == max(curve)


# ----------------------------------------------------------------------------- splits and folds
def test_validation_is_carved_from_the_training_folds_never_the_test_fold():
    x, y = blobs(300, 4, 3)
    fold = np.arange(300) % 5
    units = L.SUITE.plan(frame(x, y, fold=fold), L.LinearProbeOptions(seeds=2))
    assert len(units) == 10 and [u.key for u in units][:2] == ["seed000/fold000", "seed000/fold001"]
    for unit in units:
        assert set(fold[unit.test]) == {int(unit.fold)}
        assert int(unit.fold) not in set(fold[unit.validation])  # never from the test fold
        assert not set(unit.validation) & set(unit.train)
        assert sorted(np.r_[unit.train, unit.validation, unit.test].tolist()) == list(range(300))
        train_rows = np.r_[unit.train, unit.validation]
        for c in range(3):  # stratified: 10 % of each class's training rows, rounded half up
            assert (y[unit.validation] == c).sum() == math.floor(0.1 * (y[train_rows] == c).sum() + 0.5)
    by_fold = {}
    for unit in units:  # the same carve for every seed: seeds vary only the probe
        by_fold.setdefault(unit.fold, []).append(unit.validation.tolist())
    assert all(a == b for a, b in by_fold.values())


def test_two_splits_the_second_is_test_and_validation_comes_from_train():
    x, y = blobs(200, 4, 2)
    split = np.where(np.arange(200) < 150, "train", "validation")  # LiB-TRAD *_cls: train + validation
    res_units = L.SUITE.plan(frame(x, y, split=split), L.LinearProbeOptions(seeds=1))
    (unit,) = res_units
    assert set(unit.test) == set(range(150, 200)) and unit.validation.max() < 150
    _, layout = T.probe_units(frame(x, y, split=split), L.LinearProbeOptions(), "linear-probe")
    assert layout.protocol == "splits" and layout.splits_used["test"] == "validation"
    assert "carved from train" in layout.splits_used["validation"]


def lib_trad_cls_frame(normal_segments=6, abnormal_segments=1, test_segments=(3, 2), seed=0):
    """A LiB-TRAD ``*_cls``-like frame: 4 microphone rows per segment, labels normal/abnormal."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, (n_norm, n_abn) in (("train", (normal_segments, abnormal_segments)), ("validation", test_segments)):
        for label, count in ((0, n_norm), (1, n_abn)):
            for _ in range(count):
                segment = len({r[2] for r in rows})
                rows += [(split, label, segment, ch) for ch in range(1, 5)]
    split, y, segment, channel = map(np.array, zip(*rows))
    x = rng.normal(size=(len(rows), 4)) + 2.0 * y[:, None]
    df = frame(x, y, split=split, segment=segment, channel=channel, experiment=["tr1"] * len(rows))
    df.attrs["label_names"] = ["normal", "abnormal"]
    return df


def test_the_carve_keeps_both_classes_and_whole_segments():
    # 24 normal / 4 abnormal rows = 6 / 1 segments x 4 microphones... with 2 abnormal segments the
    # 10 % carve rounded 0.2 to 0 segments before: the validation part held normal rows only.
    df = lib_trad_cls_frame(normal_segments=6, abnormal_segments=2)
    (unit,) = L.SUITE.plan(df, L.LinearProbeOptions(seeds=1))
    y, seg = df["label"].to_numpy(), df["segment"].to_numpy()
    assert set(y[unit.validation]) == {0, 1} and set(y[unit.train]) == {0, 1}
    assert not set(seg[unit.validation]) & set(seg[unit.train])  # a segment's 4 microphones on one side
    assert all((seg[unit.validation] == s).sum() == 4 for s in set(seg[unit.validation]))
    res = L.SUITE.evaluate_local(df, L.LinearProbeOptions(seeds=1, epochs=2))
    assert res["metric"] == "auc" and 0.0 <= res["per_seed"][0]["test_metric"] <= 1.0


def test_a_class_that_cannot_be_on_both_sides_is_one_line_naming_it():
    df = lib_trad_cls_frame(normal_segments=6, abnormal_segments=1)  # 24 normal / 4 abnormal rows: 1 segment
    with pytest.raises(LibtradError) as info:
        L.SUITE.plan(df, L.LinearProbeOptions(seeds=1))
    message = str(info.value)
    assert "\n" not in message and "class 'abnormal' has 1 training recording" in message
    assert "linear-probe: the train split" in message and "validation split" in message
    # A plain multi-class task keeps a one-row class in training (accuracy needs no class in validation).
    x, y = blobs(60, 4, 3)
    y[0], y[y == 2] = 2, 1
    (unit,) = L.SUITE.plan(frame(x, y, split=["train"] * 50 + ["test"] * 10), L.LinearProbeOptions(seeds=1))
    assert 0 in unit.train and 0 not in unit.validation


def test_three_splits_are_used_as_given():
    x, y = blobs(120, 4, 2)
    split = np.array(["train"] * 80 + ["valid"] * 20 + ["test"] * 20)
    (unit,) = L.SUITE.plan(frame(x, y, split=split), L.LinearProbeOptions(seeds=1))
    assert unit.train.tolist() == list(range(80)) and unit.validation.tolist() == list(range(80, 100))


def test_a_loocv_dataset_is_scored_with_5_stratified_folds_and_says_so():
    x, y = blobs(103, 4, 3)
    res = M.SUITE.evaluate_local(frame(x, y, split=["train"] * 103), M.XaresMlpOptions(seeds=1, epochs=2))
    assert res["protocol"] == "5fold-for-loocv" and "5 stratified folds" in res["note"]
    assert [f["fold"] for f in res["per_seed"][0]["folds"]] == ["0", "1", "2", "3", "4"]
    assert res["test_size"] == 103
    folds = T.stratified_folds(y, 5, 0)
    for c in range(3):  # each class dealt evenly over the folds
        counts = np.bincount(folds[y == c], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_one_class_training_rows_are_refused_naming_the_suite_to_use():
    x, _ = blobs(60, 4, 2)
    y = np.r_[np.zeros(40, int), np.arange(20) % 2]
    split = ["train"] * 40 + ["test"] * 20
    dcase = frame(x, y, split=split, machine=["fan"] * 60, section=[0] * 60)
    with pytest.raises(LibtradError, match="one class only.*siren-dcase"):
        L.SUITE.plan(dcase)
    with pytest.raises(LibtradError, match="one class only.*lib-trad"):
        M.SUITE.plan(frame(x, y, split=split, experiment=["tr1"] * 60))


def test_bad_inputs_are_one_line_errors():
    x, y = blobs(60, 4, 2)
    with pytest.raises(LibtradError, match="split 'dev'"):
        L.SUITE.plan(frame(x, y, split=["train"] * 50 + ["dev"] * 10))
    with pytest.raises(LibtradError, match="unlabelled"):
        L.SUITE.plan(frame(x, np.r_[y[:-1], -1], split=["train"] * 60))
    with pytest.raises(ParameterError, match="epochs=0"):
        L.LinearProbeOptions(epochs=0)
    with pytest.raises(ParameterError, match="val_fraction=1"):
        M.XaresMlpOptions(val_fraction=1)


# ----------------------------------------------------------------------------- metrics
def test_a_normal_abnormal_task_is_scored_by_auc_and_pauc():
    x, y = blobs(200, 6, 2, seed=3)
    names = np.array(["normal", "abnormal"])[y]
    split = np.where(np.arange(200) < 150, "train", "validation")
    res = L.SUITE.evaluate_local(frame(x, y, split=split, label_name=names), L.LinearProbeOptions(seeds=2, epochs=100))
    assert res["metric"] == "auc" and res["classes"] == ["normal", "abnormal"]
    assert 0.9 < res["mean"] <= 1 and set(res["pauc"]) == {"mean", "std", "max_fpr"}
    assert all("test_pauc" in f for s in res["per_seed"] for f in s["folds"])
    hinted = frame(x, y, split=split)
    hinted.attrs["label_names"] = ["Normal", "Anomaly"]  # a Hugging Face ClassLabel's names
    assert T.task_classes(hinted, [0, 1]) == P.Classes(("Normal", "Anomaly"), "auc", 1)
    assert T.task_classes(frame(x, y), [0, 1]).metric == "accuracy"


# ----------------------------------------------------------------------------- determinism, Ray
def test_two_runs_give_identical_results():
    x, y = blobs(150, 8, 3)
    df = frame(x, y, fold=np.arange(150) % 3)
    opts = M.XaresMlpOptions(seeds=2, epochs=3)
    assert json.dumps(M.SUITE.evaluate_local(df, opts)) == json.dumps(M.SUITE.evaluate_local(df, opts))


def write_embeddings(folder, x, y, **columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    table = pa.table(
        {
            "label": np.asarray(y),
            **{k: list(v) for k, v in columns.items()},
            "embedding": pa.array(list(np.asarray(x, dtype=np.float32)), type=pa.list_(pa.float32())),
        }
    )
    pq.write_table(table, folder / "data" / "part-0.parquet")
    return folder


def test_ray_tasks_equal_local_byte_for_byte(ray_local, tmp_path):
    from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

    x, y = blobs(160, 8, 3)
    emb = write_embeddings(tmp_path / "emb", x, y, split=np.where(np.arange(160) < 120, "train", "test"))
    runs = {"linear-probe": {"seeds": 2, "epochs": 3}, "xares-mlp": {"seeds": 2, "epochs": 2}, "xares-knn": {}}
    for suite, options in runs.items():  # on the package's one Ray session
        evaluate_embeddings(suite, [emb], tmp_path / f"{suite}-ray", progress=False, **options)
    for suite, options in runs.items():
        evaluate_embeddings(suite, [emb], tmp_path / f"{suite}-local", local=True, progress=False, **options)
        ray_bytes = (tmp_path / f"{suite}-ray" / "results.json").read_bytes()
        assert ray_bytes == (tmp_path / f"{suite}-local" / "results.json").read_bytes(), suite
        assert json.loads(ray_bytes)["suite"] == suite
    assert (tmp_path / "linear-probe-ray" / "validation_curves.png").is_file()


def test_cli_linear_probe_and_its_errors(tmp_path, cli, rel):
    x, y = blobs(90, 4, 3)
    emb = write_embeddings(tmp_path / "emb", x, y, split=np.where(np.arange(90) < 60, "train", "test"))
    done = cli(
        "evaluate",
        "linear-probe",
        "--embeddings",
        emb,
        "--output",
        tmp_path / "out",
        "--local",
        "--epochs",
        2,
        "--seeds",
        2,
    )
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["task"] == "emb" and results["seeds"] == [0, 1] and results["options"]["epochs"] == 2
    assert results["protocol_version"] == 1 and "Linear probe" in done.output
    rel.assert_error_line(
        cli("evaluate", "xares-mlp", "--embeddings", emb, "--output", tmp_path / "o2", "--local", "--epochs", 0),
        "--epochs",
    )
    one_class = write_embeddings(tmp_path / "one", x, np.zeros(90, int), split=["train"] * 60 + ["test"] * 30)
    rel.assert_error_line(
        cli("evaluate", "linear-probe", "--embeddings", one_class, "--output", tmp_path / "o3", "--local"),
        "one class only",
    )
