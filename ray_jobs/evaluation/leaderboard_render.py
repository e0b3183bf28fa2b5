"""What ``libtrad leaderboard`` writes from a built :class:`~libtrad.ray_jobs.evaluation.leaderboard.Board`.

* ``leaderboard.md`` — the table (values in %; a paper's inference times in ms), then where the
  published rows come from (paper, arXiv id, table, metric, split; every printed mean that disagrees
  with its columns, marked ``‡`` in the table), the difference from the ``--diff-against`` row, and
  one note per column (metric, test sizes, why a cell is blank);
* ``leaderboard.csv`` — the same table as numbers (fractions, not %);
* ``leaderboard.png`` — a heat map of the fractions;
* with ``--reference``, ``leaderboard_published.csv`` — every published cell shown, one per line, with
  its printed text, its citation (paper, arXiv id, table, row, column as printed) and its flag;
* with ``--diff-against``, ``leaderboard_diff.csv`` — measured − published per encoder and column.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from libtrad.ray_jobs.evaluation import paper_columns as P
from libtrad.ray_jobs.evaluation.flags import SATURATED
from libtrad.ray_jobs.evaluation.leaderboard_results import FALSE_ALARMS_SUFFIX, LATENCY_SUFFIX, METRIC_LABELS
from libtrad.ray_jobs.evaluation.reference_rows import FLAG, MARK

SUMMARY = "X-ARES weighted average"
UNIT_COLUMNS = {LATENCY_SUFFIX: "s", FALSE_ALARMS_SUFFIX: "/h"}


def fraction(column: str) -> bool:
    if unit_of(column):
        return False
    column = P.BY_NAME.get(column)
    return column is None or column.fraction


def unit_of(column: str) -> str:
    """The unit of a measured column that is no fraction (lib-trad-events' latency and false alarms), else ""."""
    return next((unit for suffix, unit in UNIT_COLUMNS.items() if column.endswith(suffix)), "")


def shown(value: float | None, column: str) -> str:
    """A value as the table prints it: % with two decimals, or a paper's own unit (ms) as printed."""
    if value is None:
        return "–"
    return f"{100 * value:.2f}" if fraction(column) else f"{value:g} {unit_of(column) or 'ms'}"


def _cells(board, kind: str, row) -> list[str]:
    out = []
    for column in board.columns:
        text = shown(board.value(kind, row, column), column)
        if kind == "published" and column in row.cells:
            cell = row.cells[column]
            text += ("" if cell.checked else "†") + (FLAG if cell.flag else "")
        out.append(text)
    return out


def label(kind: str, row) -> str:
    return f"`{row}`" if kind == "measured" else f"`{row.model}` — {MARK}, {row.label}"


def summary_of(board, kind: str, row) -> dict:
    return board.summary[row] if kind == "measured" else board.published_summary[row.name]


def synthetic_line(board) -> list[str]:
    """The first line of leaderboard.md when any measured result was computed on a synthetic stand-in."""
    if not board.synthetic:
        return []
    return [
        f"**SYNTHETIC STAND-IN DATA**: {len(board.synthetic)} of the results folders were computed on synthetic "
        "stand-ins; their numbers say nothing about the real datasets and are not comparable with published "
        "(real-data) numbers.",
        "",
    ]


def _dcase_score_line(board) -> list[str]:
    """Which DCASE score ranks (``--rank-by``), said where any siren-dcase result is in the table."""
    if not any(c.startswith("siren-dcase · ") for c in board.measured_columns):
        return []
    if getattr(board, "dcase_score", "siren") == "official":
        return [
            "DCASE results rank by the **official DCASE score** (the year's evaluator: `… official` columns, the "
            "evaluation set's where labelled); SIREN's year score is shown in the papers' column, not ranked.",
            "",
        ]
    return ["DCASE results rank by **SIREN's year score** (`--rank-by official`: the official DCASE score).", ""]


def markdown(board) -> str:
    from libtrad.ray_jobs.evaluation.report import markdown_table

    rows = []
    for kind, row in board.rows():
        s = summary_of(board, kind, row)
        star = "*" if s["tasks"] < len(board.measured_columns) and s["xares_weighted_average"] is not None else ""
        rows.append([label(kind, row), *_cells(board, kind, row), shown(s["xares_weighted_average"], "") + star])
    how = "its metric's range" if board.normalise == "metric-range" else "the encoders in this table"
    ranked = "Rows ranked" if board.rank_with_reference or not board.reference else "Measured rows ranked"
    return "\n".join(
        [
            *synthetic_line(board),
            "# Leaderboard",
            "",
            f"Values in %. {ranked} by the X-ARES weighted average (each task's value "
            f"min-max normalised over {how}, weighted by its test-set size); `*`: averaged over fewer "
            "tasks than the table has. The papers' columns come first, in the papers' order; DCASE, fault "
            "and overall means are the papers' (see Columns).",
            "",
            *_dcase_score_line(board),
            *_saturation_section(board),
            markdown_table(["encoder", *board.columns, SUMMARY], rows),
            "",
            *_published_section(board),
            *_diff_section(board),
            "## Columns",
            "",
            *_column_notes(board),
            "",
            *_unverified_section(board),
        ]
    )


def _column_notes(board) -> list[str]:
    notes = []
    for column in board.columns:
        paper = P.BY_NAME.get(column)
        entries = [e for e in board.cells.values() if e.column == column]
        if paper is not None and paper.computed:
            text = (
                f"the paper's {'harmonic ' if paper.mean == 'harmonic' else ''}mean of {paper.describe}; for a "
                f"measured row computed only when all {len(paper.parts)} are present"
            )
        elif entries:
            sizes = sorted({e.test_size for e in entries if e.test_size})
            text = (
                f"{METRIC_LABELS.get(entries[0].metric, entries[0].metric)}, test size "
                f"{', '.join(map(str, sizes)) or 'unknown'}, protocol version {entries[0].protocol_version}"
            )
            text += "" if any(e.headline for e in entries) else " (an extra column: not in the X-ARES average)"
        else:
            tables = [t.label for t in board.reference if column in t.columns]
            text = f"published only ({', '.join(tables)}); no measured result has this column"
        if column in board.saturated:
            text += f"; **{SATURATED}** ({board.saturated[column]})"
        if board.blanks.get(column):
            text += "; blank where " + "; ".join(board.blanks[column])
        notes.append(f"- **{column}**: {text}")
    return notes


def _saturation_section(board) -> list[str]:
    if not board.saturated:
        return []
    return [
        "## Warnings",
        "",
        *(
            f"- **{column}**: {SATURATED} ({why}; published rows not counted)."
            for column, why in board.saturated.items()
        ),
        "",
    ]


def _published_section(board) -> list[str]:
    """Where the published rows come from, their flagged cells, and that stand-in numbers are not comparable."""
    if not board.reference:
        return []
    if board.rank_with_reference:
        rank = (
            "They are ranked with the measured rows (`--rank-with-reference`): a published row's X-ARES average "
            "is over the measured columns it has a value in, weighted by those columns' test sizes; a row "
            "without any has no average and comes last."
        )
    else:
        rank = (
            "They are not ranked: they stand below the measured rows whatever their values "
            "(`--rank-with-reference` ranks them together)."
        )
    lines = [
        "## Published reference rows (real data)",
        "",
        f"Rows marked *{MARK}* are the papers' own numbers, computed on the real recordings, in the columns of "
        "the same component and metric as the measured rows. **Numbers measured on libtrad's synthetic "
        f"stand-ins are not comparable with them**: they show the table to fill with results on the real "
        f"datasets. {rank} `{FLAG}`: a printed mean that disagrees with its columns, kept as printed.",
        "",
    ]
    for table in board.reference:
        src = table.source
        arxiv = f"arXiv {src['arxiv']}" if src.get("arxiv") else "no arXiv id"
        lines.append(
            f"- **{table.label}**: *{src['paper']}* ({arxiv}), {src['table']}. Metric: "
            f"{src['metric'].rstrip('.')}. Split: {src['split'].rstrip('.')}. "
            f"Data file: `ray_jobs/evaluation/reference/{table.name}.json`; every cell's source: "
            "`leaderboard_published.csv`."
        )
        printed = [" · ".join(r.printed.values()) for r in table.rows if len(r.printed) > 1]
        if printed:
            lines.append(f"  - Rows as printed: {'; '.join(printed)}.")
        for what in table.value_sources.values():
            if not what.get("checked_against_paper"):
                lines.append(f"  - `†`: from {what['what']}; not checked against the paper's table.")
        for row, column, cell in table.flags:
            lines.append(f"  - `{FLAG}` **{row.model}**, {table.paper_headers[column]}: {cell.flag}.")
        if table.empty:
            lines.append(f"  - Rows without any stored value (not shown): {', '.join(table.empty)}.")
        for gone in (m for m in table.missing if m.split(":")[0] not in table.empty):
            lines.append(f"  - Not stored: {gone}.")
    return [*lines, ""]


def _diff_section(board) -> list[str]:
    from libtrad.ray_jobs.evaluation.report import markdown_table

    row = board.diff_against
    if row is None:
        return []
    diffs = board.differences()
    columns = [c for c in board.columns if any(c in d for d in diffs.values())]
    lines = [
        f"## Difference from `{row.model}` ({row.label})",
        "",
        "Each measured value minus the published one (the papers' cells as printed), in percentage points "
        "(a paper's ms column: in ms); `leaderboard_diff.csv` has the same as fractions.",
    ]
    if not columns:
        return [*lines, "", "No measured row has a value in a column of that published row.", ""]
    rows = [[f"`{encoder}`", *(_signed(d.get(c), c) for c in columns)] for encoder, d in diffs.items()]
    return [*lines, "", markdown_table(["encoder", *columns], rows), ""]


def _signed(value: float | None, column: str) -> str:
    if value is None:
        return "–"
    return f"{100 * value:+.2f}" if fraction(column) else f"{value:+g} {unit_of(column) or 'ms'}"


def _unverified_section(board) -> list[str]:
    if not board.unverified:
        return []
    return ["## Inputs not verified", "", *(f"- {item}" for item in board.unverified), ""]


def _number(v) -> str:
    return "" if v is None else repr(v)


def csv_text(board) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["encoder", *board.columns, "xares_weighted_average", "tasks", "row"])
    for kind, row in board.rows():
        s = summary_of(board, kind, row)
        if kind == "measured":
            name, what = (
                row,
                "measured"
                + (
                    " (synthetic stand-in)"
                    if any(e.synthetic for (enc, _), e in board.cells.items() if enc == row)
                    else ""
                ),
            )
        else:
            name, what = row.model, f"{MARK}: {row.label}"
        writer.writerow(
            [
                name,
                *(_number(board.value(kind, row, c)) for c in board.columns),
                _number(s["xares_weighted_average"]),
                s["tasks"],
                what,
            ]
        )
    return buffer.getvalue()


def published_csv(board) -> str:
    """Every published cell the table shows, one a line, with what the paper prints and where."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "model", "column", "paper_column", "value", "printed", "source", "flag"])
    for table in board.reference:
        for row in table.rows:
            for column in (c for c in board.columns if c in row.cells):
                cell = row.cells[column]
                writer.writerow(
                    [
                        table.name,
                        row.model,
                        column,
                        table.paper_headers[column],
                        repr(cell.value),
                        cell.printed,
                        cell.cite,
                        cell.flag or "",
                    ]
                )
    return buffer.getvalue()


def diff_csv(board) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    diffs = board.differences()
    columns = [c for c in board.columns if any(c in d for d in diffs.values())]
    writer.writerow(["encoder", *columns, "against"])
    for encoder, d in diffs.items():
        writer.writerow([encoder, *(_number(d.get(c)) for c in columns), board.diff_against.qualified])
    return buffer.getvalue()


def heatmap(board, path: Path) -> Path:
    """Rows × columns (and the X-ARES average) coloured by value (fractions; a ms column is written, not
    coloured), values written in (%); published rows labelled as such."""
    from libtrad.ray_jobs.evaluation.report import new_figure, save_figure

    headers = [*board.columns, "X-ARES weighted avg"]
    rows = board.rows()
    labels = [row if kind == "measured" else f"{row.model} (published)" for kind, row in rows]
    grid = np.full((len(rows), len(headers)), np.nan)
    text = [["–"] * len(headers) for _ in rows]
    for i, (kind, row) in enumerate(rows):
        for j, column in enumerate(board.columns):
            value = board.value(kind, row, column)
            if value is not None:
                grid[i, j] = value if fraction(column) else np.nan
                text[i][j] = f"{100 * value:.1f}" if fraction(column) else f"{value:g} {unit_of(column) or 'ms'}"
        average = summary_of(board, kind, row)["xares_weighted_average"]
        if average is not None:
            grid[i, -1], text[i][-1] = average, f"{100 * average:.1f}"
    fig = new_figure(max(5.0, 0.9 * len(headers) + 3), max(2.5, 0.45 * len(rows) + 2))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(headers)), headers, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    for (i, j), v in np.ndenumerate(grid):
        ax.text(
            j,
            i,
            text[i][j],
            ha="center",
            va="center",
            fontsize=6,
            color="white" if not np.isnan(v) and v < 0.6 else "black",
        )
    ax.axvline(len(board.columns) - 0.5, color="white", linewidth=2)
    fig.colorbar(image, ax=ax, label="value (0–1)")
    ax.set_title("Leaderboard (rows ranked by the X-ARES weighted average)", fontsize=9)
    return save_figure(fig, path)
