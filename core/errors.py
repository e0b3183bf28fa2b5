"""The exception types for user mistakes (bad paths, bad files, bad arguments), and how a message shows
the value at fault.

The CLI turns them into a one-line message and a non-zero exit instead of a traceback. A message echoes
what the user typed or named (an option's value, a path, a URL, a Hub id) through :func:`shortened` /
:func:`shown`: a 5,000-character value is cut in the middle to its head and tail (both usually say what
it is: a scheme and host, a file name), with its length, so one error line stays about 300 characters
whatever was typed; control characters (a newline in a file name) are escaped, never printed.
"""

import errno

VALUE_LIMIT = 120  # characters of a value a message echoes (shown): head … tail beyond that
LINE_LIMIT = 300  # about what one error line may take: fail() shortens longer words (see one_line)
# ... but only words longer than this: a deep path in a message's text (a Hub cache snapshot's file, ~190)
# is kept whole, a 5,000-character id is not.
WORD_LIMIT = 200


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
        super().__init__(f"{self.param}={shown(value, quote=True)}: {problem}")

    def for_flag(self, flag: str) -> str:
        return f"{flag} {shown(self.value, quote=isinstance(self.value, str))}: {self.problem}"


def _rebuild(cls: type, args: tuple, state: dict) -> LibtradError:
    """Unpickle a libtrad error without calling its ``__init__`` (its message and attributes as they were)."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


_FULL = {errno.ENOSPC: "No space left on device", errno.EFBIG: "File too large", errno.EDQUOT: "Disk quota exceeded"}


def disk_full(exc: BaseException) -> str | None:
    """ "No space left on device" / "File too large" / "Disk quota exceeded" when ``exc`` is a write that
    found no room (an OSError by errno, or Arrow's I/O error by its text), else None. A write to an open
    file carries no file name: the writer that catches it names the file (see ``write_failed``)."""
    if not isinstance(exc, OSError):
        return None
    if exc.errno in _FULL:
        return _FULL[exc.errno]
    text = str(exc)
    return next((reason for reason in _FULL.values() if reason in text), None)


def write_failed(path, exc: OSError) -> LibtradError:
    """One line naming the file (or folder) being written when a write fails for want of room (or any
    other OS error whose own message names no file)."""
    reason = disk_full(exc) or exception_reason(exc)
    return LibtradError(f"{shortened(str(path), WORD_LIMIT)}: cannot write it ({reason})")


def naming_file(exc: OSError, path) -> OSError:
    """``exc`` as an OSError naming ``path`` (a write to an open file, or Arrow's writer, names none), for a
    writer deep inside an output to raise: the output's own handler then says which of its files failed."""
    if exc.filename is not None:
        return exc
    reason = disk_full(exc)
    code = exc.errno or next((k for k, v in _FULL.items() if v == reason), errno.EIO)
    return OSError(code, reason or exception_reason(exc), str(path))


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty): for one-line errors."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def exception_reason(exc: BaseException) -> str:
    """An OSError's strerror ("Permission denied"), else the message's first line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return first_line(exc)


def printable(text) -> str:
    """``text`` with its control and other unprintable characters escaped (``\\n``, ``\\x1b``): a file name
    holding a newline is one entry of a listing, one line of a message."""
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in str(text))


def shortened(text: str, limit: int = VALUE_LIMIT) -> str:
    """``text`` with control characters escaped and, past ``limit`` characters, its middle replaced by
    ``…[N characters]…`` (the head and tail kept: where a URL points and what a file is called)."""
    text = printable(text)
    if len(text) <= limit:
        return text
    marker = f"…[{len(text)} characters]…"
    keep = max(limit - len(marker), 2)
    return text[: (keep + 1) // 2] + marker + text[len(text) - keep // 2 :]


def shown(value, *, quote: bool = True, limit: int = VALUE_LIMIT) -> str:
    """A user's value as a message echoes it: quoted (``repr``) when ``quote`` and it is text, else as
    text; shortened in the middle past ``limit``."""
    text = repr(value) if quote and isinstance(value, str) else str(value)
    return shortened(text, limit)


def one_line(message) -> str:
    """A message as one printable line of about :data:`~libtrad.core.errors.LINE_LIMIT` characters at most:
    whitespace runs joined, bytes that are not UTF-8 escaped, and — only when the line is longer than that —
    its words longer than :data:`~libtrad.core.errors.WORD_LIMIT` (a value no message helper shortened: an
    OS error's file name, a URL in a library's text) cut in the middle, longest first, to
    :data:`~libtrad.core.errors.VALUE_LIMIT`; then, if it is still too long, those words to half that."""
    words = str(message).split()
    words = [w.encode("utf-8", "backslashreplace").decode("utf-8") for w in words]
    originals = list(words)
    for i in sorted(range(len(words)), key=lambda i: -len(words[i])):
        if sum(map(len, words)) + len(words) <= LINE_LIMIT or len(words[i]) <= WORD_LIMIT:
            break
        words[i] = shortened(words[i])
    for i, original in enumerate(originals):  # still too long: what was cut is cut harder (a path kept whole)
        if sum(map(len, words)) + len(words) > LINE_LIMIT and words[i] != original:
            words[i] = shortened(original, VALUE_LIMIT // 2)
    return " ".join(words)
