"""Where libtrad runs a user's code (a ``py:`` module and its class, a ``hear:`` package and its three
functions): bounded, and every way it can fail named as that code's failure.

Each call into user code — importing the module, building the object, reading a declared number, one
forward pass, one HEAR function — goes through :func:`call_user` with a *stage* that says what it is
(``import mymodule``, ``Frames(dim=8)``, ``forward on audio of shape (2, 8000)``):

* **Anything it raises** is one :class:`~libtrad.core.errors.ParameterError` naming the spec and the stage
  — ``BaseException`` included: a module that calls ``sys.exit(0)`` while it imports is an error ("called
  sys.exit(0)"), never a silent success, and a ``KeyboardInterrupt`` the code raises itself is its failure.
  The user's own Ctrl-C is not caught: the code runs in a worker thread, so a real SIGINT reaches the
  thread that waits for it, and the command stops with "interrupted" as ever.
* **A deadline** (``--encoder-timeout``, :data:`DEFAULT_TIMEOUT_S` by default): a call that has not
  returned by then is the error "<stage> did not finish within N s". Python cannot stop a thread, so the
  code that was still running is abandoned, and the process ends soon after (the command fails; a Ray
  actor is ended with the job). Torch's inference mode and autocast are per thread: a caller that needs
  them enters them inside the function it hands over.
* **Nothing is run to find a module**: :func:`find_module_spec` locates ``package.module``'s file the
  way the import system would, without executing the package's ``__init__`` (``importlib.util.find_spec``
  imports the parents), so parsing a spec runs no user code at all.

What a thread cannot bound — ``os._exit``, a segmentation fault, an abort in native code — ends the whole
process. ``check-encoder`` and ``embed``'s load-time probe therefore run a user's encoder in a process of
their own (:mod:`.sandbox`), which reports each stage it enters here (:func:`set_stage_listener`), so its
parent can say which stage ended it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading

from libtrad.core.devices import node_name
from libtrad.core.errors import LibtradError, ParameterError, first_line

DEFAULT_TIMEOUT_S = 120.0  # import, build, probe or one forward of a user's encoder, each
MAX_TIMEOUT_S = 86_400.0
_LISTENER = None  # a sandboxed process's reporter: called with (stage, timeout) on entry, (None, None) on leaving


def set_stage_listener(listener) -> None:
    """``listener(stage, timeout)`` is called as each bounded call starts and ``(None, None)`` as it ends
    (the sandbox's child process reports them to its parent)."""
    global _LISTENER
    _LISTENER = listener


def timeout_of(spec) -> float:
    """The deadline a spec carries (``--encoder-timeout``), else the default."""
    value = getattr(spec, "timeout_s", None)
    return float(value) if value else DEFAULT_TIMEOUT_S


def failure(exc: BaseException) -> str:
    """What user code's exception was, in a few words (``SyntaxError in FILE line N: ...``,
    ``called sys.exit(0)``, ``raised ValueError: ...``)."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError in {exc.filename} line {exc.lineno}: {exc.msg}"
    return f"raised {type(exc).__name__}" + (f": {first_line(exc)}" if str(exc).strip() else "")


def call_user(text: str, stage: str, function, *args, timeout: float, message=None, param="encoder", **kwargs):
    """``function(*args, **kwargs)`` — user code — in a worker thread, waited for at most ``timeout`` s.

    Returns its value; a libtrad error it raises passes as it is; any other ``BaseException`` and the
    deadline become one ``ParameterError(param, text, ...)`` naming ``stage``. ``message(exc)`` gives
    the problem text for an exception instead of ``"<stage> <failure(exc)>"``."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = function(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the boundary: SystemExit and the rest are the code's failure
            box["error"] = exc

    if _LISTENER is not None:
        _LISTENER(stage, timeout)
    worker = threading.Thread(target=run, name=f"libtrad user code: {stage[:60]}", daemon=True)
    worker.start()
    worker.join(timeout)  # a real Ctrl-C interrupts this wait: the command stops as ever
    if worker.is_alive():
        raise ParameterError(  # where: a Ray actor's process is named (node, pid), never waited on forever
            param,
            text,
            f"{stage} did not finish within {timeout:g} s (--encoder-timeout) in process {os.getpid()} "
            f"on node {node_name()}; the code still running there was abandoned",
        )
    if _LISTENER is not None:
        _LISTENER(None, None)
    if "error" in box:
        exc = box.pop("error")
        if isinstance(exc, LibtradError):
            raise exc
        raise ParameterError(param, text, message(exc) if message else f"{stage} {failure(exc)}") from None
    return box.get("value")


def find_module_spec(name: str):
    """``importlib.util.find_spec(name)`` without running any of the module's packages: each level is
    found by the finders on ``sys.meta_path`` in its parent's ``submodule_search_locations``, as the
    import system would, but no ``__init__`` is executed. None when it is not there."""
    if name in sys.modules:
        return importlib.util.find_spec(name)
    parts = name.split(".")
    spec = importlib.util.find_spec(parts[0])  # a top-level name: finding it runs nothing
    for depth in range(1, len(parts)):
        if spec is None or spec.submodule_search_locations is None:
            return None
        prefix = ".".join(parts[: depth + 1])
        parent = sys.modules.get(prefix.rpartition(".")[0])
        locations = getattr(parent, "__path__", None) or spec.submodule_search_locations
        spec = next(
            (
                found
                for finder in sys.meta_path
                if callable(getattr(finder, "find_spec", None))
                for found in [_find(finder, prefix, locations)]
                if found is not None
            ),
            None,
        )
    return spec


def _find(finder, name: str, locations):
    try:
        return finder.find_spec(name, list(locations))
    except (ImportError, ValueError, TypeError, AttributeError, OSError):
        return None
