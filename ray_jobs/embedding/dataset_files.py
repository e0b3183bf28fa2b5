"""Where ``libtrad embed`` reads a dataset's files from: a local folder, a Hub repository at one resolved
commit, or a folder on any fsspec store.

The three classes answer the same questions — ``glob`` (the Parquet files a pattern matches),
``rel``/``show`` (a path inside the dataset, and as a user should see it), ``read_text`` (the card, the
manifest), ``metadata`` (a shard's Parquet footer) and ``checksum`` (what identifies a shard's bytes for
the cache key) — so :func:`libtrad.ray_jobs.embedding.source.resolve_dataset` reads all three alike.
Every failure is one line naming the file or URL.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from libtrad.core.console import note
from libtrad.core.errors import LibtradError, ParameterError, first_line
from libtrad.folders.checksums import sha256_file
from libtrad.folders.marker import MARKER, parse_marker
from libtrad.folders.storage import filesystem, storage_error


class LocalFiles:
    """A dataset folder on this machine (a libtrad export, or a Hub-style repository checked out)."""

    def __init__(self, root: Path):
        self.root = root

    def glob(self, pattern: str) -> list[str]:
        return [str(p) for p in sorted(self.root.glob(pattern)) if p.is_file() and p.name.endswith(".parquet")]

    def rel(self, path: str) -> str:
        return Path(path).relative_to(self.root).as_posix()

    def show(self, path: str) -> str:
        return str(self.root / path)

    def read_text(self, rel: str) -> str | None:
        from libtrad.builders.scan import read_text_file  # regular files only, size-capped, UTF-8 checked

        return read_text_file(self.root / rel)

    def metadata(self, path: str) -> pq.FileMetaData:
        try:
            return pq.read_metadata(path)
        except (OSError, pa.ArrowException) as exc:
            raise LibtradError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None

    def checksum(self, path: str) -> str:
        return sha256_file(path)


class HubFiles:
    """A Hub dataset repository at one resolved commit, through ``HfFileSystem``."""

    def __init__(self, repo_id: str, revision: str | None = None, shown: str | None = None):
        from huggingface_hub import HfApi, HfFileSystem

        self.repo_id = repo_id
        try:
            info = HfApi().dataset_info(repo_id, revision=revision) if revision else HfApi().dataset_info(repo_id)
            self.revision = info.sha
        except Exception as exc:  # noqa: BLE001 - offline, unknown repo, no access: all one line
            raise ParameterError(
                "dataset",
                shown or repo_id,
                f"cannot reach it on the Hub ({type(exc).__name__}: {first_line(exc)}); for local data pass a folder",
            ) from None
        self.fs = HfFileSystem()
        self.base = f"datasets/{repo_id}@{self.revision}"

    def glob(self, pattern: str) -> list[str]:
        return [p for p in sorted(self.fs.glob(f"{self.base}/{pattern}")) if p.endswith(".parquet")]

    def rel(self, path: str) -> str:
        return path[len(self.base) + 1 :] if path.startswith(self.base + "/") else path.split("/", 3)[-1]

    def show(self, path: str) -> str:
        return f"hf://{path}" if path.startswith(self.base) else f"hf://{self.base}/{path}"

    def read_text(self, rel: str) -> str | None:
        path = f"{self.base}/{rel}"
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r", encoding="utf-8") as f:
            return f.read()

    def metadata(self, path: str) -> pq.FileMetaData:
        with self.fs.open(path, "rb") as f:
            return pq.read_metadata(f)

    def checksum(self, path: str) -> str:
        info = self.fs.info(path)
        lfs = info.get("lfs") or {}
        return lfs.get("sha256") or info.get("blob_id") or f"{self.revision}:{self.rel(path)}"


class StoreFiles:
    """A dataset folder on any fsspec store (``s3://bucket/prefix``, ``gs://…``): shard paths are URLs.

    Every failure the store reports (no such bucket or prefix, denied credentials, no connection)
    is one line naming the URL (:func:`libtrad.folders.storage.storage_error`). A shard's checksum is what
    the store says identifies its bytes (an S3 ETag, a GCS md5Hash/crc32c; else size and mtime)
    with its size: re-hashing every shard would read the whole dataset once more on the driver."""

    _VERSION_KEYS = ("sha256", "ETag", "etag", "md5Hash", "crc32c", "checksum", "generation")

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.base = filesystem(self.url, "dataset")
        self.base = self.base.rstrip("/")
        self._error = storage_error
        try:
            is_dir = self.fs.isdir(self.base)
            exists = is_dir or self.fs.exists(self.base)
        except Exception as exc:  # noqa: BLE001 - a store's failure is one line naming the URL
            raise storage_error("dataset", self.url, exc) from None
        if not exists:
            raise ParameterError("dataset", self.url, "does not exist (no such bucket or prefix)")
        if not is_dir:
            raise ParameterError("dataset", self.url, "is a file, not a dataset folder")

    def _call(self, what, *args):
        try:
            return what(*args)
        except ParameterError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line naming the URL
            raise self._error("dataset", self.url, exc) from None

    def _url(self, path: str) -> str:
        return path if "://" in path else self.fs.unstrip_protocol(path)

    def glob(self, pattern: str) -> list[str]:
        found = self._call(self.fs.glob, f"{self.base}/{pattern}")
        return [self._url(p) for p in sorted(found) if p.endswith(".parquet")]

    def rel(self, path: str) -> str:
        return self.fs._strip_protocol(path)[len(self.base) + 1 :]

    def show(self, path: str) -> str:
        return path if "://" in path else f"{self.url}/{path}"

    def read_text(self, rel: str) -> str | None:
        path = f"{self.base}/{rel}"
        if not self._call(self.fs.exists, path):
            return None
        data = self._call(self.fs.cat_file, path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise LibtradError(f"{self.show(rel)}: not UTF-8 text") from None

    def metadata(self, path: str) -> pq.FileMetaData:
        try:
            with self.fs.open(path, "rb") as f:
                return pq.read_metadata(f)
        except pa.ArrowException as exc:
            raise LibtradError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
        except Exception as exc:  # noqa: BLE001
            raise self._error("dataset", path, exc) from None

    def checksum(self, path: str) -> str:
        info = self._call(self.fs.info, path)
        for key in self._VERSION_KEYS:
            if info.get(key):
                return f"{key}:{str(info[key]).strip(chr(34))}:size:{info.get('size')}"
        stamp = info.get("mtime") or info.get("LastModified") or info.get("updated") or info.get("created")
        return f"size:{info.get('size')}:mtime:{stamp}"

    def check_listed(self, shard_urls: list[str], *, no_verify: bool) -> dict:
        """A libtrad export's marker on the store lists every shard read (checked like a local
        folder's, without re-hashing the bytes: the store's ETags key the cache instead)."""
        text = self.read_text(MARKER)
        if text is None:
            note(
                f"--dataset {self.url}: not a libtrad folder (no {MARKER}), so its files could not be "
                "verified; used as it is"
            )
            return {"verified": False, "reason": f"no {MARKER}"}
        marker = parse_marker(text, f"{self.url}/{MARKER}")
        if marker["kind"] != "dataset":
            raise LibtradError(f"--dataset {self.url}: is a libtrad {marker['kind']} folder, not dataset")
        missing = [self.rel(u) for u in shard_urls if self.rel(u) not in marker["files"]]
        if missing and not no_verify:
            raise LibtradError(
                f"{self.url}/{missing[0]}: not listed in {self.url}/{MARKER}; --dataset {self.url} "
                "is not what libtrad wrote — rebuild it, or pass --no-verify to use it anyway"
            )
        record = {
            "verified": False,
            "reason": "remote store: shards listed in the marker, bytes not re-hashed "
            "(the store's ETags key the cache)",
        }
        return {**record, "problems": [f"{m}: not listed" for m in missing]} if missing else record
