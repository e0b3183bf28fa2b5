"""The papers' columns: one leaderboard column per (component, metric as the paper uses it).

A real CWRU run and ECHO's CWRU cell must stand in one column, whatever the local folders are
called. So the column of a measured result is found from what its ``results.json`` says about the
data — the suite, the dataset's component (``inputs[].component``: the builder's component name,
which ``libtrad embed`` reads from the export's ``manifest.json`` and ``evaluate`` copies into the
results), its config, the protocol, and for MAFAULDA the channels the embeddings were computed
from (``inputs[].channels``) — never from a folder name. The published tables
(:mod:`~libtrad.ray_jobs.evaluation.reference_rows`) land in the same columns.

The columns, in the papers' order (:data:`COLUMNS`), with the metric as the paper uses it and what
fills them for a measured row:

* ``siren-dcase · DCASE 2020`` … ``2025`` — the year's DCASE score; ``siren-dcase`` results of that year.
* ``DCASE mean`` — the mean of the six years; computed, only when all six are present.
* ``siren-fault · IIEE`` / ``IICA`` / ``CWRU`` / ``MAFAULDA sound`` / ``MAFAULDA vibration`` — accuracy;
  ``siren-fault`` results of component ``iiee`` (LOOCV), ``iica`` (k-fold), ``cwru`` (config ``faults``,
  LOOCV), ``mafaulda`` (LOOCV) embedded from the microphone alone (sound) or from accelerometers only
  (vibration).
* ``fault mean`` — the mean of the five fault columns; ``overall mean`` — the mean of all eleven;
  computed, only when all their columns are present.
* ``lib-trad · TR1`` / ``TR2`` / ``TR3`` — AUC per experiment, and ``lib-trad · harmonic mean`` — their
  harmonic mean (the suite's, given only when all three AUCs exist): ``lib-trad`` results, Mahalanobis scorer.
* ``lib-trad · inference ms`` and ``lib-trad CNN (supervised) · TR1`` … ``TR3`` (LiB-TRAD Table 2, a
  supervised protocol): published only.

The protocols are ECHO Table 1's (CWRU, MAFAULDA and IIEE by leave-one-out, IICA by 5-fold cross
validation, all KNN — SIREN's: k = 5, Euclidean); a result of another protocol or KNN, a CWRU result of
another config, or a MAFAULDA result whose channels are unknown or mixed (all eight channels, say) is
not the paper's number: it keeps a column of its own after the paper's, named by its component,
config and protocol. Which
accelerometer Table 2's "vibration" column used is not stated in what was read (SIREN scores each
MAFAULDA channel on its own, by channel name: tachometer, six accelerometers, microphone), so any
set of accelerometer channels lands there. The LiB-TRAD columns take the Mahalanobis scorer, the
scoring of the paper's proposed method; the 1-NN scorer keeps its own column
(``lib-trad knn · harmonic mean``).

Results written before the component was recorded have none: their fault column is named by
their dataset and config, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

DCASE_YEARS = tuple(range(2020, 2026))


@dataclass(frozen=True)
class PaperColumn:
    """One leaderboard column a paper defines. ``parts``: a mean's columns (``mean``: arithmetic or harmonic);
    ``computed``: the leaderboard computes it for measured rows from their ``parts`` (else a suite reports it);
    ``also``: another set of columns a printed mean is compared with when it disagrees with ``parts``."""

    name: str
    metric: str
    tables: tuple[str, ...]  # the reference tables that print it (reference_rows.TABLES)
    parts: tuple[str, ...] = ()
    mean: str = ""
    computed: bool = False
    also: tuple[str, ...] = ()
    fraction: bool = True  # a value in [0, 1] (else e.g. milliseconds)
    describe: str = ""  # what a mean averages, in words


def short(name: str) -> str:
    """A column's name without its suite (``siren-dcase · DCASE 2020`` -> ``DCASE 2020``), for notes."""
    return name.split(" · ", 1)[-1]


@dataclass(frozen=True)
class FaultSource:
    """What a ``siren-fault`` result must say to land in a paper column."""

    component: str
    config: str
    protocols: tuple[str, ...]
    column: str | None  # None: decided by the channels (MAFAULDA)


ECHO, LIB3, LIB2 = ("echo-table2",), ("lib-trad-table3",), ("lib-trad-table2",)
DCASE = tuple(f"siren-dcase · DCASE {year}" for year in DCASE_YEARS)
FAULT = tuple(f"siren-fault · {name}" for name in ("IIEE", "IICA", "CWRU", "MAFAULDA sound", "MAFAULDA vibration"))
MAFAULDA_SOUND, MAFAULDA_VIBRATION = FAULT[3], FAULT[4]
TR = tuple(f"lib-trad · TR{i}" for i in (1, 2, 3))
LIB_TRAD_HMEAN = "lib-trad · harmonic mean"
LIB_TRAD_SCORER = "mahalanobis"  # the scorer whose numbers fill the paper's LiB-TRAD columns

COLUMNS: tuple[PaperColumn, ...] = (
    *(PaperColumn(name, "dcase_score", ECHO) for name in DCASE),
    PaperColumn("DCASE mean", "dcase_score", ECHO, DCASE, "arithmetic", computed=True, describe="the six DCASE years"),
    *(PaperColumn(name, "accuracy", ECHO) for name in FAULT),
    PaperColumn(
        "fault mean",
        "accuracy",
        ECHO,
        FAULT,
        "arithmetic",
        computed=True,
        describe="the five fault columns (IIEE, IICA, CWRU, MAFAULDA sound and vibration)",
    ),
    PaperColumn(
        "overall mean",
        "mean",
        ECHO,
        DCASE + FAULT,
        "arithmetic",
        computed=True,
        also=("DCASE mean", "fault mean"),
        describe="all eleven DCASE and fault columns",
    ),
    *(PaperColumn(name, "auc", LIB3) for name in TR),
    PaperColumn(LIB_TRAD_HMEAN, "hmean_auc", LIB3, TR, "harmonic", describe="TR1, TR2 and TR3"),
    PaperColumn("lib-trad · inference ms", "inference_ms", LIB3, fraction=False),
    *(PaperColumn(f"lib-trad CNN (supervised) · TR{i}", "auc", LIB2) for i in (1, 2, 3)),
)
BY_NAME = {c.name: c for c in COLUMNS}
ORDER = {c.name: i for i, c in enumerate(COLUMNS)}

ACCELEROMETERS = (
    "underhang-axial",
    "underhang-radial",
    "underhang-tangential",
    "overhang-axial",
    "overhang-radial",
    "overhang-tangential",
)  # MAFAULDA's, by SIREN's names
KNN = {"k": 5, "metric": "euclidean"}  # SIREN's fault KNN (test_fault_classification.py's config)
FAULT_SOURCES = {
    "iiee": FaultSource("iiee", "default", ("loocv",), FAULT[0]),
    "iica": FaultSource("iica", "default", ("kfold",), FAULT[1]),
    "cwru": FaultSource("cwru", "faults", ("loocv",), FAULT[2]),
    "mafaulda": FaultSource("mafaulda", "default", ("loocv",), None),
}


def mafaulda_column(channels) -> str | None:
    """Sound (the microphone alone) or vibration (accelerometers only); None for any other or unknown set."""
    if not channels:
        return None
    names = tuple(channels)
    if names == ("microphone",):
        return MAFAULDA_SOUND
    return MAFAULDA_VIBRATION if all(n in ACCELEROMETERS for n in names) else None


def knn_differs(options: dict | None) -> str:
    """How a ``siren-fault`` result's KNN differs from SIREN's (k = 5, Euclidean: its fault script's config), or ''."""
    options = options or {}
    k, metric = options.get("k", KNN["k"]), options.get("metric", KNN["metric"])
    return (
        ""
        if (k, metric) == (KNN["k"], KNN["metric"])
        else f"k={k}" + ("" if metric == KNN["metric"] else f", {metric}")
    )


def fault_column(
    component: str | None, config: str | None, protocol: str | None, channels, options: dict | None = None
) -> tuple[str | None, str]:
    """(paper column or None, why not) of one ``siren-fault`` result's data and protocol."""
    source = FAULT_SOURCES.get(component or "")
    if source is None:
        return None, "no component of ECHO Table 2" if component else "its embeddings record no component"
    if config != source.config:
        return None, f"config {config!r}, not {source.config!r}"
    if protocol not in source.protocols:
        return None, f"protocol {protocol}, ECHO Table 1's is {' or '.join(source.protocols)}"
    if knn_differs(options):
        return None, f"KNN {knn_differs(options)}, SIREN's is k=5, euclidean"
    column = source.column or mafaulda_column(channels)
    if column is None:
        shown = ", ".join(channels) if channels else "not recorded"
        return None, f"channels {shown}: neither the microphone alone (sound) nor accelerometers only (vibration)"
    return column, ""


def own_fault_column(
    component: str | None, config: str | None, protocol: str | None, channels, task: str, options: dict | None = None
) -> str:
    """The column of a ``siren-fault`` result outside the paper's: by component, config, protocol, a KNN other
    than SIREN's (and the channels where they decide), else (no component recorded) by its task/dataset label."""
    if not component:
        return f"siren-fault · {task}"
    parts = [component, config or "", protocol or "", knn_differs(options)]
    if component == "mafaulda":
        parts.append("+".join(channels) if channels else "channels not recorded")
    return "siren-fault · " + "/".join(p for p in parts[:2] if p) + f" ({', '.join(p for p in parts[2:] if p)})"


def mean_of(column: PaperColumn, values: list[float]) -> float:
    """The paper's mean of ``values`` (all of the column's parts)."""
    if column.mean == "harmonic":
        return len(values) / sum(1.0 / v for v in values)
    return sum(values) / len(values)


def sort_key(name: str, suite_order: dict[str, int]) -> tuple:
    """Paper columns first in the papers' order, then the others by suite and name."""
    if name in ORDER:
        return 0, ORDER[name], ""
    return 1, suite_order.get(name.split(" · ")[0].split(" ")[0], 99), name
