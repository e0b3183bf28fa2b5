"""Attaching this driver to a running Ray cluster (``--address``): bounded, and saying what Ray said.

Ray 2.60's ``ray.init(address=…)`` retries an unreachable or refusing head for minutes and reports why
only in its C++ core's warning lines on the process's standard error (file descriptor 2), e.g.
``gcs_client.cc: Failed to get cluster ID from GCS server: Unauthenticated: … InvalidAuthToken:
Authentication token is missing or incorrect`` once a second for ~20 s when the cluster runs with
token authentication (``RAY_AUTH_MODE=token``) and this process has no token or another one (seen
here; the Python side then raises only ``ConnectionError: Failed to connect to Ray cluster``). So
:func:`attach` runs ``ray.init`` in a helper thread with file descriptor 2 captured
(:class:`CapturedStderr`): a refused token ends the attach at once as one line naming the address and
Ray's words; any other failure's line quotes Ray's last warning; nothing Ray wrote reaches the
screen unless ``--ray-logs`` asked for it (then it is replayed as it was).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from libtrad.core.errors import ParameterError, exception_reason, first_line

# What Ray 2.60's GCS client logs when the cluster refuses this process's token (or its lack of one).
TOKEN_REFUSED = re.compile(r"Unauthenticated|InvalidAuthToken|Authentication token is missing or incorrect")
# A C++ log line: "[2026-12-07 20:53:18,827 W 7897 7897] gcs_client.cc:210: the message"
_CPP_LINE = re.compile(r"^\[[^\]]* [WEF] [^\]]*\] [\w./-]+:\d+: (?P<message>.+)$")
_POLL_SECONDS = 0.2


class CapturedStderr:
    """File descriptor 2 sent to a temporary file while the block runs (Ray's C++ core writes there,
    below Python's ``sys.stderr``); :meth:`text` reads what was written so far, ``replay`` writes it to
    the real standard error when the block ends."""

    def __init__(self, replay: bool):
        self.replay = replay
        self.file = tempfile.TemporaryFile()
        self.saved: int | None = None

    def __enter__(self) -> CapturedStderr:
        sys.stderr.flush()
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        if self.replay:
            sys.stderr.write(self.text())
            sys.stderr.flush()
        self.file.close()

    def text(self) -> str:
        size = os.fstat(self.file.fileno()).st_size
        return os.pread(self.file.fileno(), size, 0).decode("utf-8", "replace")


def ray_said(text: str) -> str | None:
    """The message of the last warning/error line Ray's C++ core wrote (duplicates are the same line)."""
    found = [m.group("message").strip() for line in text.splitlines() if (m := _CPP_LINE.match(line.strip()))]
    return found[-1] if found else None


def token_refusal(text: str) -> str | None:
    """Ray's own words where the cluster refused this process's token, else None."""
    for line in reversed(text.splitlines()):
        if TOKEN_REFUSED.search(line):
            said = ray_said(line) or line.strip()
            return said.rpartition("InvalidAuthToken: ")[2] or said
    return None


def attach(ray, address: str, timeout: float, *, ray_logs: bool = False) -> None:
    """``ray.init(address=…)`` that gives up after ``timeout`` seconds with one line naming the address.

    ``HOST:PORT`` and ``ray://HOST:PORT`` are first probed with a plain TCP connect (a closed port
    or an unreachable host fails at once, or when the probe times out); then ``ray.init`` runs
    against the rest of the deadline in a helper thread (``auto``, or a port that answers but is
    not a Ray head) with Ray's output captured: a refused token fails as soon as Ray says so, and
    every failure's line quotes what Ray said. A ``ray.init`` given up on is left to finish in that
    daemon thread, which then disconnects at once, so the process never stays attached to a cluster
    it gave up on. ``ray_logs``: show Ray's own output (and its workers' logs) as Ray prints it.
    """
    deadline = time.monotonic() + timeout
    target = tcp_target(address)
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
    with CapturedStderr(replay=ray_logs) as captured:
        try:
            _init_within(
                ray,
                deadline - time.monotonic(),
                lambda: token_refusal(captured.text()) is not None,
                address=address,
                logging_level=logging.WARNING,
                log_to_driver=ray_logs,
            )
        except _GaveUp:
            tried = (
                f"a TCP connection to {target[0]}:{target[1]} succeeded, but no {what} answered there"
                if target is not None
                else f"no {what} answered"
            )
            failure = f"cannot attach to a Ray cluster there: {tried} within {timeout:g} s (see --connect-timeout)"
            raise _attach_error(address, captured.text(), failure) from None
        except (ConnectionError, RuntimeError, ValueError) as exc:
            failure = f"cannot attach to a Ray cluster there ({first_line(exc)})"
            raise _attach_error(address, captured.text(), failure) from None


def _attach_error(address: str, text: str, failure: str) -> ParameterError:
    """The one line for a failed attach: a refused token said as such, anything else with Ray's last warning."""
    refused = token_refusal(text)
    if refused is not None:
        return ParameterError(
            "address",
            address,
            f"the cluster at {address} refused the token (Ray said: {refused}); give this process the "
            "cluster's token: RAY_AUTH_MODE=token with RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or "
            "~/.ray/auth_token, as on its nodes",
        )
    said = ray_said(text)
    return ParameterError("address", address, failure + (f"; Ray said: {said}" if said else ""))


def tcp_target(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT`` / ``ray://HOST:PORT`` (``[v6]:PORT`` too); None for ``auto`` and the like."""
    rest = address[len("ray://") :] if address.startswith("ray://") else address
    rest = rest.split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


class _GaveUp(Exception):
    """``ray.init`` had not returned within the deadline (or ``stop`` said to give up earlier)."""


def _init_within(ray, seconds: float, stop: Callable[[], bool], **kwargs) -> None:
    """Run ``ray.init(**kwargs)`` for at most ``seconds``, or until ``stop()``; :class:`_GaveUp` then."""
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
    deadline = time.monotonic() + max(seconds, 0.0)
    try:
        threading.Thread(target=run, name="libtrad-ray-attach", daemon=True).start()
        while not done.wait(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0.0))):
            if time.monotonic() >= deadline or stop():
                break
    finally:
        worker_log.removeFilter(_not_main_thread_notice)
    if not done.is_set():
        with lock:
            if not done.is_set():
                state["gave_up"] = True
                raise _GaveUp
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
