"""The papers' published numbers as leaderboard rows: ``libtrad leaderboard … --reference NAME``.

Each published table is stored once, as package data (``reference/<name>.json``): the paper (title,
authors, arXiv id), the table, its protocol and metric, its column headers as printed, and every
row with every cell as printed (``printed`` text and its ``value``) and the source it was read from
(``value_sources``). The data files were written from libtrad issue 26's transcription of the
papers' tables (``../shared/reference/published-tables.md``); a test holds them to that file, so the
transcription cannot drift. Nothing is derived: a cell is what the paper prints.

==================  ======================================================  =================================
name                table                                                   rows
==================  ======================================================  =================================
``echo-table2``     ECHO (arXiv 2508.14689) Table 2: SIREN, DCASE 2020-     BEATs, CED ×2, Dasheng ×2,
                    2025 per-year scores, five fault accuracies, means      FISHER ×3, ECHO Small
``lib-trad-table3`` LiB-TRAD Table 3: unsupervised AUC per experiment,      AE, BEATs, EATs, Dasheng,
                    harmonic mean, inference ms                             Proposed
``lib-trad-table2`` LiB-TRAD Table 2: the supervised CNN's test AUC per     CNN
                    experiment (its own columns: another protocol)
==================  ======================================================  =================================

Columns: a paper column lands in the leaderboard column of the same component and metric
(:mod:`~libtrad.ray_jobs.evaluation.paper_columns`: ECHO's CWRU cell in ``siren-fault · CWRU``, where
a measured CWRU accuracy lands too). Each cell carries its citation (:attr:`ReferenceCell.cite`:
paper, arXiv id, table, row and column as printed).

Printed means are checked against their columns (:func:`check_mean`): a printed value that differs
from the mean of the row's printed cells by more than their rounding allows is kept as printed and
flagged (:attr:`ReferenceCell.flag`; the leaderboard marks it ``‡`` and says why). In ECHO Table 2 that
is BEATs' overall mean (0.740 printed, 0.7295 from its eleven columns — the mean of its two means
is 0.7405), and also CED Small's fault mean (0.858 printed, 0.864 from its five columns) and overall
mean (0.726 printed, 0.7166 from its eleven; the mean of its two means is 0.7255). LiB-TRAD Table 3's
Dasheng harmonic mean (0.6112 printed, 0.6113 from its three AUCs) differs in its last digit.

The leaderboard marks these rows "published (real data)": they were computed on the real
recordings, so numbers measured on libtrad's synthetic stand-ins are not comparable with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.evaluation import paper_columns as P

TABLES = ("lib-trad-table3", "echo-table2", "lib-trad-table2")
CHOICES = (*TABLES, "all")
MARK = "published (real data)"
FLAG = "‡"  # a printed mean that disagrees with its columns
UNKNOWN = f"unknown published table; expected one of {', '.join(CHOICES)}"
# The paper column of each data-file key, per table (the file holds the paper's headers; libtrad decides the column).
COLUMN_OF = {
    "echo-table2": {
        **{f"dcase{y}": f"siren-dcase · DCASE {y}" for y in P.DCASE_YEARS},
        "dcase_mean": "DCASE mean",
        "iiee": "siren-fault · IIEE",
        "iica": "siren-fault · IICA",
        "cwru": "siren-fault · CWRU",
        "mafaulda_sound": P.MAFAULDA_SOUND,
        "mafaulda_vibration": P.MAFAULDA_VIBRATION,
        "fault_mean": "fault mean",
        "overall_mean": "overall mean",
    },
    "lib-trad-table3": {
        "tr1": P.TR[0],
        "tr2": P.TR[1],
        "tr3": P.TR[2],
        "hmean": P.LIB_TRAD_HMEAN,
        "inference_ms": "lib-trad · inference ms",
    },
    "lib-trad-table2": {f"tr{i}": f"lib-trad CNN (supervised) · TR{i}" for i in (1, 2, 3)},
}


@dataclass(frozen=True)
class ReferenceCell:
    value: float
    printed: str  # the paper's text ("0.590")
    source: str  # a key of the table's value_sources
    checked: bool  # read from the paper's own table
    cite: str  # paper, arXiv id, table, row and column as printed
    flag: str | None = None  # why a printed mean disagrees with its columns


@dataclass
class ReferenceRow:
    """One published row: the paper's model name and its cells by leaderboard column."""

    table: str  # e.g. "echo-table2"
    label: str  # e.g. "ECHO Table 2"
    model: str  # e.g. "BEATs Base"
    printed: dict = field(default_factory=dict)  # the row's printed fields (model, pretraining data, scale)
    cells: dict = field(default_factory=dict)  # leaderboard column -> ReferenceCell

    @property
    def name(self) -> str:
        return f"{self.model} — {MARK}, {self.label}"

    @property
    def qualified(self) -> str:
        """``table:model``, unique over every table (``--diff-against``)."""
        return f"{self.table}:{self.model}"


@dataclass
class ReferenceTable:
    name: str
    label: str
    source: dict
    value_sources: dict
    columns: list  # its leaderboard columns, in the paper's order
    paper_headers: dict  # leaderboard column -> the header as printed
    rows: list  # ReferenceRow with at least one value
    empty: list  # models without any stored value (listed, not shown as rows of dashes)
    missing: list  # "model: columns (why)" for every cell not stored

    @property
    def flags(self) -> list[tuple[ReferenceRow, str, ReferenceCell]]:
        return [(row, column, cell) for row in self.rows for column, cell in row.cells.items() if cell.flag]


def parse_names(names) -> list[str]:
    """``--reference`` values (repeated or comma-separated; ``all`` = every table) -> table names.

    An unknown name is one line naming the option and the accepted values (before anything is read).
    """
    wanted: list[str] = []
    for raw in [names] if isinstance(names, str) else list(names or ()):
        for name in (part.strip() for part in str(raw).split(",")):
            if name not in CHOICES:
                raise ParameterError("reference", name, UNKNOWN)
            wanted += list(TABLES) if name == "all" else [name]
    return list(dict.fromkeys(wanted))


@cache
def _raw(name: str) -> dict:
    path = resources.files("libtrad.ray_jobs.evaluation").joinpath("reference", f"{name}.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # a broken installation, not a user mistake
        raise RuntimeError(f"libtrad's published table {name} ({path}) is not readable: {exc}") from exc


def _broken(name: str, where: str, what) -> LibtradError:
    return LibtradError(f"libtrad's published table {name}: {where} is broken ({what!r}); reinstall libtrad")


def _cell(name: str, data: dict, record: dict, key: str, column: P.PaperColumn, header: str) -> ReferenceCell:
    cell = record["values"][key]
    value, printed, source = cell.get("value"), cell.get("printed"), cell.get("source")
    low, high = (0.0, 1.0) if column.fraction else (0.0, float("inf"))
    if (
        source not in data["value_sources"]
        or not isinstance(printed, str)
        or isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not low <= value <= high
        or _number(printed) != value
    ):
        raise _broken(name, f"{record['model']}/{key}", cell)
    src = data["source"]
    arxiv = f"arXiv {src['arxiv']}" if src.get("arxiv") else "no arXiv id"
    row = " · ".join(str(v) for v in record.get("printed", {"model": record["model"]}).values())
    cite = f"{src['paper']} ({arxiv}), {src['table']}, row '{row}', column '{header}'"
    checked = bool(data["value_sources"][source].get("checked_against_paper"))
    return ReferenceCell(float(value), printed, source, checked, cite)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def load_table(name: str) -> ReferenceTable:
    """The table ``name`` (one of :data:`TABLES`) as leaderboard rows, every printed mean checked against its
    columns. Every cell is checked: a number within its metric's range equal to its printed text, a known
    source, a known column; every column stored or listed missing (a broken data file is a bug of libtrad,
    said as such)."""
    if name not in TABLES:
        raise ParameterError("reference", name, UNKNOWN)
    data = _raw(name)
    keys = COLUMN_OF[name]
    headers = {}
    for column in data["columns"]:
        if column["key"] not in keys:
            raise _broken(name, f"column {column['key']}", column)
        headers[keys[column["key"]]] = column["paper"]
    rows, empty, missing = [], [], []
    for record in data["rows"]:
        row = ReferenceRow(name, data["label"], record["model"], dict(record.get("printed") or {}))
        for key in record["values"]:
            if key not in keys or keys[key] not in headers:
                raise _broken(name, f"{record['model']}/{key}", record["values"][key])
            row.cells[keys[key]] = _cell(name, data, record, key, P.BY_NAME[keys[key]], headers[keys[key]])
        gone = record.get("missing") or {"columns": []}
        listed = [c["key"] for c in data["columns"]] if gone["columns"] == "all" else list(gone["columns"])
        if sorted([*record["values"], *listed]) != sorted(c["key"] for c in data["columns"]):
            raise _broken(name, f"{record['model']} (a column neither stored nor listed missing)", sorted(listed))
        if listed:
            missing.append(f"{record['model']}: {', '.join(headers[keys[k]] for k in listed)} ({gone['why']})")
        for column, cell in list(row.cells.items()):
            flag = check_mean(P.BY_NAME[column], cell, row.cells, headers)
            if flag:
                row.cells[column] = ReferenceCell(**{**cell.__dict__, "flag": flag})
        (rows if row.cells else empty).append(row if row.cells else record["model"])
    return ReferenceTable(
        name, data["label"], data["source"], data["value_sources"], list(headers), headers, rows, empty, missing
    )


def _half_unit(printed: str) -> float:
    """Half a unit of the last printed digit: how far the printed number may be from the paper's own."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10.0**-decimals


def check_mean(column: P.PaperColumn, cell: ReferenceCell, cells: dict, headers: dict) -> str | None:
    """Why a printed mean disagrees with the mean of its row's printed columns, or None when it agrees
    within rounding: the printed mean's half unit plus how far rounding its columns can move their mean
    (arithmetic: their largest half unit; harmonic: each half unit times ∂H/∂x = H²/(n x²))."""
    if not column.parts or not all(p in cells for p in column.parts):
        return None
    parts = [cells[p] for p in column.parts]
    computed = P.mean_of(column, [c.value for c in parts])
    if column.mean == "harmonic":
        spread = sum(computed**2 / (len(parts) * c.value**2) * _half_unit(c.printed) for c in parts)
    else:
        spread = max(_half_unit(c.printed) for c in parts)
    if abs(cell.value - computed) <= _half_unit(cell.printed) + spread + 1e-12:
        return None
    digits = len(cell.printed.split(".")[1]) if "." in cell.printed else 0
    kind = "harmonic mean" if column.mean == "harmonic" else "mean"
    text = (
        f"printed {cell.printed}; the {kind} of its {len(parts)} columns is {computed:.{digits + 1}f} "
        f"({computed:.{digits}f}); stored as printed"
    )
    if column.also and all(p in cells for p in column.also):
        alternative = sum(cells[p].value for p in column.also) / len(column.also)
        if (
            abs(cell.value - alternative)
            <= _half_unit(cell.printed) + max(_half_unit(cells[p].printed) for p in column.also) + 1e-12
        ):
            text += (
                f"; it matches the mean of its {' and '.join(headers.get(p, p) for p in column.also)} "
                f"({alternative:.{digits + 1}f})"
            )
    return text


def find_row(tables: list[ReferenceTable], name: str) -> ReferenceRow:
    """The published row ``name`` (``MODEL`` or ``TABLE:MODEL``) among ``tables``; one line when it is unknown or
    ambiguous, naming the rows there are."""
    rows = [r for t in tables for r in t.rows]
    found = [r for r in rows if name in (r.model, r.qualified)]
    if len(found) == 1:
        return found[0]
    if not rows:
        raise ParameterError("diff_against", name, "needs --reference with the table of that row")
    if found:
        raise ParameterError(
            "diff_against", name, f"is in several tables; give one of {', '.join(r.qualified for r in found)}"
        )
    raise ParameterError(
        "diff_against", name, f"no such published row; expected one of {', '.join(r.qualified for r in rows)}"
    )


def raw_table(name: str) -> dict:
    """The data file as stored (for tests and for anyone citing the numbers)."""
    return json.loads(json.dumps(_raw(name)))
