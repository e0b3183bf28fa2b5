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

from libtrad.errors import ParameterError, first_line

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")
# The package each common protocol needs, for the "not installed" line.
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
             "abfss": "adlfs"}


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
        raise ParameterError(option, url, f"reading {protocol(url)}:// URLs needs {package} "
                             f"(pip install {package})") from None
    except ValueError as exc:
        raise ParameterError(option, url, f"not a URL libtrad can open ({first_line(exc)})") from None


def storage_error(option: str, url: str, exc: BaseException, doing: str = "cannot read it") -> ParameterError:
    """One line for a store's failure: a missing bucket or key, denied credentials, no connection."""
    text = first_line(exc)
    if isinstance(exc, FileNotFoundError):
        cause = f"does not exist ({text})"
    elif isinstance(exc, PermissionError) or re.search(r"AccessDenied|Forbidden|InvalidAccessKeyId|"
                                                       r"SignatureDoesNotMatch|403", text):
        cause = f"access denied: check the credentials this process has for {protocol(url)}:// ({text})"
    elif isinstance(exc, (ConnectionError, TimeoutError, OSError)) and re.search(r"connect|timed out|resolve", text, re.I):
        cause = f"the store cannot be reached ({text})"
    else:
        cause = f"{type(exc).__name__}: {text}"
    return ParameterError(option, url, f"{doing}: {cause}")
