"""libtrad.ray_jobs.evaluation.suites.lib_trad: the LiB-TRAD scorers on embeddings refuse a test part they cannot
score."""

from __future__ import annotations


# ----------------------------------------------------------------------------- parts without a metric
def test_lib_trad_refuses_a_test_part_without_anomalies(tmp_path, cli, rel, embeddings_folder):
    rows = 30
    split = ["train"] * 20 + ["test"] * 10
    labels = [0] * rows  # no abnormal row in the test part
    folder = embeddings_folder(
        tmp_path / "lt",
        rows=rows,
        names=("normal", "abnormal"),
        labels=labels,
        extra={"experiment": ["tr1"] * rows, "split": split},
    )
    result = cli("evaluate", "lib-trad", "--embeddings", folder, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, "experiment tr1", "10 normal and 0 abnormal", "needs both")
    assert not (tmp_path / "res").exists()
