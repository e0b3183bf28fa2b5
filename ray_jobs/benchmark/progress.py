"""One progress view over a whole ``libtrad benchmark`` run.

One bar counts the rows embedded over every component and encoder (tqdm gives rows/s and the ETA); its
label says how many components are done of how many. Each finished, skipped, missing or failed piece of
work is one line above the bar. Without ``progress`` only those lines are printed (on stderr).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tqdm.auto import tqdm


class Progress:
    def __init__(self, components: int, enabled: bool = True):
        self.total, self.done, self.enabled = components, 0, enabled
        self.bar = None

    def line(self, message: str) -> None:
        tqdm.write(message, file=sys.stderr)

    def start_rows(self, total: int | None) -> None:
        """The embed stage begins: ``total`` rows to embed (None: unknown, no ETA)."""
        self.bar = tqdm(total=total, unit="row", desc=self._label(), disable=not self.enabled, file=sys.stderr)

    def rows(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def component_done(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_description(self._label())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _label(self) -> str:
        return f"benchmark: {self.done}/{self.total} components"


def rows_of(dataset: str, config: str | None) -> int | None:
    """The rows a local built dataset holds in ``config`` (its manifest.json), or None where it does not say."""
    path = Path(dataset) / "manifest.json"
    try:
        configs = json.loads(path.read_text(encoding="utf-8"))["configs"]
        name = config if config is not None else (next(iter(configs)) if len(configs) == 1 else None)
        return sum(int(split["rows"]) for split in configs[name].values())
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None
