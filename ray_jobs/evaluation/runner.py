"""Run an evaluation suite's independent units as Ray tasks — or in this process with ``--local``.

A suite (:class:`libtrad.ray_jobs.evaluation.suites.base.Suite`) has ``plan(df, options) -> units`` (each
with a ``key``), ``columns_for(df)``, a pure ``run_unit(unit, embeddings, columns, options) -> dict`` and
``combine(results_by_key, df, options) -> results``. The runner puts the embedding matrix and the
columns in Ray's object store once (workers on the same node map them without copying), runs one
task per unit, and combines; ``local=True`` runs the very same functions in this process.
``combine`` sorts by key, so results are identical whichever way (and order) the units ran.
A unit whose node dies is run again by Ray on a surviving node (up to 3 times); when no node left can
run one, or the cluster's head goes away, the job ends in one line naming what was lost, within the
bounds of :mod:`libtrad.ray_jobs.cluster.health`.
The Ray session rules are the embed job's (:mod:`libtrad.ray_jobs.cluster`): a private local Ray
on 127.0.0.1 by default, ``address`` to attach to a cluster.

GPUs: when the options have a ``device`` that may use one (``auto``, ``cuda``: :attr:`DeviceSpec.wants_gpu`)
and the cluster has GPUs, each unit's task asks Ray for one GPU (so at most one unit per GPU at a
time; Ray's ``CUDA_VISIBLE_DEVICES`` makes it the task's ``cuda:0``, which ``auto`` resolves to);
otherwise a task asks for one CPU, as without a device. A unit may return its
:func:`~libtrad.core.devices.device_record` under ``"device"``: the distinct ones are :attr:`SuiteRun.devices`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from libtrad.core.devices import cluster_gpus, parse_device
from libtrad.core.errors import LibtradError, first_line
from libtrad.ray_jobs import cluster  # cluster.ray_session, looked up at each call: the one place a test replaces it
from libtrad.ray_jobs.cluster import as_completed


@dataclass
class SuiteRun:
    """A suite's combined results, and where its units ran: node ids and the Ray GPU ids the tasks were
    given (both empty when local), the distinct device records the units returned (sorted)."""

    results: dict
    units: int
    nodes: set = field(default_factory=set)
    gpu_ids: set = field(default_factory=set)
    devices: list = field(default_factory=list)


def run_suite(
    suite, df: pd.DataFrame, options, *, local: bool = False, address: str | None = None, progress: bool = True
) -> SuiteRun:
    """Plan, run every unit (Ray tasks, or in-process when ``local``), combine."""
    from libtrad.ray_jobs.embedding.embeddings_input import embedding_matrix

    units = suite.plan(df, options)
    embeddings, columns = embedding_matrix(df), suite.columns_for(df)
    bar = tqdm(total=len(units), desc=f"{suite.name} units", unit="unit", disable=not progress)
    nodes: set = set()
    gpu_ids: set = set()
    try:
        if local:
            results = {}
            for unit in units:
                results[unit.key] = suite.run_unit(unit, embeddings, columns, options)
                bar.update(1)
        else:
            results = _run_on_ray(suite, units, embeddings, columns, options, address, bar, nodes, gpu_ids)
    finally:
        bar.close()
    return SuiteRun(suite.combine(results, df, options), len(units), nodes, gpu_ids, unit_devices(results))


def unit_devices(results: dict) -> list[dict]:
    """The distinct ``"device"`` records the units returned, sorted (the same whichever order they ran)."""
    import json

    found = {
        json.dumps(r["device"], sort_keys=True)
        for r in results.values()
        if isinstance(r, dict) and isinstance(r.get("device"), dict)
    }
    return [json.loads(text) for text in sorted(found)]


def gpus_per_unit(options, ray) -> int:
    """1 when the options' ``device`` may use a GPU and the cluster has one, else 0 (a CPU task)."""
    device = getattr(options, "device", None)
    return int(device is not None and parse_device(device).wants_gpu and cluster_gpus(ray) > 0)


def _run_on_ray(
    suite, units: list, embeddings, columns, options, address: str | None, bar, nodes: set, gpu_ids: set
) -> dict:
    def failed(unit, exc) -> LibtradError:
        cause = getattr(exc, "cause", None)
        return LibtradError(
            f"{suite.name} unit {unit.key}: a Ray task failed "
            f"({type(cause or exc).__name__}: {first_line(cause or exc)})"
        )

    with cluster.ray_session(address) as ray:
        resources = {"num_cpus": 1, "num_gpus": gpus_per_unit(options, ray)}
        # A task whose node dies is retried by Ray on another node (max_retries counts those deaths).
        task = ray.remote(**resources, max_retries=3, scheduling_strategy="SPREAD")(_run_unit_task)
        embeddings_ref, columns_ref = ray.put(embeddings), ray.put(columns)
        pending = {task.remote(suite, unit, embeddings_ref, columns_ref, options): unit for unit in units}
        tick = _cluster_check(ray, address, suite.name, {"CPU": 1, "GPU": resources["num_gpus"]})
        results = {}
        for unit, (result, node, gpus) in as_completed(ray, pending, failed, tick=tick):
            results[unit.key] = result
            nodes.add(node)
            gpu_ids.update((node, g) for g in gpus)
            bar.update(1)
    return results


def _cluster_check(ray, address: str | None, suite: str, need: dict[str, float]):
    """The runner's look at its cluster each second (:class:`~libtrad.ray_jobs.cluster.ClusterWatch`): its
    GCS or this driver's raylet gone, or no alive node left that can run a unit (Ray would keep the tasks
    waiting for one forever): one line naming the lost nodes."""
    watch = cluster.ClusterWatch(ray, address)

    def tick() -> None:
        watch.check()
        if watch.answers() and cluster.capacity(ray, need) == 0:
            raise watch.nothing_can_run(f"a {suite} unit", need)

    return tick


def _run_unit_task(suite, unit, embeddings, columns, options):
    """One unit on a Ray worker: the suite's own ``run_unit``, plus the node it ran on and the GPU ids Ray
    gave the task (none for a CPU task)."""
    import ray

    cluster.maybe_slow_unit()
    return (
        suite.run_unit(unit, embeddings, columns, options),
        ray.get_runtime_context().get_node_id(),
        [str(g) for g in ray.get_gpu_ids()],
    )
