"""A DCASE Task 2 submission folder: the files the challenge's official evaluator reads, and their checks.

``libtrad evaluate siren-dcase … --submission DIR`` writes one (kind ``submission``; the writer is
:mod:`libtrad.ray_jobs.evaluation.suites.dcase_submission`), ``libtrad verify DIR`` checks it
(:func:`check_submission`). The format, from the evaluators and baselines (facts, read in y-kawagu's
``dcase2020_task2_evaluator`` / ``dcase2021_task2_evaluator`` and nttcslab's
``dcase2023_task2_evaluator`` / ``dcase2023_task2_baseline_ae``):

* names — 2020: ``anomaly_score_<machine>_id_<XX>.csv`` (no decision files that year); 2021:
  ``anomaly_score_<machine>_section_<XX>_<source|target>_test.csv`` and
  ``decision_result_<machine>_section_<XX>_<source|target>_test.csv``, one pair per domain; 2022 on:
  ``anomaly_score_<machine>_section_<XX>_test.csv`` and ``decision_result_<machine>_section_<XX>_test.csv``;
* rows — no header, ``<clip file name>,<value>`` (the clip's name as the dataset publishes it, e.g.
  ``section_00_0000.wav``), ``\\n`` line ends (Python's csv writer, as the baselines); an anomaly score
  is a float written as Python writes it (``repr``: it reads back bit for bit), a decision ``0``
  (normal) or ``1`` (anomaly);
* order — by file name (the evaluators sort the rows by name before pairing them with the ground
  truth, so any order scores the same; the baselines write their loader's sorted order);
* the evaluation set's files lie in the folder itself (what a system's folder in the challenge
  holds), the development set's, when asked, in ``dev/`` below it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path, PurePosixPath

from libtrad.core.errors import LibtradError

DEV_FOLDER = "dev"
NAME = re.compile(
    r"(?P<kind>anomaly_score|decision_result)_(?P<machine>[A-Za-z0-9-]+)_"
    r"(?:id_(?P<id>[0-9]{2})|section_(?P<section>[0-9]{2})(?:_(?P<domain>source|target))?_test)\.csv",
    re.ASCII,
)


def file_name(kind: str, rule: str, machine: str, section: int, domain: str | None = None) -> str:
    """The evaluator's name of one file: ``kind`` anomaly_score | decision_result; ``rule`` id | domain_files |
    section (:data:`libtrad.ray_jobs.evaluation.suites.dcase_official.RULES`)."""
    if rule == "id":
        return f"{kind}_{machine}_id_{section:02d}.csv"
    if rule == "domain_files":
        return f"{kind}_{machine}_section_{section:02d}_{domain}_test.csv"
    return f"{kind}_{machine}_section_{section:02d}_test.csv"


def rows_text(rows: list[tuple[str, object]]) -> str:
    """The CSV text of ``(file, value)`` rows: no header, ``\\n`` line ends, floats as ``repr``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def read_rows(path: Path) -> list[tuple[str, str]]:
    """A submission file's rows as text pairs; one LibtradError naming the file and line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LibtradError(f"{path}: unreadable ({exc})") from None
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if len(row) != 2 or not row[0]:
            raise LibtradError(f"{path}: line {number} has {len(row)} field(s); expected <file>,<value>")
        rows.append((row[0], row[1]))
    if not rows:
        raise LibtradError(f"{path}: no rows")
    return rows


def _check_values(path: Path, kind: str, rows: list[tuple[str, str]]) -> None:
    for number, (_, value) in enumerate(rows, 1):
        if kind == "decision_result":
            if value not in ("0", "1"):
                raise LibtradError(f"{path}: line {number}: decision {value!r} is not 0 or 1")
            continue
        try:
            ok = math.isfinite(float(value))
        except ValueError:
            ok = False
        if not ok:
            raise LibtradError(f"{path}: line {number}: anomaly score {value!r} is not a finite number")
    names = [name for name, _ in rows]
    if len(set(names)) != len(names):
        raise LibtradError(f"{path}: a clip is listed twice")
    if names != sorted(names):
        raise LibtradError(f"{path}: rows are not in file-name order (libtrad writes them sorted)")


def check_submission(root: Path, listed, report) -> None:
    """``libtrad verify``'s checks of a submission folder: every listed file has an evaluator's name and
    parses as its rows, and every anomaly-score file with decisions has its decision file over the same clips."""
    problems_before = len(report.problems)
    files = sorted(rel for rel in listed if not rel.startswith("."))
    parsed: dict[str, list[tuple[str, str]]] = {}
    for rel in files:
        parts = rel.split("/")
        match = NAME.fullmatch(parts[-1])
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != DEV_FOLDER) or match is None:
            report.problems.append(f"{root / rel}: not a DCASE submission file name (anomaly_score_*, decision_*)")
            continue
        try:
            rows = read_rows(root / rel)
            _check_values(root / rel, match["kind"], rows)
            parsed[rel] = rows
        except LibtradError as exc:
            report.problems.append(str(exc))
    for rel, rows in parsed.items():
        if not Path(rel).name.startswith("anomaly_score_") or NAME.fullmatch(Path(rel).name)["id"] is not None:
            continue
        path = PurePosixPath(rel)
        twin = str(path.with_name(path.name.replace("anomaly_score_", "decision_result_", 1)))
        if twin not in listed:
            report.problems.append(f"{root / rel}: no {Path(twin).name} beside it (the evaluator reads both)")
        elif twin in parsed and [n for n, _ in parsed[twin]] != [n for n, _ in rows]:
            report.problems.append(f"{root / twin}: lists other clips than {Path(rel).name}")
    if not files:
        report.problems.append(f"{root}: a submission folder without any anomaly_score file")
    if len(report.problems) == problems_before:
        report.checked.append(f"{len(files)} submission file(s): evaluator names, rows, decisions beside scores")
