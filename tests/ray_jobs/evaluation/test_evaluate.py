"""``libtrad evaluate SUITE`` on embeddings made by ``libtrad embed``: Ray = --local, results folders, one table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def embed_in_process(dataset: Path, out: Path, config: str | None = None) -> Path:
    """logmel-stats embeddings of ``dataset`` written unit by unit in this process (no Ray needed)."""
    import pyarrow.parquet as pq

    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, plan_units

    source = resolve_dataset(str(dataset), config)
    embedder = UnitEmbedder("logmel-stats", EmbedOptions(), source, threads=1)
    for unit in plan_units(source, 16):
        table, _ = embedder.run(unit)
        (out / unit.name).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / unit.name)
    return out


@pytest.fixture(scope="module")
def dcase_embeddings(tmp_path_factory) -> Path:
    """A DCASE 2021 stand-in, built and embedded with logmel-stats."""
    from libtrad.builders.registry import SIREN

    work = tmp_path_factory.mktemp("dcase-eval")
    SIREN.synthesize(work / "raw", component="dcase2021", seed=3, progress=False)
    SIREN.build(work / "raw", work / "ds", component="dcase2021", progress=False)
    return embed_in_process(work / "ds", work / "emb")


def test_siren_dcase_on_ray_equals_local_byte_for_byte(ray_local, dcase_embeddings, tmp_path, cli):
    ray_run = cli("evaluate", "siren-dcase", "--embeddings", dcase_embeddings, "--output", tmp_path / "ray")
    assert ray_run.exit_code == 0, ray_run.output
    local = cli("evaluate", "siren-dcase", "--embeddings", dcase_embeddings, "--output", tmp_path / "local", "--local")
    assert local.exit_code == 0, local.output
    assert (tmp_path / "ray" / "results.json").read_bytes() == (tmp_path / "local" / "results.json").read_bytes()
    results = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert results["suite"] == "siren-dcase" and results["year"] == 2021 and set(results["sets"]) == {"dev", "eval"}
    assert all(k.count("/") == 2 for k in results["sets"]["dev"]["auc"])  # machine/SS/domain
    assert results["inputs"][0]["path"] == str(dcase_embeddings) and results["protocol_version"] == 1
    for name in ("results.md", "auc_dev.png", "roc_dev.png", ".libtrad.json"):
        assert (tmp_path / "ray" / name).is_file(), name
    from libtrad.folders.marker import read_marker

    assert read_marker(tmp_path / "ray")["kind"] == "results"


def test_evaluate_refuses_a_folder_it_did_not_write_and_missing_columns(dcase_embeddings, tmp_path, cli, rel):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "paper.tex").write_text("mine")
    result = cli("evaluate", "siren-dcase", "--embeddings", dcase_embeddings, "--output", mine, "--local")
    rel.assert_error_line(result, "--output", "not a libtrad folder")
    assert (mine / "paper.tex").read_text() == "mine"
    result = cli("evaluate", "lib-trad", "--embeddings", dcase_embeddings, "--output", tmp_path / "o", "--local")
    rel.assert_error_line(result, "experiment")
    result = cli("evaluate", "siren-dcase", "--embeddings", tmp_path / "none", "--output", tmp_path / "o2", "--local")
    rel.assert_error_line(result, "none")


def test_embeddings_of_another_suites_data_are_refused_naming_the_suite_that_reads_them(
    dcase_embeddings, tmp_path, cli, rel, embeddings_folder
):
    """DCASE embeddings given to siren-fault used to fail deep inside it ("column 'file' appears 2 times");
    SIREN fault embeddings given to siren-dcase on a missing column, without saying what they are."""
    out = tmp_path / "out"
    rel.assert_error_line(
        cli("evaluate", "siren-fault", "--embeddings", dcase_embeddings, "--output", out, "--local"),
        f"--embeddings {dcase_embeddings}: not SIREN fault data; these are DCASE embeddings "
        "(columns machine, section, year, set): use libtrad evaluate siren-dcase",
    )
    fault = embeddings_folder(tmp_path / "fault")
    rel.assert_error_line(
        cli("evaluate", "siren-dcase", "--embeddings", fault, "--output", out, "--local"),
        "not DCASE embeddings (no column 'machine', 'section', 'year', 'set'); their columns fit libtrad "
        "evaluate siren-fault",
    )
    mimii = embeddings_folder(
        tmp_path / "mimii", extra={"snr_db": [6] * 40, "machine_id": ["id_00"] * 40, "machine": ["fan"] * 40}
    )
    rel.assert_error_line(
        cli("evaluate", "siren-dcase", "--embeddings", mimii, "--output", out, "--local"),
        "these are MIMII embeddings (columns snr_db, machine_id): use libtrad evaluate mimii",
    )
    assert not out.exists()


def test_lib_trad_suite_and_a_trained_model_in_one_table(ray_local, lib_trad_export, tmp_path, cli):
    from libtrad.ray_jobs.lib_trad.training import AE_RECIPE, train_attention_ae

    emb = embed_in_process(lib_trad_export, tmp_path / "emb", "all")
    from dataclasses import replace

    train_attention_ae(
        str(lib_trad_export), tmp_path / "ae", config="tr1", recipe=replace(AE_RECIPE, epochs=1), progress=False
    )
    result = cli(
        "evaluate",
        "lib-trad",
        "--embeddings",
        emb,
        "--model",
        tmp_path / "ae",
        "--dataset",
        lib_trad_export,
        "--output",
        tmp_path / "out",
        "--local",
    )
    assert result.exit_code == 0, result.output
    table = (tmp_path / "out" / "results.md").read_text()
    for method in ("attention_ae checkpoint (Table 3)", "knn on embeddings", "mahalanobis on embeddings"):
        assert method in table
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results["scorers"]) == {"knn", "mahalanobis"} and results["model"]["family"] == "attention_ae"
    assert (tmp_path / "out" / "roc_knn.png").is_file() and (tmp_path / "out" / "roc_attention_ae_tr1.png").is_file()
    from libtrad.ray_jobs.evaluation.metrics import harmonic_mean_or_none

    knn = results["scorers"]["knn"]
    assert knn["harmonic_mean"] == pytest.approx(harmonic_mean_or_none(list(knn["auc"].values())))


TOY_SUITE = '''"""Toy suite: the mean embedding norm per label.

Only the first paragraph is the command's help."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from libtrad.ray_jobs.evaluation.suites.base import Suite


@dataclass(frozen=True)
class ToyOptions:
    scale: float = 1.0
    squared: bool = False


@dataclass(frozen=True)
class Unit:
    key: str
    rows: tuple


class ToySuite(Suite):
    name = "toy"
    options = ToyOptions
    required_columns = ("label",)

    def columns_for(self, df):
        return {"label": df["label"].to_numpy()}

    def plan(self, df, options=None):
        labels = df["label"].to_numpy()
        return [Unit(str(v), tuple(np.flatnonzero(labels == v).tolist())) for v in sorted(set(labels.tolist()))]

    def run_unit(self, unit, embeddings, columns, options):
        norms = np.linalg.norm(embeddings[list(unit.rows)], axis=1)
        return {"value": float(options.scale * (norms ** 2 if options.squared else norms).mean())}

    def combine(self, unit_results, df, options=None):
        return {"suite": self.name, "per_label": {k: unit_results[k]["value"] for k in sorted(unit_results)}}

    def write_report(self, results, folder, df=None, options=None):
        path = Path(folder) / "results.md"
        path.write_text("toy: " + repr(results["per_label"]) + "\\n")
        return [path]


SUITE = ToySuite()
'''


def test_a_registered_suite_without_its_own_command_gets_one(tmp_path, monkeypatch, cli):
    """The extension path: one suite file + one registry line -> `libtrad evaluate NAME` with its options."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from libtrad.ray_jobs.evaluation.evaluate import SUITES

    (tmp_path / "toy_suite_module.py").write_text(TOY_SUITE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(SUITES, "toy", "toy_suite_module:SUITE")
    emb = tmp_path / "emb"
    (emb / "data").mkdir(parents=True)
    x = np.array([[3, 4], [6, 8], [1, 0]], dtype=np.float32)
    pq.write_table(
        pa.table({"label": [0, 0, 1], "embedding": pa.array(list(x), type=pa.list_(pa.float32()))}),
        emb / "data" / "part-0.parquet",
    )

    listing = cli("evaluate", "--help")
    assert listing.exit_code == 0 and "toy" in listing.output and "Toy suite" in listing.output
    helped = cli("evaluate", "toy", "--help")
    assert "--scale" in helped.output and "--squared" in helped.output and "--embeddings" in helped.output
    done = cli(
        "evaluate", "toy", "--embeddings", emb, "--output", tmp_path / "out", "--local", "--scale", "2", "--squared"
    )
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["per_label"] == {"0": 2 * (25 + 100) / 2, "1": 2.0}
    assert results["options"] == {"scale": 2.0, "squared": True}
    assert "toy: " in done.output
    bad = cli("evaluate", "toy", "--embeddings", emb, "--output", tmp_path / "out2", "--scale", "x")
    assert bad.exit_code == 2 and "--scale" in bad.output


# ------------------------------------------------------------------------- from test_reliability_evaluation_inputs.py
# ----------------------------------------------------------------------------- the folder's own checksums
def test_a_bit_flipped_shard_is_refused_naming_it_and_no_verify_records_it(emb, tmp_path, cli, rel, flip_byte):
    shard = emb / "data" / "train-00001.parquet"
    flip_byte(shard, at=40)
    before = rel.snapshot(emb)
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local")
    line = rel.assert_error_line(result, str(shard), "corrupted", "--no-verify")
    assert "SHA-256" in line
    assert rel.snapshot(emb) == before and not (tmp_path / "res").exists()

    used = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local", "--no-verify")
    if used.exit_code == 0:  # the flipped byte may leave the Parquet readable: then it is used, and recorded
        record = json.loads((tmp_path / "res" / "results.json").read_text())["inputs"][0]
        assert record["verified"] is False and record["reason"] == "--no-verify"
        assert any(str(shard) in p for p in record["problems"])
        assert "WITHOUT verification" in used.output
    else:  # or it no longer parses: still one line naming the file
        rel.assert_error_line(used, str(shard))
    assert rel.snapshot(emb) == before


@pytest.mark.parametrize("suite", ["siren-dcase", "siren-fault", "lib-trad", "linear-probe", "xares-mlp", "xares-knn"])
def test_every_suite_checks_the_folder_before_reading_it(emb, tmp_path, cli, rel, suite, flip_byte):
    flip_byte(emb / "data" / "train-00000.parquet", at=40)
    args = ["evaluate", suite, "--embeddings", emb, "--output", tmp_path / "res", "--local"]
    rel.assert_error_line(cli(*args), "train-00000.parquet: corrupted")
    assert not (tmp_path / "res").exists()


def test_an_edited_embeddings_json_crediting_another_encoder_is_refused(emb, tmp_path, cli, rel):
    info = json.loads((emb / "embeddings.json").read_text())
    info["encoder"]["spec"] = "echo:/models/better"
    (emb / "embeddings.json").write_text(json.dumps(info, indent=2) + "\n")
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, str(emb / "embeddings.json"), "corrupted")


def test_a_shard_added_to_a_libtrad_folder_is_refused(emb, tmp_path, cli, rel):
    extra = emb / "data" / "train-00002.parquet"
    extra.write_bytes((emb / "data" / "train-00000.parquet").read_bytes())
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, str(extra), "not listed")


def test_a_plain_folder_is_used_with_a_note_and_recorded_unverified(tmp_path, cli, embeddings_folder):
    plain = embeddings_folder(tmp_path / "plain", mark=False)
    result = cli("evaluate", "siren-fault", "--embeddings", plain, "--output", tmp_path / "res", "--local")
    assert result.exit_code == 0, result.output
    assert "could not be verified" in result.output
    record = json.loads((tmp_path / "res" / "results.json").read_text())["inputs"][0]
    assert record["verified"] is False and record["encoder"] == "logmel-stats"


def test_an_intact_folder_is_recorded_verified(emb, tmp_path, cli):
    result = cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local")
    assert result.exit_code == 0, result.output
    assert "note:" not in result.output
    assert json.loads((tmp_path / "res" / "results.json").read_text())["inputs"][0]["verified"] is True


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "not a JSON object"),
        ('{"encoder": {"spec": 7}}', "encoder.spec is int"),
    ],
)
def test_a_corrupt_embeddings_json_without_a_marker_is_refused(tmp_path, cli, rel, text, fragment, embeddings_folder):
    plain = embeddings_folder(tmp_path / "plain", mark=False)
    (plain / "embeddings.json").write_text(text)
    result = cli("evaluate", "siren-fault", "--embeddings", plain, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, str(plain / "embeddings.json"), fragment)


def test_a_results_folder_given_as_embeddings_is_refused_by_kind(emb, tmp_path, cli, rel):
    assert cli("evaluate", "siren-fault", "--embeddings", emb, "--output", tmp_path / "res", "--local").exit_code == 0
    result = cli("evaluate", "siren-fault", "--embeddings", tmp_path / "res", "--output", tmp_path / "r2", "--local")
    rel.assert_error_line(result, "--embeddings", "libtrad results folder, not embeddings")


def test_a_seed_error_names_the_option_typed(emb, tmp_path, cli, rel):
    result = cli("evaluate", "xares-knn", "--embeddings", emb, "--output", tmp_path / "res", "--split-seed", "-1")
    rel.assert_error_line(result, "--split-seed -1")
