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
* anything else: checksums only.

:func:`verify_dataset_split` is the cheap check run before ``load_dataset``: the checksums of
exactly the shards one config/split loads, and that each opens.

Every error raised here is a one-line :class:`~libtrad.errors.LibtradError`.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.errors import LibtradError, exception_reason
from libtrad.models.model_types import RENAMED, renamed_error
from libtrad.outputs import MARKER, read_marker, sha256_file

CARD = "README.md"
MANIFEST = "manifest.json"
DATA = "data"
DATASET_KINDS = ("dataset", "embeddings")  # both are loaded with ``load_dataset`` / published as datasets
_HASH_THREADS = 4  # hashlib releases the GIL: shards hash in parallel


# ----------------------------------------------------------------------------- the report
@dataclass
class VerifyReport:
    """What :func:`verify_folder` found: ``ok`` when ``problems`` is empty."""

    path: Path
    kind: str | None = None
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        what = f"libtrad {self.kind} folder" if self.kind else "folder"
        lines = [f"verified {what} {self.path}: {len(self.checked)} check(s)"]
        lines += [f"  ok       {item}" for item in self.checked]
        lines += [f"  PROBLEM  {item}" for item in self.problems]
        if self.ok:
            lines.append(f"OK: {self.path} is intact")
        else:
            lines.append(f"FAILED: {len(self.problems)} problem(s) in {self.path}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- verify_folder
def verify_folder(path: str | Path) -> VerifyReport:
    """Check every file of a libtrad folder; never raises for what it finds (it lists problems)."""
    report = VerifyReport(Path(path).expanduser())
    try:
        return _verify_folder(path, report)
    except (LibtradError, OSError) as exc:  # e.g. a folder that became unreadable while checked
        report.problems.append(str(one_line_error(exc)))
        return report


def _verify_folder(path: str | Path, report: VerifyReport) -> VerifyReport:
    root = report.path
    if not root.is_dir():
        report.problems.append(f"{root}: no such folder")
        return report
    root = root.resolve()
    report.path = root
    try:
        marker = load_marker(root)
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
        _check_dataset(root, marker, good, entries, report)
    elif report.kind == "model":
        _check_model(root, listed, good, entries, report)
    return report


# ----------------------------------------------------------------------------- verify_dataset_split
def verify_dataset_split(folder: str | Path, config: str | None, split: str | None) -> None:
    """Before ``load_dataset(folder, config, split=split)``: the shards it will read are libtrad's and intact.

    Checks the SHA-256 (from the marker) of exactly the files the card's ``configs:`` entry loads for
    ``config``/``split`` (``None``: the default config / every split; ``"train[:10%]+test"`` is
    understood), and that each Parquet file opens. A no-op for anything that is not a libtrad folder
    (a plain Parquet folder, a Hub id). Raises a one-line :class:`LibtradError` naming the bad file.
    """
    try:
        _verify_dataset_split(folder, config, split)
    except OSError as exc:
        raise one_line_error(exc) from None


def _verify_dataset_split(folder: str | Path, config: str | None, split: str | None) -> None:
    root = Path(str(folder)).expanduser()
    if not root.is_dir():
        return  # a Hub id or a path load_dataset will report itself
    root = root.resolve()
    marker = load_marker(root)
    if marker is None:
        return
    if marker["kind"] not in DATASET_KINDS:
        raise LibtradError(f"{root}: is a libtrad {marker['kind']} folder, not a dataset")
    listed = marker["files"]
    problems = marker_path_problems(root, listed)
    if problems:
        raise LibtradError(problems[0])
    files = _split_files(root, listed, config, split)
    for rel, problem in check_listed(root, listed, files, stop_at_first=True):
        if problem:
            raise LibtradError(problem)
    for rel in files:
        if rel.endswith(".parquet"):
            _open_parquet(root / rel)


def _split_files(root: Path, listed: Mapping[str, str], config: str | None, split: str | None) -> list[str]:
    """The files ``load_dataset`` reads for ``config``/``split``, by the card's ``configs:``."""
    candidates = sorted(set(_data_candidates(root)) | {rel for rel in listed if not _hidden(rel)})
    card = read_card(root) if (root / CARD).is_file() or CARD in listed else None
    entries = card_configs(card or {}, root / CARD)
    if not entries:  # no configs: datasets infers the layout from every data file
        files = [rel for rel in candidates if rel.startswith(f"{DATA}/") and rel.endswith(".parquet")]
        if not files:
            raise LibtradError(f"{root}: no Parquet file under {DATA}/ and no configs: in {CARD}")
        return files
    entry = _pick_config(entries, config, root / CARD)
    wanted = _split_names(split)
    splits = entry["splits"]
    unknown = [s for s in wanted or () if s not in splits]
    if unknown:
        raise LibtradError(f"{root / CARD}: config {entry['name']} has no split {unknown[0]!r} "
                           f"(it has {', '.join(splits) or 'none'})")
    files: set[str] = set()
    for name in wanted or list(splits):
        matched = match_patterns(splits[name], candidates)
        if not matched:
            raise LibtradError(f"{root / CARD}: config {entry['name']} split {name}: no file matches "
                               f"{', '.join(splits[name])}")
        files |= set(matched)
    return sorted(files)


def _pick_config(entries: list[dict], config: str | None, card: Path) -> dict:
    names = [e["name"] for e in entries]
    if config is None:
        defaults = [e for e in entries if e["default"]] or [e for e in entries if e["name"] == "default"]
        if defaults:
            return defaults[0]
        if len(entries) == 1:
            return entries[0]
        raise LibtradError(f"{card}: several configs and no default; choose one of {', '.join(names)}")
    for entry in entries:
        if entry["name"] == config:
            return entry
    raise LibtradError(f"cannot load config {config!r} of {card.parent}: no such config "
                       f"(available: {', '.join(names)})")


def _split_names(split: str | None) -> list[str] | None:
    """``"train[:10%]+test"`` -> ``["train", "test"]``; None -> None (every split)."""
    if split is None:
        return None
    names = [re.sub(r"\[.*\]$", "", part.strip()).strip() for part in str(split).split("+")]
    return [n for n in names if n] or None


# ----------------------------------------------------------------------------- shared checks (publish uses them)
def load_marker(root: Path) -> dict | None:
    """The marker, None when there is none; a marker that is a link or not a regular file is refused."""
    path = root / MARKER
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
    if stat.S_ISLNK(info.st_mode):
        raise LibtradError(f"{path}: is a symbolic link; a libtrad marker must be a regular file")
    if not stat.S_ISREG(info.st_mode):
        raise LibtradError(f"{path}: is a {_file_type(info.st_mode)}, not a regular file")
    return read_marker(root)


def marker_path_problems(root: Path, listed: Iterable[str]) -> list[str]:
    """Paths in the marker that would lead outside the folder (absolute, ``..``, empty parts)."""
    problems = []
    for rel in sorted(listed):
        parts = rel.split("/")
        if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel or any(p in ("", ".", "..") for p in parts):
            problems.append(f"{root / MARKER}: lists {rel!r}, a path outside the folder; the marker is corrupted")
    return problems


def scan_entries(root: Path, listed: Mapping[str, str] | Iterable[str], keep_hidden: Iterable[str] = ()) \
        -> tuple[list[str], list[str]]:
    """Every regular file under ``root`` (posix relative paths) and one problem per link or special file.

    Hidden entries (``.git/``, ``.cache/``) are skipped without looking inside, unless the marker lists
    something in them or they are named in ``keep_hidden``. Nothing is opened or followed.
    """
    listed = set(listed)
    keep = set(keep_hidden) | {MARKER}
    wanted_dirs = {"/".join(rel.split("/")[:i]) for rel in listed for i in range(1, rel.count("/") + 1)}
    files: list[str] = []
    problems: list[str] = []

    def visit(directory: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{directory}: cannot list the folder ({exception_reason(exc)})")
            return
        for entry in entries:
            rel = prefix + entry.name
            if entry.name.startswith(".") and rel not in keep and rel not in listed and rel not in wanted_dirs:
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                problems.append(f"{entry.path}: cannot be read ({exception_reason(exc)})")
                continue
            if stat.S_ISLNK(mode):
                problems.append(f"{entry.path}: is a symbolic link (to {_link_target(entry.path)}); "
                                "refusing links: replace it with the file itself or remove it")
            elif stat.S_ISDIR(mode):
                visit(Path(entry.path), rel + "/")
            elif stat.S_ISREG(mode):
                if not _inside(root, Path(entry.path)):
                    problems.append(f"{entry.path}: resolves outside {root}; refusing it")
                else:
                    files.append(rel)
            else:
                problems.append(f"{entry.path}: is a {_file_type(mode)}, not a regular file; refusing it")

    visit(root, "")
    return files, problems


def check_listed(root: Path, listed: Mapping[str, str], relpaths: Iterable[str] | None = None, *,
                 stop_at_first: bool = False) -> Iterator[tuple[str, str | None]]:
    """``(rel, problem or None)`` for each listed file in sorted order: missing, not regular, corrupted."""
    names = sorted(listed if relpaths is None else relpaths)
    presence = {rel: _presence_problem(root, rel, listed) for rel in names}
    pool = ThreadPoolExecutor(max_workers=_HASH_THREADS)
    pending = {rel: pool.submit(_digest, root / rel) for rel in names if presence[rel] is None}
    try:
        for rel in names:
            problem = presence[rel]
            if problem is None:
                digest = pending[rel].result()
                if isinstance(digest, OSError):
                    problem = f"{root / rel}: unreadable ({exception_reason(digest)})"
                elif digest != listed[rel]:
                    problem = f"{root / rel}: corrupted (SHA-256 differs from {MARKER}); rebuild or re-download it"
            yield rel, problem
            if problem and stop_at_first:
                return
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _presence_problem(root: Path, rel: str, listed: Mapping[str, str]) -> str | None:
    path = root / rel
    if rel not in listed:
        return f"{path}: not listed in {root / MARKER} (not written by libtrad)"
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return f"{path}: missing (listed in {MARKER})"
    except OSError as exc:
        return f"{path}: unreadable ({exception_reason(exc)})"
    if stat.S_ISLNK(mode):
        return f"{path}: is a symbolic link, not the file libtrad wrote (listed in {MARKER})"
    if not stat.S_ISREG(mode):
        return f"{path}: is a {_file_type(mode)}, not the file libtrad wrote (listed in {MARKER})"
    return None


def _digest(path: Path) -> str | OSError:
    try:
        return sha256_file(path)
    except OSError as exc:
        return exc


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LibtradError(f"{path}: not valid JSON ({exception_reason(exc)})") from None


def manifest_problems(root: Path, listed: Mapping[str, str]) -> list[str]:
    """``manifest.json``'s ``parquet_files`` must name exactly the marker's Parquet files, same SHA-256."""
    path = root / MANIFEST
    try:
        manifest = read_json(path)
    except LibtradError as exc:
        return [str(exc)]
    shards = manifest.get("parquet_files") if isinstance(manifest, dict) else None
    if not isinstance(shards, dict):
        return [f"{path}: has no parquet_files table"]
    problems = []
    ours = {rel: sha for rel, sha in listed.items() if rel.startswith(f"{DATA}/") and rel.endswith(".parquet")}
    for rel in sorted(set(shards) | set(ours)):
        if rel not in ours:
            problems.append(f"{path}: parquet_files names {rel}, which {MARKER} does not list")
        elif rel not in shards:
            problems.append(f"{path}: parquet_files does not name {rel}, which {MARKER} lists")
        elif shards[rel] != ours[rel]:
            problems.append(f"{path}: parquet_files SHA-256 of {rel} differs from {MARKER}")
    return problems


# ----------------------------------------------------------------------------- the dataset card
def read_card(root: Path) -> dict:
    """The YAML front matter of ``README.md`` as a dict (empty when there is none)."""
    import yaml

    path = root / CARD
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
    except UnicodeDecodeError as exc:
        raise LibtradError(f"{path}: not UTF-8 text ({exception_reason(exc)})") from None
    match = re.match(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)", text, re.DOTALL)
    if match is None:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise LibtradError(f"{path}: invalid YAML metadata ({' '.join(exception_reason(exc).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LibtradError(f"{path}: the YAML metadata is not a mapping")
    return data


def card_configs(card: Mapping, path: Path) -> list[dict]:
    """``configs:`` as ``[{"name", "default", "splits": {split: [pattern, ...]}}]`` (patterns from the repo root)."""
    raw = card.get("configs")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise LibtradError(f"{path}: configs: is not a list")
    entries = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("config_name", "default"), str):
            raise LibtradError(f"{path}: a configs: entry is not a mapping with a config_name")
        name = item.get("config_name", "default")
        prefix = str(item.get("data_dir") or "").strip("/")
        data_files = item.get("data_files")
        splits: dict[str, list[str]] = {}
        if isinstance(data_files, (str, list)) and not (
                isinstance(data_files, list) and data_files and all(isinstance(d, dict) for d in data_files)):
            splits["train"] = _patterns(data_files, path, name)
        elif isinstance(data_files, list):
            for d in data_files:
                if not isinstance(d.get("split"), str) or "path" not in d:
                    raise LibtradError(f"{path}: config {name}: a data_files entry lacks split or path")
                splits.setdefault(d["split"], []).extend(_patterns(d["path"], path, name))
        elif isinstance(data_files, dict):
            for split_name, value in data_files.items():
                splits.setdefault(str(split_name), []).extend(_patterns(value, path, name))
        elif data_files is None and prefix:
            splits["train"] = ["**"]
        else:
            raise LibtradError(f"{path}: config {name}: data_files is missing or malformed")
        if prefix:
            splits = {s: [f"{prefix}/{p}" for p in ps] for s, ps in splits.items()}
        entries.append({"name": name, "default": bool(item.get("default")), "splits": splits})
    return entries


def _patterns(value, path: Path, name: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise LibtradError(f"{path}: config {name}: a data_files path is not a string or list of strings")
    return [v[2:] if v.startswith("./") else v for v in values]


def match_patterns(patterns: Iterable[str], candidates: Iterable[str]) -> list[str]:
    """The candidates (posix paths from the repo root) any of ``patterns`` selects, as datasets globs them.

    ``*`` and ``?`` stay within one folder, ``**`` crosses folders; hidden files are never selected.
    """
    regexes = [_glob_regex(p) for p in patterns]
    return [c for c in candidates if not _hidden(c) and any(r.fullmatch(c) for r in regexes)]


def _glob_regex(pattern: str) -> re.Pattern:
    out, i, n = [], 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return re.compile(re.escape(pattern))


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "__")) for part in rel.split("/"))


def _data_candidates(root: Path) -> list[str]:
    """Regular, non-hidden files under ``data/`` (what a ``configs:`` pattern can select there)."""
    data = root / DATA
    if not data.is_dir() or data.is_symlink():
        return []
    files, _ = scan_entries(root / DATA, ())
    return [f"{DATA}/{rel}" for rel in files if not _hidden(rel)]


# ----------------------------------------------------------------------------- dataset checks
def _check_dataset(root: Path, marker: dict, good: set[str], entries: list[str], report: VerifyReport) -> None:
    listed = marker["files"]
    if (root / MANIFEST).is_file() or MANIFEST in listed:
        problems = manifest_problems(root, listed)
        report.problems += problems
        if not problems:
            report.checked.append(f"{MANIFEST}: parquet_files agree with {MARKER}")
    try:
        card = read_card(root) if (root / CARD).is_file() else None
        if card is None:
            report.problems.append(f"{root / CARD}: missing (a dataset folder needs its card)")
            return
        configs = card_configs(card, root / CARD)
    except LibtradError as exc:
        report.problems.append(str(exc))
        return
    infos_yaml = _info_entries(card, root / CARD, report)
    features = _card_features(card, root / CARD, report)
    data_files = sorted(rel for rel in entries if rel.startswith(f"{DATA}/") and not _hidden(rel))
    if not configs:
        report.problems.append(f"{root / CARD}: no configs: (which files each config/split loads)")

    # Which config/split loads which file; every file must be loaded by some config.
    loads: dict[str, list[tuple[str, str]]] = {rel: [] for rel in data_files}
    split_files: dict[tuple[str, str], list[str]] = {}
    for entry in configs:
        for split, patterns in entry["splits"].items():
            matched = match_patterns(patterns, data_files)
            split_files[(entry["name"], split)] = matched
            if not matched:
                report.problems.append(f"{root / CARD}: config {entry['name']} split {split}: no file matches "
                                       f"{', '.join(patterns)}")
            for rel in matched:
                loads[rel].append((entry["name"], split))
    for rel, users in loads.items():
        if configs and not users and rel.endswith(".parquet"):  # a user's note under data/ is loaded by nothing, harmlessly
            report.problems.append(f"{root / rel}: not loaded by any config in {CARD} configs:")

    # Open every shard; its schema must be the card's features of every config that loads it.
    rows: dict[str, int | None] = {}
    for rel in data_files:
        if not rel.endswith(".parquet"):
            if loads[rel]:
                report.problems.append(f"{root / rel}: not a Parquet file, but {CARD} configs: load it")
            continue
        if rel not in listed:
            report.problems.append(f"{root / rel}: not listed in {MARKER} (not written by libtrad)")
        try:
            shard = _read_parquet(root / rel)
        except LibtradError as exc:
            report.problems.append(str(exc))
            rows[rel] = None
            continue
        rows[rel] = shard["rows"]
        bad = False
        for config in sorted({c for c, _ in loads[rel]}):
            problem = _schema_problem(root / rel, shard, config, features)
            if problem:
                report.problems.append(problem)
                bad = True
        if not bad and rel in good:
            report.checked.append(f"{rel}: opens, {shard['row_groups']} row group(s) read, {shard['rows']} rows"
                                  + (", schema matches the card" if loads[rel] else ""))

    # dataset_info split sizes = the rows of the shards each split loads.
    for (config, split), files in sorted(split_files.items()):
        declared = infos_yaml.get(config, {}).get(split)
        if config not in infos_yaml:
            continue
        if declared is None:
            report.problems.append(f"{root / CARD}: dataset_info of config {config} has no split {split}")
            continue
        if any(rows.get(rel) is None for rel in files):
            continue  # an unreadable shard is already reported
        actual = sum(rows[rel] for rel in files)
        if actual != declared:
            report.problems.append(f"{root / CARD}: dataset_info says config {config} split {split} has "
                                   f"{declared} rows, its shards hold {actual}")
        else:
            report.checked.append(f"{CARD}: {config}/{split} = {actual} rows, as dataset_info says")
    for entry in configs:
        if infos_yaml and entry["name"] not in infos_yaml:
            report.problems.append(f"{root / CARD}: dataset_info has no entry for config {entry['name']}")


def _info_entries(card: Mapping, path: Path, report: VerifyReport) -> dict[str, dict[str, int]]:
    """``dataset_info`` as ``{config: {split: num_examples}}`` (single mapping or list form)."""
    raw = card.get("dataset_info")
    if raw is None:
        report.problems.append(f"{path}: no dataset_info: (features and split sizes)")
        return {}
    items = raw if isinstance(raw, list) else [raw]
    out: dict[str, dict[str, int]] = {}
    for item in items:
        if not isinstance(item, dict):
            report.problems.append(f"{path}: a dataset_info entry is not a mapping")
            continue
        name = str(item.get("config_name", "default"))
        splits = {}
        for s in item.get("splits") or []:
            if isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("num_examples"), int):
                splits[s["name"]] = s["num_examples"]
            else:
                report.problems.append(f"{path}: dataset_info of config {name}: a split lacks name or num_examples")
        out[name] = splits
    return out


def _card_features(card: Mapping, path: Path, report: VerifyReport) -> dict:
    """``{config: datasets.Features}`` from the card's ``dataset_info`` (datasets' own parser)."""
    from datasets.info import DatasetInfosDict

    try:
        infos = DatasetInfosDict.from_dataset_card_data(card)
    except Exception as exc:  # noqa: BLE001 - any parse failure of user YAML is a problem to report
        report.problems.append(f"{path}: dataset_info features cannot be read ({exception_reason(exc)})")
        return {}
    return {name: info.features for name, info in infos.items() if info.features is not None}


def _schema_problem(path: Path, shard: dict, config: str, features: dict) -> str | None:
    import datasets

    expected = features.get(config)
    if expected is None:
        return f"{path}: README.md dataset_info gives no features for config {config}"
    try:
        want = expected.arrow_schema.remove_metadata()
    except Exception as exc:  # noqa: BLE001
        return f"{path}: README.md features of config {config} have no Arrow schema ({exception_reason(exc)})"
    have = shard["schema"].remove_metadata()
    if not have.equals(want):
        diff = _schema_difference(have, want)
        return f"{path}: schema differs from README.md dataset_info features of config {config} ({diff})"
    embedded = shard["hf_features"]
    if embedded is not None:
        try:
            same = datasets.Features.from_dict(embedded) == expected
        except Exception:  # noqa: BLE001
            return f"{path}: its embedded datasets features cannot be read"
        if not same:
            return f"{path}: its embedded features differ from README.md dataset_info of config {config}"
    return None


def _schema_difference(have, want) -> str:
    for name in want.names:
        if name not in have.names:
            return f"column {name} missing"
        if not have.field(name).type.equals(want.field(name).type):
            return f"column {name} is {have.field(name).type}, expected {want.field(name).type}"
    extra = [n for n in have.names if n not in want.names]
    if extra:
        return f"unexpected column {extra[0]}"
    return "column order"


def _open_parquet(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(str(path))
    except (OSError, pa.ArrowException) as exc:
        raise LibtradError(f"{path}: not a readable Parquet file ({exception_reason(exc)})") from None


def _read_parquet(path: Path) -> dict:
    """Open a shard and read every row group; its schema, rows and embedded ``huggingface`` features."""
    import pyarrow as pa

    shard = _open_parquet(path)
    try:
        schema = shard.schema_arrow
        for index in range(shard.num_row_groups):
            group = shard.read_row_group(index)
            if group.num_rows != shard.metadata.row_group(index).num_rows:
                raise LibtradError(f"{path}: row group {index} holds fewer rows than its footer says")
    except (OSError, pa.ArrowException) as exc:
        raise LibtradError(f"{path}: unreadable Parquet data ({exception_reason(exc)})") from None
    finally:
        shard.close()
    hf = None
    meta = schema.metadata or {}
    if b"huggingface" in meta:
        try:
            hf = json.loads(meta[b"huggingface"])["info"]["features"]
        except (ValueError, KeyError, TypeError):
            raise LibtradError(f"{path}: its huggingface metadata is not valid JSON") from None
    return {"schema": schema, "rows": shard.metadata.num_rows, "row_groups": shard.num_row_groups, "hf_features": hf}


# ----------------------------------------------------------------------------- model checks
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
                "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8}


def _check_model(root: Path, listed: Mapping[str, str], good: set[str], entries: list[str],
                 report: VerifyReport) -> None:
    config = root / "config.json"
    try:
        data = read_json(config)
        if not isinstance(data, dict) or not isinstance(data.get("model_type"), str) or not data["model_type"]:
            raise LibtradError(f"{config}: has no model_type (not a transformers config)")
        if data["model_type"] in RENAMED:  # saved before libtrad renamed it: no Auto class loads it any more
            raise renamed_error(data["model_type"], config)
        report.checked.append(f"config.json: model_type {data['model_type']}")
    except LibtradError as exc:
        report.problems.append(str(exc) if config.is_file() else f"{config}: missing (a model folder needs it)")
    weights = sorted(rel for rel in set(entries) | set(listed) if rel.endswith(".safetensors") and not _hidden(rel))
    if not weights:
        report.problems.append(f"{root}: no *.safetensors weights")
    for rel in weights:
        if not (root / rel).is_file():
            continue  # missing: already reported by the checksum pass
        try:
            count = check_safetensors(root / rel)
            report.checked.append(f"{rel}: opens, header consistent ({count} tensors)")
        except LibtradError as exc:
            report.problems.append(str(exc))


def check_safetensors(path: Path) -> int:
    """Parse the header by hand (offsets, dtypes, shapes vs file size), then open it with safetensors."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise LibtradError(f"{path}: truncated safetensors file (no header)")
            length = int.from_bytes(head, "little")
            if length > size - 8 or length > 100 * 2**20:
                raise LibtradError(f"{path}: truncated or corrupted safetensors file (header of {length} bytes)")
            header = json.loads(f.read(length).decode("utf-8"))
    except OSError as exc:
        raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LibtradError(f"{path}: corrupted safetensors header ({exception_reason(exc)})") from None
    if not isinstance(header, dict):
        raise LibtradError(f"{path}: corrupted safetensors header (not a mapping)")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = (int(x) for x in info["data_offsets"])
            shape = [int(d) for d in info["shape"]]
            dtype = str(info["dtype"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise LibtradError(f"{path}: corrupted safetensors header (tensor {name})") from None
        width = _DTYPE_BYTES.get(dtype)
        count = 1
        for d in shape:
            count *= d
        if begin > end or (width is not None and end - begin != count * width):
            raise LibtradError(f"{path}: corrupted safetensors header (tensor {name}: offsets do not fit {dtype}{shape})")
        spans.append((begin, end, name))
    spans.sort()
    position = 0
    for begin, end, name in spans:
        if begin != position:
            raise LibtradError(f"{path}: corrupted safetensors header (tensor {name} overlaps or leaves a gap)")
        position = end
    if 8 + length + position != size:
        state = "truncated" if 8 + length + position > size else "has trailing bytes"
        raise LibtradError(f"{path}: {state}: the header describes {8 + length + position} bytes, "
                           f"the file has {size}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own SafetensorError
        raise LibtradError(f"{path}: safetensors cannot open it ({exception_reason(exc)})") from None
    return len(keys)


# ----------------------------------------------------------------------------- small helpers
def one_line_error(exc: BaseException) -> LibtradError:
    if isinstance(exc, LibtradError):
        return exc
    where = getattr(exc, "filename", None)
    return LibtradError(f"{where}: {exception_reason(exc)}" if where else exception_reason(exc))


def _inside(root: Path, path: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(root)
    except (OSError, ValueError):
        return False


def _link_target(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symbolic link")):
        if test(mode):
            return name
    return "special file"


__all__ = ["VerifyReport", "verify_folder", "verify_dataset_split"]
