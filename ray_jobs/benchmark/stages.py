"""The four stages of ``libtrad benchmark``: build, embed, evaluate (with LiB-TRAD's trained models), report.

Each stage walks the components in the suite's order and, per piece of work, computes its key
(:mod:`.state`), skips it when the recorded key and output agree ("unchanged, skipped"), else runs the
library's own job — :meth:`~libtrad.builders.registry.DatasetEntry.build`,
:func:`~libtrad.ray_jobs.embedding.embed.embed_dataset`,
:func:`~libtrad.ray_jobs.evaluation.evaluate.evaluate_embeddings`,
:func:`~libtrad.ray_jobs.evaluation.leaderboard.write_leaderboard` — into its folder under OUT, and
records it. A component whose work fails with a user error (a corpus with a bad file, a Hub id that
does not resolve) is one line and a gap; the other components go on, and the run ends with an error
naming the failed ones.

OUT's layout::

    OUT/benchmark.json  README.md  .libtrad.json        the record, the card, the marker (kind benchmark)
    OUT/datasets/<component>/                           built from --data-root's raw folders
    OUT/embeddings/<encoder>/<job>/                     one per encoder × job (MAFAULDA: -sound, -vibration)
    OUT/models/ae-tr1 … ae-tr3/                         LiB-TRAD's attention AEs (with --train-lib-trad-ae)
    OUT/results/<encoder>/<job>/                        one per encoder × job
    OUT/leaderboard/                                    the papers' columns, published rows, differences
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path

from libtrad.builders.registry import dataset as dataset_entry
from libtrad.core.errors import LibtradError
from libtrad.core.version import __version__
from libtrad.folders.checksums import sha256_file
from libtrad.folders.marker import marker_kind
from libtrad.ray_jobs.benchmark.inputs import Found
from libtrad.ray_jobs.benchmark.plan import Component, Job, Suite
from libtrad.ray_jobs.benchmark.progress import Progress, rows_of
from libtrad.ray_jobs.benchmark.state import State, digest, folder_identity, listing_digest
from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

EXPERIMENTS = ("tr1", "tr2", "tr3")
# The embed options that change the embeddings (embed's own cache key holds them; batch size, actors do not).
EMBED_IDENTITY = ("precision", "frames", "multichannel", "chunk_seconds")


@dataclass(frozen=True)
class Encoder:
    spec: str  # as given (--encoder)
    slug: str  # its folder name under embeddings/ and results/
    fingerprint: dict


@dataclass
class Context:
    """What every stage reads: the run's options, its record, and what the stages found so far."""

    out: Path
    state: State
    suite: Suite
    components: list[Component]
    encoders: list[Encoder]
    progress: Progress
    ray: Callable[[], AbstractContextManager | None]  # enters the run's one Ray session (and shared pool) once
    device: str = "auto"
    address: str | None = None
    embed_options: dict = field(default_factory=dict)
    build_options: dict = field(default_factory=dict)  # component -> its build options
    lib_trad_epochs: int | None = None
    found: dict[str, Found] = field(default_factory=dict)
    datasets: dict[str, str] = field(default_factory=dict)  # component -> the built dataset embed reads
    failed: dict[str, str] = field(default_factory=dict)  # component -> the line saying why
    counts: dict = field(default_factory=dict)  # "<stage> <done|skipped>" -> count
    actor_loads: int = 0  # embedding actors started (each loads its encoder once)

    def live(self) -> list[Component]:
        return [c for c in self.components if c.name in self.found and c.name not in self.failed]

    def fail(self, component: str, stage: str, exc: LibtradError) -> None:
        self.failed[component] = f"{stage} {component}: {exc}"
        self.progress.line(f"failed: {self.failed[component]}")

    def tally(self, stage: str, skipped: bool) -> None:
        key = f"{stage} {'skipped' if skipped else 'done'}"
        self.counts[key] = self.counts.get(key, 0) + 1


# ----------------------------------------------------------------------------- build
def dataset_of(ctx: Context, component: Component) -> str | None:
    """The built dataset of ``component`` that embed reads: the input itself, or OUT/datasets/<component>."""
    found = ctx.found[component.name]
    if found.kind != "raw":
        return found.location
    out = ctx.out / "datasets" / component.name
    return str(out) if folder_identity(out) is not None else None


def build_stage(ctx: Context) -> None:
    for component in ctx.live():
        found = ctx.found[component.name]
        if found.kind != "raw":
            ctx.progress.line(f"build {component.name}: a built dataset, used as it is ({found.location})")
            continue
        out = ctx.out / "datasets" / component.name
        options = ctx.build_options.get(component.name, {})
        key = digest(
            {
                "listing": listing_digest(Path(found.location)),
                "family": component.family,
                "component": component.name,
                "options": options,
                "libtrad": __version__,
            }
        )
        if ctx.state.fresh("build", component.name, key, out, "dataset"):
            ctx.progress.line(f"build {component.name}: unchanged, skipped")
            ctx.tally("build", True)
            continue
        entry = dataset_entry(component.family)
        try:
            summary = entry.build(
                found.location, out, component=component.name if entry.multi else None, progress=False, **options
            )
        except LibtradError as exc:
            ctx.fail(component.name, "build", exc)
            continue
        ctx.state.record("build", component.name, key, output=str(out), dataset=folder_identity(out), options=options)
        ctx.progress.line(f"build {component.name}: {summary.describe().splitlines()[0]}")
        ctx.tally("build", False)


# ----------------------------------------------------------------------------- embed
def _dataset_identity(dataset: str, config: str | None):
    """A built dataset's identity for the embed key: its marker's checksums, else (a Hub id) its shards."""
    local = Path(dataset)
    if local.is_dir():
        return folder_identity(local) or listing_digest(local)
    from libtrad.ray_jobs.embedding.source import resolve_dataset

    return resolve_dataset(dataset, config).identity()


def embed_work(ctx: Context) -> list[tuple[Encoder, Component, Job, str]]:
    """Every (encoder, component, job, dataset) of the live components whose dataset is built."""
    work = []
    for component in ctx.live():
        dataset = ctx.datasets.get(component.name) or dataset_of(ctx, component)
        if dataset is None:
            ctx.fail(component.name, "embed", LibtradError("not built yet: run the build stage (--from-stage build)"))
            continue
        ctx.datasets[component.name] = dataset
        work += [(encoder, component, job, dataset) for encoder in ctx.encoders for job in component.jobs]
    return work


def embed_stage(ctx: Context) -> None:
    from libtrad.ray_jobs.embedding.actors import shared_actors

    work, pending = embed_work(ctx), []
    for encoder, component, job, dataset in work:
        name = f"{encoder.slug}/{job.name}"
        out = ctx.out / "embeddings" / name
        try:
            identity = _dataset_identity(dataset, job.config)
        except LibtradError as exc:
            ctx.fail(component.name, "embed", exc)
            continue
        options = {k: v for k, v in ctx.embed_options.items() if k in EMBED_IDENTITY}
        key = digest({"encoder": encoder.fingerprint, "dataset": identity, **_job_identity(job), **options})
        if ctx.state.fresh("embed", name, key, out, "embeddings"):
            ctx.progress.line(f"embed {name}: unchanged, skipped")
            ctx.tally("embed", True)
        else:
            pending.append((encoder, component, job, dataset, out, key))
    if not pending:
        return
    total = [rows_of(p[3], p[2].config) for p in pending]
    ctx.progress.start_rows(None if None in total else sum(total))
    ctx.ray()
    # One pool per encoder, alive while that encoder's components are embedded: its actors hold their CPUs (or
    # GPUs), which the next encoder's actors and the evaluation's tasks need after it.
    for encoder in ctx.encoders:
        with shared_actors(on_rows=ctx.progress.rows) as shared:
            for item in (p for p in pending if p[0] is encoder):
                _embed_one(ctx, *item)
            ctx.actor_loads += shared.loads


def _embed_one(ctx: Context, encoder: Encoder, component: Component, job: Job, dataset: str, out: Path, key: str):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    if component.name in ctx.failed:
        return
    try:
        summary = embed_dataset(
            dataset,
            encoder.spec,
            out,
            config=job.config,
            channels=job.channels,
            address=ctx.address,
            device=ctx.device,
            progress=False,
            **ctx.embed_options,
        )
    except LibtradError as exc:
        ctx.fail(component.name, "embed", exc)
        return
    rows = sum(summary.rows.values())
    ctx.state.record(
        "embed",
        f"{encoder.slug}/{job.name}",
        key,
        output=str(out),
        cache_key=summary.cache_key,
        rows=rows,
        units_computed=summary.computed,
        units_reused=summary.reused,
    )
    reused = f", {summary.reused} of {summary.units} units reused from an interrupted run" if summary.reused else ""
    ctx.progress.line(f"embed {encoder.slug}/{job.name}: {rows} rows, dim {summary.output_dim}{reused}")
    ctx.tally("embed", False)


def _job_identity(job: Job) -> dict:
    return {"config": job.config, "channels": job.channels}


# ----------------------------------------------------------------------------- evaluate
def _cache_key_of(folder: Path) -> str | None:
    try:
        return json.loads((folder / "embeddings.json").read_text(encoding="utf-8")).get("cache_key")
    except (OSError, ValueError, AttributeError):
        return None


def train_lib_trad(ctx: Context, dataset: str) -> dict[str, Path]:
    """LiB-TRAD Table 3's proposed method: one attention auto-encoder per experiment (``--train-lib-trad-ae``
    epochs of the paper's recipe), trained on the built dataset's train split; cached by the dataset and epochs."""
    from libtrad.ray_jobs.lib_trad.training import AE_RECIPE, train_attention_ae

    models = {}
    for experiment in EXPERIMENTS:
        out = ctx.out / "models" / f"ae-{experiment}"
        key = digest({"dataset": _dataset_identity(dataset, experiment), "epochs": ctx.lib_trad_epochs})
        name = f"ae-{experiment}"
        if ctx.state.fresh("evaluate", f"train/{name}", key, out, "model"):
            ctx.progress.line(f"train {name}: unchanged, skipped")
        else:
            trained = train_attention_ae(
                dataset,
                out,
                config=experiment,
                recipe=replace(AE_RECIPE, epochs=ctx.lib_trad_epochs),
                cache_dir=ctx.out / ".cache",
                progress=False,
                device=ctx.device,
            )
            ctx.state.record("evaluate", f"train/{name}", key, output=str(out), seconds=round(trained.seconds, 2))
            ctx.progress.line(f"train {name}: {ctx.lib_trad_epochs} epochs, {trained.seconds:.1f} s")
        models[experiment] = out
    return models


def evaluate_stage(ctx: Context) -> None:
    for component in ctx.live():
        models = {}
        if component.family == "lib-trad" and ctx.lib_trad_epochs and component.name in ctx.datasets:
            try:
                models = train_lib_trad(ctx, ctx.datasets[component.name])
            except LibtradError as exc:
                ctx.fail(component.name, "train", exc)
                continue
        for i, encoder in enumerate(ctx.encoders):
            for job in component.jobs:
                if component.name not in ctx.failed:
                    _evaluate_one(ctx, component, encoder, job, models if i == 0 else {})
        ctx.progress.component_done()


def _evaluate_one(ctx: Context, component: Component, encoder: Encoder, job: Job, models: dict) -> None:
    from libtrad.ray_jobs.lib_trad.evaluation import attach_models

    name = f"{encoder.slug}/{job.name}"
    embeddings, out = ctx.out / "embeddings" / name, ctx.out / "results" / name
    cache_key = _cache_key_of(embeddings)
    if cache_key is None:
        ctx.progress.line(f"evaluate {name}: no embeddings (run the embed stage); a gap in the table")
        return
    key = digest(
        {
            "suite": job.suite,
            "options": job.options,
            "embeddings": cache_key,
            "models": {e: folder_identity(p) for e, p in models.items()},
        }
    )
    if ctx.state.fresh("evaluate", name, key, out, "results"):
        ctx.progress.line(f"evaluate {name}: unchanged, skipped")
        ctx.tally("evaluate", True)
        return
    ctx.ray()
    dataset = ctx.datasets.get(component.name)
    attach = (
        attach_models(
            {e: str(p) for e, p in models.items()},
            dataset,
            cache_dir=ctx.out / ".cache",
            progress=False,
            device=ctx.device,
        )
        if models
        else None
    )
    extra = {"dataset": dataset, **{f"model_{e}": p for e, p in models.items()}} if models else None
    try:
        results = evaluate_embeddings(
            job.suite,
            [embeddings],
            out,
            address=ctx.address,
            progress=False,
            device=ctx.device,
            attach=attach,
            extra_inputs=extra,
            **job.options,
        )
    except LibtradError as exc:
        ctx.fail(component.name, "evaluate", exc)
        return
    ctx.state.record("evaluate", name, key, output=str(out), suite=job.suite, headline=headline(results))
    ctx.progress.line(f"evaluate {name}: {job.suite} {_shown(headline(results))}")
    ctx.tally("evaluate", False)


def headline(results: dict) -> dict:
    """The one number a suite's results are read by (for the run's lines and benchmark.json)."""
    suite = results.get("suite")
    if suite == "siren-dcase":
        return {"dcase_score": results.get("score")}
    if suite == "siren-fault":
        return {"accuracy": results.get("accuracy"), "protocol": results.get("protocol")}
    if suite == "lib-trad":
        scorers = results.get("scorers", {})
        return {f"{s} harmonic mean AUC": v.get("harmonic_mean") for s, v in sorted(scorers.items())}
    return {}


def _shown(values: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


# ----------------------------------------------------------------------------- report
def results_folders(ctx: Context) -> list[Path]:
    names = [f"{e.slug}/{j.name}" for c in ctx.components for e in ctx.encoders for j in c.jobs]
    return [ctx.out / "results" / n for n in names if marker_kind(ctx.out / "results" / n) == "results"]


def report_stage(ctx: Context, diff_against: str | None):
    """The leaderboard over every results folder of the run, the papers' published rows beside it and the
    difference per cell from ``diff_against`` (default: the suite's own paper's row)."""
    from libtrad.ray_jobs.evaluation.leaderboard import write_leaderboard

    folders = results_folders(ctx)
    out = ctx.out / "leaderboard"
    if not folders:
        ctx.progress.line("report: no results yet (run the evaluate stage); no leaderboard written")
        return None
    against = diff_against or ctx.suite.diff_against
    key = digest(
        {
            "results": {str(f.relative_to(ctx.out)): sha256_file(f / "results.json") for f in folders},
            "reference": ctx.suite.reference,
            "diff_against": against,
        }
    )
    if ctx.state.fresh("report", "leaderboard", key, out, "leaderboard"):
        ctx.progress.line("report: unchanged, skipped")
        return None
    board = write_leaderboard(folders, out, reference=list(ctx.suite.reference), diff_against=against)
    ctx.state.record("report", "leaderboard", key, output=str(out), diff_against=against)
    ctx.progress.line(f"report: leaderboard of {len(folders)} results -> {out}")
    return board
