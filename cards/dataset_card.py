"""Render dataset cards (README.md with YAML ``configs:`` / ``dataset_info:``) from templates."""

from __future__ import annotations

from pathlib import Path

from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

TEMPLATES = Path(__file__).resolve().parent / "templates"


def render_dataset_card(
    template: str,
    *,
    metadata: dict,
    configs_yaml: list[dict],
    infos: DatasetInfosDict,
    **fields,
) -> DatasetCard:
    """A card whose YAML lets ``load_dataset(folder_or_repo, config)`` find every config's files."""
    card_data = DatasetCardData(**metadata)
    card_data["configs"] = configs_yaml
    infos.to_dataset_card_data(card_data)
    return DatasetCard.from_template(card_data, template_path=str(TEMPLATES / template), **fields)
