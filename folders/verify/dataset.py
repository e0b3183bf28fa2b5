"""Dataset checks: the card (``configs:``, ``dataset_info``), the Parquet shards, one split before loading.

Also what ``embeddings`` folders that carry a card are checked with: they are loaded with
``load_dataset`` and published as datasets like any dataset folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from libtrad.core import yaml_header
from libtrad.core.errors import LibtradError, exception_reason
from libtrad.folders.checksums import check_listed
from libtrad.folders.marker import MARKER, marker_path_problems, read_marker

from .core import CARD, DATA, MANIFEST, VerifyReport, is_hidden, manifest_problems, one_line_error, scan_entries

DATASET_KINDS = ("dataset", "embeddings")  # both are loaded with ``load_dataset`` / published as datasets


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
    marker = read_marker(root, strict=True)
    if marker is None:
        return
    if marker["kind"] not in DATASET_KINDS:
        raise LibtradError(f"{root}: is a libtrad {marker['kind']} folder, not a dataset")
    listed = marker["files"]
    problems = marker_path_problems(root, listed)
    if problems:
        raise LibtradError(problems[0])
    files = _split_files(root, listed, config, split)
    for _rel, problem in check_listed(root, listed, files, stop_at_first=True):
        if problem:
            raise LibtradError(problem)
    for rel in files:
        if rel.endswith(".parquet"):
            _open_parquet(root / rel)


def _split_files(root: Path, listed: Mapping[str, str], config: str | None, split: str | None) -> list[str]:
    """The files ``load_dataset`` reads for ``config``/``split``, by the card's ``configs:``."""
    candidates = sorted(set(_data_candidates(root)) | {rel for rel in listed if not is_hidden(rel)})
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
        raise LibtradError(
            f"{root / CARD}: config {entry['name']} has no split {unknown[0]!r} (it has {', '.join(splits) or 'none'})"
        )
    files: set[str] = set()
    for name in wanted or list(splits):
        matched = match_patterns(splits[name], candidates)
        if not matched:
            raise LibtradError(
                f"{root / CARD}: config {entry['name']} split {name}: no file matches {', '.join(splits[name])}"
            )
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
    raise LibtradError(
        f"cannot load config {config!r} of {card.parent}: no such config (available: {', '.join(names)})"
    )


def _split_names(split: str | None) -> list[str] | None:
    """``"train[:10%]+test"`` -> ``["train", "test"]``; None -> None (every split)."""
    if split is None:
        return None
    names = [re.sub(r"\[.*\]$", "", part.strip()).strip() for part in str(split).split("+")]
    return [n for n in names if n] or None


# ----------------------------------------------------------------------------- the dataset card
def read_card(root: Path) -> dict:
    """The YAML front matter of ``README.md`` as a dict (empty when there is none)."""
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
        data = yaml_header.safe_load(match.group(1))
    except yaml_header.YAMLError as exc:
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
            isinstance(data_files, list) and data_files and all(isinstance(d, dict) for d in data_files)
        ):
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
    return [c for c in candidates if not is_hidden(c) and any(r.fullmatch(c) for r in regexes)]


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
            body = pattern[i + 1 : end]
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


def _data_candidates(root: Path) -> list[str]:
    """Regular, non-hidden files under ``data/`` (what a ``configs:`` pattern can select there)."""
    data = root / DATA
    if not data.is_dir() or data.is_symlink():
        return []
    files, _ = scan_entries(root / DATA, ())
    return [f"{DATA}/{rel}" for rel in files if not is_hidden(rel)]


# ----------------------------------------------------------------------------- dataset checks
def check_dataset(root: Path, marker: dict, good: set[str], entries: list[str], report: VerifyReport) -> None:
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
    data_files = sorted(rel for rel in entries if rel.startswith(f"{DATA}/") and not is_hidden(rel))
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
                report.problems.append(
                    f"{root / CARD}: config {entry['name']} split {split}: no file matches {', '.join(patterns)}"
                )
            for rel in matched:
                loads[rel].append((entry["name"], split))
    for rel, users in loads.items():
        if (
            configs and not users and rel.endswith(".parquet")
        ):  # a user's note under data/ is loaded by nothing, harmlessly
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
            report.checked.append(
                f"{rel}: opens, {shard['row_groups']} row group(s) read, {shard['rows']} rows"
                + (", schema matches the card" if loads[rel] else "")
            )

    _check_split_sizes(root, configs, infos_yaml, split_files, rows, report)


def _check_split_sizes(
    root: Path,
    configs: list[dict],
    infos_yaml: dict[str, dict[str, int]],
    split_files: dict[tuple[str, str], list[str]],
    rows: dict[str, int | None],
    report: VerifyReport,
) -> None:
    """``dataset_info``'s split sizes = the rows of the shards each split loads (unreadable shards: already
    reported); every config has its entry."""
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
            report.problems.append(
                f"{root / CARD}: dataset_info says config {config} split {split} has "
                f"{declared} rows, its shards hold {actual}"
            )
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
