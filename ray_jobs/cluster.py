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
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import click

from libtrad.core.cli_kit import number
from libtrad.core.errors import LibtradError, ParameterError, exception_reason, first_line


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
    """``--connect-timeout SECONDS`` for a command that takes ``--address``: how long attaching may take.

    The value never reaches the command's function: the call runs inside :func:`connect_timeout`,
    which every ``ray_session`` reads, so no job needs a new parameter. Apply it beside the
    ``--address`` option. (The CLI helper lives here, beside what it wraps.)
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        with connect_timeout(kwargs.pop("connect_timeout")):
            return command(*args, **kwargs)

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
        if address:
            limit = timeout if timeout is not None else _connect_timeout.get()
            attach(ray, address, DEFAULT_CONNECT_TIMEOUT if limit is None else limit)
            try:
                yield ray
            finally:
                ray.shutdown()  # detaches this driver; the cluster keeps running
            return
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
        )
        try:
            yield ray
        finally:
            ray.shutdown()


def attach(ray, address: str, timeout: float) -> None:
    """``ray.init(address=…)`` that gives up after ``timeout`` seconds with one line naming the address.

    ``HOST:PORT`` and ``ray://HOST:PORT`` are first probed with a plain TCP connect (a closed port
    or an unreachable host fails at once, or when the probe times out); then ``ray.init`` runs
    against the rest of the deadline in a helper thread (``auto``, or a port that answers but is
    not a Ray head). A ``ray.init`` given up on is left to finish in that daemon thread, which then
    disconnects at once, so the process never stays attached to a cluster it gave up on.
    """
    deadline = time.monotonic() + timeout
    target = _tcp_target(address)
    if target is not None:
        host, port = target
        try:
            socket.create_connection((host, port), timeout=max(timeout, 0.001)).close()
        except OSError as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else exception_reason(exc)
            raise ParameterError(
                "address",
                address,
                f"cannot attach to a Ray cluster there: a TCP connection to "
                f"{host}:{port} failed ({reason}, limit {timeout:g} s; see --connect-timeout)",
            ) from None
    what = "Ray client server" if address.startswith("ray://") else "Ray head (GCS)"
    try:
        _init_within(
            ray, deadline - time.monotonic(), address=address, logging_level=logging.WARNING, log_to_driver=True
        )
    except TimeoutError:
        tried = (
            f"a TCP connection to {target[0]}:{target[1]} succeeded, but no {what} answered there"
            if target is not None
            else f"no {what} answered"
        )
        raise ParameterError(
            "address",
            address,
            f"cannot attach to a Ray cluster there: {tried} within {timeout:g} s (see --connect-timeout)",
        ) from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ParameterError("address", address, f"cannot attach to a Ray cluster there ({first_line(exc)})") from None


def _tcp_target(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT`` / ``ray://HOST:PORT`` (``[v6]:PORT`` too); None for ``auto`` and the like."""
    rest = address[len("ray://") :] if address.startswith("ray://") else address
    rest = rest.split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def _init_within(ray, seconds: float, **kwargs) -> None:
    """Run ``ray.init(**kwargs)`` for at most ``seconds``; TimeoutError when it has not returned by then."""
    done = threading.Event()
    lock = threading.Lock()
    state: dict = {"gave_up": False}

    def run() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            state["error"] = exc
        with lock:
            if state["gave_up"] and "error" not in state:
                ray.shutdown()  # connected after all, too late: do not stay attached
            done.set()

    worker_log = logging.getLogger("ray._private.worker")
    worker_log.addFilter(_not_main_thread_notice)
    try:
        threading.Thread(target=run, name="libtrad-ray-attach", daemon=True).start()
        finished = done.wait(max(seconds, 0.0))
    finally:
        worker_log.removeFilter(_not_main_thread_notice)
    if not finished:
        with lock:
            if not done.is_set():
                state["gave_up"] = True
                raise TimeoutError
    if "error" in state:
        raise state["error"]
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)  # what ray.init does when run on the main thread


def _exit_on_sigterm(signum, frame) -> None:
    """As Ray's driver does: a SIGTERM exits through ``sys.exit``, so ``ray.shutdown`` runs at exit."""
    sys.exit(signum)


def _not_main_thread_notice(record: logging.LogRecord) -> bool:
    """Drop Ray's "SIGTERM handler is not set" notice: ray.init runs in a helper thread on purpose, and
    :func:`_init_within` sets that handler itself."""
    return "SIGTERM handler is not set" not in record.getMessage()


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
    actor_died: Callable[[object], None] | None = None,
) -> Iterator[tuple[object, object]]:
    """The one wait loop over Ray work: ``(tag, result)`` for each of ``pending`` (ref -> tag) as it finishes.

    ``pending`` may grow while this runs (a caller submits the next unit as one finishes). A task that
    raised a libtrad error re-raises that error itself (a ``ParameterError`` still names the flag the
    user typed), any other failure ``failed(tag, exc)`` (the job's one line). An actor that died
    (``RayActorError``) is ``actor_died(tag)``'s to handle — resubmit the work, or raise — and without
    it is raised as it is.
    """
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        tag = pending.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, LibtradError):
                raise cause from None
            raise failed(tag, exc) from None
        except ray.exceptions.RayActorError:
            if actor_died is None:
                raise
            actor_died(tag)
            continue
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
