"""The leaderboard's inputs: results folders read and checked, and each result's values in their columns.

What :mod:`~libtrad.ray_jobs.evaluation.leaderboard` ranks comes from here: :func:`read_results` (a
results folder checked against its own checksums, its ``results.json`` against the fields the table
reads, :func:`check_shape`) and :func:`cells_of` (every value one result gives, each in the column of
:mod:`~libtrad.ray_jobs.evaluation.paper_columns` that measures the same component with the same metric).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from libtrad.core.errors import LibtradError, ParameterError, first_line
from libtrad.folders.verify.inputs import check_input_folder
from libtrad.ray_jobs.evaluation import paper_columns as P
from libtrad.ray_jobs.evaluation.suites.probe_task import dataset_label

SUITE_ORDER = (
    "siren-dcase",
    "siren-fault",
    "lib-trad",
    "lib-trad-events",
    "linear-probe",
    "xares-mlp",
    "xares-knn",
    "mimii",
)
METRIC_RANGES = {
    "accuracy": (0.0, 1.0),
    "auc": (0.0, 1.0),
    "f1_weighted": (0.0, 1.0),
    "dcase_score": (0.0, 1.0),
    "hmean_auc": (0.0, 1.0),
    "event_f1": (0.0, 1.0),
    "latency_s": (0.0, float("inf")),
    "false_alarms_per_hour": (0.0, float("inf")),
}
METRIC_LABELS = {
    "accuracy": "accuracy",
    "auc": "AUC",
    "f1_weighted": "weighted F1",
    "dcase_score": "DCASE score",
    "hmean_auc": "harmonic-mean AUC",
    "event_f1": "event-based F1 (200 ms collars)",
    "latency_s": "median detection latency in seconds",
    "false_alarms_per_hour": "false alarms per hour of normal audio",
}
# lib-trad-events' extra columns end so; the table prints their values in these units, not as fractions
LATENCY_SUFFIX = " latency (s)"
FALSE_ALARMS_SUFFIX = " false alarms (/h)"


# ----------------------------------------------------------------------------- reading
def results_folders(paths) -> list[Path]:
    """Every results folder under ``paths`` (a folder with results.json, or one holding such folders)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if (path / "results.json").is_file():
            found.append(path)
        elif path.is_dir():
            inner = sorted(
                p.parent
                for p in path.rglob("results.json")
                if not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not inner:
                raise LibtradError(
                    f"{path}: no results.json in this folder or below (expected libtrad evaluate's output)"
                )
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
        names = " or ".join(
            {
                int: "a whole number",
                float: "a number",
                str: "text",
                list: "a list",
                dict: "an object",
                bool: "true/false",
            }[k]
            for k in kinds
        )
        raise LibtradError(
            f"{path}: {where} is {json.dumps(value)[:40]} ({type(value).__name__}), expected {names}"
            f"{' or null' if optional else ''}"
        )
    return value


def check_shape(results: dict, path: Path) -> None:
    """Every field :func:`entries_of` reads has the type libtrad evaluate writes (one line naming it)."""
    _typed(path, "suite", results.get("suite"), (str,), optional=False)
    for key in ("task", "metric", "protocol"):
        _typed(path, key, results.get(key), (str,))
    for key in ("year", "test_size"):
        _typed(path, key, results.get(key), (int,))
    for key in ("score", "accuracy", "f1_weighted", "mean", "value"):
        _typed(path, key, results.get(key), _NUMBER)
    _typed(path, "options", results.get("options"), (dict,))
    _typed(path, "synthetic", results.get("synthetic"), (bool,))
    _typed(path, "predictions", results.get("predictions"), (list,))
    for i, record in enumerate(_typed(path, "inputs", results.get("inputs"), (list,)) or []):
        _typed(path, f"inputs[{i}]", record, (dict,), optional=False)
        for key in ("encoder", "path", "dataset", "config", "component"):
            _typed(path, f"inputs[{i}].{key}", record.get(key), (str,))
        for j, name in enumerate(_typed(path, f"inputs[{i}].channels", record.get("channels"), (list,)) or []):
            _typed(path, f"inputs[{i}].channels[{j}]", name, (str,), optional=False)
        for j, shard in enumerate(
            _typed(path, f"inputs[{i}].dataset_shards", record.get("dataset_shards"), (list,)) or []
        ):
            _typed(path, f"inputs[{i}].dataset_shards[{j}]", shard, (str,), optional=False)
    for name, entry in (_typed(path, "sets", results.get("sets"), (dict,)) or {}).items():
        _typed(path, f"sets.{name}", entry, (dict,), optional=False)
        _typed(path, f"sets.{name}.score", entry.get("score"), _NUMBER)
    for name, entry in (_typed(path, "scorers", results.get("scorers"), (dict,)) or {}).items():
        _typed(path, f"scorers.{name}", entry, (dict,), optional=False)
        _typed(path, f"scorers.{name}.harmonic_mean", entry.get("harmonic_mean"), _NUMBER)
        for experiment, auc in (_typed(path, f"scorers.{name}.auc", entry.get("auc"), (dict,)) or {}).items():
            _typed(path, f"scorers.{name}.auc.{experiment}", auc, _NUMBER)
        experiments = _typed(path, f"scorers.{name}.experiments", entry.get("experiments"), (dict,)) or {}
        for experiment, m in experiments.items():  # lib-trad-events
            where = f"scorers.{name}.experiments.{experiment}"
            _typed(path, where, m, (dict,), optional=False)
            for key in ("event_f1", "false_alarms_per_hour", "charging_false_alarms_per_hour"):
                _typed(path, f"{where}.{key}", m.get(key), _NUMBER)
            _typed(path, f"{where}.latency", m.get("latency"), (dict,))
            _typed(path, f"{where}.counts", m.get("counts"), (dict,))
    for name, entry in (_typed(path, "counts", results.get("counts"), (dict,)) or {}).items():
        _typed(path, f"counts.{name}", entry, (dict,), optional=False)
        for key, value in entry.items():
            if isinstance(value, dict):  # siren-dcase: counts.<set>.<group>.{normal, anomaly}
                for k in ("normal", "anomaly"):
                    _typed(path, f"counts.{name}.{key}.{k}", value.get(k), (int,))
            elif key in ("normal", "abnormal", "train"):
                _typed(path, f"counts.{name}.{key}", value, (int,), optional=False)


def check_value(folder: Path, metric: str, value, size) -> None:
    path = folder / "results.json"
    if metric not in METRIC_RANGES:
        raise LibtradError(
            f"{path}: metric {metric!r} is not one the leaderboard knows ({', '.join(sorted(METRIC_RANGES))})"
        )
    low, high = METRIC_RANGES[metric]
    if value is not None and not (np.isfinite(value) and low <= value <= high):
        raise LibtradError(
            f"{path}: {METRIC_LABELS[metric]} {value!r} lies outside [{low:g}, {high:g}], the range "
            "of the metric (an edited or broken results.json?)"
        )
    if size is not None and size < 0:
        raise LibtradError(f"{path}: test size {size} is negative")


# ----------------------------------------------------------------------------- one result -> entries
def encoder_of(folder: Path, inputs: list[dict]) -> str:
    names = {i.get("encoder") or f"[{Path(i.get('path', folder)).name}]" for i in inputs} or {f"[{folder.name}]"}
    if len(names) > 1:
        raise LibtradError(
            f"{folder}: its inputs come from different encoders ({', '.join(sorted(names))}); "
            "a leaderboard row is one encoder"
        )
    return names.pop()


def dataset_key(inputs: list[dict]) -> tuple:
    return tuple(
        sorted((str(i.get("dataset")), str(i.get("config")), tuple(i.get("dataset_shards") or ())) for i in inputs)
    )


def _task(results: dict, inputs: list[dict], folder: Path) -> str:
    if results.get("task"):
        return str(results["task"])
    names = []
    for record in (i for i in inputs if i.get("dataset")):
        dataset = dataset_label(str(record["dataset"]))
        names.append(f"{dataset}/{record['config']}" if record.get("config") else dataset)
    return "+".join(dict.fromkeys(names)) or folder.name


def _dcase_test_size(results: dict) -> int:
    return sum(c.get("normal", 0) + c.get("anomaly", 0) for s in results.get("counts", {}).values() for c in s.values())


def _one(inputs: list[dict], key: str):
    """The inputs' common ``key`` (component, config, channels), None when absent or not shared."""
    values = {json.dumps(i.get(key)) for i in inputs}
    return json.loads(values.pop()) if len(values) == 1 else None


@dataclass(frozen=True)
class Cell:
    """One value a result gives: its column, metric, value, test size; ``headline``: the value the X-ARES average
    and the ranking use (one per column a result fills; the others are extra columns); ``blank``: why it is
    empty although the result exists."""

    column: str
    metric: str
    value: float | None
    size: int | None
    headline: bool = True
    blank: str = ""


def _fault_cells(results: dict, inputs: list[dict], folder: Path) -> list[Cell]:
    component, config, channels = _one(inputs, "component"), _one(inputs, "config"), _one(inputs, "channels")
    protocol, options = results.get("protocol"), results.get("options")
    column, _ = P.fault_column(component, config, protocol, channels, options)
    column = column or P.own_fault_column(
        component, config, protocol, channels, _task(results, inputs, folder), options
    )
    size = len(results.get("predictions", [])) or None
    return [
        Cell(column, "accuracy", results.get("accuracy"), size),
        Cell(f"{column} (weighted F1)", "f1_weighted", results.get("f1_weighted"), size, headline=False),
    ]


def _lib_trad_cells(results: dict) -> list[Cell]:
    """The Mahalanobis scorer's AUC per experiment and harmonic mean in the paper's columns (the mean only over
    all three experiments, as the paper's); any other scorer's harmonic mean in a column of its own."""
    counts = results.get("counts", {})
    size = sum(c.get("normal", 0) + c.get("abnormal", 0) for c in counts.values()) or None
    out = []
    for name, entry in sorted(results.get("scorers", {}).items()):
        if name != P.LIB_TRAD_SCORER:
            out.append(Cell(f"lib-trad {name} · harmonic mean", "hmean_auc", entry.get("harmonic_mean"), size))
            continue
        auc = {k.lower(): v for k, v in (entry.get("auc") or {}).items()}
        for i, column in enumerate(P.TR, 1):
            n = sum(counts.get(f"tr{i}", {}).get(k, 0) for k in ("normal", "abnormal")) or None
            out.append(Cell(column, "auc", auc.get(f"tr{i}"), n, headline=False))
        lacking = [f"TR{i}" for i in (1, 2, 3) if auc.get(f"tr{i}") is None]
        blank = f"has no AUC for {', '.join(lacking)} (the paper's harmonic mean is over all three)" if lacking else ""
        out.append(
            Cell(P.LIB_TRAD_HMEAN, "hmean_auc", None if lacking else entry.get("harmonic_mean"), size, blank=blank)
        )
    return out


DCASE_SCORES = ("siren", "official")  # which DCASE score ranks (leaderboard --rank-by)
OFFICIAL_SUFFIX = " official"


def _dcase_cells(results: dict, dcase_score: str) -> list[Cell]:
    """SIREN's year score in the papers' DCASE column; with ``dcase_score`` "official", the official DCASE score
    (the evaluation set's, else the development set's: ``official``) in a column of its own beside it, and it is
    that one the average and the ranking use (SIREN's is then shown only)."""
    column = f"siren-dcase · DCASE {results['year']}"
    siren = Cell(
        column, "dcase_score", results.get("score"), _dcase_test_size(results), headline=dcase_score == "siren"
    )
    if dcase_score == "siren":
        return [siren]
    official = results.get("official") or {}
    counts = (results.get("counts") or {}).get(official.get("set"), {})
    size = sum(c.get("normal", 0) + c.get("anomaly", 0) for c in counts.values()) or None
    blank = (
        ""
        if official.get("score") is not None
        else "has no official DCASE score (an older result, or a one-class group)"
    )
    return [Cell(column + OFFICIAL_SUFFIX, "dcase_score", official.get("score"), size, blank=blank), siren]


def _lib_trad_events_cells(results: dict) -> list[Cell]:
    """Per scorer and experiment: event F1 (the headline), median latency and false alarms per hour (extra;
    on the normal-charging sets where the result has them, else on the test split's normal segments)."""
    out = []
    for name, entry in sorted(results.get("scorers", {}).items()):
        for experiment, m in sorted((entry.get("experiments") or {}).items()):
            column = f"lib-trad-events {name} · {experiment.upper()}"
            size = (m.get("counts") or {}).get("recordings")
            charging = m.get("charging_false_alarms_per_hour")
            alarms = charging if charging is not None else m.get("false_alarms_per_hour")
            out += [
                Cell(f"{column} event F1", "event_f1", m.get("event_f1"), size),
                Cell(column + LATENCY_SUFFIX, "latency_s", (m.get("latency") or {}).get("median_s"), size, False),
                Cell(column + FALSE_ALARMS_SUFFIX, "false_alarms_per_hour", alarms, size, False),
            ]
    return out


def cells_of(results: dict, folder: Path, dcase_score: str = "siren") -> list[Cell]:
    """Every value one result gives, each in its column (:mod:`~libtrad.ray_jobs.evaluation.paper_columns`);
    ``dcase_score``: which DCASE score a siren-dcase result ranks by (:data:`DCASE_SCORES`)."""
    suite, inputs = results["suite"], results.get("inputs") or []
    if suite == "siren-dcase":
        return _dcase_cells(results, dcase_score)
    if suite == "siren-fault":
        return _fault_cells(results, inputs, folder)
    if suite == "lib-trad":
        return _lib_trad_cells(results)
    if suite == "lib-trad-events":
        return _lib_trad_events_cells(results)
    task = _task(results, inputs, folder)
    if suite in ("linear-probe", "xares-mlp"):
        return [Cell(f"{suite} · {task}", results["metric"], results.get("mean"), results.get("test_size"))]
    if suite == "xares-knn":
        return [Cell(f"{suite} · {task}", results["metric"], results.get("value"), results.get("test_size"))]
    if suite == "mimii":  # one column per SNR, as the MIMII paper reports each SNR apart
        counts = results.get("counts", {})
        return [
            Cell(
                f"mimii {name} · {task}",
                "auc",
                entry.get("score"),
                sum(c.get("normal", 0) + c.get("abnormal", 0) for c in counts.get(name, {}).values()) or None,
            )
            for name, entry in results.get("sets", {}).items()
        ]
    raise LibtradError(
        f"{folder}: results of suite {suite!r}, which the leaderboard does not know "
        f"(expected one of {', '.join(SUITE_ORDER)})"
    )
