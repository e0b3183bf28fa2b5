"""``libtrad benchmark``: from a folder of corpora (or built Hub datasets) to the papers' table, in one command.

``run_benchmark(encoders, output, suite=…, data_root=… | hub=…)`` finds each component of the suite
(:mod:`.inputs`), then runs the stages :data:`~.state.STAGES` from ``from_stage`` to ``to_stage``
(:mod:`.stages`): build what is raw, embed every component with every encoder, run each component's
protocol (:mod:`.plan`), and write the leaderboard with the papers' columns, their published rows and
the difference per cell. Every piece of work is cached by the hash of its inputs in
``OUT/benchmark.json`` (:mod:`.state`): a re-run (or a run after a crash or ``kill``) recomputes
only what changed or was not finished, and says so per component. A missing component is one line and
a gap in the table; a component that fails is one line, the others go on, and the run then ends with
one error naming the failed ones.

One Ray session (local, or ``address``) serves every embedding job and evaluation of the run, started
only when some work needs it; inside it the embedding actors are loaded once per encoder and reused
from one component to the next (:func:`libtrad.ray_jobs.embedding.actors.shared_actors`), and every
component is cut into units spread over all the actors, so a large corpus keeps the cluster busy and
a small one costs no actor start. Progress: one bar over all the rows embedded (rows/s, ETA) with the
components done so far (:mod:`.progress`).

Provenance (``OUT/benchmark.json``, also the cache): the encoders' fingerprints, every component's data
(raw folder, built dataset or Hub id) and the identity of the dataset embedded, the options, libtrad's
version, the device, and each stage's records. ``OUT/README.md`` is the results card
(:mod:`libtrad.cards.benchmark_card`); ``libtrad publish dataset OUT --repo-id ORG/NAME`` uploads the card,
``benchmark.json``, the results and the leaderboard (never the datasets or embeddings).
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.cards.benchmark_card import write_benchmark_card
from libtrad.core.devices import device_record, parse_device, resolve_device
from libtrad.core.errors import LibtradError, ParameterError
from libtrad.folders.marker import read_marker
from libtrad.folders.outputs import check_output
from libtrad.ray_jobs import cluster  # cluster.ray_session, looked up at each call: the one place a test replaces it
from libtrad.ray_jobs.benchmark import stages as S
from libtrad.ray_jobs.benchmark.inputs import check_sources, find_component, note_strays
from libtrad.ray_jobs.benchmark.plan import pick_components
from libtrad.ray_jobs.benchmark.plan import suite as find_suite
from libtrad.ray_jobs.benchmark.progress import Progress
from libtrad.ray_jobs.benchmark.state import STAGES, State, folder_identity, write_out_marker
from libtrad.ray_jobs.embedding.encoders import parse_encoder_spec


@dataclass
class BenchmarkSummary:
    output: Path
    lines: list[str] = field(default_factory=list)  # what the run did, for the command's output
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    board: object = None  # the leaderboard's Board, when the report stage wrote one
    actor_loads: int = 0  # embedding actors started (each loads its encoder once)

    def describe(self) -> str:
        return "\n".join(self.lines)


def check_stages(from_stage: str, to_stage: str) -> list[str]:
    for name, value in (("from_stage", from_stage), ("to_stage", to_stage)):
        if value not in STAGES:
            raise ParameterError(name, value, f"must be one of {', '.join(STAGES)}")
    if STAGES.index(from_stage) > STAGES.index(to_stage):
        raise ParameterError("to_stage", to_stage, f"comes before --from-stage {from_stage}")
    return list(STAGES[STAGES.index(from_stage) : STAGES.index(to_stage) + 1])


def encoders_of(specs: list[str]) -> list[S.Encoder]:
    """Each ``--encoder`` parsed and fingerprinted (a bad one: one line, before any work), with a folder name."""
    if not specs:
        raise ParameterError("encoder", None, "give at least one --encoder")
    out, slugs = [], set()
    for text in specs:
        spec = parse_encoder_spec(text)
        tail = spec.path.name if spec.path is not None else ""
        slug = re.sub(r"[^A-Za-z0-9_.+-]+", "-", f"{spec.kind}-{tail}" if tail else text).strip("-.") or spec.kind
        slug = next(s for s in (slug, *(f"{slug}-{i}" for i in range(2, 100))) if s not in slugs)
        slugs.add(slug)
        out.append(S.Encoder(text, slug, spec.fingerprint()))
    return out


def run_benchmark(
    encoders: list[str],
    output: str | Path,
    *,
    suite: str = "siren",
    data_root: str | Path | None = None,
    hub: str | None = None,
    components: tuple[str, ...] | None = None,
    from_stage: str = "build",
    to_stage: str = "report",
    device: str = "auto",
    address: str | None = None,
    embed_options: dict | None = None,
    build_options: dict | None = None,
    lib_trad_epochs: int | None = None,
    diff_against: str | None = None,
    progress: bool = True,
) -> BenchmarkSummary:
    """Run the stages (module docstring) into ``output``; returns what was done. ``embed_options``: more
    keywords of :func:`~libtrad.ray_jobs.embedding.embed.embed_dataset` (batch_size, precision, actors, …);
    ``build_options``: component -> its build options; ``lib_trad_epochs``: train LiB-TRAD's attention AEs
    (one per experiment) for that many epochs and score them beside the first encoder's embeddings."""
    stages = check_stages(from_stage, to_stage)
    chosen = find_suite(suite)
    check_sources(data_root, hub)
    device = parse_device(device).text
    encs = encoders_of(list(encoders))
    local_hub = hub if hub is not None and Path(hub).expanduser().is_dir() else None
    out = check_output(output, "benchmark", inputs={"--data-root": data_root, "--hub": local_hub})
    found = {c.name: find_component(c.name, data_root, hub) for c in chosen.components}
    picked = pick_components(chosen, components, lambda name: found[name] is not None)
    note_strays(data_root, {c.name for c in chosen.components})
    out.mkdir(parents=True, exist_ok=True)
    if read_marker(out) is None:
        write_out_marker(out)  # at once: an interrupted run's folder is recognised as libtrad's next time
    state = State(out)
    summary = BenchmarkSummary(out)
    bar = Progress(len(picked), progress)
    with ExitStack() as stack:
        session = _Session(stack, address)
        ctx = S.Context(
            out,
            state,
            chosen,
            picked,
            encs,
            bar,
            session,
            device,
            address,
            dict(embed_options or {}),
            dict(build_options or {}),
            lib_trad_epochs,
        )
        for component in picked:
            if found[component.name] is None:
                where = f"{data_root}/{component.name}/" if data_root is not None else f"{hub} ({component.name})"
                bar.line(f"missing {component.name}: no {where}; a gap in the table")
                summary.missing.append(component.name)
            else:
                ctx.found[component.name] = found[component.name]
        try:
            board = _run_stages(ctx, stages, diff_against)
        finally:
            bar.close()
            summary.actor_loads = ctx.actor_loads
    summary.board, summary.failed = board, dict(ctx.failed)
    _finish(ctx, summary, data_root, hub, diff_against, stages)
    return summary


class _Session:
    """The run's one Ray session, entered the first time a stage needs it (a run with nothing to compute starts
    no Ray) and left when the run ends."""

    def __init__(self, stack: ExitStack, address: str | None):
        self.stack, self.address, self.started = stack, address, False

    def __call__(self) -> None:
        if not self.started:
            self.stack.enter_context(cluster.ray_session(self.address))
            self.started = True


def _run_stages(ctx: S.Context, stages: list[str], diff_against: str | None):
    board = None
    for stage in stages:
        if stage == "build":
            S.build_stage(ctx)
        elif stage == "embed":
            S.embed_stage(ctx)
        elif stage == "evaluate":
            S.evaluate_stage(ctx)
        else:
            board = S.report_stage(ctx, diff_against)
    return board


def _finish(ctx: S.Context, summary: BenchmarkSummary, data_root, hub, diff_against, stages: list[str]) -> None:
    """benchmark.json's run record, the card, OUT's marker; the summary's lines."""
    record = ctx.state.data
    record.update(
        suite=ctx.suite.name,
        encoders=[{"spec": e.spec, "slug": e.slug, "fingerprint": e.fingerprint} for e in ctx.encoders],
        inputs={"data_root": None if data_root is None else str(data_root), "hub": hub},
        components={c.name: _component_record(ctx, c.name, summary) for c in ctx.components},
        options={"embed": ctx.embed_options, "build": ctx.build_options, "lib_trad_epochs": ctx.lib_trad_epochs},
        device={"requested": ctx.device, "driver": device_record(resolve_device(ctx.device))},
        diff_against=diff_against or ctx.suite.diff_against,
        last_run={"stages": stages, "counts": ctx.counts, "actor_loads": summary.actor_loads},
        synthetic=sorted(_relative(p, ctx.out) for p in (getattr(summary.board, "synthetic", None) or [])),
    )
    ctx.state.save()
    table = _table(ctx.out)
    rows = [{"name": n, **r} for n, r in record["components"].items()]
    write_benchmark_card(ctx.out, record, table, rows, _command(ctx, data_root, hub))
    write_out_marker(ctx.out)
    done = ", ".join(f"{k} {v}" for k, v in sorted(ctx.counts.items())) or "nothing to do"
    summary.lines += [f"benchmark {ctx.suite.name}: {done}; {summary.actor_loads} actor load(s)"]
    if summary.missing:
        summary.lines.append(f"missing (gaps in the table): {', '.join(summary.missing)}")
    if table:
        summary.lines += ["", table]
    summary.lines += ["", f"results: {ctx.out} (benchmark.json, README.md, leaderboard/)"]


def _relative(path, out: Path) -> str:
    path = Path(path)
    return path.relative_to(out).as_posix() if path.is_relative_to(out) else str(path)


def _component_record(ctx: S.Context, name: str, summary: BenchmarkSummary) -> dict:
    found = ctx.found.get(name)
    dataset = ctx.datasets.get(name)
    identity = folder_identity(Path(dataset)) if dataset and Path(dataset).is_dir() else dataset
    status = "missing" if name in summary.missing else ("failed: " + ctx.failed[name] if name in ctx.failed else "ok")
    return {**(found.record() if found else {"kind": "—"}), "dataset": dataset, "identity": identity, "status": status}


def _table(out: Path) -> str:
    """The leaderboard's tables (measured, published, differences), without its column notes."""
    path = out / "leaderboard" / "leaderboard.md"
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    return text.split("## Columns")[0].strip()


def _command(ctx: S.Context, data_root, hub) -> str:
    parts = ["libtrad benchmark", f"--suite {ctx.suite.name}", *(f"--encoder {e.spec}" for e in ctx.encoders)]
    parts.append(f"--data-root {data_root}" if data_root is not None else f"--hub {hub}")
    parts += [f"--components {','.join(c.name for c in ctx.components)}", f"--output {ctx.out}"]
    return " \\\n  ".join(parts)


def raise_if_failed(summary: BenchmarkSummary) -> None:
    """The run's end for the command line: one error naming the failed components (their lines were printed)."""
    if summary.failed:
        raise LibtradError(
            f"{len(summary.failed)} component(s) failed: {'; '.join(summary.failed.values())} "
            f"(the others are in {summary.output})"
        )
