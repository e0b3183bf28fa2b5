"""``libtrad embed``'s actor pool on Ray: how many actors and what each asks for, the actors themselves
(one :class:`~libtrad.ray_jobs.embedding.units.UnitEmbedder` each, loaded on its first unit) and the loop
that streams the units to them (:func:`run_units`): each actor gets the unit after its last one while it is
queued, a finished unit is written to the staging area as it arrives, and an actor that dies (its
worker, or its whole node) gives its units back to the queue: it is replaced where a surviving node
has room, the survivors finish the rest, and when no node can run an actor any more the job ends in
one line naming the lost nodes and how many units are saved for a resume (:mod:`libtrad.ray_jobs.cluster.health`;
four deaths of one unit: refused, naming its rows).

Shared pools (:func:`shared_actors`). ``libtrad embed`` starts its actors and kills them when its job ends.
A driver that runs several embedding jobs in one Ray session (``libtrad benchmark``: one job per component)
opens ``with shared_actors():`` around them; every job inside then takes the pool of its encoder (the
encoder's fingerprint, precision, device and the actors' resources) — started by the first job that needs
it, kept after each job, killed when the block ends — and hands each unit its dataset and options with it,
so an actor loads its encoder once and only re-binds (:meth:`UnitEmbedder.retarget`) on its next
component. The units, their outputs and ``embeddings.json`` are the same either way. A pool holds its
actors' CPUs (or GPUs) until the block ends: a driver that runs other Ray work after it (another encoder's
pool, an evaluation's tasks) ends the block first, or that work waits for resources that never free.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm.auto import tqdm

from libtrad.core.devices import cluster_gpus, parse_device
from libtrad.core.errors import LibtradError, ParameterError, first_line
from libtrad.ray_jobs import cluster  # cluster.ray_session, looked up at each call: the one place a test replaces it
from libtrad.ray_jobs.cluster import actor_layout, as_completed, built_or_deferred, cluster_cpus
from libtrad.ray_jobs.embedding.encoder_files import pack
from libtrad.ray_jobs.embedding.encoders import EncoderSpec
from libtrad.ray_jobs.embedding.source import DatasetSource
from libtrad.ray_jobs.embedding.units import EmbedOptions, Unit, UnitEmbedder

IN_FLIGHT_PER_ACTOR = 2  # one running, one queued: the actor never waits for the driver


class SharedActors:
    """The actor pools of one :func:`shared_actors` block, one per encoder load; ``on_rows(n)`` is told of every
    unit's rows as it is written (one progress view over several jobs); ``loads`` counts the actors started."""

    def __init__(self, on_rows: Callable[[int], None] | None = None):
        self.pools: dict[str, tuple[list, tuple]] = {}  # key -> (actors, (reference to the encoder's files,))
        self.on_rows = on_rows
        self.loads = 0

    def pool(self, key: str, new_actor, n_actors: int, put_files) -> tuple[list, tuple]:
        """The pool of ``key`` (started with ``n_actors`` and the encoder's files put once, if new)."""
        if key not in self.pools:
            self.pools[key] = ([new_actor() for _ in range(n_actors)], (put_files(),))
            self.loads += n_actors
        return self.pools[key]

    def close(self) -> None:
        if not self.pools:
            return
        import ray

        if ray.is_initialized():
            for actors, _ in self.pools.values():
                for actor in actors:
                    ray.kill(actor)
        self.pools.clear()


_SHARED: ContextVar[SharedActors | None] = ContextVar("libtrad_shared_actors", default=None)


@contextmanager
def shared_actors(on_rows: Callable[[int], None] | None = None) -> Iterator[SharedActors]:
    """Inside the block, embedding jobs share one actor pool per encoder load (module docstring)."""
    shared = SharedActors(on_rows)
    token = _SHARED.set(shared)
    try:
        yield shared
    finally:
        _SHARED.reset(token)
        shared.close()


def _pool_key(fingerprint: dict, options: EmbedOptions, resources: tuple) -> str:
    """What an actor's encoder load depends on: the encoder's files, precision, device, its threads and share."""
    identity = [fingerprint, options.precision, options.device, list(resources)]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def actor_resources(
    ray, device: str, gpus_per_actor: float | None, actors: int | None, threads: int | None
) -> tuple[int, int, float, float]:
    """(actors, torch threads per actor, CPUs and GPUs each actor asks Ray for).

    GPU actors (``gpus_per_actor`` > 0; by default 1 when the cluster has GPUs and the device is not
    ``cpu``): ``actors`` defaults to the cluster's GPUs ÷ ``gpus_per_actor``, and each asks for a
    share of the CPUs (fractional) so that all of them fit beside their GPUs; CPU actors keep
    :func:`~libtrad.ray_jobs.cluster.actor_layout` (one per node, the node's cores between them)."""
    gpus = cluster_gpus(ray)
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if gpus and parse_device(device).wants_gpu else 0.0
    if not gpus_per_actor:
        n_actors, n_threads = actor_layout(ray, actors, threads)
        return n_actors, n_threads, n_threads, 0.0
    per_node = [float(n.get("Resources", {}).get("GPU", 0)) for n in ray.nodes() if n.get("Alive")]
    if not gpus or max(per_node, default=0.0) < gpus_per_actor:
        found = "has no GPUs" if not gpus else f"has at most {max(per_node):g} GPU(s) on one node"
        raise ParameterError(
            "gpus_per_actor",
            gpus_per_actor,
            f"each actor would wait forever: the Ray cluster "
            f"{found}; use --gpus-per-actor 0 (the CPU) or a smaller share",
        )
    n_actors, n_threads = actor_layout(ray, actors or max(1, int(gpus // gpus_per_actor)), threads)
    cpus = cluster_cpus(ray)
    share = min(cpus) / -(-n_actors // len(cpus))  # the node's cores ÷ its actors, fractional
    return n_actors, n_threads, round(min(float(n_threads), share), 4), float(gpus_per_actor)


class EmbedActor:
    """A Ray actor: one :class:`UnitEmbedder` (model loaded once, on the first unit), one unit per call.

    ``files`` (given with every unit): ``(ref,)``, the reference to the encoder's ``(digests, bytes)``
    — one object the driver put in Ray's object store, fetched here (once per node) when the actor
    loads the encoder from its own copy of them. Given to ``run``, not the constructor: Ray logs an
    error line for every restartable actor whose constructor arguments hold an object reference
    (even inside a tuple), and a restarted actor simply loads again on its next unit."""

    def __init__(self, encoder: EncoderSpec, options: EmbedOptions, source: DatasetSource, threads: int):
        self.args = (encoder, options, source, threads)
        self.embedder = None

    def run(self, unit: Unit, files: tuple = (), job: tuple | None = None):
        """Embed ``unit``; ``job`` (a shared pool's): its ``(options, source)``, this actor's current ones or the
        next component's (the encoder stays loaded: :meth:`UnitEmbedder.retarget`)."""
        if job is not None and job != self.args[1:3]:
            self.args = (self.args[0], *job, self.args[3])
            if self.embedder is not None:
                self.embedder = self.embedder.retarget(*job)
        if self.embedder is None:
            import ray

            shipped = ray.get(files[0]) if files else None
            self.embedder = built_or_deferred(UnitEmbedder, *self.args, shipped)
        cluster.maybe_slow_unit()
        return self.embedder.run(unit)


@contextmanager
def attached(address: str | None) -> Iterator[None]:
    """With ``address``, the block runs attached to that cluster (:func:`run_units` then uses the session):
    an attach that fails does so before the job locks or stages anything. A local job starts its
    private Ray only when some unit is missing (in :func:`run_units`)."""
    if not address:
        yield
        return
    with cluster.ray_session(address):
        yield


def run_units(
    units: list[Unit],
    spec: EncoderSpec,
    options: EmbedOptions,
    source: DatasetSource,
    staging,
    summary,
    fingerprint: dict,
    address: str | None,
    actors: int | None,
    threads: int | None,
    gpus_per_actor: float | None,
    progress: bool,
) -> None:
    from dataclasses import replace

    began = time.perf_counter()
    shared = _SHARED.get()
    with cluster.ray_session(address) as ray:
        n_actors, n_threads, num_cpus, num_gpus = actor_resources(ray, options.device, gpus_per_actor, actors, threads)
        options = replace(options, gpus_per_actor=num_gpus)
        summary.gpus_per_actor = num_gpus
        # Never restarted by Ray: a restart waits for its old resources, forever when its node is gone
        # (cluster.health); the pool replaces a dead actor itself, where a node can still hold one.
        remote = ray.remote(EmbedActor).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD"
        )

        def new_actor():
            return remote.remote(spec, options, source, n_threads)

        def put_files():  # once: no node needs the driver's paths (encoder_files)
            return ray.put(pack(spec, fingerprint))

        watch = cluster.ClusterWatch(ray, address)
        pool = _Pool(ray, new_actor, {"CPU": num_cpus, "GPU": num_gpus})
        if shared is None:
            dispatch = _Dispatch(units, pool, min(n_actors, len(units)), ((put_files(),),), watch)
        else:  # the encoder's pool, kept across this block's jobs; each unit carries its job
            key = _pool_key(fingerprint, options, (n_threads, num_cpus, num_gpus))
            actors, files = shared.pool(key, new_actor, n_actors, put_files)
            dispatch = _Dispatch(units, pool, len(actors), (files, (options, source)), watch, actors=actors)
        seconds: Counter = Counter()
        written = 0
        bar = tqdm(total=sum(u.end - u.start for u in units), desc="embedding", unit="row", disable=not progress)
        try:
            results = as_completed(
                ray, dispatch.in_flight, lambda _, e: task_error(e), actor_died=dispatch.actor_lost, tick=dispatch.tick
            )
            for (unit, actor), (table, stats) in results:
                if not written:
                    seconds["until first unit"] = time.perf_counter() - began
                start = time.perf_counter()
                staging.write(unit, table)
                seconds["write"] += time.perf_counter() - start
                written += 1
                maybe_kill_driver(written)
                seconds.update(stats["seconds"])
                summary.nodes.add(stats["node"])
                bar.update(stats["rows"])
                if shared is not None and shared.on_rows is not None:
                    shared.on_rows(stats["rows"])
                dispatch.working.add(actor)
                dispatch.submit(actor)
        except cluster.ClusterLost as exc:
            saved = summary.reused + written
            raise cluster.ClusterLost(
                f"{exc}; {saved} of {summary.units} units are saved: run the same libtrad embed command again "
                "(with a cluster that can run it) to compute only the missing ones",
                unreachable=exc.unreachable,
            ) from None
        finally:
            bar.close()
            if not watch.unreachable:  # without a GCS or raylet, cancel and kill would block or end the process
                for ref in dispatch.in_flight:  # a job ended by an error: its queued units are dropped, not retried
                    ray.cancel(ref)  # on actors being killed (Ray would print a "will be retried" line per unit)
                for actor in dispatch.pool if shared is None else ():  # a shared pool outlives the job
                    ray.kill(actor)
        summary.seconds = dict(seconds)


class _Pool:
    """Makes the embedding actors, and knows how many the cluster's alive nodes can hold (each asks for
    ``need``: ``{"CPU": c, "GPU": g}``)."""

    def __init__(self, ray, new_actor, need: dict[str, float]):
        self.ray, self.new_actor, self.need = ray, new_actor, need

    def room(self) -> int:
        return cluster.capacity(self.ray, self.need)

    def kill(self, actor) -> None:
        self.ray.kill(actor)


class _Dispatch:
    """Which unit each actor of the pool runs next, and what is in flight.

    Each actor starts on its own stretch of the units, ``IN_FLIGHT_PER_ACTOR`` at a time; after that it
    gets the unit following its last one while that is queued (the actor keeps that row group read:
    Parquet reads whole row groups). An actor that dies gives back each of its units in flight (each
    call fails on its own: every unit comes back once) to the head of the queue; the pool then holds
    what the alive nodes can still place, at most its first size (:meth:`fit`): a dead actor is
    replaced where there is room, an actor no node can place any more is given up, and when no actor
    is left the job ends in one line naming the lost nodes (four deaths of one unit: refused, naming
    its rows)."""

    def __init__(self, units: list[Unit], pool: _Pool, n_actors: int, args: tuple, watch, actors: list | None = None):
        """``args``: what every call passes after the unit (the files' reference; a shared pool's job too);
        ``actors``: a shared pool's live actors (this list is fitted in place: it outlives the job)."""
        self.make, self.args, self.watch, self.size = pool, args, watch, n_actors
        self.pool = actors if actors is not None else [pool.new_actor() for _ in range(n_actors)]
        self.working: set = set()  # actors that returned a unit: placed, loaded, running
        self.retired: set = set()  # actors the pool gave up (their units come back without counting a death)
        self.queue: deque[Unit] = deque(units)
        self.in_flight: dict = {}  # object ref -> (unit, actor)
        self.attempts: Counter = Counter()
        self.follows: dict = {}  # actor -> (shard, first row) of the unit right after its last one
        stretches = [units[i * len(units) // len(self.pool)] for i in range(len(self.pool))]
        for actor, first in zip(self.pool, stretches):
            for _ in range(IN_FLIGHT_PER_ACTOR):
                self.submit(actor, first)

    def submit(self, actor, first: Unit | None = None) -> None:
        """Send the actor the unit following its last one if still queued, else ``first`` or the queue's head."""
        if not self.queue:
            return
        unit = next((u for u in self.queue if (u.shard.path, u.start) == self.follows.get(actor)), None)
        unit = unit or (first if first in self.queue else self.queue[0])
        self.queue.remove(unit)
        self.follows[actor] = (unit.shard.path, unit.end)
        self.in_flight[actor.run.remote(unit, *self.args)] = (unit, actor)

    def actor_lost(self, tag, exc) -> None:
        """A unit whose actor died goes back to the head of the queue; the pool is fitted to the cluster."""
        unit, actor = tag
        if actor not in self.retired:
            self.attempts[unit.name] += 1
            if self.attempts[unit.name] > 3:
                raise LibtradError(
                    f"{unit.shard.path} rows {unit.start}-{unit.end}: the worker embedding "
                    "them died 4 times (out of memory?); see the Ray logs"
                ) from None
        self.queue.appendleft(unit)
        if actor in self.pool:
            self.pool.remove(actor)
            self.follows.pop(actor, None)
        self.fit()

    def tick(self) -> None:
        """Each second of the job: the GCS still there (:meth:`ClusterWatch.check`), the pool fitted."""
        self.watch.check()
        self.fit()

    def fit(self) -> None:
        """The pool as large as the alive nodes can hold (at most its first size); every actor fed.

        Actors beyond that room which never returned a unit wait for a node that is gone: given up
        (their units come back). With the GCS or this driver's raylet not answering right now nothing
        is changed (asking would block); no actor left and nothing placeable:
        :class:`~libtrad.ray_jobs.cluster.ClusterLost`."""
        if not self.watch.answers():
            return
        room = min(self.size, self.make.room())
        while len(self.pool) < room and self.queue:
            self.pool.append(self.make.new_actor())
        waiting = [a for a in reversed(self.pool) if a not in self.working]
        for actor in waiting[: max(0, len(self.pool) - room)]:
            self.pool.remove(actor)
            self.retired.add(actor)
            self.make.kill(actor)
        if not self.pool and (self.queue or self.in_flight):
            raise self.watch.nothing_can_run("an embedding actor", self.make.need)
        busy = Counter(actor for _, actor in self.in_flight.values())
        for actor in self.pool:
            for _ in range(IN_FLIGHT_PER_ACTOR - busy[actor]):
                self.submit(actor)


def maybe_kill_driver(written: int) -> None:
    """Test hook: ``LIBTRAD_TEST_KILL_DRIVER_AFTER=N`` SIGKILLs this driver after its N-th written unit."""
    after = os.environ.get("LIBTRAD_TEST_KILL_DRIVER_AFTER")
    if after and written == int(after):
        os.kill(os.getpid(), signal.SIGKILL)


def task_error(exc) -> LibtradError:
    """A worker's failure that is not a libtrad error (:func:`~libtrad.ray_jobs.cluster.as_completed` re-raises
    those themselves), as one line naming its cause."""
    cause = getattr(exc, "cause", None)
    if cause is not None:
        return LibtradError(f"a Ray worker failed: {type(cause).__name__}: {first_line(cause)}")
    lines = str(exc).strip().splitlines()  # without a cause: Ray's traceback text, the error on its last line
    return LibtradError(f"a Ray worker failed: {lines[-1] if lines else type(exc).__name__}")
