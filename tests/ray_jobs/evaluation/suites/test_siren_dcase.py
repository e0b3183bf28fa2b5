"""siren-dcase on constructed embeddings whose scores, AUCs and means can be checked by hand.

Every test embedding is the unit vector at an angle θ from the train bank's direction (1, 0),
so its score is 1 - cos θ: a larger angle is a more anomalous clip.
"""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.embedding.embeddings_input import embedding_matrix
from libtrad.ray_jobs.evaluation import metrics, report
from libtrad.ray_jobs.evaluation.suites import similarity as Sim
from libtrad.ray_jobs.evaluation.suites import siren_dcase as S

EPS = np.finfo(float).eps


def row(
    file, split, label, angle=0.0, *, set_="dev", machine="fan", section=0, domain="source", year=2022, vector=None
):
    v = vector if vector is not None else [math.cos(math.radians(angle)), math.sin(math.radians(angle))]
    return {
        "file": file,
        "machine": machine,
        "section": section,
        "domain": domain,
        "year": year,
        "set": set_,
        "split": split,
        "label": label,
        "embedding": np.asarray(v, dtype=np.float32),
    }


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["section"] = df["section"].astype("int32")
    df["year"] = df["year"].astype("int32")
    return df


def section_rows(year=2022, domain_of=lambda d: d, **kw):
    """One section: source normals 10°, 20°, source anomalies 30°, 5°; target normal 40°, anomalies 50°, 15°."""
    rows = [
        row("tr_s.wav", "train", 0, 0, domain=domain_of("source"), year=year, **kw),
        row("tr_t.wav", "train", 0, 0, domain=domain_of("target"), year=year, **kw),
    ]
    for name, dom, label, angle in [
        ("s_n1", "source", 0, 10),
        ("s_n2", "source", 0, 20),
        ("s_a1", "source", 1, 30),
        ("s_a2", "source", 1, 5),
        ("t_n1", "target", 0, 40),
        ("t_a1", "target", 1, 50),
        ("t_a2", "target", 1, 15),
    ]:
        rows.append(row(f"{name}.wav", "test", label, angle, domain=domain_of(dom), year=year, **kw))
    return rows


# pAUC over the whole section: normals {10, 20, 40}, anomalies {30, 5, 50, 15}: only 50° beats every normal,
# so TPR is 1/4 over FPR [0, 0.1] (the first normal is passed at FPR 1/3).
PAUC_SECTION = 0.5 * (1 + (0.1 * 0.25 - 0.005) / (0.1 - 0.005))


def test_scores_are_one_minus_max_cosine_min_over_banks():
    source, target = np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([[0.0, 1.0]])
    test = np.array([[0.8, 0.6], [1.0, 1.0], [-1.0, 0.0], [0.0, -3.0]])
    scores = Sim.cosine_scores(test, [source, target])
    np.testing.assert_allclose(scores, [1 - 0.96, 1 - 1.4 / math.sqrt(2), 1 - 0.0, 1 - 0.0], atol=1e-12)
    assert scores.dtype == np.float64
    # the bank that is nearer decides: min over banks of (1 - max similarity)
    np.testing.assert_allclose(Sim.cosine_scores(test[:1], [target]), [1 - 0.6])
    np.testing.assert_allclose(Sim.cosine_scores(np.zeros((1, 2)), [source]), [1.0])  # all-zero: similarity 0


def test_2022_groups_domain_auc_per_domain_and_pauc_per_section():
    res = S.SUITE.evaluate_local(frame(section_rows()))
    dev = res["sets"]["dev"]
    assert dev["auc"] == {"fan/00/source": pytest.approx(0.5), "fan/00/target": pytest.approx(0.5)}
    assert dev["pauc"] == {"fan/00": pytest.approx(PAUC_SECTION)}
    assert dev["score"] == pytest.approx(3 / (1 / 0.5 + 1 / 0.5 + 1 / PAUC_SECTION))
    assert res["score"] == pytest.approx(dev["score"])  # one set: the year score is the same aggregate
    assert res["file_scores"]["dev/fan/s_a1.wav"] == pytest.approx(1 - math.cos(math.radians(30)))
    assert set(res) == {
        *("suite", "year", "sets", "score", "file_scores", "options", "counts"),
        *("official", "file_decisions", "decisions"),  # the official DCASE score and the decisions (issue 30)
    }
    assert res["suite"] == "siren-dcase" and res["year"] == 2022
    assert res["counts"]["dev"]["fan/00"] == {"train": 2, "normal": 3, "anomaly": 4, "unlabelled": 0}


def test_official_domain_auc_uses_all_anomalies_of_the_section():
    df = frame(section_rows())
    res = S.SUITE.evaluate_local(df, S.DcaseOptions(official_domain_auc=True))
    # source normals {10, 20} vs anomalies {30, 5, 50, 15}: 2 + 0 + 2 + 1 wins of 8; target normal {40}: 1 of 4
    assert res["sets"]["dev"]["auc"] == {"fan/00/source": pytest.approx(5 / 8), "fan/00/target": pytest.approx(1 / 4)}
    assert res["sets"]["dev"]["pauc"] == {"fan/00": pytest.approx(PAUC_SECTION)}  # pAUC unchanged
    assert res["options"] == {"official_domain_auc": True, "max_fpr": 0.1}
    assert res["sets"]["dev"]["auc"] != S.SUITE.evaluate_local(df)["sets"]["dev"]["auc"]


def test_2021_both_metrics_per_domain():
    res = S.SUITE.evaluate_local(frame(section_rows(year=2021)))
    dev = res["sets"]["dev"]
    assert set(dev["auc"]) == set(dev["pauc"]) == {"fan/00/source", "fan/00/target"}
    # source: normals {10, 20}, anomalies {30, 5}: 30° beats both normals -> TPR 1/2 up to FPR 0.1
    src = 0.5 * (1 + (0.1 * 0.5 - 0.005) / 0.095)
    assert dev["pauc"]["fan/00/source"] == pytest.approx(src)
    values = [dev["auc"]["fan/00/source"], dev["auc"]["fan/00/target"], src, dev["pauc"]["fan/00/target"]]
    assert dev["score"] == pytest.approx(metrics.harmonic_mean(values))


def test_2020_one_group_per_machine_id_and_arithmetic_mean():
    rows = section_rows(year=2020, domain_of=lambda d: None)
    rows += section_rows(year=2020, domain_of=lambda d: None, machine="pump", section=2)
    res = S.SUITE.evaluate_local(frame(rows))
    dev = res["sets"]["dev"]
    auc = (2 + 0 + 3 + 1) / 12  # anomalies {30, 5, 50, 15}, each vs the normals {10, 20, 40}
    assert dev["auc"] == {"fan/00": pytest.approx(auc), "pump/02": pytest.approx(auc)}
    assert dev["pauc"] == {"fan/00": pytest.approx(PAUC_SECTION), "pump/02": pytest.approx(PAUC_SECTION)}
    assert dev["score"] == pytest.approx((2 * auc + 2 * PAUC_SECTION) / 4)  # arithmetic, not harmonic


def test_one_class_group_scores_zero_and_drags_the_harmonic_mean():
    rows = [r for r in section_rows(year=2021) if r["file"] not in ("t_a1.wav", "t_a2.wav")]  # target: normals only
    res = S.SUITE.evaluate_local(frame(rows))
    dev = res["sets"]["dev"]
    assert dev["auc"]["fan/00/target"] == 0.0 and dev["pauc"]["fan/00/target"] == 0.0
    values = [dev["auc"]["fan/00/source"], dev["pauc"]["fan/00/source"]]
    assert dev["score"] == pytest.approx(4 / (1 / values[0] + 1 / values[1] + 2 / EPS))


def test_year_score_pools_dev_and_eval_values_and_unlabelled_rows_only_get_scores():
    rows = section_rows() + section_rows(set_="eval", section=3)
    rows.append(row("x.wav", "test", -1, 60, set_="eval", section=3))
    res = S.SUITE.evaluate_local(frame(rows))
    dev, ev = res["sets"]["dev"], res["sets"]["eval"]
    pooled = [*dev["auc"].values(), *dev["pauc"].values(), *ev["auc"].values(), *ev["pauc"].values()]
    assert res["score"] == pytest.approx(metrics.harmonic_mean(pooled))
    assert res["file_scores"]["eval/fan/x.wav"] == pytest.approx(0.5)
    assert res["counts"]["eval"]["fan/03"]["unlabelled"] == 1
    unlabelled = S.SUITE.evaluate_local(frame([row("a.wav", "train", 0, 0), row("b.wav", "test", -1, 90)]))
    assert unlabelled["sets"]["dev"] == {"auc": {}, "pauc": {}, "score": None, "decisions": {}, "official": None}
    assert unlabelled["score"] is None and unlabelled["official"] is None
    assert unlabelled["file_scores"] == {"dev/fan/b.wav": pytest.approx(1.0)}


def test_auc_matches_sklearn_on_random_embeddings():
    rng = np.random.default_rng(0)
    rows = [
        row(f"tr{i}.wav", "train", 0, vector=rng.normal(size=16), domain=["source", "target"][i % 2]) for i in range(20)
    ]
    rows += [row(f"te{i}.wav", "test", i % 2, vector=rng.normal(size=16) + (i % 2), domain="source") for i in range(30)]
    df = frame(rows)
    res = S.SUITE.evaluate_local(df)
    test = df[df.split == "test"]
    scores = [res["file_scores"][f"dev/fan/{f}"] for f in test.file]
    assert res["sets"]["dev"]["auc"]["fan/00/source"] == pytest.approx(roc_auc_score(test.label, scores), abs=1e-14)
    assert res["sets"]["dev"]["pauc"]["fan/00"] == pytest.approx(
        roc_auc_score(test.label, scores, max_fpr=0.1), abs=1e-14
    )


def test_unit_order_does_not_change_the_results():
    rows = section_rows() + section_rows(machine="pump") + section_rows(set_="eval", section=4)
    df = frame(rows)
    units = S.SUITE.plan(df)
    assert [u.key for u in units] == ["dev/fan/00", "dev/pump/00", "eval/fan/04"]
    emb, cols = embedding_matrix(df), S.SUITE.columns_for(df)
    reference = json.dumps(S.SUITE.evaluate_local(df))
    for seed in range(3):
        shuffled = units[:]
        random.Random(seed).shuffle(shuffled)
        results = {u.key: S.SUITE.run_unit(u, emb, cols, S.DcaseOptions()) for u in shuffled}
        assert json.dumps(S.SUITE.combine(results, df)) == reference


def test_refuses_mixed_years_missing_banks_and_missing_units():
    with pytest.raises(LibtradError, match=r"mix 2 DCASE years \(2021, 2022\)"):
        S.SUITE.plan(frame(section_rows() + section_rows(year=2021, machine="pump")))
    no_bank = [r for r in section_rows() if r["split"] == "test"]
    with pytest.raises(LibtradError, match="section 00: 7 test rows but no train rows"):
        S.SUITE.plan(frame(no_bank))
    with pytest.raises(LibtradError, match="'label': 3"):
        S.SUITE.plan(frame([row("a.wav", "train", 0), row("b.wav", "test", 3)]))
    with pytest.raises(LibtradError, match="'domain': empty for the labelled test row file='b.wav'"):
        S.SUITE.plan(frame([row("a.wav", "train", 0), row("b.wav", "test", 1, domain=None)]))
    with pytest.raises(LibtradError, match="appears twice"):
        S.SUITE.plan(frame(section_rows() + [row("s_n1.wav", "test", 0, 3)]))
    with pytest.raises(
        LibtradError,
        match="no column 'set' in the embeddings .required by siren-dcase.; columns present: file, machine",
    ):
        S.SUITE.plan(frame(section_rows()).drop(columns=["set"]))
    df = frame(section_rows())
    with pytest.raises(LibtradError, match="missing: dev/fan/00"):
        S.SUITE.combine({}, df)
    with pytest.raises(LibtradError, match="max_fpr"):
        S.DcaseOptions(max_fpr=0)


def test_report_writes_tables_and_plots(tmp_path):
    df = frame(section_rows() + section_rows(machine="pump"))
    res = S.SUITE.evaluate_local(df)
    written = report.write_report(res, tmp_path, curves=S.roc_inputs(df, res))
    assert {p.name for p in written} == {"results.md", "official_result_dev.csv", "auc_dev.png", "roc_dev.png"}
    text = (tmp_path / "results.md").read_text()
    assert "## Official DCASE score and decisions" in text and "Sections without a decision threshold" in text
    assert "| fan | 00 | 50.00 | 50.00 | 60.53 |" in text and "AUC (source)" in text and "dev score" in text
    assert (tmp_path / "roc_dev.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- SIREN's memory-bank options
def write_folder(folder, rows):
    """``rows`` as an embeddings folder the suites read (data/*.parquet; no embeddings.json: a plain folder)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = frame(rows)
    table = pa.Table.from_pandas(df.drop(columns=["embedding"]), preserve_index=False)
    table = table.append_column("embedding", pa.array(list(np.stack(df["embedding"])), type=pa.list_(pa.float32())))
    (folder / "data").mkdir(parents=True)
    pq.write_table(table, folder / "data" / "part-0.parquet")
    return folder


def random_section(year=2022, seed=0, dim=8):
    """One section: 12 source and 3 target train rows; 20 labelled test rows, half of each domain."""
    rng = np.random.default_rng(seed)
    rows = [
        row(f"trs{i:02d}.wav", "train", 0, vector=rng.normal(size=dim), domain="source", year=year) for i in range(12)
    ]
    rows += [row(f"trt{i}.wav", "train", 0, vector=rng.normal(size=dim), domain="target", year=year) for i in range(3)]
    rows += [
        row(
            f"te{i:02d}.wav",
            "test",
            i % 2,
            vector=rng.normal(size=dim) + 0.7 * (i % 2),
            domain=("source", "target")[i // 10],
            year=year,
        )
        for i in range(20)
    ]
    return rows


def reference(df, similarity="cosine", aggregation="max", k=1, domain_strategy="min", kmeans=None, threshold=100):
    """SIREN's memory-bank score written out in plain NumPy (float64): {file: score}."""
    from sklearn.cluster import KMeans

    emb = np.stack(df["embedding"]).astype(np.float64)
    test = (df["split"] == "test").to_numpy()
    t = emb[test]
    per_domain = []
    for domain in ("source", "target"):
        bank = emb[((df["split"] == "train") & (df["domain"] == domain)).to_numpy()]
        if kmeans is not None and len(bank) > threshold:
            bank = KMeans(n_clusters=min(kmeans, len(bank)), random_state=42, n_init=1).fit(bank).cluster_centers_
        if similarity == "cosine":
            sims = (t / np.sqrt((t * t).sum(1))[:, None]) @ (bank / np.sqrt((bank * bank).sum(1))[:, None]).T
        else:
            sims = -np.sqrt(((t[:, None, :] - bank[None, :, :]) ** 2).sum(-1))
        if aggregation == "knn":
            top = np.sort(sims, axis=1)[:, ::-1][:, : min(k, sims.shape[1])]
            per_domain.append(np.mean(1.0 - top, axis=1))
        else:
            per_domain.append(1.0 - {"max": np.max, "mean": np.mean, "min": np.min}[aggregation](sims, axis=1))
    a, b = per_domain
    scores = {"min": np.minimum(a, b), "max": np.maximum(a, b), "mean": (a + b) / 2}[domain_strategy]
    return dict(zip(df["file"][test], scores))


def check_against_reference(res, df, want):
    """file_scores, then each 2022 AUC (a domain's normals and anomalies) and the section pAUC, to 1e-12."""
    got = {k.split("/")[-1]: v for k, v in res["file_scores"].items()}
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[f] for f in want], list(want.values()), rtol=0, atol=1e-12)
    test = df[df["split"] == "test"]
    scores = np.array([want[f] for f in test["file"]])
    for domain in ("source", "target"):
        m = (test["domain"] == domain).to_numpy()
        assert abs(res["sets"]["dev"]["auc"][f"fan/00/{domain}"] - roc_auc_score(test["label"][m], scores[m])) <= 1e-12
    assert abs(res["sets"]["dev"]["pauc"]["fan/00"] - roc_auc_score(test["label"], scores, max_fpr=0.1)) <= 1e-12


@pytest.fixture(scope="module")
def section_folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("dcase-options") / "emb", random_section())


@pytest.mark.parametrize(
    "options",
    [
        {"similarity": "euclidean"},
        {"aggregation": "mean"},
        {"aggregation": "min", "domain_strategy": "max"},
        {"aggregation": "knn", "k": 3, "domain_strategy": "mean"},
        {"similarity": "euclidean", "aggregation": "knn", "k": 20},  # k above a bank's size: that bank's mean
        {"kmeans": 4, "kmeans_threshold": 5},  # the 12-row source bank -> 4 centres; the 3-row target bank stays
        {"similarity": "euclidean", "domain_strategy": "mean", "kmeans": 2, "kmeans_threshold": 2},
    ],
)
def test_memory_bank_options_equal_a_numpy_computation(section_folder, options):
    from libtrad.ray_jobs.embedding.embeddings_input import load_embeddings

    df = load_embeddings([section_folder], S.REQUIRED_COLUMNS, S.OPTIONAL_COLUMNS)
    res = S.SUITE.evaluate_local(df, S.DcaseOptions(**options))
    mapping = {"kmeans_threshold": "threshold"}
    check_against_reference(res, df, reference(df, **{mapping.get(k, k): v for k, v in options.items()}))
    assert res["options"] == {"official_domain_auc": False, "max_fpr": 0.1, **options}
    assert res["file_scores"] != S.SUITE.evaluate_local(df)["file_scores"]  # the option changes the numbers
    if "kmeans" in options:  # seeded: a second run is identical to the bit
        assert json.dumps(S.SUITE.evaluate_local(df, S.DcaseOptions(**options))) == json.dumps(res)


def test_knn_with_k_1_is_max_and_defaults_record_what_they_always_did(section_folder):
    from libtrad.ray_jobs.embedding.embeddings_input import load_embeddings

    df = load_embeddings([section_folder], S.REQUIRED_COLUMNS, S.OPTIONAL_COLUMNS)
    default = S.SUITE.evaluate_local(df)
    assert default["options"] == {"official_domain_auc": False, "max_fpr": 0.1}
    check_against_reference(default, df, reference(df))
    knn1 = S.SUITE.evaluate_local(df, S.DcaseOptions(aggregation="knn"))
    assert knn1["file_scores"] == default["file_scores"] and knn1["options"]["k"] == 1
    big = Sim.reduce_bank(np.stack(df["embedding"])[:12], S.DcaseOptions(kmeans=50, kmeans_threshold=5))
    assert big.shape == (12, 8)  # at most as many centres as rows


def test_cli_options_results_json_and_the_leaderboard_refuses_mixed_aggregations(section_folder, tmp_path, cli, rel):
    import shutil

    other = tmp_path / "emb-b"
    shutil.copytree(section_folder, other)
    a = cli("evaluate", "siren-dcase", "--embeddings", section_folder, "--output", tmp_path / "a", "--local")
    assert a.exit_code == 0, a.output
    b = cli(
        "evaluate",
        "siren-dcase",
        "--embeddings",
        other,
        "--output",
        tmp_path / "b",
        "--local",
        "--similarity",
        "euclidean",
        "--aggregation",
        "knn",
        "--k",
        "3",
        "--domain-strategy",
        "mean",
    )
    assert b.exit_code == 0, b.output
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["options"] == {
        "official_domain_auc": False,
        "max_fpr": 0.1,
        "similarity": "euclidean",
        "aggregation": "knn",
        "k": 3,
        "domain_strategy": "mean",
    }
    from libtrad.ray_jobs.embedding.embeddings_input import load_embeddings

    df = load_embeddings([other], S.REQUIRED_COLUMNS, S.OPTIONAL_COLUMNS)
    check_against_reference(results, df, reference(df, "euclidean", "knn", 3, "mean"))
    line = rel.assert_error_line(
        cli("leaderboard", tmp_path / "a", tmp_path / "b", "--output", tmp_path / "board"), "not comparable"
    )
    assert "different options: aggregation" in line and not (tmp_path / "board").exists()


@pytest.mark.parametrize(
    "args, named",
    [
        (["--similarity", "manhattan"], "'--similarity': 'manhattan' is not one of 'cosine', 'euclidean'"),
        (["--aggregation", "median"], "'--aggregation': 'median' is not one of 'max', 'mean', 'min', 'knn'"),
        (["--domain-strategy", "sum"], "'--domain-strategy': 'sum' is not one of 'min', 'max', 'mean'"),
        (["--k", "0"], "--k"),
        (["--k", "3"], "--k 3: is read only by aggregation 'knn'"),
        (["--kmeans", "0"], "--kmeans"),
        (["--kmeans-threshold", "50"], "--kmeans-threshold 50: is read only with kmeans"),
        (["--threshold", "median"], "--threshold 'median': must start with one of gamma, percentile, fpr"),
        (["--submission-dev"], "--submission-dev needs --submission DIR"),
    ],
)
def test_cli_refuses_bad_option_values_in_one_line(section_folder, tmp_path, cli, rel, args, named):
    before = rel.snapshot(section_folder)
    rel.assert_error_line(
        cli("evaluate", "siren-dcase", "--embeddings", section_folder, "--output", tmp_path / "o", "--local", *args),
        named,
    )
    assert rel.snapshot(section_folder) == before and not (tmp_path / "o").exists()


def test_2020_refuses_a_domain_strategy(tmp_path, cli, rel):
    folder = write_folder(tmp_path / "emb", section_rows(year=2020, domain_of=lambda d: None))
    rel.assert_error_line(
        cli(
            "evaluate",
            "siren-dcase",
            "--embeddings",
            folder,
            "--output",
            tmp_path / "o",
            "--local",
            "--domain-strategy",
            "max",
        ),
        "--domain-strategy",
        "DCASE 2020 has one memory bank",
    )
