"""How long one download may take, and the watch that stops it when a limit is passed.

Every read waits at most ``timeout`` seconds (60); a server that trickles bytes keeps every read
short, so besides that a whole file may take at most ``deadline`` seconds (default: no limit) and
must arrive at ``min_rate`` bytes/s or more averaged over every 20 s (default 1024). Each is an
argument of :func:`libtrad.builders.download.fetch` or an environment variable read at each call
(:func:`download_limits`). Kept apart from the downloader itself: the limits are settings and one
small clock, the downloader is HTTP.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from libtrad.core.errors import LibtradError, ParameterError

TIMEOUT_S = 60.0  # connecting, and every read of the response (urllib uses one socket timeout for both)
MIN_RATE = 1024.0  # bytes/s, averaged over every RATE_WINDOW_S: below it a download is stopped
RATE_WINDOW_S = 20.0
ENV_TIMEOUT, ENV_DEADLINE, ENV_MIN_RATE = (
    "LIBTRAD_DOWNLOAD_TIMEOUT",
    "LIBTRAD_DOWNLOAD_DEADLINE",
    "LIBTRAD_DOWNLOAD_MIN_RATE",
)


@dataclass(frozen=True)
class Limits:
    """How long one file's download may take: ``timeout`` per read, ``deadline`` for the whole body
    (None: none), and ``min_rate`` bytes/s averaged over every ``window`` seconds (None: none)."""

    timeout: float = TIMEOUT_S
    deadline: float | None = None
    min_rate: float | None = MIN_RATE
    window: float = RATE_WINDOW_S


def download_limits(
    *, timeout: float | None = None, deadline: float | None = None, min_rate: float | None = None
) -> Limits:
    """The limits for a download: each argument given wins, else its environment variable (read at
    each call: ``LIBTRAD_DOWNLOAD_TIMEOUT``, ``LIBTRAD_DOWNLOAD_DEADLINE``, ``LIBTRAD_DOWNLOAD_MIN_RATE``;
    ``0`` turns the deadline or the minimum rate off), else the defaults (60 s per read, no deadline,
    1 KiB/s over every 20 s)."""
    values = {}
    for name, given, variable, default in (
        ("timeout", timeout, ENV_TIMEOUT, TIMEOUT_S),
        ("deadline", deadline, ENV_DEADLINE, None),
        ("min_rate", min_rate, ENV_MIN_RATE, MIN_RATE),
    ):
        unit = "bytes per second" if name == "min_rate" else "seconds"
        if given is None:
            text = os.environ.get(variable, "").strip()
            if not text:
                values[name] = default
                continue
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not math.isfinite(value) or value < 0 or (name == "timeout" and value == 0):
                raise LibtradError(
                    f"{variable}={text!r}: must be a number of {unit}, "
                    + ("above 0" if name == "timeout" else "0 or more (0: no limit)")
                )
        else:
            value = given
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
                or (name == "timeout" and value == 0)
            ):
                raise ParameterError(
                    name,
                    value,
                    f"must be a number of {unit}, " + ("above 0" if name == "timeout" else "0 or more (0: no limit)"),
                )
        values[name] = float(value) if (value or name == "timeout") else None
    return Limits(values["timeout"], values["deadline"], values["min_rate"], RATE_WINDOW_S)


class Stopped(Exception):
    """The body came too slowly (a limit of :class:`Limits`); the message says which, with the numbers."""


class Watch:
    """Checks the limits after every read (a read itself blocks at most ``timeout``, so a limit is
    overrun by at most one read timeout)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.start = self.window_start = time.monotonic()
        self.got = self.window_got = 0

    def update(self, got: int) -> None:
        self.got = got
        now = time.monotonic()
        elapsed = now - self.start
        limits = self.limits
        if limits.deadline is not None and elapsed > limits.deadline:
            raise Stopped(
                f"stopped after {elapsed:.1f} s with {got:,} bytes received: over the deadline of "
                f"{limits.deadline:g} s ({ENV_DEADLINE})"
            )
        span = now - self.window_start
        if limits.min_rate is not None and span >= limits.window:
            rate = (got - self.window_got) / span
            if rate < limits.min_rate:
                raise Stopped(
                    f"stopped after {elapsed:.1f} s with {got:,} bytes received: {rate:,.0f} bytes/s over "
                    f"the last {span:.1f} s, below the minimum of {limits.min_rate:,g} bytes/s "
                    f"({ENV_MIN_RATE})"
                )
            self.window_start, self.window_got = now, got
