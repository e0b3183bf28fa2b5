"""Where inputs and outputs may live besides the local disk: any fsspec URL.

``hf://datasets/ORG/NAME``, ``s3://bucket/prefix``, ``gs://…``, ``file:///abs/path``: one
filesystem per URL through :func:`fsspec.core.url_to_fs`, with credentials coming from the
environment exactly as each filesystem documents (s3fs: ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL_S3``, a profile or an instance role; gcsfs: Google's
application-default credentials; ``hf://``: ``HF_TOKEN`` or the stored login). libtrad never
reads, prints or stores a credential itself.

Why a module of our own around fsspec: every failure a user can cause — a filesystem whose
package is not installed, a bucket that does not exist, credentials that are denied — must reach
them as one line naming the URL and the cause (:func:`storage_error`), not as botocore's or
aiohttp's traceback.
"""

from __future__ import annotations

import re

from libtrad.core.errors import LibtradError, ParameterError, first_line
from libtrad.folders.marker import FORMAT, MARKER, STAGING_CONTENT, STAGING_MARKER, marker_record, parse_marker

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")
# The package each common protocol needs, for the "not installed" line.
_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}


def is_url(text) -> bool:
    """``scheme://…`` (two or more letters: a Windows drive ``C:\\`` is a path)."""
    return isinstance(text, str) and bool(_SCHEME.match(text))


def protocol(url: str) -> str:
    return _SCHEME.match(url).group(1).lower()


def filesystem(url: str, option: str):
    """``(fs, path)`` for ``url``; an unknown protocol or a missing filesystem package is one
    ParameterError naming ``option`` and the URL."""
    from fsspec.core import url_to_fs

    try:
        return url_to_fs(url)
    except ImportError:
        package = _PACKAGES.get(protocol(url), f"the fsspec filesystem for {protocol(url)}://")
        raise ParameterError(
            option, url, f"reading {protocol(url)}:// URLs needs {package} (pip install {package})"
        ) from None
    except ValueError as exc:
        raise ParameterError(option, url, f"not a URL libtrad can open ({first_line(exc)})") from None


def storage_error(option: str, url: str, exc: BaseException, doing: str = "cannot read it") -> ParameterError:
    """One line for a store's failure: a missing bucket or key, denied credentials, no connection."""
    text = first_line(exc)
    if isinstance(exc, FileNotFoundError):
        cause = f"does not exist ({text})"
    elif isinstance(exc, PermissionError) or re.search(
        r"AccessDenied|Forbidden|InvalidAccessKeyId|"
        r"SignatureDoesNotMatch|403",
        text,
    ):
        cause = f"access denied: check the credentials this process has for {protocol(url)}:// ({text})"
    elif isinstance(exc, (ConnectionError, TimeoutError, OSError)) and re.search(
        r"connect|timed out|resolve", text, re.I
    ):
        cause = f"the store cannot be reached ({text})"
    else:
        cause = f"{type(exc).__name__}: {text}"
    return ParameterError(option, url, f"{doing}: {cause}")


def local_path(url: str):
    """The local ``Path`` a ``file://`` URL names (None for any other store): the local disk has
    rename, so such an output follows :mod:`libtrad.folders.outputs`' write-then-rename rules."""
    from pathlib import Path

    if not is_url(url) or protocol(url) not in ("file", "local"):
        return None
    fs, path = filesystem(url, "url")
    return Path(path)


def same_or_nested(a: str, b: str) -> str | None:
    """How URL ``a`` relates to URL ``b`` on the same store: "is", "contains", "lies inside" or None."""
    if not (is_url(a) and is_url(b)) or protocol(a) != protocol(b):
        return None
    pa_, pb = a.split("://", 1)[1].rstrip("/"), b.split("://", 1)[1].rstrip("/")
    if pa_ == pb:
        return "is"
    if pb.startswith(pa_ + "/"):
        return "contains"
    if pa_.startswith(pb + "/"):
        return "lies inside"
    return None


# ----------------------------------------------------------------------------- outputs on an object store
INCOMPLETE = ".libtrad-incomplete.json"  # in an output being replaced: the files libtrad is writing there
_RECORD_FORMAT = 1


class RemoteOutput:
    """A libtrad output folder (``kind``) at an object-store URL, where there is no rename.

    The rules of :mod:`libtrad.folders.outputs`, carried over to a store whose only atomic step is one
    object's PUT:

    * A prefix that holds objects is replaced only when its ``.libtrad.json`` names the same kind —
      or when it holds libtrad's ``.libtrad-incomplete.json`` for this URL and kind (a publication a
      killed run left half done). Anything else is refused before any work; objects the marker
      does not list (a user's) are never deleted or overwritten, and one standing where libtrad
      would write is refused before anything changes.
    * Work is staged under ``.NAME.resume-KEY/content/`` beside the output (recognised by the
      ``.libtrad-staging.json`` libtrad puts in it, never by its name): each finished part is one
      PUT, so a part is there whole or not at all, and a re-run of the same key finds it.
    * :meth:`publish` is the completion manifest protocol: the incomplete record (listing every
      file libtrad may leave there) goes first, then the old marker is removed (from here a reader
      sees no libtrad folder: none, never a mix), the old files that are not in the new output are
      removed, the new ones are copied in (server-side copies), and the new ``.libtrad.json`` is
      written last — the one object whose presence says the output is complete — before the
      record and the staging prefix go. A run killed at any step is finished by the next.

    One job per output at a time is not enforced here (object stores have no advisory lock):
    two drivers writing one URL at once are the user's to avoid.
    """

    def __init__(self, url: str, kind: str, *, option: str = "--output", inputs: dict | None = None):
        self.url, self.kind, self.option = url.rstrip("/"), kind, option
        self.fs, path = filesystem(self.url, option.lstrip("-").replace("-", "_"))
        self.path = path.rstrip("/")
        parent, _, self.name = self.path.rpartition("/")
        if not parent or not self.name:
            raise ParameterError(
                option.lstrip("-").replace("-", "_"),
                url,
                "name a prefix inside the bucket (s3://BUCKET/NAME), not the bucket itself",
            )
        self.parent = parent
        for name, value in (inputs or {}).items():
            relation = same_or_nested(self.url, str(value)) if value is not None else None
            if relation:
                raise LibtradError(
                    f"{option} {self.url}: {relation} the input {name} {value}; choose an output outside it"
                )

    # -- plumbing: every failure of the store is one line naming the URL
    def _do(self, what, *args, doing: str = "cannot write it", **kwargs):
        try:
            return what(*args, **kwargs)
        except (LibtradError, ParameterError):
            raise
        except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors: one line
            raise storage_error(self.option.lstrip("-").replace("-", "_"), self.url, exc, doing) from None

    def _listing(self, prefix: str) -> dict[str, dict]:
        """relpath -> info of every object under ``prefix`` ({} when there is none), listed afresh
        (fsspec caches listings; another process may have written since)."""
        self.fs.invalidate_cache(prefix)
        found = self._do(self.fs.find, prefix, detail=True, doing="cannot read it")
        return {
            p[len(prefix) + 1 :]: info
            for p, info in found.items()
            if p.startswith(prefix + "/") and info.get("type") != "directory"
        }

    def _cat(self, path: str) -> bytes | None:
        """An object's bytes, None when there is no such object."""
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - one line naming the URL
            raise storage_error(self.option.lstrip("-").replace("-", "_"), self.url, exc, "cannot read it") from None

    def read_json(self, path: str) -> dict | None:
        """A JSON object on the store ({} when it does not parse), None when there is no such object."""
        import json

        data = self._cat(path)
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return {}

    def _put_json(self, path: str, record: dict) -> None:
        import json

        self._do(self.fs.pipe_file, path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())

    def join(self, rel: str) -> str:
        return f"{self.path}/{rel}"

    def shown(self, rel: str = "") -> str:
        return f"{self.url}/{rel}" if rel else self.url

    # -- what is there
    def marker(self) -> dict | None:
        """The output's ``.libtrad.json`` (checked as :func:`libtrad.folders.marker.read_marker` does), or None."""
        data = self._cat(self.join(MARKER))
        if data is None:
            return None
        return parse_marker(data.decode("utf-8", errors="replace"), self.shown(MARKER))

    def _incomplete(self) -> dict | None:
        record = self.read_json(self.join(INCOMPLETE))
        if (
            not isinstance(record, dict)
            or record.get("libtrad_incomplete") != _RECORD_FORMAT
            or record.get("output") != self.url
            or record.get("kind") != self.kind
            or not isinstance(record.get("files"), list)
        ):
            return None
        return record

    def check(self) -> None:
        """Refuse (one line) unless libtrad may write a ``kind`` folder here; nothing is written.

        Also the first contact with the store: a bucket that does not exist, denied credentials or
        an unreachable endpoint fail here, before any work."""
        self._do(self.fs.ls, self.parent.split("/", 1)[0], doing="cannot write it")  # the bucket: there, readable
        if self._do(self.fs.isfile, self.path, doing="cannot read it"):
            raise LibtradError(f"{self.option} {self.url}: exists and is not a folder; refusing to replace it")
        present = self._listing(self.path)
        if not present:
            return
        marker = self.marker() if MARKER in present else None
        if marker is not None:
            if marker["kind"] != self.kind:
                raise LibtradError(
                    f"{self.option} {self.url}: is a libtrad {marker['kind']} folder, not a "
                    f"{self.kind} folder; refusing to replace it"
                )
            return
        if INCOMPLETE in present and self._incomplete() is not None:
            return
        raise LibtradError(
            f"{self.option} {self.url}: exists, is not empty and is not a libtrad folder (no {MARKER}); "
            "refusing to replace it: choose a new or empty prefix"
        )

    # -- staging
    def staging(self, key: str) -> RemoteStaging:
        """The resumable staging prefix of ``key`` beside the output (made if missing; also the first
        write: denied write access fails here, before any work). Staging prefixes of other keys that
        libtrad made for this output are removed; one of this name libtrad did not make is refused."""
        prefix = f"{self.parent}/.{self.name}.resume-"
        mine = f"{prefix}{key}"
        try:
            entries = self.fs.ls(self.parent, detail=False, refresh=True)
        except FileNotFoundError:
            entries = []  # no object under the parent prefix yet (the bucket itself was checked)
        except Exception as exc:  # noqa: BLE001 - one line naming the URL
            raise storage_error(self.option.lstrip("-").replace("-", "_"), self.url, exc, "cannot read it") from None
        for entry in entries:
            entry = entry.rstrip("/")
            if entry.startswith(prefix) and entry != mine and self._is_staging(entry):
                self.remove_staging(entry)
        if self._listing(mine):
            if not self._is_staging(mine):
                raise LibtradError(
                    f"{self.fs.unstrip_protocol(mine)}: exists and was not made by libtrad (no "
                    f"{STAGING_MARKER} in it), but libtrad keeps the resumable work for {self.url} under that name; "
                    "move or rename it and run again"
                )
        else:
            self._put_json(
                f"{mine}/{STAGING_MARKER}", {"libtrad_staging": FORMAT, "output": self.url, "purpose": "resume"}
            )
        return RemoteStaging(self, f"{mine}/{STAGING_CONTENT}")

    def remove_staging(self, prefix: str) -> None:
        """Delete a staging prefix of libtrad's: its content first, its ``.libtrad-staging.json`` last —
        a run killed in between leaves a prefix still recognised as libtrad's (and removed next time)."""
        if self._listing(f"{prefix}/{STAGING_CONTENT}"):
            self._do(self.fs.rm, f"{prefix}/{STAGING_CONTENT}", recursive=True)
        self._do(self.fs.rm_file, f"{prefix}/{STAGING_MARKER}")

    def _is_staging(self, prefix: str) -> bool:
        record = self.read_json(f"{prefix}/{STAGING_MARKER}")
        return (
            isinstance(record, dict)
            and record.get("libtrad_staging") == FORMAT
            and record.get("output") == self.url
            and record.get("purpose") == "resume"
        )

    # -- completion
    def publish(self, staging: RemoteStaging, files: dict[str, str]) -> None:
        """Make the staged ``files`` (relpath -> SHA-256) the output, by the protocol in the class doc."""
        self.check()  # the prefix may have changed meanwhile
        present = self._listing(self.path)
        old = self.marker() if MARKER in present else None
        incomplete = self._incomplete() if INCOMPLETE in present else None
        ours = set(old["files"] if old else ()) | set(incomplete["files"] if incomplete else ())
        clashes = sorted(rel for rel in files if rel in present and rel not in ours)
        if clashes:
            raise LibtradError(
                f"{self.shown(clashes[0])}: an object libtrad did not write stands where the new "
                "output writes; move it away and run again (nothing was changed)"
            )
        new_marker = marker_record(self.kind, files)
        if old is not None and old["files"] == new_marker["files"] and incomplete is None:
            staging.discard()
            return  # this very output is already complete
        self._put_json(
            self.join(INCOMPLETE),
            {
                "libtrad_incomplete": _RECORD_FORMAT,
                "output": self.url,
                "kind": self.kind,
                "files": sorted(ours | set(files)),
            },
        )
        if old is not None:
            self._do(self.fs.rm_file, self.join(MARKER))
        for rel in sorted(ours - set(files)):
            if rel in present:
                self._do(self.fs.rm_file, self.join(rel))
        for rel, digest in sorted(files.items()):
            if old is not None and old["files"].get(rel) == digest and rel in present:
                continue  # the same bytes are already there
            self._do(self.fs.copy, staging.join(rel), self.join(rel))
        self._put_json(self.join(MARKER), new_marker)
        self._do(self.fs.rm_file, self.join(INCOMPLETE))
        staging.discard()


class RemoteStaging:
    """The ``content/`` prefix of a :class:`RemoteOutput`'s staging prefix: finished parts, one PUT each."""

    def __init__(self, output: RemoteOutput, prefix: str):
        self.output, self.prefix = output, prefix

    def join(self, rel: str) -> str:
        return f"{self.prefix}/{rel}"

    def shown(self, rel: str) -> str:
        return self.output.fs.unstrip_protocol(self.join(rel))

    def names(self) -> set[str]:
        self.output.fs.invalidate_cache(self.prefix)
        return set(self.output._listing(self.prefix))

    def put(self, rel: str, data: bytes) -> None:
        self.output._do(self.output.fs.pipe_file, self.join(rel), data)

    def get(self, rel: str) -> bytes:
        return self.output._do(self.output.fs.cat_file, self.join(rel), doing="cannot read it")

    def open(self, rel: str):
        return self.output.fs.open(self.join(rel), "rb")

    def remove(self, rel: str) -> None:
        self.output._do(self.output.fs.rm_file, self.join(rel))

    def copy_from_output(self, rel: str) -> None:
        self.output._do(self.output.fs.copy, self.output.join(rel), self.join(rel))

    def discard(self) -> None:
        """Remove the whole staging prefix (its work is published)."""
        self.output.remove_staging(self.prefix.rsplit("/", 1)[0])
