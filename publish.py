"""Upload a built dataset or saved model folder to the Hugging Face Hub.

One code path for datasets and models: ``create_repo`` then ``upload_folder``. The token comes
from the usual places (``HF_TOKEN``, ``hf auth login``) and is never printed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from libtrad.errors import LibtradError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class UploadPlan:
    """What a publish would send: the target and every file with its size."""

    repo_id: str
    repo_type: str
    private: bool
    files: list[tuple[str, int]]

    def describe(self) -> str:
        total = sum(size for _, size in self.files)
        head = (
            f"would upload {len(self.files)} files ({_human(total)}) to {self.repo_type} repo "
            f"{self.repo_id} ({'private' if self.private else 'public'}):"
        )
        return "\n".join([head] + [f"  {path}  {_human(size)}" for path, size in self.files])


def plan_upload(folder: str | Path, repo_id: str, repo_type: str, private: bool, required: tuple[str, ...]) -> UploadPlan:
    """Validate the folder and list exactly what ``upload_folder`` would send."""
    folder = Path(folder)
    if not _REPO_ID.match(repo_id or ""):
        raise LibtradError(f"--repo-id {repo_id!r} is not of the form ORG/NAME")
    if not folder.is_dir():
        raise LibtradError(f"{folder}: no such folder to publish")
    missing = [name for name in required if not (folder / name).exists()]
    if missing:
        raise LibtradError(f"{folder}: not a publishable {repo_type} folder (missing {', '.join(missing)})")
    files = sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    return UploadPlan(repo_id=repo_id, repo_type=repo_type, private=private, files=files)


def publish_folder(plan: UploadPlan, folder: str | Path, commit_message: str) -> str:
    """Create the repo (if needed) and upload the planned files; returns the repo URL."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        raise LibtradError("cannot publish: the Hugging Face Hub is offline (HF_HUB_OFFLINE is set)")
    if get_token() is None:
        raise LibtradError("cannot publish: no Hugging Face token (set HF_TOKEN or run `hf auth login`)")
    api = HfApi()
    try:
        url = api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=plan.private, exist_ok=True)
        api.upload_folder(
            repo_id=plan.repo_id,
            repo_type=plan.repo_type,
            folder_path=str(folder),
            allow_patterns=[path for path, _ in plan.files],
            commit_message=commit_message,
        )
    except OfflineModeIsEnabled:
        raise LibtradError("cannot publish: the Hugging Face Hub is offline (HF_HUB_OFFLINE is set)") from None
    except HfHubHTTPError as exc:
        raise LibtradError(f"cannot publish to {plan.repo_id}: the Hub answered {_first_line(exc)}") from None
    except _NETWORK_ERRORS as exc:  # connection refused, DNS, timeouts
        raise LibtradError(f"cannot publish to {plan.repo_id}: the Hub is unreachable ({_first_line(exc)})") from None
    return str(url)


def _network_errors() -> tuple[type[BaseException], ...]:
    try:
        import httpx

        return (OSError, httpx.HTTPError)
    except ImportError:  # pragma: no cover - huggingface_hub >= 1.0 ships with httpx
        return (OSError,)


_NETWORK_ERRORS = _network_errors()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
