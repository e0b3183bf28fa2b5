"""What a job concludes from its cluster's state, without a cluster: room for actors, lost nodes, a dead GCS,
(the end-to-end faults: ``test_attaching.py``,
``tests/ray_jobs/embedding/test_actors_node_loss.py``)."""

from __future__ import annotations

import socket
import types

import pytest

from libtrad.ray_jobs.cluster import health
from libtrad.ray_jobs.cluster.health import ClusterLost, ClusterWatch, capacity


def node(node_id: str, alive: bool = True, cpus: float = 2, gpus: float = 0, port: int = 1) -> dict:
    return {
        "NodeID": node_id,
        "Alive": alive,
        "NodeManagerAddress": "10.0.0.7",
        "NodeManagerPort": port,
        "Resources": {"CPU": cpus, **({"GPU": gpus} if gpus else {})},
    }


def fake_ray(nodes: list[dict], gcs: str = "127.0.0.1:1", own: str = "aaaa1111"):
    context = types.SimpleNamespace(gcs_address=gcs, get_node_id=lambda: own)
    return types.SimpleNamespace(nodes=lambda: nodes, get_runtime_context=lambda: context)


def test_capacity_counts_what_alive_nodes_hold():
    ray = fake_ray([node("a", cpus=4), node("b", cpus=4, alive=False), node("c", cpus=2, gpus=1)])
    assert capacity(ray, {"CPU": 2, "GPU": 0}) == 3  # 2 on a, 1 on c; none on the dead b
    assert capacity(ray, {"CPU": 0.5, "GPU": 1}) == 1  # only c has a GPU
    assert capacity(ray, {"CPU": 8, "GPU": 0}) == 0


def test_nothing_can_run_names_the_nodes_lost_since_the_start():
    nodes = [node("aaaa1111"), node("bbbb2222")]
    ray = fake_ray(nodes)
    watch = ClusterWatch(ray, "10.0.0.7:6379")
    nodes[1]["Alive"] = False
    error = watch.nothing_can_run("an embedding actor", {"CPU": 2, "GPU": 0})
    assert str(error) == (
        "the Ray cluster at 10.0.0.7:6379 lost node(s) 10.0.0.7 (node bbbb2222); "
        "no node left can run an embedding actor (2 CPU each)"
    )
    assert not error.unreachable


def test_a_gcs_refusing_connections_ends_the_job_after_the_bound(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    watch = ClusterWatch(fake_ray([node("aaaa1111", port=0)], gcs=f"127.0.0.1:{closed}"), "127.0.0.1:6379")
    limit = health.GCS_LOSS_SECONDS
    clock = iter([100.0, 100.0, 101.0, 100.0 + limit - 1, 100.0 + limit, 100.0 + limit + 1])  # two reads a check
    monkeypatch.setattr(health.time, "monotonic", lambda: next(clock))
    watch.check()  # refused since 100 s: not long enough
    watch.check()
    with pytest.raises(ClusterLost, match=rf"lost its head: its GCS \(127\.0\.0\.1:{closed}\) has refused") as lost:
        watch.check()
    assert lost.value.unreachable and lost.value.ends_process and watch.unreachable


def test_a_ray_client_address_watches_no_ports():
    watch = ClusterWatch(fake_ray([node("aaaa1111")]), "ray://head:10001")
    assert watch.ports == {} and watch.answers()
