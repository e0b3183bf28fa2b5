"""Check that a libtrad folder is intact before it is trained on, evaluated or published.

``libtrad verify FOLDER`` (:func:`verify_folder`) checks any folder libtrad wrote: its
``.libtrad.json`` marker, every file the marker lists against its SHA-256, no symbolic links,
and, by kind:

* ``dataset`` (and ``embeddings`` folders that carry a card): every Parquet shard opens and every
  row group reads; its schema equals the card's ``dataset_info`` features for each config that
  loads it; the card's ``configs:`` patterns each match a shard and every file under ``data/`` is
  loaded by some config; ``dataset_info`` row counts equal the shards'; ``manifest.json``'s
  ``parquet_files`` agree with the marker.
* ``model``: ``config.json`` is a JSON object with a ``model_type`` that libtrad has not renamed
  since; every ``*.safetensors`` opens and its header is consistent with the file (offsets,
  dtypes, shapes, size).
* ``submission`` (a DCASE Task 2 submission, :mod:`libtrad.folders.submission`): every file has an
  official evaluator's name and parses as its rows (no header, ``file,value``, finite scores, 0/1
  decisions, sorted, no clip twice), and each anomaly-score file with decisions has its
  ``decision_result_`` twin over the same clips.
* anything else: checksums only.

:func:`verify_dataset_split` is the cheap check run before ``load_dataset``: the checksums of
exactly the shards one config/split loads, and that each opens.

Every error raised here is a one-line :class:`~libtrad.core.errors.LibtradError`.

The package: :mod:`.core` holds what every kind shares (the report, the folder's entries,
``manifest.json``, JSON reading; the marker and the checksums are the room's own,
:mod:`libtrad.folders.marker` and :mod:`libtrad.folders.checksums`); :mod:`.dataset` the card,
Parquet and split checks; :mod:`.model` the model checks. ``embeddings`` and ``results`` folders have no checks of
their own:
``embeddings`` folders that carry a card get the dataset checks, ``results`` folders (like any
other kind) get the core's checksum checks only, so they have no module here.
"""

from __future__ import annotations

from pathlib import Path

from libtrad.core.errors import LibtradError
from libtrad.folders.checksums import check_listed
from libtrad.folders.marker import MARKER, marker_path_problems, read_marker
from libtrad.folders.remote import local_folders, shown
from libtrad.folders.submission import check_submission

from .core import CARD, VerifyReport, one_line_error, scan_entries
from .dataset import check_dataset, verify_dataset_split
from .model import check_model


# ----------------------------------------------------------------------------- verify_folder
def verify_folder(path: str | Path) -> VerifyReport:
    """Check every file of a libtrad folder; never raises for what it finds (it lists problems).

    ``path`` may be an fsspec URL (``s3://…``): the folder is fetched once into libtrad's cache
    (:mod:`libtrad.folders.remote`) and checked there, the report naming the URL; a store that
    cannot be read (no such bucket, denied credentials) raises one ParameterError (nothing to list).
    """
    (local,), fetched = local_folders([path], "folder")
    report = VerifyReport(Path(local).expanduser())
    try:
        _verify_folder(local, report)
    except (LibtradError, OSError) as exc:  # e.g. a folder that became unreadable while checked
        report.problems.append(str(one_line_error(exc)))
    if fetched:
        report.path = fetched[local]
        report.problems = [shown(p, fetched) for p in report.problems]
        report.checked = [shown(c, fetched) for c in report.checked]
    return report


def _verify_folder(path: str | Path, report: VerifyReport) -> VerifyReport:
    root = report.path
    if not root.is_dir():
        report.problems.append(f"{root}: no such folder")
        return report
    root = root.resolve()
    report.path = root
    try:
        marker = read_marker(root, strict=True)
    except LibtradError as exc:
        report.problems.append(str(exc))
        return report
    if marker is None:
        report.problems.append(f"{root}: not a libtrad folder (no {MARKER})")
        return report
    report.kind = marker["kind"]
    listed = marker["files"]
    report.problems += marker_path_problems(root, listed)
    if report.problems:
        return report

    entries, problems = scan_entries(root, listed)
    report.problems += problems
    good = set()
    for rel, problem in check_listed(root, listed):
        if problem:
            report.problems.append(problem)
        else:
            good.add(rel)
    if len(good) == len(listed):
        report.checked.append(f"{MARKER}: all {len(listed)} listed file(s) match their SHA-256")

    if report.kind == "dataset" or (report.kind == "embeddings" and (root / CARD).is_file()):
        check_dataset(root, marker, good, entries, report)
    elif report.kind == "model":
        check_model(root, listed, good, entries, report)
    elif report.kind == "submission":
        check_submission(root, listed, report)
    return report


__all__ = ["VerifyReport", "verify_folder", "verify_dataset_split"]
