"""``libtrad leaderboard RESULTS… --output OUT``: several encoders × suites × datasets in one table.

Input: any number of results folders (``libtrad evaluate …``'s); a folder without a
``results.json`` is searched for results folders inside it. Output: ``OUT/leaderboard.md``,
``leaderboard.csv`` and ``leaderboard.png`` (a heat map), encoders as rows, one column per
suite × task, and two summary columns.

Rows: the encoder of each result (``inputs[].encoder`` from the embeddings' ``embeddings.json``;
without one, the embeddings folder's name in brackets). A result whose inputs were made by
different encoders is refused.

Columns and their headline value (each the number its suite reports first):

==============================  =============================================  ===================
suite                           value                                          test size
==============================  =============================================  ===================
siren-dcase (column per year)   ``score`` (the year's AUC/pAUC mean)           labelled test clips
siren-fault                     ``f1_weighted`` (what SIREN reports)           predicted rows
lib-trad (a column per scorer)  ``scorers.<s>.harmonic_mean`` (of the AUCs)    normal + abnormal
linear-probe, xares-mlp         ``mean`` over seeds (accuracy or AUC)          ``test_size``
xares-knn                       ``value`` (accuracy or AUC)                    ``test_size``
mimii (a column per SNR)        ``sets.<snr>.score`` (mean AUC per machine)    normal + abnormal
==============================  =============================================  ===================

A column is ``<suite> · <task>``: the task is the result's own ``task``, else ``<dataset>/<config>``
of its inputs (DCASE: ``DCASE <year>``). Results may share a column only when they are
comparable; otherwise one line names the two folders and the clash:

* a different ``protocol_version`` (the suite's numbers changed meaning);
* embeddings of different datasets: the inputs' dataset, config and dataset shards (SHA-256 of
  every Parquet shard embedded; a rebuilt or partly embedded dataset differs) must be equal;
* different options (e.g. 200 vs 10 epochs) — except those that do not change a column's number
  (:data:`IGNORED_OPTIONS`: the task's name, lib-trad's choice of scorers, siren-fault's block size);
* the same encoder twice.

Summary columns:

* **X-ARES weighted average** — each task's value min-max normalised over the range its metric
  can take (:data:`METRIC_RANGES`; every metric these suites report lies in [0, 1], so the
  normalisation keeps it as it is, and it is not stretched by the other encoders in the table,
  so an encoder's average does not change when another joins), then averaged with each task
  weighted by its test-set size, as X-ARES weights its tasks. Over the columns the encoder has;
  ``tasks`` tells how many, and the Markdown marks an average over fewer columns than the table
  has with ``*`` (it is then not comparable with the complete rows).
* **SIREN DCASE mean** — the mean of the encoder's per-year DCASE scores (SIREN's summary of its
  DCASE benchmark), over the years it has.

Rows are ranked by the weighted average (highest first; encoders without one last, by name).

Published rows (``--reference``, :mod:`libtrad.ray_jobs.evaluation.reference_rows`): the papers' own
numbers on the real recordings, marked "published (real data)", below the measured rows and never
ranked with them unless ``rank_with_reference`` (then by the X-ARES average over the measured columns
they have a value in, weighted by those columns' test sizes). They do not enter the clash checks or
the saturation warnings: they are other data, and stand-in numbers are not comparable with them.

Warnings (:mod:`libtrad.ray_jobs.evaluation.flags`): a measured column where every encoder scores
≥ 0.99, or two or more all score the same, is listed as "saturated: this task does not separate these
encoders"; results computed on a synthetic stand-in (``results.json`` ``synthetic``) make the first line
of ``leaderboard.md`` say so.

Inputs are checked before anything is ranked: a results folder libtrad wrote must match its own
``.libtrad.json`` checksums (an edited ``results.json`` is refused, naming the file; ``--no-verify``
uses it anyway and the leaderboard lists it as unverified), and every field the table reads must
have its type, each headline value a finite number inside its metric's range
(:data:`METRIC_RANGES`) — an F1 of 7.5 is a broken file, not a score.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from libtrad.errors import LibtradError, ParameterError, first_line
from libtrad.ray_jobs.evaluation.flags import SATURATED

SUITE_ORDER = ("siren-dcase", "siren-fault", "lib-trad", "linear-probe", "xares-mlp", "xares-knn", "mimii")
METRIC_RANGES = {"accuracy": (0.0, 1.0), "auc": (0.0, 1.0), "f1_weighted": (0.0, 1.0), "dcase_score": (0.0, 1.0),
                 "hmean_auc": (0.0, 1.0)}
METRIC_LABELS = {"accuracy": "accuracy", "auc": "AUC", "f1_weighted": "weighted F1", "dcase_score": "DCASE score",
                 "hmean_auc": "harmonic-mean AUC"}
IGNORED_OPTIONS = ("task", "scorers", "block_rows", "device")  # a name, a column choice (lib-trad), a memory knob, where it ran


@dataclass(frozen=True)
class Entry:
    """One value of the table: a result folder's headline for one column."""

    folder: Path
    encoder: str
    suite: str
    column: str
    metric: str
    value: float | None
    test_size: int | None
    protocol_version: object
    dataset: tuple
    options: tuple
    year: int | None = None
    synthetic: bool = False  # the result says its inputs were made from a synthetic stand-in


# ----------------------------------------------------------------------------- reading
def results_folders(paths) -> list[Path]:
    """Every results folder under ``paths`` (a folder with results.json, or one holding such folders)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if (path / "results.json").is_file():
            found.append(path)
        elif path.is_dir():
            inner = sorted(p.parent for p in path.rglob("results.json")
                           if not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not inner:
                raise LibtradError(f"{path}: no results.json in this folder or below "
                                   "(expected libtrad evaluate's output)")
            found += inner
        else:
            raise LibtradError(f"{path}: no such results folder")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise ParameterError("results", [], "give at least one results folder")
    return unique


def read_results(folder: Path, *, no_verify: bool = False) -> dict:
    """``results.json`` of one results folder, after the folder's own checksums (see the module's docstring).

    The verification record is kept under ``data["_verification"]`` for the table's notes.
    """
    from libtrad.verify.inputs import check_input_folder

    checked = check_input_folder(folder, "RESULTS", kinds=("results",), no_verify=no_verify)
    try:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LibtradError(f"{folder / 'results.json'}: not readable JSON ({first_line(exc)})") from None
    if not isinstance(data, dict) or "suite" not in data:
        raise LibtradError(f"{folder / 'results.json'}: no 'suite' (not a libtrad results file)")
    check_shape(data, folder / "results.json")
    data["_verification"] = checked
    return data


# ----------------------------------------------------------------------------- the fields the table reads
_NUMBER = (int, float)


def _typed(path: Path, where: str, value, kinds: tuple, *, optional: bool = True):
    """``value`` when it has one of ``kinds`` (None allowed when ``optional``); bools are not numbers."""
    if value is None and optional:
        return value
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join({int: "a whole number", float: "a number", str: "text", list: "a list",
                             dict: "an object", bool: "true/false"}[k] for k in kinds)
        raise LibtradError(f"{path}: {where} is {json.dumps(value)[:40]} ({type(value).__name__}), expected {names}"
                           f"{' or null' if optional else ''}")
    return value


def check_shape(results: dict, path: Path) -> None:
    """Every field :func:`entries_of` reads has the type libtrad evaluate writes (one line naming it)."""
    _typed(path, "suite", results.get("suite"), (str,), optional=False)
    for key in ("task", "metric"):
        _typed(path, key, results.get(key), (str,))
    for key in ("year", "test_size"):
        _typed(path, key, results.get(key), (int,))
    for key in ("score", "f1_weighted", "mean", "value"):
        _typed(path, key, results.get(key), _NUMBER)
    _typed(path, "options", results.get("options"), (dict,))
    _typed(path, "synthetic", results.get("synthetic"), (bool,))
    _typed(path, "predictions", results.get("predictions"), (list,))
    for i, record in enumerate(_typed(path, "inputs", results.get("inputs"), (list,)) or []):
        _typed(path, f"inputs[{i}]", record, (dict,), optional=False)
        for key in ("encoder", "path", "dataset", "config"):
            _typed(path, f"inputs[{i}].{key}", record.get(key), (str,))
        for j, shard in enumerate(_typed(path, f"inputs[{i}].dataset_shards", record.get("dataset_shards"), (list,))
                                  or []):
            _typed(path, f"inputs[{i}].dataset_shards[{j}]", shard, (str,), optional=False)
    for name, entry in (_typed(path, "sets", results.get("sets"), (dict,)) or {}).items():
        _typed(path, f"sets.{name}", entry, (dict,), optional=False)
        _typed(path, f"sets.{name}.score", entry.get("score"), _NUMBER)
    for name, entry in (_typed(path, "scorers", results.get("scorers"), (dict,)) or {}).items():
        _typed(path, f"scorers.{name}", entry, (dict,), optional=False)
        _typed(path, f"scorers.{name}.harmonic_mean", entry.get("harmonic_mean"), _NUMBER)
    for name, entry in (_typed(path, "counts", results.get("counts"), (dict,)) or {}).items():
        _typed(path, f"counts.{name}", entry, (dict,), optional=False)
        for key, value in entry.items():
            if isinstance(value, dict):  # siren-dcase: counts.<set>.<group>.{normal, anomaly}
                for k in ("normal", "anomaly"):
                    _typed(path, f"counts.{name}.{key}.{k}", value.get(k), (int,))
            elif key in ("normal", "abnormal", "train"):
                _typed(path, f"counts.{name}.{key}", value, (int,), optional=False)


def _check_value(folder: Path, metric: str, value, size) -> None:
    path = folder / "results.json"
    if metric not in METRIC_RANGES:
        raise LibtradError(f"{path}: metric {metric!r} is not one the leaderboard knows "
                           f"({', '.join(sorted(METRIC_RANGES))})")
    low, high = METRIC_RANGES[metric]
    if value is not None and not (np.isfinite(value) and low <= value <= high):
        raise LibtradError(f"{path}: {METRIC_LABELS[metric]} {value!r} lies outside [{low:g}, {high:g}], the range "
                           "of the metric (an edited or broken results.json?)")
    if size is not None and size < 0:
        raise LibtradError(f"{path}: test size {size} is negative")


# ----------------------------------------------------------------------------- one result -> entries
def _encoder(folder: Path, inputs: list[dict]) -> str:
    names = {i.get("encoder") or f"[{Path(i.get('path', folder)).name}]" for i in inputs} or {f"[{folder.name}]"}
    if len(names) > 1:
        raise LibtradError(f"{folder}: its inputs come from different encoders ({', '.join(sorted(names))}); "
                           "a leaderboard row is one encoder")
    return names.pop()


def _dataset_key(inputs: list[dict]) -> tuple:
    return tuple(sorted((str(i.get("dataset")), str(i.get("config")), tuple(i.get("dataset_shards") or ()))
                        for i in inputs))


def _task(results: dict, inputs: list[dict], folder: Path) -> str:
    from libtrad.ray_jobs.evaluation.suites.probes import dataset_label

    if results.get("task"):
        return str(results["task"])
    names = []
    for record in (i for i in inputs if i.get("dataset")):
        dataset = dataset_label(str(record["dataset"]))
        names.append(f"{dataset}/{record['config']}" if record.get("config") else dataset)
    return "+".join(dict.fromkeys(names)) or folder.name


def _dcase_test_size(results: dict) -> int:
    return sum(c.get("normal", 0) + c.get("anomaly", 0) for s in results.get("counts", {}).values() for c in s.values())


def headlines(results: dict, folder: Path) -> list[tuple[str, str, float | None, int | None]]:
    """(column suffix, metric, value, test size) of each column the result fills."""
    suite = results["suite"]
    if suite == "siren-dcase":
        return [(f"DCASE {results['year']}", "dcase_score", results.get("score"), _dcase_test_size(results))]
    if suite == "siren-fault":
        return [("", "f1_weighted", results.get("f1_weighted"), len(results.get("predictions", [])) or None)]
    if suite == "lib-trad":
        size = sum(c.get("normal", 0) + c.get("abnormal", 0) for c in results.get("counts", {}).values()) or None
        return [(f"{name}|", "hmean_auc", entry.get("harmonic_mean"), size)
                for name, entry in sorted(results.get("scorers", {}).items())]
    if suite in ("linear-probe", "xares-mlp"):
        return [("", results["metric"], results.get("mean"), results.get("test_size"))]
    if suite == "xares-knn":
        return [("", results["metric"], results.get("value"), results.get("test_size"))]
    if suite == "mimii":  # one column per SNR, as the MIMII paper reports each SNR apart
        counts = results.get("counts", {})
        return [(f"{name}|", "auc", entry.get("score"),
                 sum(c.get("normal", 0) + c.get("abnormal", 0) for c in counts.get(name, {}).values()) or None)
                for name, entry in results.get("sets", {}).items()]
    raise LibtradError(f"{folder}: results of suite {suite!r}, which the leaderboard does not know "
                       f"(expected one of {', '.join(SUITE_ORDER)})")


def entries_of(folder: Path, results: dict) -> list[Entry]:
    inputs = results.get("inputs") or []
    encoder, task = _encoder(folder, inputs), _task(results, inputs, folder)
    options = tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in (results.get("options") or {}).items()
                           if k not in IGNORED_OPTIONS))
    out = []
    for suffix, metric, value, size in headlines(results, folder):
        _check_value(folder, metric, value, size)
        if results["suite"] == "siren-dcase":
            column = f"siren-dcase · {suffix}"
        elif suffix.endswith("|"):  # lib-trad: one column per scorer; mimii: per SNR
            column = f"{results['suite']} {suffix[:-1]} · {task}"
        else:
            column = f"{results['suite']} · {task}"
        out.append(Entry(folder, encoder, results["suite"], column, metric, None if value is None else float(value),
                         size, results.get("protocol_version"), _dataset_key(inputs), options, results.get("year"),
                         bool(results.get("synthetic"))))
    return out


# ----------------------------------------------------------------------------- clashes
def check_clashes(entries: list[Entry]) -> None:
    """One line naming both folders when two results in a column are not comparable."""
    first: dict[str, Entry] = {}
    seen: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        other = seen.get((entry.column, entry.encoder))
        if other is not None:
            raise LibtradError(f"column {entry.column}: encoder {entry.encoder} appears twice ({other.folder} and "
                               f"{entry.folder}); give one result per encoder and column")
        seen[(entry.column, entry.encoder)] = entry
        ref = first.setdefault(entry.column, entry)
        problem = _clash(ref, entry)
        if problem:
            raise LibtradError(f"column {entry.column}: {ref.folder} and {entry.folder} are not comparable ({problem})")


def _clash(a: Entry, b: Entry) -> str | None:
    if a.protocol_version != b.protocol_version:
        return f"protocol version {a.protocol_version} vs {b.protocol_version}"
    if a.dataset != b.dataset:
        names_a, names_b = [d[:2] for d in a.dataset], [d[:2] for d in b.dataset]
        if names_a != names_b:
            return f"embeddings of different datasets: {_show(names_a)} vs {_show(names_b)}"
        return f"embeddings of different shards of {_show(names_a)} (a rebuilt dataset or other splits)"
    if a.options != b.options:
        da, db = dict(a.options), dict(b.options)
        key = next(k for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k))
        return f"different options: {key} {da.get(key, 'unset')} vs {db.get(key, 'unset')}"
    return None


def _show(names) -> str:
    return ", ".join("/".join(p for p in n if p not in ("None", "")) for n in names) or "unknown"


# ----------------------------------------------------------------------------- summaries
def normalised(metric: str, value: float) -> float:
    """``value`` min-max normalised over its metric's range (:data:`METRIC_RANGES`)."""
    low, high = METRIC_RANGES.get(metric, (0.0, 1.0))
    return (value - low) / (high - low)


NORMALISATIONS = ("metric-range", "encoders")


def weighted_average(items: list[tuple[str, float, int]]) -> float | None:
    """X-ARES's summary: normalised values weighted by test-set size; items are (metric, value, size)."""
    usable = [(normalised(m, v), n) for m, v, n in items if v is not None and n]
    total = sum(n for _, n in usable)
    return sum(v * n for v, n in usable) / total if total else None


def across_encoders(entries: list[Entry]) -> dict[int, float]:
    """The other reading of "min-max normalised": each column's values stretched to [0, 1] over the
    encoders in the table (best 1, worst 0; a column where all agree gives 1). Keyed by ``id(entry)``."""
    out = {}
    for column in {e.column for e in entries}:
        values = [e.value for e in entries if e.column == column and e.value is not None]
        low, high = (min(values), max(values)) if values else (0.0, 0.0)
        for e in entries:
            if e.column == column and e.value is not None:
                out[id(e)] = (e.value - low) / (high - low) if high > low else 1.0
    return out


def dcase_mean(entries: list[Entry]) -> float | None:
    """SIREN's DCASE summary: the mean of the per-year scores."""
    values = [e.value for e in entries if e.suite == "siren-dcase" and e.value is not None]
    return float(np.mean(values)) if values else None


@dataclass
class Board:
    encoders: list[str]  # the measured rows, ranked
    columns: list[str]  # the measured columns, then the published tables' own columns
    cells: dict  # (encoder, column) -> Entry
    summary: dict  # encoder -> {"xares_weighted_average", "tasks", "siren_dcase_mean"}
    normalise: str = "metric-range"
    unverified: list = None  # "FOLDER (why)" of each input used without verification
    measured_columns: list = field(default_factory=list)
    reference: list = field(default_factory=list)  # ReferenceTable (reference_rows.py) asked for with --reference
    published_summary: dict = field(default_factory=dict)  # ReferenceRow.name -> the summary keys above
    rank_with_reference: bool = False
    saturated: dict = field(default_factory=dict)  # measured column -> why it does not separate the encoders
    synthetic: list = field(default_factory=list)  # results folders computed on synthetic stand-ins

    def rows(self) -> list[tuple[str, object]]:
        """The rows in the order shown: ("measured", encoder) ranked, then ("published", ReferenceRow) in
        the papers' order — or all ranked together by the X-ARES average with ``rank_with_reference``."""
        measured = [("measured", e) for e in self.encoders]
        published = [("published", r) for t in self.reference for r in t.rows]
        if not self.rank_with_reference:
            return measured + published

        def key(item):
            kind, row = item
            s = self.summary[row] if kind == "measured" else self.published_summary[row.name]
            average = s["xares_weighted_average"]
            return average is None, -(average or 0.0), row if kind == "measured" else row.name

        return sorted(measured + published, key=key)


def saturated_columns(entries: list[Entry]) -> dict[str, str]:
    """Measured columns that do not separate their encoders (:func:`flags.tie_or_saturated`: every encoder
    ≥ 0.99, or two or more all equal) -> why. Published rows never count: they are other data."""
    from libtrad.ray_jobs.evaluation.flags import tie_or_saturated

    out = {}
    for column in sorted({e.column for e in entries}):
        why = tie_or_saturated([e.value for e in entries if e.column == column and e.value is not None], "encoder")
        if why:
            out[column] = why
    return out


def published_summary(row, entries: list[Entry], normalise: str) -> dict:
    """A published row's summaries: its X-ARES average over the *measured* columns it has a value in, each
    weighted by the test size the measured results report for that column (the same test set; metric-range
    normalisation only: stretching real-data rows over stand-in rows means nothing), and the paper's own
    SIREN DCASE mean when the table gives one."""
    sizes: dict[str, tuple[str, int]] = {}
    for e in entries:
        if e.test_size:
            sizes[e.column] = (e.metric, max(e.test_size, sizes.get(e.column, ("", 0))[1]))
    items = [(sizes[c][0], cell.value, sizes[c][1]) for c, cell in row.cells.items() if c in sizes]
    dcase = row.summary.get("siren_dcase_mean")
    return {"xares_weighted_average": weighted_average(items) if normalise == "metric-range" else None,
            "tasks": len(items), "siren_dcase_mean": None if dcase is None else dcase.value}


def build(entries: list[Entry], normalise: str = "metric-range", reference=(),
          rank_with_reference: bool = False) -> Board:
    """The table. ``normalise``: ``metric-range`` (default: each value over its metric's possible range,
    so an encoder's average does not move when another joins) or ``encoders`` (each column over the
    encoders in the table). ``reference``: published tables (:func:`reference_rows.load_table`) shown as
    rows of their own, ranked with the measured rows only with ``rank_with_reference``."""
    if normalise not in NORMALISATIONS:
        raise ParameterError("normalise", normalise, f"must be one of {', '.join(NORMALISATIONS)}")
    check_clashes(entries)
    stretched = across_encoders(entries) if normalise == "encoders" else None
    order = {s: i for i, s in enumerate(SUITE_ORDER)}
    columns = sorted({e.column for e in entries},
                     key=lambda c: (order.get(c.split(" · ")[0].split(" ")[0], 99), c))
    cells = {(e.encoder, e.column): e for e in entries}
    summary = {}
    for encoder in {e.encoder for e in entries}:
        mine = [e for e in entries if e.encoder == encoder]
        items = [(e.metric, e.value, e.test_size) for e in mine] if stretched is None else \
            [("fraction", stretched.get(id(e)), e.test_size) for e in mine]
        summary[encoder] = {"xares_weighted_average": weighted_average(items),
                            "tasks": sum(1 for e in mine if e.value is not None and e.test_size),
                            "siren_dcase_mean": dcase_mean(mine)}
    encoders = sorted(summary, key=lambda n: (summary[n]["xares_weighted_average"] is None,
                                              -(summary[n]["xares_weighted_average"] or 0.0), n))
    reference = list(reference)
    own = [c for t in reference for c in t.columns if c not in columns and any(c in r.cells for r in t.rows)]
    return Board(encoders, columns + list(dict.fromkeys(own)), cells, summary, normalise,
                 measured_columns=columns, reference=reference,
                 published_summary={r.name: published_summary(r, entries, normalise)
                                    for t in reference for r in t.rows},
                 rank_with_reference=rank_with_reference, saturated=saturated_columns(entries),
                 synthetic=sorted({str(e.folder) for e in entries if e.synthetic}))


# ----------------------------------------------------------------------------- writing
def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _published_cell(cell) -> str:
    """A published value in %, with † when it was not checked against the paper's own table."""
    return "–" if cell is None else _pct(cell.value) + ("" if cell.checked else "†")


def _row_cells(board: Board, kind: str, row) -> tuple[str, list[str], dict, str]:
    """(label, value cells, summary, SIREN DCASE mean cell) of one shown row."""
    from libtrad.ray_jobs.evaluation.reference_rows import MARK

    if kind == "measured":
        cells = [_pct(board.cells[(row, c)].value) if (row, c) in board.cells else "–" for c in board.columns]
        s = board.summary[row]
        return f"`{row}`", cells, s, _pct(s["siren_dcase_mean"])
    s = board.published_summary[row.name]
    return (f"`{row.model}` — {MARK}, {row.label}", [_published_cell(row.cells.get(c)) for c in board.columns], s,
            _published_cell(row.summary.get("siren_dcase_mean")))


def synthetic_line(board: Board) -> list[str]:
    """The first line of leaderboard.md when any measured result was computed on a synthetic stand-in."""
    if not board.synthetic:
        return []
    return [f"**SYNTHETIC STAND-IN DATA**: {len(board.synthetic)} of the results folders were computed on synthetic "
            "stand-ins; their numbers say nothing about the real datasets and are not comparable with published "
            "(real-data) numbers.", ""]


def markdown(board: Board) -> str:
    from libtrad.ray_jobs.evaluation.report import markdown_table

    rows = []
    for kind, row in board.rows():
        label, cells, s, dcase = _row_cells(board, kind, row)
        star = "*" if s["tasks"] < len(board.measured_columns) and s["xares_weighted_average"] is not None else ""
        rows.append([label, *cells, _pct(s["xares_weighted_average"]) + star, dcase])
    notes = []
    for column in board.columns:
        some = next((e for e in board.cells.values() if e.column == column), None)
        if some is None:
            tables = [t.label for t in board.reference if column in t.columns]
            notes.append(f"- **{column}**: published only ({', '.join(tables)}); no measured result has this column")
            continue
        sizes = sorted({e.test_size for e in board.cells.values() if e.column == column and e.test_size})
        flag = f"; **{SATURATED}** ({board.saturated[column]})" if column in board.saturated else ""
        notes.append(f"- **{column}**: {METRIC_LABELS.get(some.metric, some.metric)}, test size "
                     f"{', '.join(map(str, sizes)) or 'unknown'}, protocol version {some.protocol_version}{flag}")
    how = "its metric's range" if board.normalise == "metric-range" else "the encoders in this table"
    ranked = "Rows ranked" if board.rank_with_reference or not board.reference else "Measured rows ranked"
    return "\n".join([*synthetic_line(board), "# Leaderboard", "",
                      f"Values in %. {ranked} by the X-ARES weighted average (each task's value "
                      f"min-max normalised over {how}, weighted by its test-set size); `*`: averaged over fewer "
                      "tasks than the table has. SIREN DCASE mean: the mean of the per-year DCASE scores.", "",
                      *_saturation_section(board),
                      markdown_table(["encoder", *board.columns, "X-ARES weighted average", "SIREN DCASE mean"], rows),
                      "", *_published_section(board), "## Columns", "", *notes, "", *_unverified_section(board)])



def _saturation_section(board: Board) -> list[str]:
    if not board.saturated:
        return []
    return ["## Warnings", "", *(f"- **{column}**: {SATURATED} ({why}; published rows not counted)."
                                 for column, why in board.saturated.items()), ""]


def _published_section(board: Board) -> list[str]:
    """Where the published rows come from, what is missing, and that stand-in numbers are not comparable."""
    if not board.reference:
        return []
    from libtrad.ray_jobs.evaluation.reference_rows import MARK

    if board.rank_with_reference:
        rank = ("They are ranked with the measured rows (`--rank-with-reference`): a published row's X-ARES average "
                "is over the measured columns it has a value in, weighted by those columns' test sizes; a row "
                "without any has no average and comes last.")
    else:
        rank = ("They are not ranked: they stand below the measured rows whatever their values "
                "(`--rank-with-reference` ranks them together).")
    lines = ["## Published reference rows (real data)", "",
             f"Rows marked *{MARK}* are the papers' own numbers, computed on the real recordings. "
             "**Numbers measured on libtrad's synthetic stand-ins are not comparable with them**: they show the "
             f"table to fill with results on the real datasets. {rank}", ""]
    for table in board.reference:
        src = table.source
        arxiv = f"arXiv {src['arxiv']}" if src.get("arxiv") else "no arXiv id found"
        verified = "" if src.get("metric_definition_verified") else " (not checked against the table's caption: " \
                                                                     "see the data file's metric_note)"
        lines.append(f"- **{table.label}**: *{src['paper']}* ({arxiv}), {src['table']}. Metric: "
                     f"{src['metric'].rstrip('.')}{verified}. Split: {src['split'].rstrip('.')}. "
                     f"Data file: `ray_jobs/evaluation/reference/{table.name}.json`.")
        for what in table.value_sources.values():
            if not what.get("checked_against_paper"):
                lines.append(f"  - `†`: from {what['what']}; not checked against the paper's table.")
        if table.empty:
            lines.append(f"  - Rows without any stored value (not shown): {', '.join(table.empty)}.")
        for gone in (m for m in table.missing if m.split(":")[0] not in table.empty):
            lines.append(f"  - Not stored: {gone}.")
    return [*lines, ""]


def _unverified_section(board: Board) -> list[str]:
    if not board.unverified:
        return []
    return ["## Inputs not verified", "", *(f"- {item}" for item in board.unverified), ""]


def csv_text(board: Board) -> str:
    from libtrad.ray_jobs.evaluation.reference_rows import MARK

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["encoder", *board.columns, "xares_weighted_average", "tasks", "siren_dcase_mean", "row"])

    def number(v):
        return "" if v is None else repr(v)

    for kind, row in board.rows():
        if kind == "measured":
            s = board.summary[row]
            cells = [board.cells[(row, c)].value if (row, c) in board.cells else None for c in board.columns]
            name, what = row, "measured" + (" (synthetic stand-in)" if any(
                e.synthetic for (enc, _), e in board.cells.items() if enc == row) else "")
        else:
            s = board.published_summary[row.name]
            cells = [row.cells[c].value if c in row.cells else None for c in board.columns]
            name, what = row.model, f"{MARK}: {row.label}"
        writer.writerow([name, *(number(v) for v in cells), number(s["xares_weighted_average"]), s["tasks"],
                         number(s["siren_dcase_mean"]), what])
    return buffer.getvalue()


def heatmap(board: Board, path: Path) -> Path:
    """Encoders × columns (and the two summaries) coloured by value, values written in (%); published rows
    labelled as such."""
    from libtrad.ray_jobs.evaluation.report import _new_figure, _save

    headers = [*board.columns, "X-ARES weighted avg", "SIREN DCASE mean"]
    shown = board.rows()
    labels = [row if kind == "measured" else f"{row.model} (published)" for kind, row in shown]
    grid = np.full((len(shown), len(headers)), np.nan)
    for i, (kind, row) in enumerate(shown):
        for j, column in enumerate(board.columns):
            if kind == "measured":
                entry = board.cells.get((row, column))
                grid[i, j] = np.nan if entry is None or entry.value is None else entry.value
            elif column in row.cells:
                grid[i, j] = row.cells[column].value
        s = board.summary[row] if kind == "measured" else board.published_summary[row.name]
        grid[i, -2:] = [np.nan if s[k] is None else s[k] for k in ("xares_weighted_average", "siren_dcase_mean")]
    fig = _new_figure(max(5.0, 0.9 * len(headers) + 3), max(2.5, 0.45 * len(shown) + 2))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(headers)), headers, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(shown)), labels, fontsize=7)
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, "–" if np.isnan(v) else f"{100 * v:.1f}", ha="center", va="center", fontsize=6,
                color="white" if not np.isnan(v) and v < 0.6 else "black")
    ax.axvline(len(board.columns) - 0.5, color="white", linewidth=2)
    fig.colorbar(image, ax=ax, label="value (0–1)")
    ax.set_title("Leaderboard (rows ranked by the X-ARES weighted average)", fontsize=9)
    return _save(fig, path)


def write_leaderboard(paths, output, normalise: str = "metric-range", *, no_verify: bool = False, reference=None,
                      rank_with_reference: bool = False) -> Board:
    """Read (and verify) every results folder, check the columns, write leaderboard.md/.csv/.png atomically
    into ``output``. ``reference``: published table names (``lib-trad-table3``, ``echo-table2``, ``all``;
    :mod:`libtrad.ray_jobs.evaluation.reference_rows`), checked before anything is read or written."""
    from libtrad.outputs import atomic_output
    from libtrad.ray_jobs.evaluation.reference_rows import load_table, parse_names
    from libtrad.remote_folders import local_folders, shown, shown_as_urls

    tables = [load_table(name) for name in parse_names(reference)]
    if rank_with_reference and not tables:
        raise ParameterError("rank_with_reference", True, "needs --reference (there are no published rows to rank)")
    # A URL (a results folder, or a prefix holding several) is fetched once into libtrad's cache and read
    # there like a local folder; the table and every error line name the URL.
    local, fetched = local_folders(paths, "results", marker="any")
    with shown_as_urls(fetched):
        folders = results_folders(local)
        inputs = {f"RESULTS {i + 1}": f for i, f in enumerate(folders)}
        read = {folder: read_results(folder, no_verify=no_verify) for folder in folders}
        entries = [e for folder, results in read.items() for e in entries_of(folder, results)]
        board = build(entries, normalise, tables, rank_with_reference)
    board.unverified = [shown(f"`{folder}` ({'; '.join(r['_verification'].get('problems') or [r['_verification']['reason']])})",
                              fetched) for folder, r in read.items() if not r["_verification"]["verified"]]
    board.synthetic = [shown(f, fetched) for f in board.synthetic]
    with atomic_output(output, "leaderboard", inputs=inputs) as tmp:
        (tmp / "leaderboard.md").write_text(markdown(board), encoding="utf-8")
        (tmp / "leaderboard.csv").write_text(csv_text(board), encoding="utf-8")
        heatmap(board, tmp / "leaderboard.png")
    return board
