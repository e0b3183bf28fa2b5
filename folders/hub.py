"""Model folders named by a Hub id (``ORG/NAME[@REV]``): one download on the driver, one line per failure.

Every place that takes a model folder (``--encoder echo:|attention-ae:|hf:``, ``evaluate lib-trad
--model``) also takes a Hub id, resolved here with ``huggingface_hub.snapshot_download`` into the
local Hub cache. What comes back is the snapshot folder (``<cache>/models--ORG--NAME/snapshots/
<commit>/``, whose files are links into the cache's ``blobs/``) and the commit it is: callers key
their caches on that commit and on the files' bytes, never on the revision asked (``main`` moves).

Why a module of our own around ``snapshot_download``:

* the environment is read when the id is resolved, not when huggingface_hub was imported:
  ``HF_HUB_OFFLINE``, ``HF_HOME`` / ``HF_HUB_CACHE`` and ``HF_ENDPOINT`` set after the import
  (a notebook, a test) still count;
* every failure a user can cause — an id that is not in the cache while offline, a revision
  that does not exist, a repository that does not exist or is gated / denied, a Hub that cannot
  be reached — is one :class:`~libtrad.core.errors.ParameterError` naming the value and the cause,
  not huggingface_hub's multi-line message.

Tokens come from where huggingface_hub looks (``HF_TOKEN``, the stored login of ``hf auth
login``); libtrad never reads, prints or records one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from libtrad.core.errors import ParameterError, first_line

# ORG/NAME as the Hub spells repository ids (letters, digits, ``-``, ``_``, ``.``; 96 characters at
# most), then an optional @REV (a branch, tag or commit: branch names may hold ``/``).
_HUB_ID = re.compile(
    r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})"
    r"(?:@(?P<revision>[^\s@]+))?$"
)
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Weights of other frameworks a model repository may carry beside its safetensors: never read by
# libtrad's loaders (they read config.json, preprocessor_config.json and *.safetensors), so not fetched.
FOREIGN_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.onnx", "*.tflite", "*.ot", "*.gguf")
_TRUE = {"1", "on", "yes", "true"}


def parse_hub_id(text: str) -> tuple[str, str | None] | None:
    """``ORG/NAME[@REV]`` -> ``(repo_id, revision or None)``; None when ``text`` is not shaped so
    (a path such as ``./x``, ``/abs/x``, ``a/b/c`` or ``~/x`` never is)."""
    match = _HUB_ID.match(str(text))
    if match is None or ".." in match["repo"] or "--" in match["repo"]:
        return None
    return match["repo"], match["revision"]


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` as it is now: the environment variable when set, else what huggingface_hub
    read at its import (``constants.HF_HUB_OFFLINE``, which tests and notebooks may patch)."""
    import huggingface_hub.constants as constants

    value = os.environ.get("HF_HUB_OFFLINE")
    return bool(constants.HF_HUB_OFFLINE) or (value is not None and value.strip().lower() in _TRUE)


def hub_cache_dir() -> Path:
    """The Hub cache folder as the environment says now: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``,
    else huggingface_hub's own (``~/.cache/huggingface/hub``)."""
    import huggingface_hub.constants as constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE).expanduser()


def resolve_model(repo_id: str, revision: str | None, *, param: str, value: str) -> tuple[Path, str]:
    """Download (or find in the cache) the model repository ``repo_id`` at ``revision`` (None: main).

    Returns ``(snapshot folder, commit)``. ``param``/``value`` name what the user gave (``encoder``,
    ``echo:ORG/NAME@v1``) in the one-line :class:`ParameterError` every failure becomes. Callers
    ask only for text that is not an existing local path (a local folder wins), so the line says
    that too: a mistyped folder ``models/echo`` reads as a Hub id."""
    from huggingface_hub import snapshot_download

    asked = revision or "main"
    cache = hub_cache_dir()
    offline = is_offline()
    try:
        folder = snapshot_download(
            repo_id,
            repo_type="model",
            revision=asked,
            cache_dir=cache,
            local_files_only=offline,
            endpoint=os.environ.get("HF_ENDPOINT") or None,
            ignore_patterns=list(FOREIGN_WEIGHTS),
        )
    except Exception as exc:  # noqa: BLE001 - sorted into one line below; anything else keeps its type name
        # callers come here for text that is no local path: say so, a mistyped folder reads as an id too
        raise ParameterError(
            param, value, f"no such local folder, and as a Hub id: {_cause(exc, repo_id, asked, cache, offline)}"
        ) from None
    folder = Path(folder)
    commit = folder.name
    if not _COMMIT.match(commit):  # snapshot_download always returns snapshots/<commit>; say so if not
        raise ParameterError(param, value, f"huggingface_hub returned {folder}, not a snapshots/<commit> folder")
    return folder, commit


def _cause(exc: Exception, repo_id: str, revision: str, cache: Path, offline: bool) -> str:
    """What went wrong, in words a user can act on (never a token: none is in these messages)."""
    from huggingface_hub.errors import (
        DisabledRepoError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_folder = cache / f"models--{repo_id.replace('/', '--')}"
    if isinstance(exc, HFValidationError):
        return f"{repo_id!r} is not a valid Hub repository id ({first_line(exc)})"
    if isinstance(exc, RevisionNotFoundError):
        return f"revision {revision!r} does not exist in the Hub model repository {repo_id}"
    if isinstance(exc, GatedRepoError):
        return (
            f"the Hub model repository {repo_id} is gated: ask for access on its Hub page, then log in "
            "(hf auth login, or HF_TOKEN) with the account that has it"
        )
    if isinstance(exc, DisabledRepoError):
        return f"the Hub model repository {repo_id} is disabled"
    if isinstance(exc, RepositoryNotFoundError):
        return (
            f"no Hub model repository {repo_id} (or it is private and this process has no token with "
            "access: hf auth login, or HF_TOKEN)"
        )
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return (
                f"access to the Hub model repository {repo_id} denied (HTTP {status}): check the token this "
                "process has (HF_TOKEN, or hf auth login)"
            )
        return f"the Hub answered HTTP {status} for {repo_id} ({first_line(exc)})"
    if isinstance(exc, IncompleteSnapshotError):
        return (
            f"the cached snapshot of {repo_id} at {revision!r} in {cache} is incomplete (an interrupted "
            "download): run once with network access to complete it"
        )
    if isinstance(exc, LocalEntryNotFoundError):
        if offline:
            if not repo_folder.is_dir():
                return (
                    f"{repo_id} is not in the Hub cache {cache} (HF_HUB_OFFLINE is set): download it once online "
                    "or point HF_HUB_CACHE at a cache that has it"
                )
            return (
                f"revision {revision!r} of {repo_id} is not in the Hub cache {cache} (cached: "
                f"{', '.join(_cached_revisions(repo_folder)) or 'nothing'}) and HF_HUB_OFFLINE is set"
            )
        reason = exc.__cause__ if exc.__cause__ is not None else exc
        return (
            f"the Hub cannot be reached ({type(reason).__name__}: {first_line(reason)}) and {repo_id} at "
            f"{revision!r} is not in the Hub cache {cache}"
        )
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return f"the Hub cannot be reached ({type(exc).__name__}: {first_line(exc)})"
    return f"cannot download {repo_id} at {revision!r} ({type(exc).__name__}: {first_line(exc)})"


def _cached_revisions(repo_folder: Path) -> list[str]:
    """The branch/tag names and commits (first 12 characters) a cached repository holds."""
    refs = repo_folder / "refs"
    names = sorted(p.relative_to(refs).as_posix() for p in refs.rglob("*") if p.is_file()) if refs.is_dir() else []
    snapshots = repo_folder / "snapshots"
    commits = sorted(p.name[:12] for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    return names + commits


__all__ = ["FOREIGN_WEIGHTS", "hub_cache_dir", "is_offline", "parse_hub_id", "resolve_model"]
