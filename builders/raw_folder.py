"""A libtrad ``raw`` folder from a dataset's downloads: fetched (:mod:`libtrad.builders.download`), archives
unpacked safely (:mod:`libtrad.builders.archives`, capped by :data:`MAX_MEMBERS` / :data:`MAX_TOTAL_BYTES`),
other files copied, the folder written atomically and marked (:mod:`libtrad.folders.outputs`)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from libtrad.builders import archives
from libtrad.builders.archives import MAX_MEMBERS, MAX_TOTAL_BYTES, DamagedArchive, archive_format, relative_parts
from libtrad.builders.download import Download, check_downloads, fetch
from libtrad.core.errors import LibtradError
from libtrad.folders.outputs import atomic_output


# ----------------------------------------------------------------------------- extraction
def safe_extract(
    archive: str | Path, target: str | Path, *, max_members: int | None = None, max_bytes: int | None = None
) -> list[Path]:
    """:func:`libtrad.builders.archives.safe_extract`, capped by this module's :data:`MAX_MEMBERS` /
    :data:`MAX_TOTAL_BYTES` (the limits :func:`prepare_raw` applies; set them here)."""
    return archives.safe_extract(
        archive,
        target,
        max_members=MAX_MEMBERS if max_members is None else max_members,
        max_bytes=MAX_TOTAL_BYTES if max_bytes is None else max_bytes,
    )


# ----------------------------------------------------------------------------- the raw folder
def prepare_raw(
    downloads: Iterable[Download],
    raw_dir: str | Path,
    cache_dir: str | Path,
    *,
    progress: bool = True,
    timeout: float | None = None,
    deadline: float | None = None,
    min_rate: float | None = None,
) -> Path:
    """Fetch every download and unpack it into ``raw_dir``, which is returned.

    ``raw_dir`` is a libtrad folder of kind ``raw``: new, empty, or an earlier ``raw`` folder
    (replaced; files libtrad did not write in it are kept). Archives are unpacked into
    ``raw_dir/<extract_to>``; other files are copied there under their ``filename``. The folder
    appears (or is swapped) only once everything is in it. A cached archive that turns out damaged
    is named with its cache path, to be deleted (see the module's docstring). The limits: :func:`fetch`.
    """
    downloads = check_downloads(downloads)
    raw = Path(raw_dir).expanduser().resolve()
    cache = Path(cache_dir).expanduser().resolve()
    if cache == raw or cache.is_relative_to(raw):
        raise LibtradError(f"cache_dir {cache}: lies inside raw_dir {raw}; choose a cache outside it")
    with _raw_output(raw) as tmp:
        paths = fetch(downloads, cache, progress=progress, timeout=timeout, deadline=deadline, min_rate=min_rate)
        for download, path in zip(downloads, paths):
            dest = tmp.joinpath(*relative_parts(download.extract_to))
            try:
                if archive_format(path) is not None:
                    safe_extract(path, dest)
                    continue
            except DamagedArchive as exc:
                raise LibtradError(
                    f"{path}: the cached download of {download.url} is damaged ({exc.reason}); delete "
                    "it and run again to download it again"
                ) from None
            dest.mkdir(parents=True, exist_ok=True)
            copy = dest / download.filename
            if copy.exists() or copy.is_symlink():
                raise LibtradError(
                    f"{download.url}: {download.extract_to or '.'}/{download.filename} was already "
                    "unpacked from another download; refusing to replace it"
                )
            shutil.copyfile(path, copy)
    return raw


@contextlib.contextmanager
def _raw_output(raw: Path) -> Iterator[Path]:
    """A staging folder that becomes the libtrad ``raw`` folder ``raw`` on success (:mod:`libtrad.folders.outputs`)."""
    with atomic_output(raw, "raw", option="raw_dir") as tmp:
        yield tmp
