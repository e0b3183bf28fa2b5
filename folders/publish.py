"""Upload a built dataset or saved model folder to the Hugging Face Hub.

One code path for datasets and models: check the folder (:func:`plan_upload`), then
``create_repo`` and one ``create_commit`` of exactly the planned files (:func:`publish_folder`).
Only libtrad folders are published, whole and intact: every file the ``.libtrad.json`` marker
lists must match its SHA-256, and links, special files and hidden entries (``.git/``) are never
sent; the marker itself is, so a clone of the repo is recognised as libtrad's. The token comes
from the usual places (``HF_TOKEN``, ``hf auth login``) and is never printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.core.errors import LibtradError, first_line, printable
from libtrad.folders.checksums import check_listed
from libtrad.folders.hub_cache import is_regular_file
from libtrad.folders.marker import MARKER, marker_path_problems, read_marker
from libtrad.folders.remote import local_folders, shown_as_urls
from libtrad.folders.verify.core import manifest_problems, one_line_error, scan_entries

# The marker kinds each repo type publishes: embeddings are datasets on the Hub.
_KINDS = {"dataset": ("dataset", "embeddings", "benchmark"), "model": ("model",)}
# Kinds whose folder holds libtrad work that is not published: only the files the marker lists are sent
# (a benchmark folder: its card, benchmark.json, results and leaderboard, never its datasets or embeddings).
LISTED_ONLY = ("benchmark",)
# Hidden top-level entries that are published: the marker (a clone must be recognised as libtrad's)
# and the user's Git LFS attributes. Every other hidden entry (.git/, .cache/) stays local.
PUBLISHED_HIDDEN = (MARKER, ".gitattributes")
NOT_OURS = "(not written by libtrad)"


@dataclass(frozen=True)
class UploadPlan:
    """What a publish would send: the target and every file with its size.

    ``checksums`` holds the SHA-256 the marker gives each file libtrad wrote (checked when the
    plan was made and again as the upload reads the file); ``foreign`` the files it did not write.
    """

    repo_id: str
    repo_type: str
    private: bool
    files: list[tuple[str, int]]
    checksums: Mapping[str, str] = field(default_factory=dict)
    foreign: frozenset[str] = frozenset()

    def describe(self) -> str:
        total = sum(size for _, size in self.files)
        head = (
            f"would upload {len(self.files)} files ({_human(total)}) to {self.repo_type} repo "
            f"{self.repo_id} ({'private' if self.private else 'public'}):"
        )
        return "\n".join(
            [head]
            + [
                f"  {printable(path)}  {_human(size)}" + (f"  {NOT_OURS}" if path in self.foreign else "")
                for path, size in self.files
            ]
        )


def plan_upload(
    folder: str | Path, repo_id: str, repo_type: str, private: bool, required: tuple[str, ...]
) -> UploadPlan:
    """Validate the folder (a local path, or a URL: :mod:`libtrad.folders.remote`) and list exactly what
    the upload would send.

    Refused with one line: a repo id the Hub rejects; a folder that is not libtrad's folder of the
    matching kind; a file the marker lists that is missing or whose SHA-256 differs; (datasets) a
    manifest whose ``parquet_files`` disagree with the marker; any symbolic link, special file or
    path resolving outside the folder. Nothing is followed and no special file is opened.
    """
    (local,), fetched = local_folders([folder], "folder")  # a URL: its fetched copy, checked as a local folder
    with shown_as_urls(fetched):
        try:
            return _plan_upload(local, repo_id, repo_type, private, required)
        except OSError as exc:  # a folder that cannot be listed or read
            raise one_line_error(exc) from None


def _plan_upload(folder, repo_id: str, repo_type: str, private: bool, required: tuple[str, ...]) -> UploadPlan:
    _check_repo_id(repo_id)
    if repo_type not in _KINDS:
        raise LibtradError(f"cannot publish a {repo_type!r} repo (only {', '.join(_KINDS)})")
    given = Path(folder).expanduser()
    if not given.is_dir():
        raise LibtradError(f"{given}: no such folder to publish")
    root = given.resolve()
    marker = read_marker(root, strict=True)
    listed = marker["files"] if marker is not None else {}
    if marker is not None:
        problems = marker_path_problems(root, listed)
        if problems:
            raise LibtradError(problems[0])
    files, problems = scan_entries(root, listed, keep_hidden=PUBLISHED_HIDDEN)
    if marker is not None and marker["kind"] in LISTED_ONLY:
        files = [rel for rel in files if rel in listed or rel == MARKER]
        problems = [p for p in problems if any(p.startswith(str(root / rel)) for rel in listed)]
    if problems:
        raise LibtradError(problems[0])
    missing = [name for name in required if not (root / name).exists()]
    if missing:
        raise LibtradError(f"{given}: not a publishable {repo_type} folder (missing {', '.join(missing)})")
    if marker is None:
        raise LibtradError(f"{given}: not a libtrad folder (no {MARKER}); publish only folders libtrad built")
    if marker["kind"] not in _KINDS[repo_type]:
        raise LibtradError(
            f"{given}: is a libtrad {marker['kind']} folder, not a {repo_type} folder; refusing to "
            f"publish it as a {repo_type}"
        )
    for _, problem in check_listed(root, listed, stop_at_first=True):
        if problem:
            raise LibtradError(problem)
    if repo_type == "dataset" and ((root / "manifest.json").exists() or "manifest.json" in listed):
        problems = manifest_problems(root, listed)
        if problems:
            raise LibtradError(problems[0])
    sizes = []
    for rel in files:
        try:
            sizes.append((rel, (root / rel).stat().st_size))
        except OSError as exc:
            raise LibtradError(f"{root / rel}: unreadable ({exc.strerror or exc})") from None
    foreign = frozenset(rel for rel in files if rel not in listed and rel != MARKER)
    return UploadPlan(
        repo_id=repo_id,
        repo_type=repo_type,
        private=private,
        files=sorted(sizes),
        checksums=dict(listed),
        foreign=foreign,
    )


def _check_repo_id(repo_id: str) -> None:
    """ORG/NAME, and valid by huggingface_hub's own rules (length, characters, no ``--``/``..``)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    form = "--repo-id {!r}: not a valid Hub repo id of the form ORG/NAME ({})"
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise LibtradError(form.format(repo_id, "expected exactly one '/' between ORG and NAME"))
    if not repo_id.isascii():
        raise LibtradError(form.format(repo_id, "only ASCII letters, digits, '-', '_' and '.' are allowed"))
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise LibtradError(form.format(repo_id, first_line(exc).rstrip("."))) from None


def publish_folder(plan: UploadPlan, folder: str | Path, commit_message: str) -> str:
    """Create the repo (if needed) and upload exactly the planned files in one commit; returns the repo URL.

    Every file libtrad wrote is re-checked against its SHA-256 as it is read for the upload (a
    file changed since the plan is refused before anything is sent). Files an earlier libtrad
    publish put in the repo (listed in the repo's own marker) that this upload no longer has,
    e.g. shards of a bigger previous build, are deleted in the same commit so ``load_dataset``
    does not read stale shards; nothing else in the repo is touched.
    """
    from huggingface_hub import get_token

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        raise LibtradError("cannot publish: the Hugging Face Hub is offline (HF_HUB_OFFLINE is set)")
    if get_token() is None:
        raise LibtradError("cannot publish: no Hugging Face token (set HF_TOKEN or run `hf auth login`)")
    (local,), fetched = local_folders([folder], "folder")  # a URL: the copy plan_upload checked (cached)
    with shown_as_urls(fetched):
        return _publish_folder(plan, local, commit_message)


def _publish_folder(plan: UploadPlan, folder: Path, commit_message: str) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    root = Path(folder).expanduser().resolve()
    operations = []
    for rel, _ in plan.files:
        path = root / rel
        if not is_regular_file(path):  # a Hub cache snapshot's links into its blobs are the files they name
            raise LibtradError(f"{path}: changed since it was checked (no longer a regular file); nothing was sent")
        try:
            op = CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path))
        except (OSError, ValueError) as exc:
            raise LibtradError(f"{path}: unreadable ({first_line(exc)}); nothing was sent") from None
        expected = plan.checksums.get(rel)
        if expected is not None and op.upload_info.sha256.hex() != expected:
            raise LibtradError(
                f"{path}: changed since it was checked (SHA-256 differs from {MARKER}); nothing was sent"
            )
        operations.append(op)
    api = HfApi()
    try:
        url = api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=plan.private, exist_ok=True)
        planned = {rel for rel, _ in plan.files}
        stale = [rel for rel in _previously_published(api, plan) if rel not in planned]
        operations += [CommitOperationDelete(path_in_repo=rel) for rel in stale]
        api.create_commit(
            repo_id=plan.repo_id, repo_type=plan.repo_type, operations=operations, commit_message=commit_message
        )
    except OfflineModeIsEnabled:
        raise LibtradError("cannot publish: the Hugging Face Hub is offline (HF_HUB_OFFLINE is set)") from None
    except HfHubHTTPError as exc:
        raise LibtradError(f"cannot publish to {plan.repo_id}: the Hub answered {first_line(exc)}") from None
    except _NETWORK_ERRORS as exc:  # connection refused, DNS, timeouts
        raise LibtradError(f"cannot publish to {plan.repo_id}: the Hub is unreachable ({first_line(exc)})") from None
    return str(url)


def _previously_published(api, plan: UploadPlan) -> list[str]:
    """Files in the repo that its own libtrad marker lists (what an earlier publish wrote); [] if none."""
    import json

    from huggingface_hub.errors import EntryNotFoundError

    present = set(api.list_repo_files(plan.repo_id, repo_type=plan.repo_type))
    if MARKER not in present:
        return []
    try:
        path = api.hf_hub_download(plan.repo_id, MARKER, repo_type=plan.repo_type)
        files = json.loads(Path(path).read_text(encoding="utf-8")).get("files")
    except (EntryNotFoundError, ValueError, AttributeError, UnicodeDecodeError):
        return []  # an unreadable remote marker: delete nothing
    if not isinstance(files, dict):
        return []
    return sorted(rel for rel in files if isinstance(rel, str) and rel in present and rel != MARKER)


def _network_errors() -> tuple[type[BaseException], ...]:
    try:
        import httpx

        return (OSError, httpx.HTTPError)
    except ImportError:  # pragma: no cover - huggingface_hub >= 1.0 ships with httpx
        return (OSError,)


_NETWORK_ERRORS = _network_errors()


def _human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
