"""``libtrad evaluate SUITE --embeddings EMB… --output OUT``: any registered suite, one driver.

A suite is a :class:`~libtrad.ray_jobs.evaluation.suites.base.Suite` (``plan`` / ``columns_for`` /
``run_unit`` / ``combine``, see :mod:`libtrad.ray_jobs.evaluation.runner`, and ``write_report`` for
``results.md`` + PNGs, with its options class), named in :data:`SUITES` by ``"module:SUITE"``.
The driver checks the output first (a libtrad ``results``
folder; never a folder libtrad did not write; not inside an input), reads the embeddings (any
folder of Parquet files with the suite's columns; ``embeddings.json`` optional), runs the units on
Ray or in-process, and writes ``results.json`` + the report atomically. ``results.json`` also
records the inputs (folders, their cache keys when known, the dataset's component and config and the
channels embedded, from ``embeddings.json``) and the protocol version, which the leaderboard uses to put
each result in the papers' column of its data and to refuse mixing incomparable results.

Warnings, written here once for every suite (:mod:`libtrad.ray_jobs.evaluation.flags`):
``results.json`` gets ``synthetic`` (an input was made from a synthetic stand-in) and
``saturation`` (every score ≥ 0.99, or methods tied on a task), and ``results.md`` begins with
the SYNTHETIC line (its first line) and the "saturated" warnings before the suite's own report.

Device: ``device`` (``--device`` of every suite command; :mod:`libtrad.core.devices`) is handed to a
suite whose options dataclass has a ``device`` field; its units resolve it where they run (a Ray
task that may use a GPU asks Ray for one: :mod:`libtrad.ray_jobs.evaluation.runner`).
``results.json`` records it under ``"device"``: what was asked for and the distinct
:func:`~libtrad.core.devices.device_record` the units report. It is not one of the ``options`` (the
leaderboard compares those): where a number was computed does not change what it means.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from libtrad.core.devices import parse_device, resolve_device
from libtrad.core.errors import LibtradError, ParameterError
from libtrad.core.resolve import resolve
from libtrad.folders.outputs import atomic_output, check_output
from libtrad.folders.remote import local_folders, shown_as_urls
from libtrad.folders.verify.core import read_json
from libtrad.folders.verify.inputs import check_input_folder
from libtrad.ray_jobs.evaluation.flags import embeddings_synthetic, prepend_banner, result_flags

_SUITES_PACKAGE = "libtrad.ray_jobs.evaluation.suites"

# Adding a suite: write suites/<name>.py (a Suite subclass and its SUITE instance) and add its line here;
# `libtrad evaluate` then lists it (a suite without its own command gets one made from its options).
SUITES: dict[str, str] = {
    "siren-dcase": f"{_SUITES_PACKAGE}.siren_dcase:SUITE",
    "siren-fault": f"{_SUITES_PACKAGE}.siren_fault:SUITE",
    "lib-trad": f"{_SUITES_PACKAGE}.lib_trad:SUITE",
    "lib-trad-events": f"{_SUITES_PACKAGE}.lib_trad_events:SUITE",
    "linear-probe": f"{_SUITES_PACKAGE}.linear_probe:SUITE",
    "xares-mlp": f"{_SUITES_PACKAGE}.xares_mlp:SUITE",
    "xares-knn": f"{_SUITES_PACKAGE}.xares_knn:SUITE",
    "mimii": f"{_SUITES_PACKAGE}.mimii:SUITE",
}


def load_suite(name: str):
    """The :class:`~libtrad.ray_jobs.evaluation.suites.base.Suite` registered as ``name`` (its module imported now)."""
    return resolve(SUITES[name])


def evaluate_embeddings(
    suite: str,
    embeddings: list[str | Path],
    output: str | Path,
    *,
    local: bool = False,
    address: str | None = None,
    progress: bool = True,
    no_verify: bool = False,
    allow_duplicates: bool = False,
    extra_inputs: dict | None = None,
    attach: Callable[[], tuple[dict, Callable[[Path], object]]] | None = None,
    device: str = "auto",
    **options,
) -> dict:
    """Run ``suite`` on the embeddings folders and write ``output`` (results.json, results.md, PNGs).

    Each embeddings folder libtrad wrote is checked against its own checksums first (``no_verify``:
    used anyway, recorded in ``results.json``); rows are checked as data (labels within their
    ``ClassLabel``, one row per path and no recording on two sides unless ``allow_duplicates``; see
    :func:`~libtrad.ray_jobs.embedding.embeddings_input.load_embeddings`).
    ``attach`` (after the output and inputs are checked) returns more results to store under their
    keys and a function writing their files into the folder — e.g. trained LiB-TRAD checkpoints
    scored beside the embeddings, in one table. ``extra_inputs`` are the folders it reads.
    ``device``: auto|cpu|cuda|cuda:N for a suite with a ``device`` option (module docstring); CUDA
    asked of a suite that has none is refused. An embeddings folder may be a URL (``s3://…``,
    :mod:`libtrad.folders.remote`).
    """
    if suite not in SUITES:
        raise ParameterError("suite", suite, f"unknown suite; expected one of {', '.join(SUITES)}")
    if not embeddings:
        raise ParameterError("embeddings", None, "give at least one embeddings folder")
    # A URL's folder is fetched once into libtrad's cache and checked there like any local folder; the
    # results record (and every error line names) the URL.
    embeddings, fetched = local_folders(embeddings, "embeddings")
    with shown_as_urls(fetched):
        return _evaluate_embeddings(
            suite,
            embeddings,
            fetched,
            output,
            local=local,
            address=address,
            progress=progress,
            no_verify=no_verify,
            allow_duplicates=allow_duplicates,
            extra_inputs=extra_inputs,
            attach=attach,
            device=device,
            **options,
        )


def _evaluate_embeddings(
    suite: str,
    embeddings: list[Path],
    fetched: dict[Path, str],
    output,
    *,
    local: bool,
    address: str | None,
    progress: bool,
    no_verify: bool,
    allow_duplicates: bool,
    extra_inputs: dict | None,
    attach,
    device: str,
    **options,
) -> dict:
    import dataclasses

    from libtrad.ray_jobs.embedding.embeddings_input import embeddings_columns, load_embeddings
    from libtrad.ray_jobs.evaluation.runner import run_suite

    spec = parse_device(device)
    found = load_suite(suite)
    options_class = found.options
    takes_device = dataclasses.is_dataclass(options_class) and "device" in {
        f.name for f in dataclasses.fields(options_class)
    }
    if not takes_device and spec.kind == "cuda":
        raise ParameterError("device", spec.text, f"suite {suite} has no device option: it runs on the CPU only")
    opts = options_class(**options, device=spec.text) if takes_device else options_class(**options)
    inputs = {f"embeddings {i + 1}" if len(embeddings) > 1 else "embeddings": e for i, e in enumerate(embeddings)}
    inputs.update(extra_inputs or {})
    out = check_output(output, "results", inputs=inputs)
    checked = [check_input_folder(e, "--embeddings", kinds=("embeddings",), no_verify=no_verify) for e in embeddings]
    check_data_kind(found, embeddings_columns(embeddings), embeddings)
    df = load_embeddings(embeddings, found.required_columns, found.optional_columns, allow_duplicates=allow_duplicates)
    if takes_device and local:
        resolve_device(spec)  # the units run here: CUDA asked for but missing fails before any of them
    extra, write_extra = attach() if attach else ({}, None)
    run = run_suite(found, df, opts, local=local, address=address, progress=progress)
    provenance = [{**record, **check} for record, check in zip(embeddings_provenance(embeddings, fetched), checked)]
    results = {**run.results, **extra, "inputs": provenance, "protocol_version": found.protocol_version}
    if takes_device:
        results["device"] = {"requested": spec.text, "units": run.devices}
    for kept in ("duplicate_rows", "leaked_rows"):  # what --allow-duplicates kept (load_embeddings)
        if df.attrs.get(kept):
            results[kept] = df.attrs[kept]
    if "options" not in results:
        results["options"] = _options_record(opts)
    results.update(result_flags(results))  # synthetic inputs, saturation: once here for every suite
    with atomic_output(out, "results", inputs=inputs) as tmp:
        (tmp / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        found.write_report(results, tmp, df, opts)
        prepend_banner(tmp / "results.md", results)  # the SYNTHETIC line first, then saturation warnings
        if write_extra:
            write_extra(tmp)
    return results


def check_data_kind(suite, columns: set[str], embeddings) -> None:
    """Embeddings of another suite's data, refused by name with the command that evaluates them.

    A suite made for one kind of data (``data_kind``) recognises it by the columns only that data has
    (``signature``): DCASE embeddings given to ``siren-fault`` would otherwise fail deep inside it ("column
    'file' appears 2 times"), and SIREN fault embeddings given to ``siren-dcase`` on a missing column."""
    if not suite.data_kind or (suite.signature and set(suite.signature) <= columns):
        return
    others = [load_suite(name) for name in SUITES if name != suite.name]
    shown = ", ".join(map(str, embeddings))
    kind = next((o for o in others if o.data_kind and o.signature and set(o.signature) <= columns), None)
    fits = [o.name for o in others if o.data_kind and not o.signature and set(o.required_columns) <= columns]
    if kind is not None:
        columns_named = ", ".join(kind.signature)
        use = f"these are {kind.data_kind} embeddings (columns {columns_named}): use libtrad evaluate {kind.name}"
    elif fits and suite.signature:
        use = f"their columns fit libtrad evaluate {' or '.join(fits)}"
    else:
        return  # nothing else recognises them: the suite's own column checks speak
    if suite.signature:
        missing = ", ".join(repr(c) for c in suite.signature if c not in columns)
        raise LibtradError(f"--embeddings {shown}: not {suite.data_kind} embeddings (no column {missing}); {use}")
    raise LibtradError(f"--embeddings {shown}: not {suite.data_kind} data; {use}")


def embeddings_provenance(folders: list[str | Path], fetched: dict[Path, str] | None = None) -> list[dict]:
    """Each embeddings folder with what its embeddings.json says (encoder, dataset, its component and config,
    the channels used, cache key), if any.

    A folder without ``embeddings.json`` (a plain Parquet folder) has only its path; one whose
    ``embeddings.json`` does not parse, or is not libtrad's layout, is refused: the results would
    credit nobody (or the wrong encoder). A URL (or a local copy in ``fetched``) is recorded as its URL.
    """
    folders, more = local_folders(folders, "embeddings")
    fetched = {**(fetched or {}), **more}
    out = []
    for folder in folders:
        record = {"path": fetched.get(folder, str(folder))}
        path = Path(folder) / "embeddings.json"
        info = read_json(path) if path.is_file() else None
        if info is not None:
            record.update(_provenance_of(info, path))
        out.append(record)
    return out


def _provenance_of(info, path: Path) -> dict:
    def field(container, key, kinds, where):
        value = container.get(key)
        if value is not None and not isinstance(value, kinds):
            raise LibtradError(
                f"{path}: {where}{key} is {type(value).__name__}, not the {kinds[0].__name__} "
                "libtrad embed writes (an edited or foreign embeddings.json?)"
            )
        return value

    if not isinstance(info, dict):
        raise LibtradError(f"{path}: not a JSON object (libtrad embed writes one)")
    dataset = field(info, "dataset", (dict,), "") or {}
    encoder = field(info, "encoder", (dict,), "") or {}
    shards = field(dataset, "shards", (list,), "dataset.") or []
    if not all(isinstance(s, dict) and isinstance(s.get("sha256", ""), str) for s in shards):
        raise LibtradError(f"{path}: dataset.shards must be objects with a sha256 text (an edited embeddings.json?)")
    return {
        "cache_key": field(info, "cache_key", (str,), ""),
        "encoder": field(encoder, "spec", (str,), "encoder."),
        "dataset": field(dataset, "hub_id", (str,), "dataset.") or field(dataset, "source", (str,), "dataset."),
        "config": field(dataset, "config", (str,), "dataset."),
        "component": field(dataset, "component", (str,), "dataset."),
        "channels": channels_used(info, path),
        "dataset_shards": sorted(s.get("sha256", "") for s in shards),
        "synthetic": embeddings_synthetic(path.parent, info),
    }


def channels_used(info: dict, path: Path) -> list[str] | None:
    """The names of the channels the embeddings were computed from, or None where the folder does not say
    or its rows used different sets. ``embed`` records them in ``embeddings.json``'s ``channels``: the
    ``selection`` (names, or ``"all"``) and ``rows_per_set`` (rows per embedded set, names joined by commas);
    with ``all``, the one set every row used. The leaderboard reads them (``inputs[].channels``) where the
    channels decide the paper's column (MAFAULDA sound: the microphone; vibration: accelerometers)."""
    record = info.get("channels")
    if record is None:
        return None
    selection = record.get("selection") if isinstance(record, dict) else None
    sets = record.get("rows_per_set", {}) if isinstance(record, dict) else None
    if (
        not (selection == "all" or _names(selection))
        or not isinstance(sets, dict)
        or not all(isinstance(k, str) for k in sets)
    ):
        raise LibtradError(
            f"{path}: channels must hold a selection ('all' or channel names) and rows_per_set "
            "(an edited embeddings.json?)"
        )
    if selection != "all":
        return list(selection)
    return sets and len(sets) == 1 and next(iter(sets)) and next(iter(sets)).split(",") or None


def _names(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(n, str) and n for n in value)


def _options_record(options) -> dict:
    from dataclasses import asdict, is_dataclass

    if callable(getattr(options, "record", None)):
        return options.record()  # the suite's own (e.g. new options only when off their default)
    return (
        {
            k: v
            for k, v in asdict(options).items()
            if isinstance(v, (bool, int, float, str, type(None))) and k != "device"
        }
        if is_dataclass(options)
        else {}
    )
