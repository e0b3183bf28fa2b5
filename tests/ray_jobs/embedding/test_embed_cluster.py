"""``libtrad embed`` on a simulated two-node cluster (loopback): actors on both nodes, same numbers.

Marked ``serial``: ``make test`` runs it alone after the two-worker part, since which node does the
work depends on how fast each actor starts, which the other worker's load changes.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.serial


@pytest.fixture(scope="module")
def two_nodes():
    from ray.cluster_utils import Cluster

    from libtrad.ray_jobs.cluster import loopback_only

    loopback_only()  # every port on 127.0.0.1

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def test_two_node_cluster_runs_actors_on_both_nodes_with_identical_embeddings(two_nodes, lib_trad_export, tmp_path):
    from libtrad.ray_jobs.embedding.embed import embed_dataset
    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, default_rows_per_unit, plan_units

    summary = embed_dataset(
        str(lib_trad_export),
        "logmel-stats",
        tmp_path / "emb",
        config="tr1",
        address=two_nodes.address,
        actors=2,
        threads_per_actor=1,
        progress=False,
    )
    assert len(summary.nodes) == 2, summary.nodes
    import ray

    assert not ray.is_initialized()  # the driver detached; the cluster keeps running
    assert len([n for n in two_nodes.list_all_nodes()]) == 2
    # The same units computed in this process, without Ray, give the same tables.
    source = resolve_dataset(str(lib_trad_export), "tr1")
    embedder = UnitEmbedder("logmel-stats", EmbedOptions(), source, threads=1)
    for unit in plan_units(source, default_rows_per_unit(sum(s.num_rows for s in source.shards))):
        table, _ = embedder.run(unit)
        assert pq.read_table(tmp_path / "emb" / unit.name).to_pylist() == table.to_pylist()


def test_cli_address_attaches_to_the_cluster(two_nodes, lib_trad_export, tmp_path, cli):
    result = cli(
        "embed",
        "--dataset",
        str(lib_trad_export),
        "--config",
        "tr1",
        "--split",
        "test",
        "--encoder",
        "logmel-stats",
        "--output",
        str(tmp_path / "emb"),
        "--address",
        two_nodes.address,
    )
    assert result.exit_code == 0, result.output
    assert "test: " in result.output and (tmp_path / "emb" / "embeddings.json").is_file()


def test_suite_folds_run_on_both_nodes_and_equal_local(two_nodes):
    """siren-fault k-fold: one Ray task per fold, spread over the two nodes; same results as in-process."""
    import numpy as np
    import pandas as pd

    from libtrad.ray_jobs.evaluation.runner import run_suite
    from libtrad.ray_jobs.evaluation.suites import siren_fault

    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame(
        {
            "file": [f"f{i:03d}.wav" for i in range(n)],
            "label": np.arange(n) % 3,
            "fold": np.arange(n) % 5,
            "embedding": list(rng.standard_normal((n, 8)).astype(np.float32) + (np.arange(n) % 3)[:, None]),
        }
    )
    options = siren_fault.FaultOptions()
    on_ray = run_suite(siren_fault.SUITE, df, options, address=two_nodes.address, progress=False)
    local = run_suite(siren_fault.SUITE, df, options, local=True, progress=False)
    assert on_ray.units == 5 and len(on_ray.nodes) == 2, on_ray.nodes
    assert on_ray.results == local.results


def test_the_local_default_never_joins_a_cluster_running_on_the_machine(two_nodes):
    """With a `ray start`-style cluster up here, the local default still starts its own one-node Ray."""
    from libtrad.ray_jobs.cluster import ray_session

    with ray_session(num_cpus=1) as ray:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        assert len(nodes) == 1 and ray.get_runtime_context().gcs_address != two_nodes.address
    assert len(two_nodes.list_all_nodes()) == 2  # the running cluster is untouched
