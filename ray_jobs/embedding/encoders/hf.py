"""``hf:DIR`` — any transformers ``AutoModel`` + ``AutoFeatureExtractor`` audio encoder folder;
frames = ``last_hidden_state``, clip = their mean. Its hop is measured once (frames of 1 s vs 2 s
of silence), since configs do not state it uniformly.

The folder is checked in the order a user can act on, each refusal one line naming the file:
its config (a model type transformers knows, with an ``AutoModel``), that the model takes audio
(a text or vision model — ``input_ids``, ``pixel_values`` — is named as such before any weight is
read), that an audio feature extractor beside it feeds that input, then the weights
(:func:`libtrad.models.weights.load_checked`: complete files, every tensor the config describes
present with its shape) and finally one run on silence.
"""

from __future__ import annotations

from pathlib import Path

from libtrad.core.errors import LibtradError, first_line
from libtrad.models.model_types import read_json_object, refuse_renamed
from libtrad.models.weights import load_checked
from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder
from libtrad.ray_jobs.embedding.encoders.contract import declared_problem

# Main inputs that say a model is not an audio encoder, with what they are.
NOT_AUDIO_INPUTS = {
    "input_ids": "token ids (a text model)",
    "pixel_values": "images (a vision model)",
    "inputs_embeds": "token embeddings (a text model)",
}


class HFClipEncoder(ClipEncoder):
    """Any transformers audio encoder folder (``hf:DIR``): mean-pooled ``last_hidden_state``."""

    def __init__(self, path: Path):
        import torch
        from transformers import AutoModel

        path = Path(path)
        config = _config(path)
        main_input = _check_audio_model(path, config)
        self.feature_extractor = _feature_extractor(path, config, main_input)
        self.model = load_checked(AutoModel.from_pretrained, path).eval()
        rate = getattr(self.feature_extractor, "sampling_rate", None)
        if not rate:
            raise LibtradError(f"{path / 'preprocessor_config.json'}: the feature extractor states no sampling_rate")
        wrong = declared_problem("sampling_rate", rate)  # before 1 s of silence is sized by it
        if wrong is not None:
            raise LibtradError(f"{path / 'preprocessor_config.json'}: {wrong}")
        self.sampling_rate = int(rate)
        try:
            with torch.inference_mode():
                one = self._batch(torch.zeros(1, self.sampling_rate))[1]
                two = self._batch(torch.zeros(1, 2 * self.sampling_rate))[1]
        except Exception as exc:  # noqa: BLE001 - any failure here is the folder's model not being an encoder
            raise LibtradError(
                f"{path}: {type(self.model).__name__} does not run as an audio encoder on 1 s of silence "
                f"({type(exc).__name__}: {first_line(exc)}); hf: needs a model whose output has "
                "last_hidden_state (batch, frames, dim)"
            ) from None
        if one.ndim != 3:
            raise LibtradError(
                f"{path}: {type(self.model).__name__}'s last_hidden_state has shape {tuple(one.shape)}, "
                "not (batch, frames, dim)"
            )
        self.output_dim = int(one.shape[-1])
        step = two.shape[1] - one.shape[1]
        if step <= 0:
            raise LibtradError(f"{path}: the model's frame count does not grow with the input length")
        self.hop_size_in_ms = 1000.0 / step
        wrong = declared_problem("output_dim", self.output_dim)
        if wrong is not None:
            raise LibtradError(f"{path}: the model's last_hidden_state: {wrong}")

    def _batch(self, batch):
        inputs = self.feature_extractor(list(batch.numpy()), sampling_rate=self.sampling_rate, return_tensors="pt")
        inputs.pop("attention_mask", None)  # equal-length batches: nothing is padded
        inputs = {k: self._to_device(v) if hasattr(v, "device") else v for k, v in inputs.items()}
        with self._autocast():
            frames = self.model(**inputs).last_hidden_state
        return frames.mean(dim=1), frames


def _config(path: Path):
    """The folder's config through ``AutoConfig`` (a model type transformers or libtrad knows)."""
    from transformers import AutoConfig

    config_file = path / "config.json"
    refuse_renamed(read_json_object(config_file), config_file)
    try:
        return AutoConfig.from_pretrained(path)
    except LibtradError:
        raise
    except Exception as exc:  # noqa: BLE001 - unknown model type, bad values: one line naming the file
        raise LibtradError(f"{config_file}: not a config transformers can read ({first_line(exc)})") from None


def _check_audio_model(path: Path, config) -> str:
    """The ``AutoModel`` class of ``config`` (built on the meta device: no weights read) takes audio;
    returns the name of its main input."""
    import torch
    from transformers import AutoModel

    try:
        with torch.device("meta"):
            model_class = type(AutoModel.from_config(config))
    except Exception as exc:  # noqa: BLE001 - no AutoModel for this config, or values it cannot build
        raise LibtradError(
            f"{path / 'config.json'}: model type {config.model_type!r} gives no transformers "
            f"AutoModel to embed with ({first_line(exc)})"
        ) from None
    main = getattr(model_class, "main_input_name", None)
    if main in NOT_AUDIO_INPUTS:
        raise LibtradError(
            f"{path}: not an audio encoder: {model_class.__name__} (model type {config.model_type!r}) "
            f"takes {NOT_AUDIO_INPUTS[main]} as its input ({main}), not audio"
        )
    return main


def _feature_extractor(path: Path, config, main: str):
    """The folder's audio feature extractor, which must produce the model's main input."""
    from transformers import AutoFeatureExtractor, SequenceFeatureExtractor

    preprocessor = path / "preprocessor_config.json"
    if not preprocessor.is_file():
        raise LibtradError(
            f"{path}: not an audio encoder folder: no preprocessor_config.json (hf: needs the audio "
            f"feature extractor of its {config.model_type!r} model saved beside the weights)"
        )
    read_json_object(preprocessor)
    try:
        extractor = AutoFeatureExtractor.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - unknown extractor type, bad values
        raise LibtradError(
            f"{preprocessor}: not a feature extractor transformers can load ({first_line(exc)})"
        ) from None
    if not isinstance(extractor, SequenceFeatureExtractor) or not getattr(extractor, "sampling_rate", None):
        raise LibtradError(
            f"{preprocessor}: a {type(extractor).__name__}, not an audio feature extractor (no sampling_rate)"
        )
    produced = list(getattr(extractor, "model_input_names", []) or [])
    if produced and main not in produced:
        raise LibtradError(
            f"{preprocessor}: {type(extractor).__name__} gives {produced[0]}, but the model takes {main}"
        )
    return extractor
