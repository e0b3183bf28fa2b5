"""Where libtrad's Ray jobs run: a private local Ray on 127.0.0.1, or an existing cluster.

Local default: a private ``ray.init`` with this machine's CPUs (never joining a cluster that
already runs on the machine), no dashboard, every port on loopback.
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (and, for a ray imported earlier, the constant it sets;
see :func:`loopback_only`) is what keeps every listener (GCS included) on 127.0.0.1 here —
``_node_ip_address`` alone does not. Ray's token
authentication is left as Ray sets it. ``--address`` (``auto``, ``HOST:PORT``, ``ray://…``)
attaches to a running cluster; then nothing is started or stopped. A caller that already called
``ray.init`` keeps its session.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from collections.abc import Iterator

from libtrad.errors import LibtradError, ParameterError, first_line


def _import_ray():
    try:
        import ray
    except ImportError:
        raise LibtradError("Ray is not installed: pip install 'ray[data]' (see constraints.txt for the version)") from None
    return ray


def loopback_only() -> None:
    """Make a Ray started from this process bind every port to 127.0.0.1.

    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` does it for the processes Ray spawns (they import ray
    afresh), but ray reads it into ``ray_constants.ENABLE_RAY_CLUSTER`` at import: when ray was
    imported before this call (by the user, or another library), that constant is set too —
    otherwise the node address is the machine's network address (tested).
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None, dashboard: bool = False) -> Iterator[object]:
    """Yield the ``ray`` module with a session up; stop it afterwards only if this call started it."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ParameterError("address", address, f"cannot attach to a Ray cluster there "
                                 f"({first_line(exc)})") from None
        try:
            yield ray
        finally:
            ray.shutdown()  # detaches this driver; the cluster keeps running
        return
    loopback_only()
    # address="local": always a private Ray. A plain ray.init() joins a cluster that `ray start` (or
    # another process's ray.cluster_utils.Cluster) runs on this machine, then refuses num_cpus.
    ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=dashboard,
             _node_ip_address="127.0.0.1",
             logging_level=logging.WARNING, configure_logging=True)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray) -> list[int]:
    """CPUs of every alive node (the defaults for actors and threads follow from them)."""
    cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    return [c for c in cpus if c > 0] or [1]


def actor_layout(ray, actors: int | None, threads: int | None) -> tuple[int, int]:
    """(actors, threads per actor): by default one actor per node, threads = the node's cores ÷ its actors,
    so actors never oversubscribe a node."""
    nodes = cluster_cpus(ray)
    actors = actors or len(nodes)
    per_node = -(-actors // len(nodes))
    threads = threads or max(1, min(nodes) // per_node)
    return actors, threads
