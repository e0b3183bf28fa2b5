"""The one model-card renderer for every libtrad model family (README.md with model-index metadata).

Built on huggingface_hub's ``ModelCard``/``ModelCardData``/``EvalResult`` so the YAML header
validates on the Hub and evaluation results show up in the model index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from libtrad.core.errors import LibtradError

TEMPLATE = Path(__file__).resolve().parent / "templates" / "model_card.md"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def write_model_card(
    output_dir: str | Path,
    *,
    model_id: str,
    family: str,
    summary: str,
    hyperparameters: Mapping[str, object],
    eval_results: Sequence[Mapping | object],
    synthetic: bool,
    datasets: Sequence[str],
    intended_use: str,
    limitations: str,
    citation: str,
    extra_sections: Mapping[str, str] | None = None,
    pipeline_tag: str | None = None,
    tags: Sequence[str] = (),
    license: str | None = "apache-2.0",
) -> Path:
    """Render ``output_dir/README.md`` and return its path.

    ``eval_results`` items are ``huggingface_hub.EvalResult`` objects or dicts with ``dataset``
    (Hub id or local folder), ``config``, ``split``, ``metric`` (e.g. ``roc_auc``), ``value`` and
    optionally ``task_type`` (default ``audio-classification``) and ``dataset_name``. Local dataset
    folders cannot be Hub references, so they are named by folder in the model index and left out
    of the card's ``datasets`` list. ``synthetic`` adds a prominent note and a ``synthetic-data`` tag.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise LibtradError(f"{output_dir}: no such model folder to write a card into")
    results = [r if isinstance(r, EvalResult) else _eval_result(r, synthetic) for r in eval_results]
    hub_datasets = [d for d in datasets if _HUB_ID.match(str(d)) and not Path(str(d)).exists()]
    card_data = ModelCardData(
        model_name=model_id,
        license=license,
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        tags=sorted({"libtrad", family, *tags, *(["synthetic-data"] if synthetic else [])}),
        datasets=hub_datasets or None,
        metrics=sorted({r.metric_type for r in results}) or None,
        eval_results=results or None,
    )
    rows = [
        {
            "dataset": r.dataset_name,
            "config": r.dataset_config or "",
            "split": r.dataset_split or "",
            "metric": r.metric_name or r.metric_type,
            "value": _fmt(r.metric_value),
        }
        for r in results
    ]
    card = ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_id=model_id,
        family=family,
        summary=summary.strip(),
        synthetic=synthetic,
        datasets_text=", ".join(f"`{d}`" for d in datasets),
        hyperparameters={k: _fmt(v) for k, v in hyperparameters.items()},
        eval_rows=rows,
        intended_use=intended_use.strip(),
        limitations=limitations.strip(),
        extra_sections=dict(extra_sections or {}),
        citation=citation.strip(),
    )
    path = output_dir / "README.md"
    card.save(path)
    return path


def _eval_result(item: Mapping, synthetic: bool):
    from huggingface_hub import EvalResult

    missing = {"dataset", "metric", "value"} - set(item)
    if missing:
        raise LibtradError(f"eval result {dict(item)}: missing {sorted(missing)}")
    dataset = str(item["dataset"])
    is_hub = _HUB_ID.match(dataset) and not Path(dataset).exists()
    name = item.get("dataset_name") or (dataset if is_hub else Path(dataset).name)
    if synthetic:
        name = f"{name} (synthetic stand-in)"
    return EvalResult(
        task_type=item.get("task_type", "audio-classification"),
        dataset_type=dataset if is_hub else Path(dataset).name,
        dataset_name=name,
        dataset_config=item.get("config"),
        dataset_split=item.get("split"),
        metric_type=str(item["metric"]),
        metric_name=item.get("metric_name", "AUC" if item["metric"] == "roc_auc" else str(item["metric"])),
        metric_value=float(item["value"]),
    )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)
