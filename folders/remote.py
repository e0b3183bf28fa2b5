"""Input folders at an fsspec URL (``s3://…``, ``gs://…``, ``hf://…``, ``file://…``) for ``evaluate``,
``leaderboard``, ``verify`` and ``publish``.

The design: a remote folder is fetched once into a local cache and then handed to the very code
and checks a local folder gets (its ``.libtrad.json`` checksums first), so a URL is trusted
exactly as much as a folder on disk, and no reader needs a second, remote code path.

* **Where**: ``$LIBTRAD_CACHE/remote/`` (default ``$XDG_CACHE_HOME/libtrad`` or ``~/.cache/libtrad``).
  One entry per URL *and content*: the key is the SHA-256 of the URL and of every object's path,
  size and version tag (S3's ETag, GCS's etag/md5, the Hub's blob id, a local file's mtime), as
  listed by the store. A changed object gives a new key, so a stale copy is never used; an
  unchanged folder is listed (one request) and not downloaded again.
* **Atomic**: an entry is downloaded into a fresh ``.partial-…`` folder beside it and renamed into
  place only when every object has arrived whole (its size as listed); a failure removes that
  partial folder (libtrad made it) and leaves no entry; the partial folder of a fetch that was
  killed is removed by the next fetch, recognised by the record libtrad wrote into it (its
  process, on this host, is gone) — never by its name. Two processes fetching the same folder
  both succeed (the second rename loses and its copy is discarded). Entries may be deleted by the
  user at any time.
* **Bad input** is one line naming the option and the URL (:func:`libtrad.folders.storage.storage_error`):
  a bucket or prefix that does not exist, denied credentials, an unreachable store, an empty
  prefix, a prefix without ``.libtrad.json`` (a remote folder must be libtrad's: there is nothing
  else to check it by), an object name that would leave the folder.
* **What is recorded**: the URL, never the cache path — results' ``inputs[].path``, ``verify``'s
  report and every error line about a fetched file name ``URL/relative/path``
  (:func:`shown_as_urls`).
* ``file://`` URLs name the local disk: the folder is used in place (no copy).

Credentials come from the environment, as each filesystem documents (see :mod:`libtrad.folders.storage`);
libtrad never reads or stores them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from libtrad.core.console import note
from libtrad.core.errors import LibtradError, ParameterError
from libtrad.folders.marker import MARKER
from libtrad.folders.outputs import follow_umask
from libtrad.folders.storage import filesystem, is_url, storage_error

CACHE_ENV = "LIBTRAD_CACHE"
RECORD = ".libtrad-fetch.json"  # beside an entry's copy: what was fetched, from where
PARTIAL = ".libtrad-fetch-partial.json"  # in a download in progress: whose it is (pid, host)
_FORMAT = 1
# The version tag of an object, by store: the first one its listing has.
_VERSION_FIELDS = ("ETag", "etag", "md5Hash", "blob_id", "crc32c", "LastModified", "last_modified", "mtime", "updated")


def cache_root() -> Path:
    """``$LIBTRAD_CACHE``, else ``$XDG_CACHE_HOME/libtrad``, else ``~/.cache/libtrad``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "libtrad"


def local_folder(value: str | Path, param: str, *, marker: str = "top") -> Path:
    """The local folder to read for an input ``value``: itself for a path, the cached copy for a URL.

    ``param``: the parameter (``embeddings``, ``results``, ``folder``) errors name — the CLI shows
    it as the flag. ``marker``: where the remote folder's ``.libtrad.json`` must be: ``"top"`` (a
    libtrad folder) or ``"any"`` (a prefix holding libtrad folders, e.g. several results folders).
    """
    if not is_url(value):
        return Path(value)
    return fetch_folder(str(value), param, marker=marker)


def local_folders(values, param: str, *, marker: str = "top") -> tuple[list[Path], dict[Path, str]]:
    """:func:`local_folder` of each value, and {local copy: URL} of those that were URLs (for
    :func:`shown_as_urls` and for recording the URL as the input)."""
    folders, fetched = [], {}
    for value in values:
        folder = local_folder(value, param, marker=marker)
        if is_url(value):
            fetched[folder] = str(value).rstrip("/")
        folders.append(folder)
    return folders, fetched


def fetch_folder(url: str, param: str, *, marker: str = "top") -> Path:
    """The local copy of the folder at ``url`` (see the module's docstring); one line for any failure."""
    from fsspec.implementations.local import LocalFileSystem

    fs, root = filesystem(url, param)
    root = root.rstrip("/")
    if isinstance(fs, LocalFileSystem):
        return Path(root)
    listing = _listing(fs, root, url, param)
    if not listing:
        raise ParameterError(
            param, url, "holds no files: no such folder, or an empty prefix (expected a libtrad folder)"
        )
    markers = [rel for rel in listing if rel.rsplit("/", 1)[-1] == MARKER]
    if (MARKER not in listing) if marker == "top" else not markers:
        where = "in it" if marker == "top" else "in it or below"
        raise ParameterError(
            param,
            url,
            f"not a libtrad folder (no {MARKER} {where}); a remote folder is read only when libtrad can check it",
        )
    files = {rel: [int(info.get("size") or 0), _version(info)] for rel, info in sorted(listing.items())}
    key = hashlib.sha256(json.dumps({"url": url, "files": files}, sort_keys=True).encode()).hexdigest()
    base = cache_root() / "remote"
    entry = base / key
    content = _content_name(root)
    if _complete(entry, content, url, files):
        return entry / content
    try:
        base.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(base)
        stage = Path(tempfile.mkdtemp(prefix=f".partial-{key[:16]}-", dir=base))
        (stage / PARTIAL).write_text(
            json.dumps({"libtrad_fetch_partial": _FORMAT, "pid": os.getpid(), "host": socket.gethostname()}) + "\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise ParameterError(
            param, url, f"cannot cache it in {base} ({exc.strerror or exc}); set {CACHE_ENV} to a writable folder"
        ) from None
    try:
        _download(fs, root, listing, stage / content, url, param)
        (stage / RECORD).write_text(
            json.dumps({"libtrad_fetch": _FORMAT, "url": url, "files": files}, indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        follow_umask(stage)  # mkdtemp made it 0700: a cache shared by a group stays readable by it
        try:
            os.rename(stage, entry)
        except OSError:
            if not _complete(entry, content, url, files):  # not another process's finished copy: a real failure
                raise
            shutil.rmtree(stage, ignore_errors=True)  # another process put the same entry first
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)  # ours, just made: no partial entry is left
        raise
    return entry / content


@contextmanager
def shown_as_urls(fetched: Mapping[Path, str]) -> Iterator[None]:
    """Inside: a LibtradError naming a fetched folder's local copy names its URL instead."""
    try:
        yield
    except LibtradError as exc:
        raise url_error(exc, fetched) from None


def url_error(exc: LibtradError, fetched: Mapping[Path, str]) -> LibtradError:
    """``exc`` with every local copy's path replaced by its URL (the same object, its message changed)."""

    def swap(text):
        return shown(text, fetched) if isinstance(text, str) else text

    if isinstance(exc, ParameterError):
        exc.problem, exc.value = swap(exc.problem), swap(exc.value)
    exc.args = tuple(swap(a) for a in exc.args)
    return exc


def shown(text: str, fetched: Mapping[Path, str]) -> str:
    """``text`` with each fetched folder's local path replaced by its URL (longest path first)."""
    for local, url in sorted(fetched.items(), key=lambda item: -len(str(item[0]))):
        for form in {str(local), str(Path(local).resolve())}:
            text = text.replace(form, url.rstrip("/"))
    return text


# ----------------------------------------------------------------------------- plumbing
def _listing(fs, root: str, url: str, param: str) -> dict[str, dict]:
    """relative path -> info of every object below ``root``; refuses names that would leave the folder."""
    try:
        fs.invalidate_cache(root)  # fsspec keeps listings per filesystem instance: ask the store itself
        found = fs.find(root, detail=True)
        if not found:  # HTTP lists nothing where it cannot connect: read the marker to tell the two apart
            _probe_marker(fs, root, url, param)
    except LibtradError:
        raise
    except Exception as exc:  # noqa: BLE001 - botocore/aiohttp/Hub errors: one line naming the URL
        raise storage_error(param, url, exc, "cannot list it") from None
    out = {}
    for path, info in found.items():
        if info.get("type") == "directory":
            continue
        path = path.rstrip("/") if info.get("size") in (0, None) and path.endswith("/") else path
        if path == root:
            raise ParameterError(param, url, "is a file, not a folder")
        if not path.startswith(root + "/"):
            continue
        rel = path[len(root) + 1 :]
        parts = rel.split("/")
        if not rel or "\\" in rel or "\x00" in rel or any(p in ("", ".", "..") for p in parts):
            raise ParameterError(
                param, url, f"holds an object named {rel!r}, which cannot be a file inside a folder; refusing it"
            )
        out[rel] = info
    return out


def _probe_marker(fs, root: str, url: str, param: str) -> None:
    """Nothing listed: no folder there (returns), or a server that cannot be reached (raises, for the caller's
    one line), or a marker the server has but does not list (one line saying so)."""
    try:
        fs.cat_file(f"{root}/{MARKER}")
    except FileNotFoundError:
        return
    raise ParameterError(param, url, f"holds a {MARKER} but the server gives no listing of the folder")


def _version(info: dict) -> str:
    for name in _VERSION_FIELDS:
        value = info.get(name)
        if value not in (None, ""):
            return f"{name}={value}"
    return ""


def _remove_abandoned(base: Path) -> None:
    """Remove the partial downloads of fetches killed before they finished: only folders holding
    libtrad's partial record whose process (on this host) is gone — recognised by what libtrad wrote
    into them, never by their name."""
    for folder in base.glob(".partial-*"):
        try:
            record = json.loads((folder / PARTIAL).read_text(encoding="utf-8"))
            if (
                folder.is_symlink()
                or not isinstance(record, dict)
                or record.get("libtrad_fetch_partial") != _FORMAT
                or record.get("host") != socket.gethostname()
                or not isinstance(record.get("pid"), int)
            ):
                continue
            os.kill(record["pid"], 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not ours, unreadable, or its process is alive (PermissionError: another user's)


def _content_name(root: str) -> str:
    """The copy's folder name: the URL's last part (what a folder's name is used for — a leaderboard
    row without an encoder, a probe task without a dataset — stays the same), else ``folder``."""
    name = root.rstrip("/").rsplit("/", 1)[-1]
    ok = name and name not in (".", "..", RECORD, PARTIAL) and name.isprintable()
    return name if ok else "folder"


def _complete(entry: Path, content: str, url: str, files: Mapping[str, list]) -> bool:
    """An entry libtrad finished for exactly this listing, every file still there at its size."""
    try:
        record = json.loads((entry / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if (
        not isinstance(record, dict)
        or record.get("libtrad_fetch") != _FORMAT
        or record.get("url") != url
        or record.get("files") != {k: list(v) for k, v in files.items()}
    ):
        return False
    try:
        return all((entry / content / rel).stat().st_size == size for rel, (size, _) in files.items())
    except OSError:
        return False


def _download(fs, root: str, listing: Mapping[str, dict], dest: Path, url: str, param: str) -> None:
    total = sum(int(info.get("size") or 0) for info in listing.values())
    note(f"{url}: fetching {len(listing)} file(s) ({total / 2**20:.1f} MiB) into {dest.parent.parent}")
    for rel, info in sorted(listing.items()):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fs.get_file(f"{root}/{rel}", str(target))
        except Exception as exc:  # noqa: BLE001 - one line naming the URL
            raise storage_error(param, f"{url.rstrip('/')}/{rel}", exc, "cannot read it") from None
        size = target.stat().st_size
        if info.get("size") is not None and size != int(info["size"]):
            raise ParameterError(
                param,
                f"{url.rstrip('/')}/{rel}",
                f"changed while being fetched ({size} bytes arrived, {info['size']} listed); run again",
            )
