"""The GPU code paths of the KNN/Mahalanobis suites give the CPU's predictions and metrics.

Each suite's device path takes a torch device; here it runs with ``torch.device("cpu")``, whose
float32/float64 products sum in other orders than numpy's, which is what a GPU changes. The same
checks run on CUDA where there is one (``gpu`` marker).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.embedding.embeddings_input import embedding_matrix
from libtrad.ray_jobs.evaluation.suites import fault_neighbours as N
from libtrad.ray_jobs.evaluation.suites import lib_trad as L
from libtrad.ray_jobs.evaluation.suites import similarity as Sim
from libtrad.ray_jobs.evaluation.suites import siren_dcase as S
from libtrad.ray_jobs.evaluation.suites import siren_fault as F
from libtrad.ray_jobs.evaluation.suites import xares_knn as X

CPU = torch.device("cpu")
DEVICES = [
    CPU,
    pytest.param(
        torch.device("cuda"),
        marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")],
    ),
]


# ----------------------------------------------------------------------------- siren-fault
def fault_frame(x, y, fold=None) -> pd.DataFrame:
    data = {
        "file": [f"clip{i:05d}.mat" for i in range(len(x))],
        "label": np.asarray(y, dtype=np.int64),
        "embedding": list(np.asarray(x, dtype=np.float32)),
    }
    if fold is not None:
        data["fold"] = np.asarray(fold, dtype=np.int32)
    return pd.DataFrame(data)


def fault_cases():
    rng = np.random.default_rng(3)
    yield "random", rng.normal(size=(240, 40)), rng.integers(0, 5, 240)
    yield "ties", rng.integers(0, 2, (300, 16)), rng.integers(0, 4, 300)  # most distances tie
    yield "far", 300 + rng.normal(scale=0.01, size=(150, 32)), rng.integers(0, 3, 150)  # wide bound: fallbacks


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("protocol", ["loocv", "kfold"])
def test_fault_screen_on_a_device_predicts_what_numpy_predicts(device, protocol, monkeypatch):
    kept = []
    real = N._near_torch

    def spy(*args):
        out = real(*args)
        kept.append(sum(c is not None for c in out))
        return out

    monkeypatch.setattr(N, "_near_torch", spy)
    for name, x, y in fault_cases():
        fold = np.arange(len(x)) % 4 if protocol == "kfold" else None
        df = fault_frame(x, y, fold)
        options = F.FaultOptions(protocol=protocol, block_rows=70)
        emb, columns = embedding_matrix(df), F.SUITE.columns_for(df)
        for unit in F.SUITE.plan(df, options):
            want = F.predict(unit, emb, columns, options, None)
            assert F.predict(unit, emb, columns, options, device) == want, (name, unit.key)
            assert (
                F.SUITE.run_unit(unit, emb, columns, F.FaultOptions(protocol=protocol, block_rows=70, device="cpu"))
                == want
            )
    assert sum(kept) > 0  # the device screen chose candidates itself (not only fallbacks)


# ----------------------------------------------------------------------------- siren-dcase
def dcase_frame(rng, *, shift=0.0, duplicates=False) -> pd.DataFrame:
    rows = []
    for machine in ("fan", "pump"):
        for section in (0, 1):
            for domain in ("source", "target"):
                for split, n in (("train", 60), ("test", 25)):
                    for i in range(n):
                        rows.append(
                            {
                                "file": f"{machine}_{section}_{domain}_{split}_{i}.wav",
                                "machine": machine,
                                "section": section,
                                "domain": domain,
                                "year": 2022,
                                "set": "dev",
                                "split": split,
                                "label": 0 if split == "train" else int(i % 3 == 0),
                            }
                        )
    df = pd.DataFrame(rows).astype({"section": "int32", "year": "int32"})
    x = (shift + rng.normal(size=(len(df), 24))).astype(np.float32)
    if duplicates:  # equal test clips: equal scores, whose order only the CPU decides
        x[df.index[df["split"] == "test"][:4]] = x[df.index[df["split"] == "test"][0]]
    df["embedding"] = list(x)
    return df


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [{}, {"shift": 40.0}, {"duplicates": True}])
def test_dcase_scores_on_a_device_give_the_cpu_metrics(device, case):
    df = dcase_frame(np.random.default_rng(11), **case)
    options = S.DcaseOptions(device="cpu")
    emb, columns = embedding_matrix(df), S.SUITE.columns_for(df)
    bound = Sim.cosine_score_bound(emb.shape[1])
    for unit in S.SUITE.plan(df, options):
        want = S.score_unit(unit, emb, columns, options, None)
        got = S.score_unit(unit, emb, columns, options, device)
        assert got["auc"] == want["auc"] and got["pauc"] == want["pauc"] and got["counts"] == want["counts"]
        assert got["file_scores"].keys() == want["file_scores"].keys()
        gap = max(abs(got["file_scores"][k] - want["file_scores"][k]) for k in want["file_scores"])
        assert gap <= bound
        if case.get("duplicates") and unit.key == "dev/fan/00":
            assert got == want  # not certainly ordered: rescored on the CPU, bit for bit
        assert S.SUITE.run_unit(unit, emb, columns, options) == want  # device="cpu" is the numpy path


def test_cosine_screen_finds_the_nearest_bank_row_and_orders_by_bound():
    rng = np.random.default_rng(5)
    test, bank = rng.normal(size=(80, 16)), rng.normal(size=(300, 16))
    bank[7] = 0.0  # an all-zero bank row: similarity 0, as on the CPU
    np.testing.assert_allclose(
        Sim.cosine_scores(test, [bank], CPU), Sim.cosine_scores(test, [bank]), rtol=0, atol=Sim.cosine_score_bound(16)
    )
    assert Sim.order_is_certain([0.1, 0.3, 0.2], 0.01)
    assert not Sim.order_is_certain([0.1, 0.3, 0.1], 0.0)  # equal scores are never certain
    assert not Sim.order_is_certain([0.1, 0.105], [0.001, 0.004])


# ----------------------------------------------------------------------------- lib-trad (knn + mahalanobis)
def lib_trad_frame(rng, shift=0.0) -> pd.DataFrame:
    rows = []
    for experiment in ("tr1", "tr2"):
        rows += [{"experiment": experiment, "split": "train", "label": 0} for _ in range(80)]
        rows += [{"experiment": experiment, "split": "test", "label": int(i % 4 == 0)} for i in range(40)]
    df = pd.DataFrame(rows)
    x = shift + rng.normal(size=(len(df), 12))
    x[df["label"].to_numpy() == 1] *= 1.5
    df["embedding"] = list(x.astype(np.float32))
    return df


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shift", [0.0, 25.0])
def test_lib_trad_scores_on_a_device_give_the_cpu_aucs(device, shift):
    df = lib_trad_frame(np.random.default_rng(2), shift)
    emb, columns = embedding_matrix(df), L.SUITE.columns_for(df)
    for unit in L.SUITE.plan(df, L.LibTradOptions(device="cpu")):
        want = L.score_unit(unit, emb, columns, None)
        got = L.score_unit(unit, emb, columns, device)
        assert got["auc"] == want["auc"] and got["labels"] == want["labels"] and got["counts"] == want["counts"]
        np.testing.assert_allclose(got["scores"], want["scores"], rtol=1e-12, atol=1e-12)
        assert L.SUITE.run_unit(unit, emb, columns, L.LibTradOptions(device="cpu")) == want


@pytest.mark.parametrize("device", DEVICES)
def test_mahalanobis_on_a_device_is_within_its_bound(device):
    from libtrad.models.mahalanobis import MahalanobisScorer

    rng = np.random.default_rng(4)
    train = np.repeat(rng.normal(size=(4, 10)), 6, axis=0) + 50.0  # rank-deficient covariance, far from 0
    test = rng.normal(size=(30, 10)) + 50.0
    scorer = MahalanobisScorer.fit_embeddings(train)
    scores, bound = scorer.score_on(test, device)
    assert (np.abs(scores - scorer.score(test)) <= bound).all() and (bound > 0).all()


# ----------------------------------------------------------------------------- the device option
@pytest.mark.parametrize("options", [F.FaultOptions, S.DcaseOptions, L.LibTradOptions, X.XaresKnnOptions])
def test_device_option_is_checked(options, monkeypatch):
    with pytest.raises(ParameterError, match="device") as info:
        options(device="gpu")
    assert "\n" not in str(info.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Sim.screen_device("auto") is None  # auto without CUDA: the numpy path
    with pytest.raises(ParameterError, match="no CUDA GPU"):
        Sim.screen_device(options(device="cuda").device)
