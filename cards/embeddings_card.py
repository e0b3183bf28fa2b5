"""The README card of an embeddings folder, so ``libtrad publish dataset`` can put it on the Hub.

Its YAML has ``configs:`` (the source config, one entry per split) and ``dataset_info:`` (the
features: the source's non-audio columns, ``split``, ``embedding``, optionally ``frames``), so
``load_dataset(folder, config)`` reads it like any dataset.
"""

from __future__ import annotations

from pathlib import Path

import datasets
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from libtrad.cards.dataset_card import TEMPLATES
from libtrad.core.channels import EMBEDDED_COLUMN


def embeddings_features(
    source_features: dict | None, schema, kept: list[str], frames: bool, *, channels: bool = False
) -> datasets.Features:
    """The output's features: the kept source features as stored, plus the new columns (``split``,
    ``embedding``; ``frames`` and ``embedded_channels`` when asked for)."""
    if source_features:
        base = datasets.Features.from_dict({k: v for k, v in source_features.items() if k in kept})
    else:
        base = datasets.Features.from_arrow_schema(schema.remove_metadata())
        base = datasets.Features({k: v for k, v in base.items() if k in kept})
    out = dict(base)
    out["split"] = datasets.Value("string")
    out["embedding"] = datasets.List(datasets.Value("float32"))
    if frames:
        out["frames"] = datasets.List(datasets.List(datasets.Value("float32")))
    if channels:
        out[EMBEDDED_COLUMN] = datasets.List(datasets.Value("string"))
    return datasets.Features(out)


def write_embeddings_card(folder: Path, record: dict, features: datasets.Features, synthetic: bool) -> Path:
    """Render ``README.md`` for the embeddings folder described by ``record`` (embeddings.json)."""
    config = record["dataset"]["config"]
    card_data = DatasetCardData(tags=["embeddings", "audio", "machine-sound", "libtrad"])
    card_data["configs"] = [
        {
            "config_name": config,
            "data_files": [{"split": split, "path": f"data/{config}/{split}/*.parquet"} for split in record["rows"]],
        }
    ]
    splits = datasets.SplitDict()
    for split, n in record["rows"].items():
        splits.add(datasets.SplitInfo(name=split, num_examples=n))
    infos = DatasetInfosDict({config: datasets.DatasetInfo(features=features, splits=splits)})
    infos.to_dataset_card_data(card_data)
    encoder, options = record["encoder"], record["options"]
    card = DatasetCard.from_template(
        card_data,
        template_path=str(TEMPLATES / "embeddings_card.md"),
        dataset=record["dataset"]["source"],
        config=config,
        splits=record["dataset"]["splits"],
        revision=record["dataset"].get("revision"),
        synthetic=synthetic,
        encoder_spec=encoder["spec"],
        encoder_kind=encoder["kind"],
        encoder_files=encoder.get("files", {}),
        sampling_rate=encoder["sampling_rate"],
        output_dim=encoder["output_dim"],
        hop=f"{encoder['hop_size_in_ms']:g}",
        dim=record["embedding_dim"],
        multichannel=options["multichannel"] if record.get("multichannel_rows") else None,
        frames=options["frames"],
        precision=options["precision"],
        resampled=record["resampled"],
        rows=record["rows"],
        channels=record.get("channels"),
        cache_key=record["cache_key"],
        libtrad_version=record["libtrad_version"],
    )
    path = folder / "README.md"
    card.save(path)
    return path
