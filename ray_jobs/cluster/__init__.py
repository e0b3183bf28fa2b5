"""Where libtrad's Ray jobs run: a private local Ray on 127.0.0.1, or an existing cluster.

Local default: a private ``ray.init`` with this machine's CPUs (never joining a cluster that
already runs on the machine), no dashboard, every port on loopback.
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (and, for a ray imported earlier, the constant it sets;
see :func:`loopback_only`) is what keeps every listener (GCS included) on 127.0.0.1 here —
``_node_ip_address`` alone does not. Ray's token
authentication is left as Ray sets it. ``--address`` (``auto``, ``HOST:PORT``, ``ray://…``)
attaches to a running cluster; then nothing is started or stopped, and an address where no Ray
answers fails within ``--connect-timeout`` seconds (default 30). A caller that already called
``ray.init`` keeps its session. Errors a job's Ray tasks raise reach the caller as the same
one-line libtrad error they are in-process (:func:`user_errors_from_ray`).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import click

from libtrad.core.cli_kit import number
from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.cluster.attaching import attach
from libtrad.ray_jobs.cluster.health import TICK_SECONDS, ClusterLost, ClusterWatch, capacity, maybe_slow_unit

__all__ = [
    "ClusterLost",
    "ClusterWatch",
    "actor_layout",
    "as_completed",
    "attach",
    "built_or_deferred",
    "capacity",
    "cluster_cpus",
    "connect_timeout",
    "connect_timeout_option",
    "loopback_only",
    "maybe_slow_unit",
    "plain_cause",
    "ray_logs",
    "ray_session",
    "user_errors_from_ray",
]


def _import_ray():
    try:
        import ray
    except ImportError:
        raise LibtradError(
            "Ray is not installed: pip install 'ray[data]' (see constraints.txt for the version)"
        ) from None
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


DEFAULT_CONNECT_TIMEOUT = 30.0  # seconds; ``--connect-timeout`` (:func:`connect_timeout`) changes it
_connect_timeout: ContextVar[float | None] = ContextVar("libtrad_connect_timeout", default=None)


_ray_logs: ContextVar[bool] = ContextVar("libtrad_ray_logs", default=False)


@contextmanager
def ray_logs(shown: bool) -> Iterator[None]:
    """Within the block, Ray's own output reaches the screen (``--ray-logs``): its workers' logs, the
    error reports it publishes (a dead raylet's 40-line state dump, "task will be retried" lines) and
    what it writes while attaching. Off by default: a job's progress bar and its one ``error:`` line
    stay readable, and every node keeps its logs in ``/tmp/ray/session_latest/logs``."""
    token = _ray_logs.set(bool(shown))
    try:
        yield
    finally:
        _ray_logs.reset(token)


@contextmanager
def connect_timeout(seconds: float | None) -> Iterator[None]:
    """Within the block, attaching to ``--address`` gives up after ``seconds`` (None: the default).

    The CLI's ``--connect-timeout`` sets it around a command, so every job that calls
    :func:`ray_session` deep inside (embed, each suite, the demo) gets it without a new parameter.
    """
    token = _connect_timeout.set(seconds)
    try:
        yield
    finally:
        _connect_timeout.reset(token)


def connect_timeout_option(command):
    """``--connect-timeout SECONDS`` and ``--ray-logs`` for a command that takes ``--address``: how long
    attaching may take, and whether Ray's own output reaches the screen (:func:`ray_logs`).

    The values never reach the command's function: the call runs inside :func:`connect_timeout`,
    which every ``ray_session`` reads, so no job needs a new parameter. Apply it beside the
    ``--address`` option. (The CLI helper lives here, beside what it wraps.)
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        with connect_timeout(kwargs.pop("connect_timeout")), ray_logs(kwargs.pop("ray_logs")):
            return command(*args, **kwargs)

    run = click.option(
        "--ray-logs",
        "ray_logs",
        is_flag=True,
        help="Show Ray's own output (worker logs, its reports of dead workers and nodes); default: "
        "kept in Ray's log folder (/tmp/ray/session_latest/logs on each node).",
    )(run)
    return click.option(
        "--connect-timeout",
        "connect_timeout",
        default=30.0,
        show_default=True,
        type=number("--connect-timeout", low=0, high=86400, low_open=True),
        help="With --address: give up attaching after this many seconds (one error line naming the address).",
    )(run)


@contextmanager
def ray_session(
    address: str | None = None, *, num_cpus: int | None = None, dashboard: bool = False, timeout: float | None = None
) -> Iterator[object]:
    """Yield the ``ray`` module with a session up; stop it afterwards only if this call started it.

    Attaching to ``address`` fails within ``timeout`` seconds (default: :func:`connect_timeout`'s,
    else 30) with one line naming the address — Ray itself retries an unreachable one for minutes.
    A libtrad error (or an OS error) raised inside a Ray task or actor comes out of the block as
    itself, not wrapped in Ray's ``RayTaskError`` with the worker's traceback.
    """
    ray = _import_ray()
    with user_errors_from_ray():
        if ray.is_initialized():
            yield ray
            return
        shown = _ray_logs.get()
        if address:
            limit = timeout if timeout is not None else _connect_timeout.get()
            attach(ray, address, DEFAULT_CONNECT_TIMEOUT if limit is None else limit, ray_logs=shown)
        else:
            loopback_only()
            # address="local": always a private Ray. A plain ray.init() joins a cluster that `ray start` (or
            # another process's ray.cluster_utils.Cluster) runs on this machine, then refuses num_cpus.
            ray.init(
                address="local",
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=dashboard,
                _node_ip_address="127.0.0.1",
                logging_level=logging.WARNING,
                configure_logging=True,
                log_to_driver=shown,
            )
        with _ray_reports(ray, shown):
            unreachable = False
            try:
                yield ray
            except ClusterLost as exc:
                unreachable = exc.unreachable
                raise
            finally:
                if unreachable:
                    _abandon(ray)
                else:
                    ray.shutdown()  # an attached driver only detaches; the cluster keeps running


def _abandon(ray) -> None:
    """No ``ray.shutdown`` for a session whose GCS or raylet is gone, now or at exit: it would wait up
    to a minute for them (the process is about to end: its connections go with it)."""
    import atexit

    from ray._private import worker

    atexit.unregister(worker.shutdown)


@contextmanager
def _ray_reports(ray, shown: bool) -> Iterator[None]:
    """Ray's error reports (published by its GCS, printed by a driver thread: a dead raylet's log tail,
    "task failed, will be retried") reach the screen only when ``shown``. Ray 2.60 has no public switch
    for them; ``ray._private.worker._worker_logs_enabled`` is the one its own debugger
    (``ray.util.rpdb``) flips to keep them off a session's terminal."""
    from ray._private import worker

    before = worker._worker_logs_enabled
    worker._worker_logs_enabled = shown
    try:
        yield
    finally:
        worker._worker_logs_enabled = before


_PLAIN_CAUSES = (LibtradError, OSError)  # what the CLI reports in one line when raised in this process


def plain_cause(exc: BaseException) -> BaseException | None:
    """The libtrad (or OS) error inside a Ray task/actor error, None for anything else.

    Ray raises a task's exception as ``RayTaskError`` (made to look like the cause's type, with the
    worker's traceback as its text) and an actor whose ``__init__`` raised as that creation task's
    error; ``.cause`` is the original exception, unpickled (see ``LibtradError.__reduce__``).
    Ray's module is looked at only when it is loaded.
    """
    exceptions = sys.modules.get("ray.exceptions")
    if exceptions is None:
        return None
    seen = 0
    while isinstance(exc, (exceptions.RayTaskError, exceptions.RayActorError)) and seen < 16:
        cause = getattr(exc, "cause", None)
        if not isinstance(cause, BaseException):
            return None
        exc, seen = cause, seen + 1
    return exc if seen and isinstance(exc, _PLAIN_CAUSES) else None


def built_or_deferred(build, *args, **kwargs):
    """``build(*args, **kwargs)`` for a Ray actor's ``__init__``; a user error it raises is deferred to first use.

    Ray 2.60 reports an actor whose ``__init__`` raised as ``ActorDiedError`` carrying only the text
    of the error (and prints the worker's traceback): the exception itself is gone. Built this way,
    the actor comes up, and its first method call raises the error, which reaches the driver as a
    ``RayTaskError`` whose ``.cause`` is the error — one line like in-process (:func:`plain_cause`).
    """
    try:
        return build(*args, **kwargs)
    except _PLAIN_CAUSES as exc:
        return _RaiseOnUse(exc)


class _RaiseOnUse:
    """Stands in for an object that could not be built: using any attribute raises why."""

    def __init__(self, error: BaseException):
        self._error = error

    def __getattr__(self, name):
        raise self._error


def as_completed(
    ray,
    pending: dict,
    failed: Callable[[object, BaseException], LibtradError],
    *,
    actor_died: Callable[[object, BaseException], None] | None = None,
    tick: Callable[[], None] | None = None,
) -> Iterator[tuple[object, object]]:
    """The one wait loop over Ray work: ``(tag, result)`` for each of ``pending`` (ref -> tag) as it finishes.

    ``pending`` may grow while this runs (a caller submits the next unit as one finishes). A task that
    raised a libtrad error re-raises that error itself (a ``ParameterError`` still names the flag the
    user typed), any other failure (its own error, a crashed worker, a lost object) ``failed(tag, exc)``
    (the job's one line). An actor that died (``RayActorError``) is ``actor_died(tag, exc)``'s to handle —
    resubmit the work, or raise — and without it is raised as it is. ``tick()`` runs every
    :data:`~libtrad.ray_jobs.cluster.health.TICK_SECONDS`, results or not: the job's look at its cluster
    (:class:`ClusterWatch`), which may raise to end the wait.
    """
    last_tick = time.monotonic()
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=TICK_SECONDS if tick else None)
        if tick is not None and time.monotonic() - last_tick >= TICK_SECONDS:
            tick()
            last_tick = time.monotonic()
        if not ready:
            continue
        tag = pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, LibtradError):
                raise cause from None
            raise failed(tag, exc) from None
        except ray.exceptions.RayActorError as exc:
            if actor_died is None:
                raise
            actor_died(tag, exc)
            continue
        except ray.exceptions.RayError as exc:
            raise failed(tag, exc) from None
        yield tag, result


@contextmanager
def user_errors_from_ray() -> Iterator[None]:
    """Re-raise a user error that a Ray task or actor raised as that error itself (one line, no Ray text)."""
    try:
        yield
    except Exception as exc:
        cause = plain_cause(exc)
        if cause is None:
            raise
        raise cause.with_traceback(None) from None


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
