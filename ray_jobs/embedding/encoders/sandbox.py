"""A user's encoder run in a process of its own, so that what no ``try`` can catch is still one error line.

:mod:`.user_code` bounds user code inside a process: exceptions (``SystemExit`` included) and deadlines.
What ends the process itself — ``os._exit(0)`` while a module imports, a segmentation fault in a native
extension, an ``abort()`` — cannot be caught there, and in ``check-encoder`` it would read as success
(exit status 0, no output). :func:`run_isolated` runs a libtrad function (named ``"module:attr"``, the one
way :func:`libtrad.core.resolve.resolve` names code) in a child Python (the current folder taken off its
``sys.path`` first, so a file there shadows nothing) and hands back what it returned or raised:

* the child reports on a pipe of its own (never its stdout, which the user's ``print`` may share: that
  goes to the parent's stderr) each stage of user code it enters and leaves, then its result;
* the parent waits for each stage at most its deadline plus :data:`GRACE_S` (the child's own deadline
  normally fires first, with its message), and kills the child past that;
* a child that ends without a result is one :class:`~libtrad.core.errors.ParameterError` naming the
  spec, the stage it was in and how it ended ("exit status 0", "killed by SIGSEGV");
* a Ctrl-C stops the child too (it is in the same process group; it is also killed on the way out).

Costs one Python start and the encoder's imports (torch: about 2 s here); used for the kinds that run
a user's code (``py:``, ``hear:``), by ``check-encoder`` (the whole check) and ``embed``'s load-time
probe (:func:`libtrad.ray_jobs.embedding.encoders.preflight`).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.core.resolve import resolve
from libtrad.ray_jobs.embedding.encoders.user_code import set_stage_listener

GRACE_S = 15.0  # past a stage's own deadline, before the parent kills the child
START_S = 180.0  # the child's own start (Python, libtrad, torch) before it enters any user code
_HEADER = struct.Struct("!Q")


def run_isolated(reference: str, *args, text: str, param: str = "encoder", **kwargs):
    """``resolve(reference)(*args, **kwargs)`` in a child process; its value, or what it raised."""
    read_end, write_end = os.pipe()
    # -c puts the current folder first on sys.path; dropped before anything is imported (what -P does on
    # Python 3.11+), so a file there named like a module libtrad imports shadows nothing
    code = f"import sys; sys.path.pop(0); from {__name__} import child_main; child_main({write_end})"
    command = [sys.executable, "-c", code]
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, stdin=subprocess.PIPE, stdout=sys.__stderr__.fileno(), pass_fds=(write_end,)
    )
    os.close(write_end)
    try:
        child.stdin.write(pickle.dumps((reference, args, kwargs)))
        child.stdin.close()
        return _answer(child, os.fdopen(read_end, "rb", buffering=0), text, param)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def _answer(child, pipe, text: str, param: str):
    """Read the child's messages until its result, a deadline, or its end."""
    stage, deadline = None, time.monotonic() + START_S
    while True:
        message = _receive(pipe, deadline)
        if message is None:  # the deadline passed
            child.kill()
            waited = stage or "libtrad's own work between the encoder's calls"
            raise ParameterError(
                param, text, f"{waited} did not finish within its deadline (--encoder-timeout); its process was ended"
            )
        kind, *body = message
        if kind == "stage":
            stage, timeout = body
            deadline = time.monotonic() + (timeout + GRACE_S if timeout is not None else START_S)
        elif kind == "result":
            return body[0]
        elif kind == "error":
            raise body[0]
        elif kind == "internal":
            raise RuntimeError(body[0])
        else:  # "end": the pipe closed without a result
            code = child.wait()
            raise ParameterError(param, text, f"{_during(stage)}the encoder's code ended its process ({_how(code)})")


def _during(stage: str | None) -> str:
    return f"{stage}: " if stage else ""


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}, without a result: os._exit or a crash in native code"


def _receive(pipe, deadline: float):
    """One message, ``("end",)`` when the pipe closed, None past the deadline."""
    header = _read(pipe, _HEADER.size, deadline)
    if header is None or header == b"":
        return None if header is None else ("end",)
    body = _read(pipe, _HEADER.unpack(header)[0], deadline)
    if body is None:
        return None
    if len(body) < _HEADER.unpack(header)[0]:
        return ("end",)
    return pickle.loads(body)  # noqa: S301 - written by our own child process


def _read(pipe, size: int, deadline: float) -> bytes | None:
    data = b""
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([pipe], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = pipe.read(size - len(data))
        if not chunk:
            return data
        data += chunk
    return data


# ----------------------------------------------------------------------------- the child
def _send(pipe, message) -> None:
    body = pickle.dumps(message)
    pipe.write(_HEADER.pack(len(body)) + body)
    pipe.flush()


def child_main(fd: int) -> None:
    """The child: read ``(reference, args, kwargs)`` from stdin, report stages and the result on ``fd``."""
    pipe = os.fdopen(fd, "wb", buffering=0)
    reference, args, kwargs = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our parent
    set_stage_listener(lambda stage, timeout: _send(pipe, ("stage", stage, timeout)))
    try:
        message = ("result", resolve(reference)(*args, **kwargs))
    except LibtradError as exc:
        message = ("error", exc)
    except BaseException as exc:  # noqa: BLE001 - libtrad's own failure: the parent reports it as internal
        message = ("internal", f"{type(exc).__name__}: {exc}")
    try:
        _send(pipe, message)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        _send(pipe, ("internal", f"the result could not be sent back ({type(exc).__name__}: {exc})"))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # a user thread abandoned past its deadline must not keep this process alive
