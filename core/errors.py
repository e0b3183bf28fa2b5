"""The exception types for user mistakes (bad paths, bad files, bad arguments).

The CLI turns them into a one-line message and a non-zero exit instead of a traceback.
"""


class LibtradError(ValueError):
    """A problem with the user's input; the message names the file/argument and what is wrong.

    Pickles as itself whatever a subclass's ``__init__`` takes (:meth:`__reduce__`): Ray sends an
    error raised in a task or actor back to the driver pickled, and one that cannot be rebuilt
    reaches the user as Ray's "Failed to deserialize exception" instead of its own line.
    """

    def __reduce__(self):
        return _rebuild, (type(self), self.args, dict(self.__dict__))


class ParameterError(LibtradError):
    """A bad value of one named parameter.

    The library names the Python parameter (``train_fraction=1.5: ...``); the CLI names the flag
    the user typed (``--train-fraction 1.5: ...``) through :meth:`for_flag`, so one check serves
    both.
    """

    def __init__(self, param: str, value, problem: str):
        self.param = param.lstrip("-").replace("-", "_")
        self.value = value
        self.problem = problem
        super().__init__(f"{self.param}={value!r}: {problem}")

    def for_flag(self, flag: str) -> str:
        shown = repr(self.value) if isinstance(self.value, str) else str(self.value)
        return f"{flag} {shown}: {self.problem}"


def _rebuild(cls: type, args: tuple, state: dict) -> LibtradError:
    """Unpickle a libtrad error without calling its ``__init__`` (its message and attributes as they were)."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty): for one-line errors."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def exception_reason(exc: BaseException) -> str:
    """An OSError's strerror ("Permission denied"), else the message's first line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return first_line(exc)
