"""The papers' published numbers as leaderboard rows: ``libtrad leaderboard … --reference NAME``.

Each published table is stored once, as package data (``reference/<name>.json``), with where it
comes from: the paper, its arXiv id, the table, the metric and split, and for every stored value
the source it was read from (``value_sources``; ``checked_against_paper`` says whether the value
was compared with the paper's own table). A cell that could not be read is not stored: the row
lists it under ``missing`` with the reason, so nothing is left out silently and no number is made up.

Columns: a paper column either lands in a leaderboard column that measures the same thing
(``column``: e.g. ECHO Table 2's DCASE 2021 in ``siren-dcase · DCASE 2021``), in one of the
leaderboard's summaries (``summary``: the SIREN DCASE mean), or in a column of its own named after
the table (``ECHO Table 2 · fault mean``). The leaderboard marks these rows "published (real
data)": they were computed on the real recordings, so numbers measured on libtrad's synthetic
stand-ins are not comparable with them; the rows show the table a user fills with real data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from libtrad.errors import LibtradError, ParameterError

TABLES = ("lib-trad-table3", "echo-table2")
CHOICES = (*TABLES, "all")
MARK = "published (real data)"
UNKNOWN = f"unknown published table; expected one of {', '.join(CHOICES)}"


@dataclass(frozen=True)
class ReferenceCell:
    value: float
    source: str  # a key of the table's value_sources
    checked: bool  # compared with the paper's own table


@dataclass
class ReferenceRow:
    """One published row: the paper's model name, its cells by leaderboard column and its summaries."""

    table: str  # e.g. "echo-table2"
    label: str  # e.g. "ECHO Table 2"
    model: str
    cells: dict = field(default_factory=dict)  # leaderboard column -> ReferenceCell
    summary: dict = field(default_factory=dict)  # e.g. "siren_dcase_mean" -> ReferenceCell

    @property
    def name(self) -> str:
        return f"{self.model} — {MARK}, {self.label}"


@dataclass
class ReferenceTable:
    name: str
    label: str
    source: dict
    value_sources: dict
    columns: list  # the leaderboard columns of its own (in the paper's order), mapped ones included
    rows: list  # ReferenceRow with at least one value
    empty: list  # models without any stored value (listed, not shown as rows of dashes)
    missing: list  # "model: columns (why)" for every cell not stored


def parse_names(names) -> list[str]:
    """``--reference`` values (repeated or comma-separated; ``all`` = every table) -> table names.

    An unknown name is one line naming the option and the accepted values (before anything is read).
    """
    wanted: list[str] = []
    for raw in ([names] if isinstance(names, str) else list(names or ())):
        for name in (part.strip() for part in str(raw).split(",")):
            if name not in CHOICES:
                raise ParameterError("reference", name, UNKNOWN)
            wanted += list(TABLES) if name == "all" else [name]
    return list(dict.fromkeys(wanted))


@lru_cache(maxsize=None)
def _raw(name: str) -> dict:
    path = resources.files("libtrad.ray_jobs.evaluation").joinpath("reference", f"{name}.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # a broken installation, not a user mistake
        raise RuntimeError(f"libtrad's published table {name} ({path}) is not readable: {exc}") from exc


def load_table(name: str) -> ReferenceTable:
    """The table ``name`` (one of :data:`TABLES`) as leaderboard rows; every value is checked to be a number
    in [0, 1] with a known source (a broken data file is a bug of libtrad, said as such)."""
    if name not in TABLES:
        raise ParameterError("reference", name, UNKNOWN)
    data = _raw(name)
    sources = data["value_sources"]
    columns = {c["key"]: c for c in data["columns"]}
    rows, empty, missing = [], [], []
    for record in data["rows"]:
        row = ReferenceRow(name, data["label"], record["model"])
        for key, cell in record["values"].items():
            value, source = cell["value"], cell["source"]
            if key not in columns or source not in sources or not isinstance(value, (int, float)) \
                    or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise LibtradError(f"libtrad's published table {name}: {record['model']}/{key} is broken "
                                   f"({cell!r}); reinstall libtrad")
            stored = ReferenceCell(float(value), source, bool(sources[source].get("checked_against_paper")))
            column = columns[key]
            if "summary" in column:
                row.summary[column["summary"]] = stored
            else:
                row.cells[column["column"]] = stored
        gone = record.get("missing") or {}
        if gone:
            keys = list(columns) if gone["columns"] == "all" else gone["columns"]
            missing.append(f"{record['model']}: {', '.join(columns[k]['paper'] for k in keys)} ({gone['why']})")
        (rows if row.cells or row.summary else empty).append(row if row.cells or row.summary else record["model"])
    own = [c["column"] for c in data["columns"] if "column" in c]
    return ReferenceTable(name, data["label"], data["source"], sources, own, rows, empty, missing)


def raw_table(name: str) -> dict:
    """The data file as stored (for tests and for anyone citing the numbers)."""
    return json.loads(json.dumps(_raw(name)))
