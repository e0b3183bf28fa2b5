"""``libtrad leaderboard RESULTS… --output OUT``: several encoders × suites × datasets in one table.

Input: any number of results folders (``libtrad evaluate …``'s); a folder without a
``results.json`` is searched for results folders inside it. Output
(:mod:`~libtrad.ray_jobs.evaluation.leaderboard_render`): ``OUT/leaderboard.md``, ``leaderboard.csv``
and ``leaderboard.png`` (a heat map), encoders as rows, one column per component × metric, and the
X-ARES weighted average.

Rows: the encoder of each result (``inputs[].encoder`` from the embeddings' ``embeddings.json``;
without one, the embeddings folder's name in brackets). A result whose inputs were made by
different encoders is refused.

Columns (:mod:`~libtrad.ray_jobs.evaluation.paper_columns`): a result lands in the column of the
papers' tables that measures the same component with the same metric — found from what its
``results.json`` says about the data (suite, DCASE year, the dataset's component and config, the
protocol, MAFAULDA's channels), never from a folder name — so a real CWRU run stands beside ECHO's
CWRU cell. The papers' columns come first, in the papers' order; results that map to none keep
columns of their own after them (``<suite> · <task>``: the result's ``task``, else the component or
``<dataset>/<config>`` of its inputs). Each result fills one *headline* column, the number the
X-ARES average and the ranking use, and may fill extra ones:

==============================  ===========================================  ==========================
suite                           headline (extra columns)                     test size
==============================  ===========================================  ==========================
siren-dcase                     ``score``, the year's DCASE score (SIREN's;  labelled test clips
                                ``--rank-by official``: ``official.score``
                                in ``… DCASE Y official``, SIREN's shown)
siren-fault                     ``accuracy``, as ECHO Table 2 (weighted F1)  predicted rows
lib-trad                        Mahalanobis: harmonic mean (AUC per TR);     normal + abnormal
                                other scorers: their harmonic mean
lib-trad-events                 event F1 per scorer and experiment (median   recordings (rows)
                                latency in s, false alarms per hour)
linear-probe, xares-mlp         ``mean`` over seeds (accuracy or AUC)        ``test_size``
xares-knn                       ``value`` (accuracy or AUC)                  ``test_size``
mimii (a column per SNR)        ``sets.<snr>.score`` (mean AUC per machine)  normal + abnormal
==============================  ===========================================  ==========================

The papers' means — DCASE mean (six years), fault mean (five fault columns), overall mean (all
eleven) — are columns too: for a measured row they are computed as the paper computes them, and only
when every column they average has a value (else blank, the note under "Columns" says which are
missing). LiB-TRAD's harmonic mean likewise needs all three experiments' AUCs.

Results may share a column only when they are comparable; otherwise one line names the two
folders and the clash:

* a different ``protocol_version`` (the suite's numbers changed meaning);
* embeddings of different data: the inputs' config and dataset shards (SHA-256 of every Parquet
  shard embedded; a rebuilt or partly embedded dataset differs) must be equal — and the dataset's
  name or path where a result records no shards (identical shards in folders of other names are the
  same data);
* different options (e.g. 200 vs 10 epochs) — except those that do not change a column's number
  (:data:`IGNORED_OPTIONS`: the task's name, lib-trad's choice of scorers, siren-fault's block size);
* the same encoder twice.

**X-ARES weighted average** — each headline value min-max normalised over the range its metric
can take (:data:`METRIC_RANGES`; every metric these suites report lies in [0, 1], so the
normalisation keeps it as it is, and it is not stretched by the other encoders in the table,
so an encoder's average does not change when another joins), then averaged with each task
weighted by its test-set size, as X-ARES weights its tasks. Over the columns the encoder has;
``tasks`` tells how many, and the Markdown marks an average over fewer columns than the table
has with ``*`` (it is then not comparable with the complete rows). Rows are ranked by it (highest
first; encoders without one last, by name).

Published rows (``--reference``, :mod:`libtrad.ray_jobs.evaluation.reference_rows`): the papers' own
numbers on the real recordings, every cell with its source, marked "published (real data)", below the
measured rows and never ranked with them unless ``rank_with_reference`` (then by the X-ARES average over
the measured columns they have a value in, weighted by those columns' test sizes). A printed mean that
disagrees with its columns is shown as printed and flagged ``‡``. They do not enter the clash checks or
the saturation warnings: they are other data, and stand-in numbers are not comparable with them.
``diff_against`` (``--diff-against MODEL`` or ``TABLE:MODEL``) adds each measured row's difference from
one published row, cell by cell (measured − published), to ``leaderboard.md`` and ``leaderboard_diff.csv``.

Warnings (:mod:`libtrad.ray_jobs.evaluation.flags`): a measured headline column where every encoder
scores ≥ 0.99, or two or more all score the same, is listed as "saturated: this task does not separate
these encoders"; results computed on a synthetic stand-in (``results.json`` ``synthetic``) make the
first line of ``leaderboard.md`` say so.

Inputs are checked before anything is ranked: a results folder libtrad wrote must match its own
``.libtrad.json`` checksums (an edited ``results.json`` is refused, naming the file; ``--no-verify``
uses it anyway and the leaderboard lists it as unverified), and every field the table reads must
have its type, each value a finite number inside its metric's range
(:data:`METRIC_RANGES`) — an F1 of 7.5 is a broken file, not a score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.folders.outputs import atomic_output
from libtrad.folders.remote import local_folders, shown, shown_as_urls
from libtrad.ray_jobs.evaluation import paper_columns as P
from libtrad.ray_jobs.evaluation.flags import tie_or_saturated
from libtrad.ray_jobs.evaluation.leaderboard_render import csv_text, diff_csv, heatmap, published_csv
from libtrad.ray_jobs.evaluation.leaderboard_render import markdown as render_markdown
from libtrad.ray_jobs.evaluation.leaderboard_results import (
    DCASE_SCORES,
    METRIC_RANGES,
    SUITE_ORDER,
    cells_of,
    check_value,
    dataset_key,
    encoder_of,
    read_results,
    results_folders,
)
from libtrad.ray_jobs.evaluation.reference_rows import find_row, load_table, parse_names

IGNORED_OPTIONS = (
    "task",
    "scorers",
    "block_rows",
    "device",
)  # a name, a column choice (lib-trad), a memory knob, where it ran


@dataclass(frozen=True)
class Entry:
    """One value of the table: a result folder's value for one column."""

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
    headline: bool = True  # the value the X-ARES average and the ranking use (else an extra column)
    blank: str = ""  # why the value is empty although the result exists


def entries_of(folder: Path, results: dict, dcase_score: str = "siren") -> list[Entry]:
    inputs = results.get("inputs") or []
    encoder = encoder_of(folder, inputs)
    options = tuple(
        sorted(
            (k, json.dumps(v, sort_keys=True))
            for k, v in (results.get("options") or {}).items()
            if k not in IGNORED_OPTIONS
        )
    )
    out = []
    for cell in cells_of(results, folder, dcase_score):
        check_value(folder, cell.metric, cell.value, cell.size)
        out.append(
            Entry(
                folder,
                encoder,
                results["suite"],
                cell.column,
                cell.metric,
                None if cell.value is None else float(cell.value),
                cell.size,
                results.get("protocol_version"),
                dataset_key(inputs),
                options,
                results.get("year"),
                bool(results.get("synthetic")),
                cell.headline,
                cell.blank,
            )
        )
    return out


# ----------------------------------------------------------------------------- clashes
def check_clashes(entries: list[Entry]) -> None:
    """One line naming both folders when two results in a column are not comparable."""
    first: dict[str, Entry] = {}
    seen: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        other = seen.get((entry.column, entry.encoder))
        if other is not None:
            raise LibtradError(
                f"column {entry.column}: encoder {entry.encoder} appears twice ({other.folder} and "
                f"{entry.folder}); give one result per encoder and column"
            )
        seen[(entry.column, entry.encoder)] = entry
        ref = first.setdefault(entry.column, entry)
        problem = _clash(ref, entry)
        if problem:
            raise LibtradError(f"column {entry.column}: {ref.folder} and {entry.folder} are not comparable ({problem})")


def _same_data(a: Entry, b: Entry) -> bool:
    """The same embedded data: when both record the SHA-256 of every shard, the config and those digests
    (wherever the dataset folders are and whatever they are called); else the dataset's name too."""
    if all(shards for *_, shards in a.dataset + b.dataset):
        return sorted(d[1:] for d in a.dataset) == sorted(d[1:] for d in b.dataset)
    return a.dataset == b.dataset


def _clash(a: Entry, b: Entry) -> str | None:
    if a.protocol_version != b.protocol_version:
        return f"protocol version {a.protocol_version} vs {b.protocol_version}"
    if not _same_data(a, b):
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


def paper_means(encoder: str, cells: dict, columns: list[str]) -> tuple[dict, dict]:
    """The paper's means (:data:`~libtrad.ray_jobs.evaluation.paper_columns.COLUMNS` with ``computed``) of one
    measured row, each only when every column it averages has a value: {column: value or None} and
    {column: note} for each blank mean, naming what it lacks."""
    means, notes = {}, {}
    for name in columns:
        column = P.BY_NAME.get(name)
        if column is None or not column.computed:
            continue
        values = [cells[(encoder, p)].value if (encoder, p) in cells else None for p in column.parts]
        lacking = [p for p, v in zip(column.parts, values) if v is None]
        means[name] = None if lacking else P.mean_of(column, values)
        if lacking:
            notes[name] = f"`{encoder}` lacks {', '.join(P.short(p) for p in lacking)}"
    return means, notes


@dataclass
class Board:
    encoders: list[str]  # the measured rows, ranked
    columns: list[str]  # the papers' columns shown (their order), then the other measured columns
    cells: dict  # (encoder, column) -> Entry
    summary: dict  # encoder -> {"xares_weighted_average", "tasks"}
    normalise: str = "metric-range"
    unverified: list = None  # "FOLDER (why)" of each input used without verification
    measured_columns: list = field(default_factory=list)  # columns of headline values (the X-ARES tasks)
    reference: list = field(default_factory=list)  # ReferenceTable (reference_rows.py) asked for with --reference
    published_summary: dict = field(default_factory=dict)  # ReferenceRow.name -> the summary keys above
    rank_with_reference: bool = False
    saturated: dict = field(default_factory=dict)  # measured column -> why it does not separate the encoders
    synthetic: list = field(default_factory=list)  # results folders computed on synthetic stand-ins
    means: dict = field(default_factory=dict)  # (encoder, mean column) -> the paper's mean, or None (blank)
    blanks: dict = field(default_factory=dict)  # column -> notes on its blank measured cells
    diff_against: object = None  # a ReferenceRow: measured − published per cell (differences())
    dcase_score: str = "siren"  # which DCASE score ranks: SIREN's year score or the official one (--rank-by)

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

    def value(self, kind: str, row, column: str) -> float | None:
        """The value a row shows in ``column`` (a measured row's paper means included)."""
        if kind == "published":
            cell = row.cells.get(column)
            return None if cell is None else cell.value
        if (row, column) in self.means:
            return self.means[(row, column)]
        entry = self.cells.get((row, column))
        return None if entry is None else entry.value

    def differences(self) -> dict[str, dict[str, float]]:
        """encoder -> column -> measured − published against :attr:`diff_against`, in every column where both
        have a value (the published value as printed)."""
        if self.diff_against is None:
            return {}
        out = {}
        for encoder in self.encoders:
            diffs = {
                c: self.value("measured", encoder, c) - cell.value
                for c, cell in self.diff_against.cells.items()
                if c in self.columns and self.value("measured", encoder, c) is not None
            }
            out[encoder] = {c: diffs[c] for c in self.columns if c in diffs}
        return out


def saturated_columns(entries: list[Entry]) -> dict[str, str]:
    """Measured headline columns that do not separate their encoders (:func:`flags.tie_or_saturated`: every
    encoder ≥ 0.99, or two or more all equal) -> why. Published rows never count: they are other data."""
    out = {}
    for column in sorted({e.column for e in entries if e.headline}):
        why = tie_or_saturated([e.value for e in entries if e.column == column and e.value is not None], "encoder")
        if why:
            out[column] = why
    return out


def published_summary(row, entries: list[Entry], normalise: str) -> dict:
    """A published row's X-ARES average over the *measured* headline columns it has a value in, each weighted
    by the test size the measured results report for that column (the same test set; metric-range
    normalisation only: stretching real-data rows over stand-in rows means nothing)."""
    sizes: dict[str, tuple[str, int]] = {}
    for e in entries:
        if e.test_size and e.headline:
            sizes[e.column] = (e.metric, max(e.test_size, sizes.get(e.column, ("", 0))[1]))
    items = [(sizes[c][0], cell.value, sizes[c][1]) for c, cell in row.cells.items() if c in sizes]
    return {
        "xares_weighted_average": weighted_average(items) if normalise == "metric-range" else None,
        "tasks": len(items),
    }


def shown_columns(entries: list[Entry], reference) -> list[str]:
    """The measured columns, the published tables' columns with a value, and the paper means any of those feed;
    the papers' columns first, in the papers' order."""
    names = {e.column for e in entries} | {c for t in reference for r in t.rows for c in r.cells}
    names |= {c.name for c in P.COLUMNS if c.computed and names & set(c.parts)}
    order = {s: i for i, s in enumerate(SUITE_ORDER)}
    return sorted(names, key=lambda c: P.sort_key(c, order))


def build(
    entries: list[Entry],
    normalise: str = "metric-range",
    reference=(),
    rank_with_reference: bool = False,
    diff_against: str | None = None,
    dcase_score: str = "siren",
) -> Board:
    """The table. ``normalise``: ``metric-range`` (default: each value over its metric's possible range,
    so an encoder's average does not move when another joins) or ``encoders`` (each column over the
    encoders in the table). ``reference``: published tables (:func:`reference_rows.load_table`) shown as
    rows of their own, ranked with the measured rows only with ``rank_with_reference``. ``diff_against``: a
    published row (``MODEL`` or ``TABLE:MODEL``) every measured row is compared with, cell by cell."""
    if normalise not in NORMALISATIONS:
        raise ParameterError("normalise", normalise, f"must be one of {', '.join(NORMALISATIONS)}")
    reference = list(reference)
    against = find_row(reference, diff_against) if diff_against is not None else None
    check_clashes(entries)
    headline = [e for e in entries if e.headline]
    stretched = across_encoders(headline) if normalise == "encoders" else None
    columns = shown_columns(entries, reference)
    cells = {(e.encoder, e.column): e for e in entries}
    summary, means, blanks = {}, {}, {}
    for encoder in {e.encoder for e in entries}:
        mine = [e for e in headline if e.encoder == encoder]
        items = (
            [(e.metric, e.value, e.test_size) for e in mine]
            if stretched is None
            else [("fraction", stretched.get(id(e)), e.test_size) for e in mine]
        )
        summary[encoder] = {
            "xares_weighted_average": weighted_average(items),
            "tasks": sum(1 for e in mine if e.value is not None and e.test_size),
        }
        row_means, notes = paper_means(encoder, cells, columns)
        means.update({(encoder, c): v for c, v in row_means.items()})
        for column, note in notes.items():
            blanks.setdefault(column, []).append(note)
    for e in entries:
        if e.blank:
            blanks.setdefault(e.column, []).append(f"`{e.encoder}` {e.blank}")
    encoders = sorted(
        summary,
        key=lambda n: (summary[n]["xares_weighted_average"] is None, -(summary[n]["xares_weighted_average"] or 0.0), n),
    )
    measured = [c for c in columns if any(e.column == c for e in headline)]
    return Board(
        encoders,
        columns,
        cells,
        summary,
        normalise,
        measured_columns=measured,
        reference=reference,
        published_summary={r.name: published_summary(r, entries, normalise) for t in reference for r in t.rows},
        rank_with_reference=rank_with_reference,
        saturated=saturated_columns(entries),
        synthetic=sorted({str(e.folder) for e in entries if e.synthetic}),
        means=means,
        blanks={c: sorted(n) for c, n in blanks.items()},
        diff_against=against,
        dcase_score=dcase_score,
    )


# ----------------------------------------------------------------------------- writing
def write_leaderboard(
    paths,
    output,
    normalise: str = "metric-range",
    *,
    no_verify: bool = False,
    reference=None,
    rank_with_reference: bool = False,
    diff_against: str | None = None,
    rank_by: str = "siren",
) -> Board:
    """Read (and verify) every results folder, check the columns, write leaderboard.md/.csv/.png atomically
    into ``output`` (:mod:`~libtrad.ray_jobs.evaluation.leaderboard_render`). ``reference``: published table
    names (``lib-trad-table3``, ``echo-table2``, ``lib-trad-table2``, ``all``;
    :mod:`libtrad.ray_jobs.evaluation.reference_rows`) and ``diff_against`` (one of their rows), checked before
    anything is read or written. ``rank_by``: ``siren`` (SIREN's year score) or ``official`` (the official
    DCASE score, in a column of its own) is the DCASE value a siren-dcase result ranks by."""
    if rank_by not in DCASE_SCORES:
        raise ParameterError("rank_by", rank_by, f"must be one of {', '.join(DCASE_SCORES)}")
    tables = [load_table(name) for name in parse_names(reference)]
    if rank_with_reference and not tables:
        raise ParameterError("rank_with_reference", True, "needs --reference (there are no published rows to rank)")
    if diff_against is not None:
        find_row(tables, diff_against)
    # A URL (a results folder, or a prefix holding several) is fetched once into libtrad's cache and read
    # there like a local folder; the table and every error line name the URL.
    local, fetched = local_folders(paths, "results", marker="any")
    with shown_as_urls(fetched):
        folders = results_folders(local)
        inputs = {f"RESULTS {i + 1}": f for i, f in enumerate(folders)}
        read = {folder: read_results(folder, no_verify=no_verify) for folder in folders}
        entries = [e for folder, results in read.items() for e in entries_of(folder, results, rank_by)]
        board = build(entries, normalise, tables, rank_with_reference, diff_against, rank_by)
    board.unverified = [
        shown(
            f"`{folder}` ({'; '.join(r['_verification'].get('problems') or [r['_verification']['reason']])})", fetched
        )
        for folder, r in read.items()
        if not r["_verification"]["verified"]
    ]
    board.synthetic = [shown(f, fetched) for f in board.synthetic]
    with atomic_output(output, "leaderboard", inputs=inputs) as tmp:
        (tmp / "leaderboard.md").write_text(markdown(board), encoding="utf-8")
        (tmp / "leaderboard.csv").write_text(csv_text(board), encoding="utf-8")
        if tables:
            (tmp / "leaderboard_published.csv").write_text(published_csv(board), encoding="utf-8")
        if board.diff_against is not None:
            (tmp / "leaderboard_diff.csv").write_text(diff_csv(board), encoding="utf-8")
        heatmap(board, tmp / "leaderboard.png")
    return board


def markdown(board: Board) -> str:
    """leaderboard.md's text (:func:`libtrad.ray_jobs.evaluation.leaderboard_render.markdown`)."""
    return render_markdown(board)
