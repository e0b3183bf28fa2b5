"""Every libtrad ``model_type`` in one table: which package registers it, which Auto class loads
its task head, which feature extractor feeds it, and whether it scores anomalies.

Code that must know what kind of model a folder or a model object holds (registration, loading,
evaluation, verify) looks it up here instead of comparing ``model_type`` strings of its own, so
adding a family means adding one row. Importing this module imports neither torch nor
transformers (``import libtrad`` must stay light): classes are named ``"module:Class"`` and
imported only by :func:`libtrad.core.resolve.resolve`.

Every ``model_type`` carries the ``libtrad-`` prefix: transformers' Auto classes are registered
with ``exist_ok=True``, so an unprefixed name would silently replace a future transformers model
of the same name. A folder saved under a name libtrad has since changed (see :data:`RENAMED`) is
refused with the one-line fix instead of loading as something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from libtrad.core.errors import LibtradError, exception_reason
from libtrad.core.resolve import resolve


@dataclass(frozen=True)
class ModelType:
    """One registered ``model_type``.

    ``family``: short name used in file names and tables. ``package``: importing it registers the
    family with the Auto classes. ``auto_class``: the Auto class that loads the task head
    (``AutoModel`` keeps returning the bare model). ``feature_extractor``: the class named in
    ``preprocessor_config.json``. ``anomaly``: the head's output carries ``scores`` (batch,),
    higher = more anomalous (the one scoring interface of libtrad's anomaly models); a head that
    must be fitted after training (the auto-encoder's Mahalanobis statistics) exposes
    ``is_scorer_fitted`` and returns ``scores=None`` until then.
    """

    name: str
    family: str
    package: str
    auto_class: str
    feature_extractor: str
    anomaly: bool


MODEL_TYPES: dict[str, ModelType] = {
    t.name: t
    for t in (
        ModelType(
            "libtrad-echo",
            "echo",
            "libtrad.models.echo",
            "transformers:AutoModel",
            "libtrad.models.echo.feature_extraction_echo:EchoFeatureExtractor",
            anomaly=False,
        ),
        ModelType(
            "libtrad-attention-ae",
            "attention_ae",
            "libtrad.models.attention_ae",
            "libtrad.models.attention_ae.auto:AutoModelForAudioAnomalyDetection",
            "libtrad.models.attention_ae.feature_extraction_attention_ae:LibTradAttentionAEFeatureExtractor",
            anomaly=True,
        ),
        ModelType(
            "libtrad-cnn",
            "cnn",
            "libtrad.models.cnn",
            "transformers:AutoModelForAudioClassification",
            "libtrad.models.cnn.feature_extraction_cnn:LibTradCNNFeatureExtractor",
            anomaly=True,
        ),
    )
}

# Old name -> (current name, the command that rewrites a folder saved under the old name).
RENAMED: dict[str, tuple[str, str]] = {"echo": ("libtrad-echo", "libtrad convert echo CHECKPOINT {folder}")}

LIB_TRAD = ("libtrad-cnn", "libtrad-attention-ae")  # the LiB-TRAD paper's models (Table 2, Table 3)


def renamed_error(name: str, config_file: str | Path | None = None) -> LibtradError:
    """The one-line error for a folder saved under the old model type ``name`` (in ``RENAMED``)."""
    new, fix = RENAMED[name]
    where = Path(config_file) if config_file is not None else Path("OUT_DIR") / "config.json"
    if where.name != "config.json":  # a folder was named
        where = where / "config.json"
    folder = where.parent
    return LibtradError(
        f"{where}: model_type {name!r} is the old name of {new!r}; rewrite the folder by "
        f"re-running `{fix.format(folder=folder)}` on the original checkpoint"
    )


def refuse_renamed(config_dict: dict, where: str | Path | None = None) -> None:
    """Raise :func:`renamed_error` when ``config_dict`` (a loaded config.json) carries an old model type."""
    name = config_dict.get("model_type")
    if isinstance(name, str) and name in RENAMED:
        raise renamed_error(name, where)


def model_type_of(
    name: object, where: str | Path, allowed: tuple[str, ...] = tuple(MODEL_TYPES), what: str = "a libtrad model"
) -> ModelType:
    """The :class:`ModelType` named ``name`` (read from ``where``, a config.json or a model).

    A renamed type gets the fix, anything missing or outside ``allowed`` one line saying ``what``
    was expected.
    """
    if name is None:
        raise LibtradError(f"{where}: no model_type (expected one of {', '.join(allowed)})")
    if name in RENAMED:
        raise renamed_error(name, where)
    if name not in allowed:
        raise LibtradError(f"{where}: model type {name!r} is not {what} (expected one of {', '.join(allowed)})")
    return MODEL_TYPES[name]


def frames_dim(spec: ModelType) -> int:
    """The time axis of one clip's features (no batch axis) from the family's feature extractor."""
    return 1 if getattr(resolve(spec.feature_extractor), "frames_last", False) else 0


def read_json_object(path: str | Path) -> dict:
    """A JSON object from ``path`` (a model folder's ``config.json``, a manifest); unreadable, non-UTF-8,
    malformed or non-object JSON is one :class:`~libtrad.core.errors.LibtradError` naming the file."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise LibtradError(f"{path}: not readable as UTF-8 JSON ({exception_reason(exc)})") from None
    if not isinstance(data, dict):
        raise LibtradError(f"{path}: not a JSON object (found {type(data).__name__})")
    return data


__all__ = [
    "LIB_TRAD",
    "MODEL_TYPES",
    "RENAMED",
    "ModelType",
    "frames_dim",
    "model_type_of",
    "read_json_object",
    "refuse_renamed",
    "renamed_error",
    "resolve",
]
