"""Node loss on a real multi-node Ray on loopback (``ray.cluster_utils.Cluster``), not only a crashed actor.

One cluster for the module (starting one costs ~10 s here): a head without CPUs (it runs only the
drivers) and two one-CPU worker nodes; the tests take its nodes away in order, so they run in file
order and each says what the ones before it left:

1. a worker node killed mid-embed: the job finishes on the survivor, bit-identical to the units computed
   in-process, every row exactly once, no computed unit lost;
2. every worker node killed mid-embed: one ``error:`` line naming the lost nodes and the units saved, the
   lock released, no Ray text on the screen; the same command on a cluster with a node again resumes;
3. a node killed mid-suite: Ray runs its units again on the survivor, results as in-process; then an
   evaluation suite with no node that can run a unit: one line, not a wait;
4. the head's GCS killed mid-embed: one libtrad line within the documented bound, the lock released.

Each embed runs as ``libtrad embed --address`` in a child interpreter (Ray may end a driver whose
cluster is gone: only a child shows what the user sees), with units of 2 rows that each wait
0.5 s in their actor (``LIBTRAD_TEST_UNIT_SECONDS``) so that a node is taken away while units are in
flight on it. Ray's node health checks are made faster on this cluster (0.5 s × 4) so a dead node is
declared in ~2 s. Marked ``serial``: placement timing depends on load.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: listeners on loopback

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

pytestmark = pytest.mark.serial

ROWS_PER_UNIT = 2
FAST_HEALTH = {"health_check_period_ms": 500, "health_check_failure_threshold": 4, "health_check_timeout_ms": 1000}


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    from libtrad.ray_jobs.cluster import loopback_only

    loopback_only()
    os.environ["LIBTRAD_TEST_UNIT_SECONDS"] = "0.5"  # the nodes' workers inherit it
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "_system_config": FAST_HEALTH})
    workers = [made.add_node(num_cpus=1) for _ in range(2)]
    made.wait_for_nodes()
    made.workers = workers
    yield made
    os.environ.pop("LIBTRAD_TEST_UNIT_SECONDS", None)
    made.shutdown()


def reference_tables(dataset: Path) -> dict[str, list]:
    """Every unit computed in this process, without Ray: what a clean run writes."""
    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, plan_units

    source = resolve_dataset(str(dataset), "tr1")
    embedder = UnitEmbedder("logmel-stats", EmbedOptions(), source, threads=1)
    return {u.name: embedder.run(u)[0].to_pylist() for u in plan_units(source, ROWS_PER_UNIT)}


def test_a_worker_node_killed_mid_embed_costs_no_unit_and_survivors_finish(driver, cluster, lib_trad_export, tmp_path):
    out = tmp_path / "emb"
    proc = driver.start_embed(cluster, lib_trad_export, out)
    driver.when_staged(out, 2, proc)
    cluster.remove_node(cluster.workers[0], allow_graceful=False)
    code, text, _ = driver.finish(proc, 90)
    assert code == 0, text
    driver.assert_no_ray_noise(text)
    assert "12 of 12 units computed" in text, text  # no unit computed twice into the output, none lost
    expected = reference_tables(lib_trad_export)
    written = sorted(p.relative_to(out).as_posix() for p in out.glob("data/**/*.parquet"))
    assert written == sorted(expected)  # every unit exactly once
    for name, rows in expected.items():
        assert pq.read_table(out / name).to_pylist() == rows, name  # bit-identical to a clean run


def test_losing_every_worker_node_ends_in_one_line_and_the_command_resumes(driver, cluster, lib_trad_export, tmp_path):
    """Left by the test above: the head (no CPUs) and one worker; a second worker is added first."""
    cluster.workers[1:] = [cluster.workers[1], cluster.add_node(num_cpus=1)]
    cluster.wait_for_nodes()
    out = tmp_path / "emb"
    proc = driver.start_embed(cluster, lib_trad_export, out)
    driver.when_staged(out, 2, proc)
    saved_before = len(driver.staged_units(out))
    for node in cluster.workers[1:]:
        cluster.remove_node(node, allow_graceful=False)
    code, text, seconds = driver.finish(proc, 60)
    line = driver.one_error_line(text)
    assert code == 2, text
    driver.assert_no_ray_noise(text)
    assert f"the Ray cluster at {cluster.address} lost node(s) 127.0.0.1 (node " in line, line
    assert "no node left can run an embedding actor (1 CPU each)" in line, line
    saved = len(driver.staged_units(out))
    assert saved >= saved_before and f"{saved} of 12 units are saved" in line, line
    assert "run the same libtrad embed command again" in line, line
    assert seconds < 30, seconds  # Ray's node-death detection (~2 s here) + a tick, plus the child's exit
    assert not (tmp_path / ".emb.lock").exists() and not out.exists()

    cluster.workers = [cluster.add_node(num_cpus=1)]  # the same command, with a node again: only the rest
    cluster.wait_for_nodes()
    code, text, _ = driver.finish(driver.start_embed(cluster, lib_trad_export, out), 90)
    assert code == 0, text
    assert f"{12 - saved} of 12 units computed, {saved} reused" in text, text
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("data/**/*.parquet")) == sorted(
        reference_tables(lib_trad_export)
    )


def fold_frame(rows: int = 60, folds: int = 12):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "file": [f"f{i:03d}.wav" for i in range(rows)],
            "label": np.arange(rows) % 3,
            "fold": np.arange(rows) % folds,
            "embedding": list(rng.standard_normal((rows, 4)).astype(np.float32) + (np.arange(rows) % 3)[:, None]),
        }
    )


def test_a_suite_finishes_on_the_survivors_then_ends_in_one_line_without_nodes(cluster):
    """Left: the head (no CPUs) and one worker. A second worker whose units take 1.5 s each is added; one
    worker is killed mid-suite: Ray runs its tasks again on the other, results as in-process. Then the
    last worker goes: a unit's task could never be placed — one line, not a wait."""
    import threading

    from libtrad.ray_jobs.cluster import ClusterLost
    from libtrad.ray_jobs.evaluation.runner import run_suite
    from libtrad.ray_jobs.evaluation.suites import siren_fault

    os.environ["LIBTRAD_TEST_UNIT_SECONDS"] = "1.5"
    cluster.workers.append(cluster.add_node(num_cpus=1))
    cluster.wait_for_nodes()
    df, options = fold_frame(), siren_fault.FaultOptions()
    killer = threading.Timer(3.0, cluster.remove_node, args=(cluster.workers.pop(0),), kwargs={"allow_graceful": False})
    began = time.monotonic()
    killer.start()
    on_ray = run_suite(siren_fault.SUITE, df, options, address=cluster.address, progress=False)
    killer.join()
    assert time.monotonic() - began > 3.0, "the suite ended before the node was killed: the test proves nothing"
    assert on_ray.results == run_suite(siren_fault.SUITE, df, options, local=True, progress=False).results

    for node in cluster.workers:
        cluster.remove_node(node, allow_graceful=False)
    cluster.workers = []
    time.sleep(3)  # declared dead (fast health checks)
    began = time.monotonic()
    with pytest.raises(ClusterLost, match=r"lost node\(s\) 127\.0\.0\.1 .*no node left can run a siren-fault unit"):
        run_suite(siren_fault.SUITE, fold_frame(30, 5), options, address=cluster.address, progress=False)
    assert time.monotonic() - began < 20


def test_the_heads_gcs_dying_mid_embed_ends_in_one_line_and_frees_the_lock(driver, cluster, lib_trad_export, tmp_path):
    """Last: it ends the cluster. A worker node is added for the job, its units slower (2 s each: the job
    outlasts the 3 s bound)."""
    os.environ["LIBTRAD_TEST_UNIT_SECONDS"] = "2"
    cluster.workers = [cluster.add_node(num_cpus=1)]
    cluster.wait_for_nodes()
    out = tmp_path / "emb"
    proc = driver.start_embed(cluster, lib_trad_export, out, LIBTRAD_GCS_LOSS_SECONDS="3")
    driver.when_staged(out, 2, proc)
    cluster.head_node.kill_gcs_server()
    code, text, seconds = driver.finish(proc, 60)
    line = driver.one_error_line(text)
    assert code == 2, text
    driver.assert_no_ray_noise(text)
    assert "lost its head: its GCS (127.0.0.1:" in line and "has refused connections for 3 s" in line, line
    assert "units are saved" in line, line
    assert seconds < 20, seconds  # 3 s here (15 s by default), well before Ray's own 60 s
    assert not (tmp_path / ".emb.lock").exists()
