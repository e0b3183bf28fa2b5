"""What ``libtrad embed`` reads: a dataset's Parquet shards for one config and its splits.

A dataset is a local folder (a libtrad export, or any Hub-style dataset repository checked out),
a Hub id (``user/name``, or ``hf://datasets/user/name[@revision]``: read through ``HfFileSystem``
at a resolved commit) or any fsspec URL of a folder (``s3://bucket/prefix``, ``gs://…``,
``file:///abs/path``; :mod:`libtrad.folders.storage`): the actors read their row groups straight from the
store, so no node needs a shared filesystem. Its README's
``configs:`` YAML says which shard files each config/split loads, exactly as ``load_dataset``
reads it; without one, ``{split}-*.parquet`` / ``{split}/*.parquet`` names give the splits.

The audio is found from the shards' own schema: a column datasets stores as ``Audio`` (a struct
of ``bytes`` and ``path``), or a ``signals`` array (channels × samples) beside a ``sampling_rate``
column (the fault datasets' vibration channels). The card's ``channel_policy:`` entry for the
config (:mod:`libtrad.core.channels`) says which channels ``embed`` uses by default and what they are
called; a dataset without one is embedded with every channel.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from libtrad.core import yaml_header
from libtrad.core.channels import EMBEDDED_COLUMN, ChannelPolicy, read_policy
from libtrad.core.errors import LibtradError, ParameterError, first_line
from libtrad.core.paths import exists
from libtrad.folders.hub import parse_hub_id
from libtrad.folders.storage import filesystem, is_url, local_path
from libtrad.folders.verify.inputs import check_input_folder
from libtrad.ray_jobs.embedding.dataset_files import HubFiles, LocalFiles, StoreFiles

AUDIO_STRUCT_FIELDS = {"bytes", "path"}
MANIFEST = "manifest.json"  # every libtrad export's (builders/export.py)
OUTPUT_COLUMNS = ("split", "embedding", "frames", EMBEDDED_COLUMN)


@dataclass(frozen=True)
class Shard:
    """One input Parquet file of one split; ``key`` names the outputs made from it."""

    path: str  # absolute local path, or a path on ``DatasetSource.fs``
    split: str
    num_rows: int
    checksum: str
    key: str


@dataclass
class DatasetSource:
    """A resolved ``--dataset``: where its shards are, what they hold, and how to read them."""

    display: str
    config: str
    splits: list[str]
    shards: list[Shard]
    schema: pa.Schema
    audio_column: str | None  # an Audio struct column, or None with ``signals`` arrays
    revision: str | None = None
    hub_id: str | None = None
    features: dict | None = field(default=None, repr=False)  # datasets' features JSON, if stored
    synthetic: bool = False  # the card's tags say it is a synthetic stand-in
    verification: dict | None = None  # a local folder: what libtrad.folders.verify.inputs found (None: a Hub id)
    storage: str | None = None  # an fsspec URL of the dataset folder (s3://, gs://…): shards are read there
    component: str | None = None  # the libtrad builder's component (manifest.json "dataset"): cwru, dcase2020, …
    channel_policy: ChannelPolicy | None = None  # the card's channel_policy for this config (None: none declared)

    @property
    def kept_columns(self) -> list[str]:
        """The source's non-audio columns, copied unchanged into every output row."""
        dropped = {self.audio_column} if self.audio_column else {"signals"}
        return [name for name in self.schema.names if name not in dropped]

    @property
    def named_channels(self) -> bool:
        """Rows name their channels (a ``channels`` column beside ``signals``, or a policy naming several):
        the output then says, per row, which ones were embedded (``embedded_channels``)."""
        if self.audio_column is None and "channels" in self.schema.names:
            return True
        return self.channel_policy is not None and len(self.channel_policy.names) > 1

    def identity(self) -> dict:
        """What identifies the input for the cache key: shard checksums + config + splits."""
        return {
            "config": self.config,
            "splits": self.splits,
            "shards": [[s.split, s.key, s.checksum, s.num_rows] for s in self.shards],
        }

    def filesystem(self):
        """The fsspec filesystem the shards live on (None: the local disk). Built afresh where it is
        called (each actor), so its credentials are that process's (its environment, its role)."""
        if self.storage is not None:
            return filesystem(self.storage, "dataset")[0]
        if self.hub_id is None:
            return None
        from huggingface_hub import HfFileSystem

        return HfFileSystem()


# ----------------------------------------------------------------------------- resolving
def resolve_dataset(
    dataset: str, config: str | None = None, splits: list[str] | None = None, *, no_verify: bool = False
) -> DatasetSource:
    """``--dataset`` (folder or Hub id) + ``--config`` + ``--split`` -> the shards to embed.

    Every problem is one line naming the option: a missing folder, an unknown config or split
    (with what exists), shards that disagree on their columns, no audio column. A local folder
    libtrad exported is checked first: the card and the chosen shards against its ``.libtrad.json``
    checksums (a shard whose audio bytes changed after export is refused, unless ``no_verify``).
    A Hub id is read at one resolved commit (the Hub's own content addressing).
    """
    storage = None
    local = local_path(dataset) if is_url(dataset) else Path(dataset).expanduser()
    if local is not None and exists(local):  # a name too long to look up is no folder: tried as a Hub id next
        if not local.is_dir():
            raise ParameterError("dataset", dataset, "is a file, not a dataset folder")
        files = LocalFiles(local.resolve())
        display, hub_id, revision = str(local), None, None
    elif local is None and str(dataset).startswith("hf://"):
        repo_id, revision = _hub_url(dataset)
        files = HubFiles(repo_id, revision, shown=dataset)
        display, hub_id, revision = f"hf://datasets/{repo_id}@{files.revision}", repo_id, files.revision
    elif local is None:
        files = StoreFiles(dataset)
        display, hub_id, revision, storage = files.url, None, None, files.url
    elif _looks_like_hub_id(dataset):
        files = HubFiles(dataset)
        display, hub_id, revision = f"hf://datasets/{dataset}@{files.revision}", dataset, files.revision
    else:
        raise ParameterError("dataset", dataset, "no such folder (and not a Hub id user/name)")
    front = _front_matter(files)
    layout = _configs(files, front, dataset)
    name = _pick_config(layout, config, dataset)
    wanted = _pick_splits(layout[name], splits, dataset, name)
    shards, schema = _list_shards(files, layout[name], name, wanted, dataset)
    features = _stored_features(schema)
    audio = _audio_column(schema, features, dataset)
    clash = [c for c in OUTPUT_COLUMNS if c in schema.names]
    if clash:
        raise ParameterError(
            "dataset",
            dataset,
            f"already has a column named {clash[0]!r} (an embeddings folder?); embed the dataset it was made from",
        )
    synthetic = "synthetic" in (front.get("tags") or [])
    component = _component(files)
    verification = None
    if storage is not None:
        verification = files.check_listed([s.path for s in shards], no_verify=no_verify)
    elif hub_id is None:
        read = [files.rel(s.path) for s in shards] + [n for n in ("README.md", MANIFEST) if (files.root / n).is_file()]
        verification = check_input_folder(
            local,
            "--dataset",
            no_verify=no_verify,
            relpaths=read,
            known={files.rel(s.path): s.checksum for s in shards},
        )
    policy = read_policy(front, name, files.show("README.md"))
    return DatasetSource(
        display,
        name,
        wanted,
        shards,
        schema,
        audio,
        revision,
        hub_id,
        features,
        synthetic,
        verification,
        storage,
        component,
        policy,
    )


def _list_shards(files, patterns: dict[str, list[str]], name: str, wanted: list[str], dataset: str):
    """(the shards of the wanted splits, their one Arrow schema): each split's data-file patterns must
    match a Parquet file, and every shard must have the columns of the first."""
    shards, schema = [], None
    for split in wanted:
        paths = sorted({p for pattern in patterns[split] for p in files.glob(pattern)})
        if not paths:
            raise ParameterError(
                "dataset",
                dataset,
                f"config {name!r} split {split!r}: no Parquet file matches {', '.join(patterns[split])}",
            )
        for path in paths:
            meta = files.metadata(path)
            if schema is None:
                schema = meta.schema.to_arrow_schema()
            elif not meta.schema.to_arrow_schema().equals(schema, check_metadata=False):
                raise LibtradError(f"{files.show(path)}: its columns differ from the other shards of config {name!r}")
            shards.append(Shard(path, split, meta.num_rows, files.checksum(path), _shard_key(files.rel(path))))
    return shards, schema


def _component(files) -> str | None:
    """The component a libtrad export says it is (``manifest.json``'s ``dataset``: ``cwru``, ``dcase2020``, …),
    which the results carry to the leaderboard, so a result lands in the papers' column of its corpus whatever
    the folder is called. None for a dataset without libtrad's manifest (a foreign ``manifest.json`` included)."""
    text = files.read_text(MANIFEST)
    try:
        manifest = json.loads(text) if text else None
    except ValueError:
        return None
    name = manifest.get("dataset") if isinstance(manifest, dict) else None
    return name if isinstance(name, str) and name else None


def _hub_url(url: str) -> tuple[str, str | None]:
    """``hf://datasets/ORG/NAME[@REV]`` -> (``ORG/NAME``, revision or None)."""
    rest = url[len("hf://") :]
    if not rest.startswith("datasets/"):
        raise ParameterError("dataset", url, "a Hub dataset URL is hf://datasets/ORG/NAME[@REVISION]")
    repo, _, revision = rest[len("datasets/") :].rstrip("/").partition("@")
    if not _looks_like_hub_id(repo) or "/" in revision:
        raise ParameterError("dataset", url, "a Hub dataset URL is hf://datasets/ORG/NAME[@REVISION]")
    return repo, revision or None


def _looks_like_hub_id(text: str) -> bool:
    """``ORG/NAME`` as the Hub spells repository ids (:func:`~libtrad.folders.hub.parse_hub_id`: 96 characters
    at most each), so a 5,000-character text is "no such folder (and not a Hub id)", not the Hub's own error."""
    found = parse_hub_id(text)
    return found is not None and found[1] is None


def _shard_key(rel: str) -> str:
    """A file-name-safe, unique name for a shard's outputs (its path inside the dataset)."""
    stem = rel[: -len(".parquet")] if rel.endswith(".parquet") else rel
    return stem.replace("/", "__")


def _front_matter(files) -> dict:
    """The README's YAML header ({} without one)."""
    card = files.read_text("README.md")
    if card is None or not card.startswith("---"):
        return {}
    try:
        front = yaml_header.safe_load(card.split("---", 2)[1]) or {}
    except yaml_header.YAMLError as exc:
        raise LibtradError(f"{files.show('README.md')}: unreadable YAML header ({first_line(exc)})") from None
    return front if isinstance(front, dict) else {}


def _configs(files, front: dict, dataset: str) -> dict[str, dict[str, list[str]]]:
    """config -> split -> file patterns, from the README's ``configs:`` YAML (or file names)."""
    entries = front.get("configs")
    if entries:
        layout = {}
        for entry in entries:
            data_files = entry.get("data_files", [])
            if isinstance(data_files, (str, list)) and not (data_files and isinstance(data_files[0], dict)):
                data_files = [{"split": "train", "path": data_files}]
            layout[entry.get("config_name", "default")] = {
                f["split"]: [f["path"]] if isinstance(f["path"], str) else list(f["path"]) for f in data_files
            }
        layout["__default__"] = next((e.get("config_name", "default") for e in entries if e.get("default")), None)
        return layout
    splits: dict[str, list[str]] = {}
    for rel in files.glob("**/*.parquet"):
        rel = files.rel(rel)
        base = posixpath.basename(rel)
        split = base.split("-")[0] if "-" in base else posixpath.basename(posixpath.dirname(rel))
        splits.setdefault(split or "train", []).append(rel)
    if not splits:
        raise ParameterError("dataset", dataset, "holds no Parquet files (and no README configs: naming them)")
    return {"default": splits, "__default__": "default"}


def _pick_config(layout: dict, config: str | None, dataset: str) -> str:
    names = [n for n in layout if n != "__default__"]
    if config is None:
        if layout.get("__default__"):
            return layout["__default__"]
        if len(names) == 1:
            return names[0]
        raise ParameterError(
            "config", None, f"{dataset} has several configs and none is the default; choose one of {', '.join(names)}"
        )
    if config not in names:
        raise ParameterError("config", config, f"{dataset} has no such config; it has {', '.join(names)}")
    return config


def _pick_splits(layout: dict[str, list[str]], splits: list[str] | None, dataset: str, config: str) -> list[str]:
    if not splits:
        return list(layout)
    unknown = [s for s in splits if s not in layout]
    if unknown:
        raise ParameterError(
            "splits", unknown[0], f"config {config!r} of {dataset} has no such split; it has {', '.join(layout)}"
        )
    return list(dict.fromkeys(splits))


def _stored_features(schema: pa.Schema) -> dict | None:
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return None
    try:
        return json.loads(meta).get("info", {}).get("features")
    except (ValueError, AttributeError):
        return None


def _audio_column(schema: pa.Schema, features: dict | None, dataset: str) -> str | None:
    if features:
        for name, feature in features.items():
            if isinstance(feature, dict) and feature.get("_type") == "Audio":
                return name
    for f in schema:
        if pa.types.is_struct(f.type) and AUDIO_STRUCT_FIELDS <= {c.name for c in f.type}:
            return f.name
    if "signals" in schema.names and "sampling_rate" in schema.names:
        return None
    raise ParameterError(
        "dataset",
        dataset,
        "has no audio column (an Audio feature, or `signals` with "
        f"`sampling_rate`); its columns are {', '.join(schema.names)}",
    )
