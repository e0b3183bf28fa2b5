"""Notes to the user on stderr: what a command did that its output alone does not show.

One ``note: ...`` line each, written through tqdm so it never breaks a progress bar that is
running; a note is never an error (errors are :class:`~libtrad.core.errors.LibtradError`).
"""

from __future__ import annotations

import sys

from libtrad.core.errors import one_line


def note(message: str) -> None:
    """Print ``note: message`` as one line on stderr (a long value in it shortened, as in an error line)."""
    from tqdm import tqdm

    tqdm.write("note: " + one_line(message), file=sys.stderr)
