"""``evaluate siren-dcase --submission``: the challenge's files, read back by a reader written here from the
evaluators' documented format (no header, ``file,value``, rows paired with the ground truth after sorting by
name), scored here as the year's evaluator does and compared with results.json's official score.

The evaluation clips are the published ones: the names and labels of the DCASE ground-truth lists
(``../shared/fixtures/dcase_eval_lists/``; libtrad's packaged copy of the same bytes where that folder is absent).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

EPS = sys.float_info.epsilon
REPO = Path(__file__).resolve().parents[4]
LISTS = REPO.parent / "shared" / "fixtures" / "dcase_eval_lists"


def eval_list(year: int) -> dict[str, list[tuple[str, str, int]]]:
    """{machine: [(test file, reference file, label)]} parsed here from the list's documented format."""
    path = LISTS / f"eval_data_list_{year}_converted.csv"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:  # the same bytes, shipped with libtrad
        text = gzip.decompress((REPO / "builders/dcase/data" / f"{path.name}.gz").read_bytes()).decode()
    out: dict[str, list] = {}
    machine = None
    for row in csv.reader(text.splitlines()):
        if len(row) == 1:
            machine = row[0]
            out[machine] = []
        elif len(row) == 3:
            out[machine].append((row[0], row[1], int(row[2])))
    return out


def section_of(name: str) -> int:
    return int(re.search(r"(?:section|id)_([0-9]{2})", name).group(1))


def domain_of(year: int, test: str, reference: str) -> str | None:
    if year == 2020:
        return None
    return "target" if "_target_" in (test if year == 2021 else reference) else "source"


def build_rows(year: int, machines: int, per_section: int | None, seed=0) -> list[dict]:
    """Eval test rows of the first ``machines`` machine types (first section each), labelled from the list, a dev
    section, and 20 train rows per section; embeddings shifted by the label so AUCs are well above chance."""
    rng = np.random.default_rng(seed)
    rows = []

    def add(set_, machine, section, file, split, label, domain):
        vec = rng.normal(size=8) + 0.8 * max(label, 0)
        rows.append(
            {
                "file": file,
                "machine": machine,
                "section": section,
                "domain": domain,
                "year": year,
                "set": set_,
                "split": split,
                "label": label,
                "embedding": vec.astype(np.float32),
            }
        )

    for machine, clips in list(eval_list(year).items())[:machines]:
        first = section_of(clips[0][0])
        mine = [c for c in clips if section_of(c[0]) == first][:per_section]
        for test, reference, label in mine:
            add("eval", machine, first, test, "test", label, domain_of(year, test, reference))
        for i in range(20):
            add(
                "eval",
                machine,
                first,
                f"train_{i:04d}.wav",
                "train",
                0,
                None if year == 2020 else ("source", "target")[i >= 16],
            )
    for i in range(30):
        domain = None if year == 2020 else ("source", "target")[i % 3 == 0]
        split, label = ("train", 0) if i < 16 else ("test", i % 2)
        add("dev", "fan", 0, f"dev_{i:04d}.wav", split, label, domain)
    return rows


def write_folder(folder: Path, rows: list[dict]) -> Path:
    import pandas as pd

    df = pd.DataFrame(rows).astype({"section": "int32", "year": "int32"})
    table = pa.Table.from_pandas(df.drop(columns=["embedding"]), preserve_index=False)
    table = table.append_column("embedding", pa.array(list(np.stack(df["embedding"])), type=pa.list_(pa.float32())))
    (folder / "data").mkdir(parents=True)
    pq.write_table(table, folder / "data" / "part-0.parquet")
    return folder


def read_submission_file(path: Path) -> list[tuple[str, float]]:
    """The evaluator's reading: csv rows, no header (every row is data), sorted by file name."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert all(len(r) == 2 for r in rows)
    return sorted((r[0], float(r[1])) for r in rows)


def run(cli, tmp_path, year, machines=2, per_section=None, extra=()):
    emb = write_folder(tmp_path / f"emb{year}", build_rows(year, machines, per_section))
    sub = tmp_path / f"sub{year}"
    result = cli(
        "evaluate",
        "siren-dcase",
        "--embeddings",
        emb,
        "--output",
        tmp_path / f"out{year}",
        "--local",
        "--submission",
        sub,
        *extra,
    )
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / f"out{year}" / "results.json").read_text()), sub, emb


def test_2023_submission_files_read_back_and_score_as_the_evaluator(cli, tmp_path):
    results, sub, _ = run(cli, tmp_path, 2023, extra=("--submission-dev",))
    truth = eval_list(2023)
    machines = list(truth)[:2]
    names = sorted(p.name for p in sub.iterdir() if not p.name.startswith("."))
    assert names == sorted(
        [f"anomaly_score_{m}_section_00_test.csv" for m in machines]
        + [f"decision_result_{m}_section_00_test.csv" for m in machines]
        + ["dev"]
    )
    assert sorted(p.name for p in (sub / "dev").iterdir()) == [
        "anomaly_score_fan_section_00_test.csv",
        "decision_result_fan_section_00_test.csv",
    ]
    aucs_s, aucs_t, paucs, pooled_y, pooled_s = [], [], [], [], []
    for m in machines:
        raw = (sub / f"anomaly_score_{m}_section_00_test.csv").read_bytes()
        assert b"\r" not in raw and not raw.startswith(b"file")  # no header, \n line ends
        scores = read_submission_file(sub / f"anomaly_score_{m}_section_00_test.csv")
        decisions = read_submission_file(sub / f"decision_result_{m}_section_00_test.csv")
        gt = sorted(truth[m])  # the evaluator sorts the ground truth by name as well
        assert [f for f, _ in scores] == [t for t, _, _ in gt] == [f for f, _ in decisions]
        y = np.array([lab for _, _, lab in gt])
        s = np.array([v for _, v in scores])
        dom = np.array([domain_of(2023, t, r) for t, r, _ in gt])
        threshold = results["decisions"]["sections"][f"eval/{m}/00"]["threshold"]
        assert [int(v) for _, v in decisions] == [int(v > threshold) for v in s]
        for d, into in (("source", aucs_s), ("target", aucs_t)):
            keep = (dom == d) | (y == 1)
            into.append(roc_auc_score(y[keep], s[keep]))
        paucs.append(roc_auc_score(y, s, max_fpr=0.1))
        pooled_y += list(y)
        pooled_s += list(s)
    official = scipy.stats.hmean(np.maximum(aucs_s + aucs_t + paucs, EPS))
    assert results["official"]["set"] == "eval" and abs(results["official"]["score"] - official) <= 1e-12
    # the CI: the pooled AUC's and pAUC's jackknife half-widths, averaged
    y, s, n = np.array(pooled_y), np.array(pooled_s), len(pooled_y)
    halves = []
    for fn in (roc_auc_score, lambda a, b: roc_auc_score(a, b, max_fpr=0.1)):
        loo = np.array([fn(np.delete(y, i), np.delete(s, i)) for i in range(n)])
        halves.append(abs(scipy.stats.t.ppf(0.025, n - 1)) * np.sqrt(np.sum((loo - loo.mean()) ** 2) / (n * (n - 1))))
    assert abs(results["official"]["ci95"] - np.mean(halves)) <= 1e-12
    assert (tmp_path / "out2023" / "official_result_eval.csv").is_file()
    assert "Official DCASE 2023 score (eval)" in (tmp_path / "out2023" / "results.md").read_text()


@pytest.mark.parametrize(
    "year, expected",
    [
        (2020, ["anomaly_score_{m}_id_{s}.csv"]),
        (
            2021,
            [
                f"{k}_{{m}}_section_{{s}}_{d}_test.csv"
                for k in ("anomaly_score", "decision_result")
                for d in ("source", "target")
            ],
        ),
    ],
)
def test_2020_and_2021_file_names(cli, tmp_path, year, expected):
    _, sub, _ = run(cli, tmp_path, year, machines=1)
    machine, clips = next(iter(eval_list(year).items()))
    section = f"{section_of(clips[0][0]):02d}"
    assert sorted(p.name for p in sub.iterdir() if not p.name.startswith(".")) == sorted(
        e.format(m=machine, s=section) for e in expected
    )
    if year == 2021:  # one file per domain, holding that domain's clips
        source = read_submission_file(sub / f"anomaly_score_{machine}_section_{section}_source_test.csv")
        assert source and all("_source_test_" in f for f, _ in source)


def test_verify_knows_the_folder_and_refuses_what_libtrad_did_not_write(cli, tmp_path, rel):
    _, sub, emb = run(cli, tmp_path, 2023, machines=1, per_section=30)
    ok = cli("verify", sub)
    assert ok.exit_code == 0 and "submission" in ok.output, ok.output
    victim = next(sub.glob("decision_result_*.csv"))
    victim.write_text(victim.read_text().replace(",0\n", ",2\n", 1))
    bad = cli("verify", sub)
    assert bad.exit_code != 0 and "is not 0 or 1" in bad.output, bad.output
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    before = rel.snapshot(foreign)
    line = rel.assert_error_line(
        cli(
            "evaluate",
            "siren-dcase",
            "--embeddings",
            emb,
            "--output",
            tmp_path / "o2",
            "--local",
            "--submission",
            foreign,
        ),
        "--submission",
    )
    assert "not a libtrad folder" in line and rel.snapshot(foreign) == before and not (tmp_path / "o2").exists()


def test_without_evaluation_clips_the_submission_asks_for_submission_dev(cli, tmp_path, rel):
    rows = [r for r in build_rows(2023, 1, 10) if r["set"] == "dev"]
    emb = write_folder(tmp_path / "emb", rows)
    rel.assert_error_line(
        cli(
            "evaluate",
            "siren-dcase",
            "--embeddings",
            emb,
            "--output",
            tmp_path / "o",
            "--local",
            "--submission",
            tmp_path / "sub",
        ),
        "no evaluation-set test clips",
        "--submission-dev",
    )
