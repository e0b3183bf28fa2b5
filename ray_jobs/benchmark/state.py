"""``OUT/benchmark.json``: what each stage did, under the key of its inputs — the run's provenance and its cache.

Every piece of work (a component's build, an encoder × job's embeddings or results, the report) is
recorded under its stage and name with the SHA-256 of everything it was made from (:func:`digest`)
and where its output is. A re-run computes the same key first; when it equals the recorded one and
the output folder is still libtrad's folder of its kind, the work is skipped and the run says so. A
record is saved the moment its work ends (the file replaced atomically), so a run killed halfway keeps
what it finished. What the keys hash:

* build — the raw folder's listing (every file's path, size and modification time: hashing the bytes
  of a corpus of many GB would take longer than most builds), the family, the component, the build
  options and libtrad's version;
* embed — the encoder's fingerprint (the bytes of its files), the built dataset's identity (the
  SHA-256 its marker lists for every file, or the Hub id and commit), the config, the channels and the
  embed options (what ``embed``'s own cache key holds; ``embed`` then also resumes a half-written
  folder unit by unit);
* evaluate — the suite, its options, the embeddings' cache key and any trained models' fingerprints;
* report — every results.json's bytes and the published tables asked for.

The OUT folder itself is a libtrad folder of kind ``benchmark``; its marker lists the files a
publication sends (``benchmark.json``, the card, the results and the leaderboard) — the datasets and
embeddings stay local (:func:`write_out_marker`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from libtrad.core.errors import LibtradError
from libtrad.core.version import __version__
from libtrad.folders.checksums import sha256_file
from libtrad.folders.marker import MARKER, marker_kind, marker_record, read_marker

STATE_FILE = "benchmark.json"
FORMAT = 1
STAGES = ("build", "embed", "evaluate", "report")
PUBLISHED = ("results", "leaderboard", "models")  # OUT's folders a publication sends, beside its own files


def digest(value) -> str:
    """SHA-256 of ``value``'s canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def listing_digest(folder: Path) -> str:
    """SHA-256 of a raw folder's listing: every file's relative path, size and modification time."""
    rows = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            rows.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    return digest(rows)


def folder_identity(folder: Path) -> str | None:
    """A libtrad folder's identity: SHA-256 of the checksums its marker lists (None: not a libtrad folder)."""
    marker = read_marker(folder)
    return None if marker is None else digest(marker["files"])


class State:
    """``OUT/benchmark.json`` read at the start of a run, updated and saved after every piece of work."""

    def __init__(self, out: Path):
        self.out = out
        self.path = out / STATE_FILE
        self.data = self._read()

    def _read(self) -> dict:
        if not self.path.is_file():
            return {"format": FORMAT, "stages": {s: {} for s in STAGES}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LibtradError(f"{self.path}: unreadable ({exc}); it is libtrad's record of this benchmark") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("stages"), dict):
            raise LibtradError(f"{self.path}: not a libtrad benchmark record of format {FORMAT}")
        for stage in STAGES:
            data["stages"].setdefault(stage, {})
        return data

    def fresh(self, stage: str, name: str, key: str, output: Path, kind: str) -> bool:
        """True when ``name`` was done with this ``key`` and its output is still libtrad's ``kind`` folder."""
        record = self.data["stages"][stage].get(name)
        return bool(record) and record.get("key") == key and marker_kind(output) == kind

    def record(self, stage: str, name: str, key: str, **info) -> None:
        self.data["stages"][stage][name] = {"key": key, **info}
        self.save()

    def get(self, stage: str, name: str) -> dict | None:
        return self.data["stages"][stage].get(name)

    def save(self) -> None:
        """Write benchmark.json atomically (temporary name, then rename)."""
        self.data["libtrad_version"] = __version__
        tmp = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def write_out_marker(out: Path) -> dict:
    """OUT's marker (kind ``benchmark``): OUT's own files and every file of its :data:`PUBLISHED` folders, with
    their SHA-256 — what ``libtrad publish dataset OUT`` sends and ``libtrad verify OUT`` checks."""
    files = {}
    for path in sorted(out.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            files[path.name] = sha256_file(path)
    for name in PUBLISHED:
        for path in sorted((out / name).rglob("*")) if (out / name).is_dir() else ():
            if path.is_file() and path.name != MARKER:
                files[path.relative_to(out).as_posix()] = sha256_file(path)
    marker = marker_record("benchmark", files)
    tmp = out / f".{MARKER}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out / MARKER)
    return marker
