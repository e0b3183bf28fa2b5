"""What a suite is, as the driver and the runner see it: one :class:`Suite` subclass per suite module.

A suite module defines its options dataclass, its unit type, a subclass of :class:`Suite` and one
instance of it named ``SUITE``; ``libtrad.ray_jobs.evaluation.evaluate.SUITES`` names that instance
(``"module:SUITE"``, read by :func:`libtrad.core.resolve.resolve`). The subclass sets the class
attributes and implements the five steps:

* ``columns_for(df)`` — the columns ``run_unit`` reads, as arrays by row position (checked);
* ``plan(df, options)`` — the independent units, each with a ``key``;
* ``run_unit(unit, embeddings, columns, options)`` — pure: it runs on any Ray worker;
* ``combine(unit_results, df, options)`` — ``results.json``'s dict, ordered by unit key;
* ``write_report(results, folder, df, options)`` — ``results.md`` and the PNGs.

What every suite shared is here once: the default options (:meth:`Suite.defaults`), running the
units in this process (:meth:`Suite.evaluate_local`) and the device a unit screens on
(:func:`libtrad.ray_jobs.evaluation.suites.similarity.screen_device`, beside the math that uses it).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.evaluation.runner import run_suite


class Suite:
    """One evaluation suite (see the module docstring). Instances hold no state: Ray pickles one per task."""

    name: ClassVar[str]  # the suite's name: ``libtrad evaluate NAME``, results.json's "suite"
    options: ClassVar[type]  # its options dataclass (one CLI flag per field unless it has its own command)
    required_columns: ClassVar[tuple[str, ...]]
    optional_columns: ClassVar[tuple[str, ...]] = ()
    protocol_version: ClassVar[int] = 1  # bump when the suite's numbers change meaning
    # The data a suite is made for ("DCASE"), and the columns only that data's embeddings have: embeddings of
    # another suite's data are refused by name before they are read (evaluate.check_data_kind). "": any data.
    data_kind: ClassVar[str] = ""
    signature: ClassVar[tuple[str, ...]] = ()

    def defaults(self, options=None):
        """``options``, or the suite's defaults when None (every step accepts None, as a library call)."""
        return self.options() if options is None else options

    def columns_for(self, df: pd.DataFrame) -> dict:
        raise NotImplementedError

    def plan(self, df: pd.DataFrame, options=None) -> list:
        raise NotImplementedError

    def run_unit(self, unit, embeddings, columns: dict, options=None) -> dict:
        raise NotImplementedError

    def combine(self, unit_results: dict, df: pd.DataFrame, options=None) -> dict:
        raise NotImplementedError

    def write_report(self, results: dict, folder: Path, df: pd.DataFrame, options) -> list[Path]:
        raise NotImplementedError

    def evaluate_local(self, df: pd.DataFrame, options=None) -> dict:
        """plan → every unit in this process → combine (the runner's ``local`` path)."""
        return run_suite(self, df, self.defaults(options), local=True, progress=False).results


def check_subset(option: str, chosen: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """``chosen`` (an options field such as ``scorers``) is a non-empty subset of ``allowed``, or one line naming it."""
    if not chosen or any(value not in allowed for value in chosen):
        raise ParameterError(option, ",".join(chosen), f"expected a subset of {', '.join(allowed)}")


def check_unit_results(keys: list[str], unit_results: dict) -> None:
    """``combine``'s first check: one result per planned unit, and none other."""
    missing, extra = sorted(set(keys) - set(unit_results)), sorted(set(unit_results) - set(keys))
    if missing or extra:
        raise LibtradError(
            f"unit results do not match the plan (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(extra) or 'none'})"
        )
