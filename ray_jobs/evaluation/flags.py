"""The two warnings every results folder and the leaderboard carry: synthetic data and saturation.

Written once for every suite by the evaluation driver (:mod:`libtrad.ray_jobs.evaluation.evaluate`,
which writes every suite's ``results.json`` and ``results.md``) and read back by the leaderboard.

**Synthetic.** An embeddings folder records whether its source dataset's card says it is a
synthetic stand-in (``embeddings.json`` → ``dataset.synthetic``; a folder written before that field
existed is recognised by its card's banner, "Embeddings of a SYNTHETIC STAND-IN"). Results computed
on any such input get ``"synthetic": true`` (and ``synthetic_inputs``) in ``results.json`` and say
so in the first line of ``results.md``: numbers on a stand-in say nothing about the real dataset and
are not comparable with published ones.

**Saturated.** A score of at least :data:`LEVEL` (0.99) leaves nothing to separate. For one result
(one encoder) the rule is: *every* score it reports at its finest level is ≥ 0.99 —

* siren-dcase, mimii: every AUC and pAUC group of every set (mimii: of every SNR);
* siren-fault: the weighted F1 and every class's F1;
* lib-trad: every scorer's (and trained model's) AUC on every experiment;
* linear-probe, xares-mlp: the mean test value; xares-knn: the test value.

Where one result compares several methods on the same task (lib-trad: the scorers and the trained
model on each experiment), a task on which all of them score ≥ 0.99, or all exactly the same, is
flagged on its own, since it does not tell those methods apart. A suite this module does not know
is never flagged. In the leaderboard the rule is across the encoders compared: a column where every
measured encoder scores ≥ 0.99, or (two or more encoders) all score the same.
"""

from __future__ import annotations

from pathlib import Path

LEVEL = 0.99
SATURATED = "saturated: this task does not separate these encoders"
SYNTHETIC_BANNER = "Embeddings of a SYNTHETIC STAND-IN"  # the embeddings card's banner (cards/templates)
_TIE = 1e-12


# ----------------------------------------------------------------------------- synthetic
def embeddings_synthetic(folder: Path, info: dict | None) -> bool:
    """Whether an embeddings folder was made from a synthetic stand-in: its embeddings.json's
    ``dataset.synthetic``, else (older folders) its card's banner. Neither: not synthetic."""
    dataset = (info or {}).get("dataset") if isinstance(info, dict) else None
    if isinstance(dataset, dict) and isinstance(dataset.get("synthetic"), bool):
        return dataset["synthetic"]
    card = Path(folder) / "README.md"
    try:
        return card.is_file() and SYNTHETIC_BANNER in card.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def synthetic_record(results: dict) -> dict:
    """``{"synthetic": bool, "synthetic_inputs": [...]}`` from the inputs' provenance."""
    shown = [str(i.get("path")) for i in results.get("inputs") or [] if isinstance(i, dict) and i.get("synthetic")]
    return {"synthetic": bool(shown), **({"synthetic_inputs": shown} if shown else {})}


# ----------------------------------------------------------------------------- saturation of one result
def scores_by_task(results: dict) -> dict[str, dict[str, float]]:
    """task -> {method: score} at the finest level the suite reports (module docstring); None scores left out."""
    suite = results.get("suite")
    out: dict[str, dict[str, float]] = {}

    def put(task, method, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.setdefault(str(task), {})[str(method)] = float(value)

    if suite in ("siren-dcase", "mimii"):
        for name, entry in (results.get("sets") or {}).items():
            for metric in ("auc", "pauc"):
                for group, value in (entry.get(metric) or {}).items():
                    put(f"{name} {metric.replace('pauc', 'pAUC').replace('auc', 'AUC')} {group}", "encoder", value)
    elif suite == "siren-fault":
        put("weighted F1", "encoder", results.get("f1_weighted"))
        for name, entry in (results.get("per_class") or {}).items():
            put(f"F1 {name}", "encoder", (entry or {}).get("f1"))
    elif suite == "lib-trad":
        for scorer, entry in (results.get("scorers") or {}).items():
            for experiment, value in (entry.get("auc") or {}).items():
                put(experiment.upper(), scorer, value)
        model = results.get("model") or {}
        for row in model.get("rows") or []:
            put(str(row.get("experiment", "")).upper(), f"{model.get('family', 'model')} checkpoint", row.get("auc"))
    elif suite in ("linear-probe", "xares-mlp"):
        put(results.get("task") or "test", "encoder", results.get("mean"))
    elif suite == "xares-knn":
        put(results.get("task") or "test", "encoder", results.get("value"))
    return out


def tie_or_saturated(values: list[float], what: str) -> str | None:
    """Why ``values`` (one per method/encoder) do not separate them, or None: all ≥ LEVEL, or (2+) all equal."""
    if not values:
        return None
    if min(values) >= LEVEL:
        return f"every {what} ≥ {100 * LEVEL:.2f} %"
    if len(values) > 1 and max(values) - min(values) <= _TIE:
        return f"all {len(values)} {what}s score {100 * values[0]:.2f} %"
    return None


def saturation(results: dict) -> dict:
    """``results.json``'s ``saturation`` record (rule in the module docstring)."""
    tasks = scores_by_task(results)
    values = [v for methods in tasks.values() for v in methods.values()]
    flagged = []
    for task, methods in tasks.items():
        if len(methods) > 1:
            why = tie_or_saturated(list(methods.values()), "method")
            if why:
                flagged.append({"task": task, "why": why})
    return {
        "saturated": bool(values) and min(values) >= LEVEL,
        "level": LEVEL,
        "scores": len(values),
        "below_level": sum(1 for v in values if v < LEVEL),
        "tasks": flagged,
    }


def result_flags(results: dict) -> dict:
    """The top-level fields the driver adds to every ``results.json``: synthetic and saturation."""
    return {**synthetic_record(results), "saturation": saturation(results)}


def banner_lines(results: dict) -> list[str]:
    """The lines put before a suite's own ``results.md``: the SYNTHETIC line first, then saturation."""
    lines = []
    if results.get("synthetic"):
        lines.append(
            f"**SYNTHETIC STAND-IN DATA**: computed on embeddings of a synthetic stand-in "
            f"({', '.join(f'`{p}`' for p in results.get('synthetic_inputs', []))}); these numbers say nothing "
            "about the real dataset and are not comparable with published results."
        )
    sat = results.get("saturation") or {}
    if sat.get("saturated"):
        lines.append(
            f"> **{SATURATED}**: every one of the {sat['scores']} scores below is ≥ "
            f"{100 * sat['level']:.2f} %, so it cannot tell this encoder from a better one."
        )
    for task in sat.get("tasks") or []:
        lines.append(f"> **{SATURATED}** ({task['task']}): {task['why']}.")
    return [*lines, ""] if lines else []


def prepend_banner(path: Path, results: dict) -> None:
    """Put :func:`banner_lines` at the top of a suite's ``results.md`` (nothing when there is nothing to say)."""
    lines = banner_lines(results)
    if lines and path.is_file():
        path.write_text("\n".join(lines) + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
