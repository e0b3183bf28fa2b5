"""Load a saved LiB-TRAD model folder for scoring, every file checked first.

A broken or foreign folder is named in one line (which file, what is wrong) instead of a
transformers traceback or a multi-line load report; what the folder must hold (Auto class,
feature extractor) comes from the model-type map, :mod:`libtrad.models.model_types`.
"""

from __future__ import annotations

from pathlib import Path

from libtrad.core.errors import LibtradError, ParameterError, first_line
from libtrad.core.paths import exists, is_dir
from libtrad.core.resolve import resolve
from libtrad.folders.hub import parse_hub_id, resolve_model
from libtrad.folders.verify.inputs import check_input_folder
from libtrad.models.model_types import LIB_TRAD, model_type_of, read_json_object
from libtrad.models.weights import check_safetensors
from libtrad.ray_jobs.lib_trad.scoring import NOT_FITTED, scorer_is_fitted


def load_lib_trad_model(model_dir: str | Path, *, option: str = "--model", no_verify: bool = False):
    """Model + feature extractor from a saved folder (or a Hub id ``ORG/NAME[@REV]`` that is not a
    local path: its snapshot, :func:`libtrad.folders.hub.resolve_model`) through the Auto classes.

    Every file is checked first, so a broken folder is named in one line (which file, what is
    wrong) instead of a transformers traceback: ``config.json`` (JSON, a LiB-TRAD
    ``model_type``), ``model.safetensors`` (complete, every tensor present with its shape, finite)
    and ``preprocessor_config.json`` (JSON, the extractor of the model's family). A folder libtrad
    wrote (``libtrad train``) is checked against its ``.libtrad.json`` checksums first (``no_verify``:
    loaded anyway, with a note).
    """
    import torch
    from transformers import AutoConfig, AutoFeatureExtractor

    where = f"{option} {model_dir}"
    path, source = _model_folder(model_dir, option, where)
    config_file, weights, preprocessor = (
        path / "config.json",
        path / "model.safetensors",
        path / "preprocessor_config.json",
    )
    if not config_file.is_file():
        raise LibtradError(f"{where}: not a saved model folder (no config.json)")

    check_input_folder(path, option, kinds=("model",), no_verify=no_verify)
    spec = model_type_of(
        read_json_object(config_file).get("model_type"), config_file, LIB_TRAD, what="a LiB-TRAD model"
    )
    kind = spec.name
    if not weights.is_file():
        raise LibtradError(f"{weights}: missing; a saved LiB-TRAD model keeps its weights there")
    _check_safetensors(weights)
    if not preprocessor.is_file():
        raise LibtradError(f"{preprocessor}: missing; a saved LiB-TRAD model keeps its feature extractor there")
    expected = resolve(spec.feature_extractor)
    extractor_type = read_json_object(preprocessor).get("feature_extractor_type")
    if extractor_type != expected.__name__:
        raise LibtradError(
            f"{preprocessor}: feature_extractor_type {extractor_type!r}, but a {kind} model needs {expected.__name__!r}"
        )
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - bad values in the config: one line naming the file
        raise LibtradError(f"{config_file}: not a valid {kind} config ({first_line(exc)})") from None
    auto = resolve(spec.auto_class)
    _check_weight_layout(auto, config, weights, config_file)
    try:  # libtrad's from_pretrained also refuses what transformers' loading info reports (models/weights.py)
        model = auto.from_pretrained(path, config=config)
    except LibtradError:
        raise
    except Exception as exc:  # noqa: BLE001 - wrong shapes, unreadable tensors
        raise LibtradError(
            f"{weights}: cannot be loaded as the model config.json describes ({first_line(exc)})"
        ) from None
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise LibtradError(f"{weights}: tensor {name} holds NaN or infinite values")
    try:
        extractor = AutoFeatureExtractor.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - unknown extractor type, bad values
        raise LibtradError(f"{preprocessor}: not a valid feature extractor ({first_line(exc)})") from None
    if not isinstance(extractor, expected):
        raise LibtradError(
            f"{preprocessor}: a {type(extractor).__name__}, but a {kind} model needs a {expected.__name__}"
        )
    if extractor.feature_size != config.num_mel_bins:
        raise LibtradError(
            f"{preprocessor}: feature_size {extractor.feature_size} differs from num_mel_bins "
            f"{config.num_mel_bins} in config.json"
        )
    if not scorer_is_fitted(model):
        raise LibtradError(f"{where}: {NOT_FITTED}")
    model.libtrad_source = source  # a Hub id: the repository and the commit it resolved to (results record it)
    return model.eval(), extractor


def _model_folder(model_dir: str | Path, option: str, where: str) -> tuple[Path, dict | None]:
    """(the folder ``model_dir`` names, where it came from): a local path as it is (source None), or a
    Hub id ``ORG/NAME[@REV]`` that is not a local path resolved to its snapshot (source: the repository,
    the revision asked for and the commit it resolved to)."""
    path = Path(str(model_dir)).expanduser()
    hub_id = None if exists(path) else parse_hub_id(str(model_dir))
    source = None
    if hub_id is not None:  # not a local folder, shaped ORG/NAME[@REV]: the Hub model repository's snapshot
        try:
            path, commit = resolve_model(*hub_id, param=option, value=str(model_dir))
        except ParameterError as exc:
            raise LibtradError(f"{where}: {exc.problem}") from None
        source = {"repo_id": hub_id[0], "revision": hub_id[1], "commit": commit}
    if exists(path) and not is_dir(path):
        raise LibtradError(f"{where}: is a file, not a saved model folder")
    return path, source


def _check_weight_layout(auto, config, weights: Path, config_file: Path) -> None:
    """The tensor names and shapes in ``weights`` are exactly those of the model ``config`` describes.

    Checked on the meta device (nothing allocated) before ``from_pretrained``, which would print
    a multi-line load report and initialise any missing tensor at random.
    """
    import torch
    from safetensors import safe_open

    try:
        with torch.device("meta"):
            layout = {k: tuple(v.shape) for k, v in auto.from_config(config).state_dict().items()}
    except Exception as exc:  # noqa: BLE001 - a config whose values cannot build the model
        raise LibtradError(f"{config_file}: does not describe a buildable model ({first_line(exc)})") from None
    with safe_open(str(weights), framework="pt") as f:
        stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    problems = [
        f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
        for label, items in (
            ("missing tensors", sorted(set(layout) - set(stored))),
            ("unexpected tensors", sorted(set(stored) - set(layout))),
            (
                "shape mismatch",
                [
                    f"{k} {stored[k]} != {layout[k]}"
                    for k in sorted(set(stored) & set(layout))
                    if stored[k] != layout[k]
                ],
            ),
        )
        if items
    ]
    if problems:
        raise LibtradError(f"{weights}: does not match config.json ({'; '.join(problems)})")


def _check_safetensors(path: Path) -> None:
    """A complete safetensors file (a git-LFS pointer or a text file named as such): the one check
    every model loader shares."""
    check_safetensors(path)


__all__ = ["load_lib_trad_model"]
