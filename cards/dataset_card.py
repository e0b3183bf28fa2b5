"""Dataset cards: one generic skeleton (synthetic banner, split table, usage, provenance,
checksums, citation) around the parts a dataset renders itself (intro, protocol details).

``huggingface_hub``'s ``DatasetCard.from_template`` takes a single template path and no loader,
so each dataset's parts are rendered here first and passed in as Markdown.
"""

from __future__ import annotations

from pathlib import Path

from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

TEMPLATES = Path(__file__).resolve().parent / "templates"
SKELETON = "dataset_card.md"


def render_part(template: str, **fields) -> str:
    """Render one dataset's own Markdown part (``cards/templates/<template>``)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template(template).render(**fields)


def render_dataset_card(*, metadata: dict, configs_yaml: list[dict], infos: DatasetInfosDict, **fields) -> DatasetCard:
    """A card whose YAML lets ``load_dataset(folder_or_repo, config)`` find every config's files."""
    card_data = DatasetCardData(**metadata)
    card_data["configs"] = configs_yaml
    infos.to_dataset_card_data(card_data)
    return DatasetCard.from_template(card_data, template_path=str(TEMPLATES / SKELETON), **fields)
