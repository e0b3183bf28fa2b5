"""How a running job notices that its Ray cluster lost a node or its head, and says so in one line.

What Ray 2.60 does (its docs, and seen on a multi-node Ray on loopback, ``ray.cluster_utils.Cluster``):

* A node whose raylet dies takes its worker processes with it. The GCS marks the node dead (health
  checks every 3 s, 5 misses by default, sooner when the raylet's connection closes) and, in
  ``ray.nodes()``, ``Alive`` turns false; calls to an actor that lived there fail with
  ``RayActorError`` (``ActorDiedError``, "its node has died"), every call in flight separately. A task
  (not an actor) is retried by Ray on another node up to its ``max_retries``. A restarted actor asks
  for the same resources as before: when every surviving node is already full (libtrad's actors take
  a node's cores), it is never placed and its calls wait forever — so libtrad never lets Ray restart
  an embedding actor, and replaces one only when a surviving node can hold it (:func:`capacity`).
* When the head's GCS dies, the driver's own calls that need it block, and Ray's core ends the
  driver after ``gcs_rpc_server_reconnect_timeout_s`` (60 s) with its own text and no exit handler.
  A job that watches its cluster (:class:`ClusterWatch`) probes the GCS's port once a second and ends
  itself, with one libtrad line, once it has refused connections for :data:`GCS_LOSS_SECONDS` —
  before Ray does, so the output's lock is released and the finished units stay for a resume.

Bounds: a job stops waiting for the cluster within :data:`GCS_LOSS_SECONDS` + 2 s of its GCS going
away, and within Ray's node-death detection (about 15-30 s) + :data:`TICK_SECONDS` of the last node
able to run its work going away.
"""

from __future__ import annotations

import math
import os
import socket
import time

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.cluster.attaching import tcp_target

# The GCS refusing connections this long ends the job (Ray's own limit: 60 s); LIBTRAD_GCS_LOSS_SECONDS changes it.
GCS_LOSS_SECONDS = float(os.environ.get("LIBTRAD_GCS_LOSS_SECONDS", "15"))
RAYLET_LOSS_SECONDS = 2.0  # this driver's raylet refusing connections this long: its node is gone
TICK_SECONDS = 1.0  # how often a waiting job looks at its cluster


class ClusterLost(LibtradError):
    """The cluster can no longer run the job: its head (GCS) stopped answering, this driver's own node
    died, or no node left can place its work. ``unreachable``: Ray calls would block (no GCS) or end
    the process (no raylet), so the job's cleanup and ``ray.shutdown`` skip them, and the CLI ends the
    process right after its line (``ends_process``: the teardown of such a Ray session crashes)."""

    def __init__(self, message: str, *, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable
        self.ends_process = unreachable


def capacity(ray, need: dict[str, float]) -> int:
    """How many pieces of work asking for ``need`` (``{"CPU": 2, "GPU": 0}``) the alive nodes hold at once
    (their total resources: what libtrad's own work there occupies counts as free)."""
    total = 0
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        resources = node.get("Resources", {})
        fits = [math.floor(resources.get(k, 0.0) / v + 1e-9) for k, v in need.items() if v > 0]
        total += min(fits) if fits else 1
    return total


def describe_node(node: dict) -> str:
    """``IP (node 1a2b3c4d)``: nodes on one machine share the IP, so the start of the node id tells them apart."""
    address = node.get("NodeManagerAddress") or node.get("NodeManagerHostname") or "?"
    return f"{address} (node {str(node.get('NodeID', ''))[:8]})"


class ClusterWatch:
    """A job's view of its cluster while it waits for work: the nodes alive when it began, the ports of
    its GCS and of this driver's own raylet.

    :meth:`check` (each :data:`TICK_SECONDS`) raises :class:`ClusterLost` once the GCS has refused
    connections for :data:`GCS_LOSS_SECONDS`, or this driver's raylet for :data:`RAYLET_LOSS_SECONDS` (a
    raylet is never restarted: its node is gone, and with it the driver's actors and object store; Ray
    ends such a driver from its core as soon as the GCS declares the node dead, so the job must say
    so first). :meth:`nothing_can_run` is the line for work that no node left can place;
    :meth:`lost_nodes` names the nodes gone since the start."""

    def __init__(self, ray, address: str | None):
        self.ray = ray
        self.cluster = f"the Ray cluster at {address}" if address else "the local Ray"
        self.nodes = {n["NodeID"]: n for n in ray.nodes() if n.get("Alive")}
        self.refused_since: dict[str, float] = {}
        self.unreachable = False
        self.ports: dict = {}
        if (address or "").startswith("ray://"):
            return  # a Ray client: the GCS and raylets are the cluster's, not reachable from here (Ray watches them)
        context = ray.get_runtime_context()
        own = self.nodes.get(context.get_node_id(), {})
        raylet = (own.get("NodeManagerAddress"), own.get("NodeManagerPort"))
        self.ports = {
            "its GCS": (tcp_target(context.gcs_address), GCS_LOSS_SECONDS),
            "the raylet of this driver's node": (raylet if all(raylet) else None, RAYLET_LOSS_SECONDS),
        }

    def answers(self) -> bool:
        """Whether the GCS and this driver's raylet accept connections right now (noting since when not)."""
        now = time.monotonic()
        for what, (target, _) in self.ports.items():
            if target is None or _connects(target):
                self.refused_since.pop(what, None)
            else:
                self.refused_since.setdefault(what, now)
        return not self.refused_since

    def check(self) -> None:
        """Raise :class:`ClusterLost` when the GCS or this driver's raylet has refused connections too long."""
        if self.answers():
            return
        now = time.monotonic()
        for what, since in self.refused_since.items():
            (host, port), limit = self.ports[what]
            if now - since >= limit:
                self.unreachable = True
                head = "its head" if what == "its GCS" else "the node this driver runs on"
                raise ClusterLost(
                    f"{self.cluster} lost {head}: {what} ({host}:{port}) has refused connections for {limit:g} s",
                    unreachable=True,
                )

    def lost_nodes(self) -> list[str]:
        """The nodes alive when the job began that are dead (or gone) now — else, when the job began
        without them, the dead nodes Ray still lists (at most 4 named)."""
        nodes = self.ray.nodes()
        alive = {n["NodeID"] for n in nodes if n.get("Alive")}
        lost = [describe_node(n) for node_id, n in sorted(self.nodes.items()) if node_id not in alive]
        lost = lost or [describe_node(n) for n in nodes if not n.get("Alive")]
        return lost[:4] + ([f"{len(lost) - 4} more"] if len(lost) > 4 else [])

    def nothing_can_run(self, what: str, need: dict[str, float]) -> ClusterLost:
        """The line for work (``what``, asking for ``need``) that no alive node can place any more."""
        lost = self.lost_nodes()
        asks = ", ".join(f"{v:g} {k}" for k, v in need.items() if v > 0)
        gone = f"lost node(s) {', '.join(lost)}" if lost else "lost the nodes it ran on"
        return ClusterLost(f"{self.cluster} {gone}; no node left can run {what} ({asks} each)")


def _connects(target: tuple[str, int]) -> bool:
    try:
        socket.create_connection(target, timeout=2.0).close()
        return True
    except OSError:
        return False


def maybe_slow_unit() -> None:
    """Test hook: ``LIBTRAD_TEST_UNIT_SECONDS=S`` makes each unit of a job (an embedding unit in its actor, a
    suite's unit in its task) wait S seconds first, so a test can take a node away while units run on it."""
    seconds = os.environ.get("LIBTRAD_TEST_UNIT_SECONDS")
    if seconds:
        time.sleep(float(seconds))
