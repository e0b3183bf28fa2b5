"""The README card of a ``libtrad benchmark`` output folder, so ``libtrad publish dataset OUT`` can put the
results on the Hub: what was measured (suite, encoders with their fingerprints, every component's data and
status), the leaderboard table with the published rows and the differences, and the command to reproduce it."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from libtrad.cards.dataset_card import TEMPLATES

PAPERS = {
    "siren": "ECHO's Table 2 (SIREN)",
    "lib-trad": "LiB-TRAD's Table 3",
    "all": "ECHO's Table 2 (SIREN) and LiB-TRAD's Table 3",
}


def write_benchmark_card(folder: Path, record: dict, table: str, components: list[dict], command: str) -> Path:
    """Render ``folder/README.md`` from ``record`` (benchmark.json), the leaderboard's ``table`` (Markdown) and
    ``components`` (name, kind, identity, status each)."""
    card_data = DatasetCardData(tags=["benchmark", "machine-sound", "anomaly-detection", "libtrad"])
    card = DatasetCard.from_template(
        card_data,
        template_path=str(TEMPLATES / "benchmark_card.md"),
        suite=record["suite"],
        papers=PAPERS.get(record["suite"], record["suite"]),
        synthetic=record.get("synthetic") or [],
        libtrad_version=record.get("libtrad_version", ""),
        encoders=record["encoders"],
        diff_against=record.get("diff_against") or "none",
        table=table or "_No results yet: the evaluate and report stages have not run._",
        components=components,
        command=command,
        device=record.get("device", {}).get("requested", "auto"),
    )
    path = folder / "README.md"
    card.save(path)
    return path
