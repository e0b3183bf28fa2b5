"""The evaluation commands of ``libtrad``: the embeddings suites of ``evaluate`` (siren-dcase, siren-fault,
linear-probe, xares-mlp, xares-knn) and ``leaderboard``. Wired into the main group by ``libtrad.cli``
(``evaluate lib-trad`` lives in :mod:`libtrad.ray_jobs.lib_trad.cli`); the suites, Ray and torch are
imported only inside a command."""

from __future__ import annotations

from pathlib import Path

import click

from libtrad.core.cli_kit import Group, command, device_option, group, number, seed_type
from libtrad.folders.cli import PATH_OR_URL
from libtrad.folders.outputs import check_output
from libtrad.ray_jobs.cluster import connect_timeout_option
from libtrad.ray_jobs.evaluation.evaluate import SUITES, evaluate_embeddings, load_suite


class SuiteGroup(Group):
    """``evaluate``: the hand-written suite commands below, and for any other suite registered in
    :data:`~libtrad.ray_jobs.evaluation.evaluate.SUITES` a command made from its options dataclass
    (:func:`generated_suite_command`), so a new suite needs no CLI code."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(SUITES))

    def get_command(self, ctx, name):
        found = super().get_command(ctx, name)
        if found is None:
            if name in SUITES:
                found = generated_suite_command(name)
        return found


@group(cls=SuiteGroup)
def evaluate() -> None:
    """Reproduce a paper's evaluation tables."""


def suite_options(command):
    """--embeddings/--output/--local/--address/--no-verify/--allow-duplicates/--device: what every embeddings suite
    takes.

    The command receives them as keyword arguments and hands them on unchanged (``**common``) to
    :func:`~libtrad.ray_jobs.evaluation.evaluate.evaluate_embeddings`, so an option added here
    reaches every suite without touching the commands."""
    for decorator in reversed(
        [
            click.option(
                "--embeddings",
                "embeddings",
                multiple=True,
                type=PATH_OR_URL,
                help="An embeddings folder (libtrad embed's, or any folder of Parquet files with the suite's "
                "columns; or a libtrad folder's URL: s3://, gs://, hf://, file://); repeat to concatenate "
                "several.",
            ),
            click.option(
                "--output",
                type=click.Path(path_type=Path),
                required=True,
                help="The results folder (results.json, results.md, PNG plots).",
            ),
            click.option("--local", is_flag=True, help="Run the units in this process instead of as Ray tasks."),
            click.option(
                "--address", default=None, help="Attach to a running Ray cluster (auto, HOST:PORT, ray://...)."
            ),
            connect_timeout_option,
            click.option(
                "--no-verify",
                "no_verify",
                is_flag=True,
                help="Use a libtrad embeddings folder whose files differ from its .libtrad.json checksums "
                "(recorded as unverified in results.json).",
            ),
            click.option(
                "--allow-duplicates",
                "allow_duplicates",
                is_flag=True,
                help="Keep rows whose path (split, file, segment, channel) repeats, or whose recording "
                "(sha256) is on both sides of the split; every row is used and the counts are printed and "
                "recorded in results.json.",
            ),
            device_option,
        ]
    ):
        command = decorator(command)
    return command


def generated_suite_command(suite: str) -> click.Command:
    """``evaluate SUITE`` for a registered suite without a hand-written command: the common suite
    options plus one flag per field of its options dataclass (``k_neighbours`` -> ``--k-neighbours``;
    a ``bool`` field is a flag; a field without a default is required). The library checks values.
    A ``device`` field gets no flag of its own: the common ``--device`` sets it."""
    import dataclasses
    import inspect

    found = load_suite(suite)
    fields = [f for f in dataclasses.fields(found.options) if f.init and f.name != "device"]

    def run(**values):  # the common suite options and the suite's own, all keyword arguments of the driver
        evaluate_embeddings(suite, **values)
        print_results(values["output"])

    params = []
    for f in fields:
        default = f.default if f.default is not dataclasses.MISSING else None
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            params.append(click.Option([flag, f.name], is_flag=True, default=default, show_default=True))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            params.append(click.Option([flag, f.name], required=True))
        elif f.default is dataclasses.MISSING:
            continue  # a factory default (list, dict): not a command-line value; the library's default applies
        else:
            kind = type(default) if isinstance(default, (int, float, str)) else None
            params.append(click.Option([flag, f.name], type=kind, default=default, show_default=True))
    doc = inspect.getdoc(inspect.getmodule(type(found))) or suite
    return command(suite, help=doc.split("\n\n")[0], params=params)(suite_options(run))


def print_results(output: Path) -> None:
    click.echo((output / "results.md").read_text(encoding="utf-8").rstrip())
    click.echo(f"wrote results.json, results.md and plots to {output}")


@evaluate.command("siren-dcase")
@suite_options
@click.option(
    "--official-domain-auc",
    is_flag=True,
    help="Domain AUC as the official DCASE evaluator (the domain's normals vs all the section's "
    "anomalies); default SIREN's (the domain's normals and anomalies).",
)
@click.option(
    "--similarity",
    type=click.Choice(["cosine", "euclidean"]),
    default="cosine",
    show_default=True,
    help="Similarity to the memory bank (SIREN similarity_type); euclidean: minus the distance.",
)
@click.option(
    "--aggregation",
    type=click.Choice(["max", "mean", "min", "knn"]),
    default="max",
    show_default=True,
    help="Score over one bank (SIREN aggregation): 1 - max (1-NN), mean or min similarity, or knn: "
    "mean of 1 - s over the --k most similar rows.",
)
@click.option(
    "--k",
    "k",
    type=number("--k", low=1, high=1_000_000, integer=True),
    default=1,
    show_default=True,
    help="Neighbours averaged by --aggregation knn (SIREN k).",
)
@click.option(
    "--domain-strategy",
    type=click.Choice(["min", "max", "mean"]),
    default="min",
    show_default=True,
    help="2021-2025: how the scores against the source and target banks combine (SIREN domain_strategy).",
)
@click.option(
    "--kmeans",
    type=number("--kmeans", low=1, high=1_000_000, integer=True),
    default=None,
    help="Replace each bank above --kmeans-threshold rows by N k-means centres (SIREN "
    "enable_kmeans_optimization + kmeans_n_clusters, 16 there); default off.",
)
@click.option(
    "--kmeans-threshold",
    type=number("--kmeans-threshold", low=0, high=1 << 40, integer=True),
    default=100,
    show_default=True,
    help="Banks with more rows than this are reduced by --kmeans.",
)
@click.option(
    "--threshold",
    default="gamma:0.9",
    show_default=True,
    metavar="gamma[:Q]|percentile:P|fpr:F",
    help="Decision threshold per machine × section from its training clips' (leave-one-out) scores: the "
    "DCASE baseline's gamma-fit Q quantile, the P-th percentile, or a target false-positive rate F.",
)
@click.option(
    "--submission",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the DCASE challenge's files for the evaluation set (anomaly_score_* and decision_result_* "
    "CSVs, as the official evaluator reads them) into this folder.",
)
@click.option(
    "--submission-dev",
    "submission_dev",
    is_flag=True,
    help="With --submission: also the development set's files, in its dev/ folder.",
)
def evaluate_siren_dcase_command(
    official_domain_auc,
    similarity,
    aggregation,
    k,
    domain_strategy,
    kmeans,
    kmeans_threshold,
    threshold,
    submission,
    submission_dev,
    **common,
) -> None:
    """SIREN's DCASE Task 2 protocol: cosine 1-NN scores, AUC/pAUC per group, set and year scores; decisions,
    the official DCASE score and, with --submission, the challenge's files."""
    if submission_dev and submission is None:
        raise click.UsageError("--submission-dev needs --submission DIR")
    local = [e for e in common["embeddings"] if "://" not in str(e)]
    inputs = {f"--embeddings {i + 1}": e for i, e in enumerate(local)} | {"--output": common["output"]}
    if submission is not None:
        check_output(submission, "submission", option="--submission", inputs=inputs)
    results = evaluate_embeddings(
        "siren-dcase",
        official_domain_auc=official_domain_auc,
        similarity=similarity,
        aggregation=aggregation,
        k=k,
        domain_strategy=domain_strategy,
        kmeans=kmeans,
        kmeans_threshold=kmeans_threshold,
        threshold=threshold,
        **common,
    )
    if submission is not None:  # the files are made (or refused, in one line) before anything is printed
        from libtrad.ray_jobs.evaluation.suites.dcase_submission import submission_files, write_submission

        submission_files(results, submission_dev)
    print_results(common["output"])
    if submission is not None:
        written = write_submission(results, submission, dev=submission_dev, inputs=inputs)
        click.echo(f"wrote the DCASE submission files to {written} (check them with libtrad verify)")


@evaluate.command("siren-fault")
@suite_options
@click.option(
    "--protocol",
    type=click.Choice(["auto", "loocv", "kfold", "external"]),
    default="auto",
    show_default=True,
    help="auto: k-fold over the `fold` column when present (IICA) or with --folds, else leave-one-out; "
    "external: train on subset 'train', test on subset 'test' (IIEE), per condition.",
)
@click.option(
    "--folds",
    type=number("--folds", low=2, high=1_000_000, integer=True),
    default=None,
    help="k-fold with N stratified, shuffled folds (SIREN n_splits) instead of the `fold` column.",
)
@click.option(
    "--split-seed",
    type=seed_type("--split-seed"),
    default=1,
    show_default=True,
    help="Seed of the --folds shuffle (SIREN random_state).",
)
@click.option(
    "--k",
    "k",
    type=number("--k", low=1, high=1_000_000, integer=True),
    default=5,
    show_default=True,
    help="Neighbours that vote.",
)
@click.option(
    "--metric",
    type=click.Choice(["euclidean", "cosine"]),
    default="euclidean",
    show_default=True,
    help="Distance between embeddings (cosine: 1 - cosine similarity).",
)
@click.option(
    "--siren-compat",
    is_flag=True,
    help="SIREN's quirks: 8 pseudo-channels, distances z-scored per query and averaged over 7.",
)
def evaluate_siren_fault_command(protocol, folds, split_seed, k, metric, siren_compat, **common) -> None:
    """SIREN's fault protocol: 5-NN (Euclidean), LOOCV, k-fold or external test; weighted and macro P/R/F1."""
    evaluate_embeddings(
        "siren-fault",
        protocol=protocol,
        folds=folds,
        split_seed=split_seed,
        k=k,
        metric=metric,
        siren_compat=siren_compat,
        **common,
    )
    print_results(common["output"])


def _probe_training_options(epochs: int, batch_size: int):
    """--seeds/--epochs/--batch-size/--lr/--val-fraction/--split-seed of the trained-probe suites."""

    def decorate(command):
        for decorator in reversed(
            [
                click.option(
                    "--seeds",
                    type=number("--seeds", low=1, high=1000, integer=True),
                    default=3,
                    show_default=True,
                    help="Training seeds 0..N-1, each an independent run; reported: mean ± std.",
                ),
                click.option(
                    "--epochs",
                    type=number("--epochs", low=1, high=100_000, integer=True),
                    default=epochs,
                    show_default=True,
                    help="Training epochs (the best-validation epoch is kept).",
                ),
                click.option(
                    "--batch-size",
                    type=number("--batch-size", low=1, high=1 << 20, integer=True),
                    default=batch_size,
                    show_default=True,
                    help="Rows per optimiser step.",
                ),
                click.option(
                    "--lr",
                    type=number("--lr", low=0, low_open=True),
                    default=1e-3,
                    show_default=True,
                    help="Peak learning rate.",
                ),
                click.option(
                    "--val-fraction",
                    type=number("--val-fraction", low=0, high=1, low_open=True, high_open=True),
                    default=0.1,
                    show_default=True,
                    help="Share of each class's training rows carved as validation (when there is no "
                    "validation split).",
                ),
                click.option(
                    "--split-seed",
                    type=seed_type("--split-seed"),
                    default=0,
                    show_default=True,
                    help="Seed of the validation carve and of the 5 folds of a leave-one-out dataset.",
                ),
            ]
        ):
            command = decorator(command)
        return command

    return decorate


def _evaluate_probe(suite: str, **values) -> None:
    from libtrad.ray_jobs.evaluation.suites.probe_task import task_name

    task = task_name(list(values["embeddings"])) if values["embeddings"] else None
    evaluate_embeddings(suite, task=task, **values)
    print_results(values["output"])


@evaluate.command("linear-probe")
@suite_options
@_probe_training_options(epochs=200, batch_size=32)
def evaluate_linear_probe_command(**values) -> None:
    """ARCH's linear probe (AdamW, warm-up + linear decay), best-validation epoch scored once on test."""
    _evaluate_probe("linear-probe", **values)


@evaluate.command("xares-mlp")
@suite_options
@_probe_training_options(epochs=10, batch_size=32)
def evaluate_xares_mlp_command(**values) -> None:
    """X-ARES's LayerNorm + Linear probe (Adam, cosine decay), selected on validation carved from training folds."""
    _evaluate_probe("xares-mlp", **values)


@evaluate.command("xares-knn")
@suite_options
@click.option(
    "--k",
    "k",
    type=number("--k", low=1, high=1_000_000, integer=True),
    default=10,
    show_default=True,
    help="Neighbours that vote.",
)
@click.option(
    "--temperature",
    type=number("--temperature", low=0, low_open=True),
    default=0.07,
    show_default=True,
    help="Softmax temperature of the similarity-weighted votes.",
)
@click.option(
    "--split-seed",
    type=seed_type("--split-seed"),
    default=0,
    show_default=True,
    help="Seed of the 5 stratified folds of a leave-one-out dataset.",
)
def evaluate_xares_knn_command(**values) -> None:
    """X-ARES's weighted kNN: cosine similarity, softmax(similarity / T) votes of the k nearest."""
    _evaluate_probe("xares-knn", **values)


@command("leaderboard")
@click.argument("results", nargs=-1, required=True, type=PATH_OR_URL)
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for leaderboard.md, leaderboard.csv and leaderboard.png.",
)
@click.option(
    "--normalise",
    type=click.Choice(["metric-range", "encoders"]),
    default="metric-range",
    show_default=True,
    help="X-ARES average: each value min-max normalised over its metric's range, or over the encoders in the table.",
)
@click.option(
    "--no-verify",
    "no_verify",
    is_flag=True,
    help="Use results folders whose files differ from their .libtrad.json checksums (listed as "
    "unverified in the leaderboard).",
)
@click.option(
    "--reference",
    "reference",
    multiple=True,
    metavar="lib-trad-table3|echo-table2|lib-trad-table2|all",
    help="Add the papers' published numbers (real data) as rows marked 'published (real data)', in the "
    "columns of the same component and metric; repeat or comma-separate. Not ranked with the "
    "measured rows unless --rank-with-reference.",
)
@click.option(
    "--rank-with-reference",
    "rank_with_reference",
    is_flag=True,
    help="Rank the published rows together with the measured ones (by the X-ARES weighted average over "
    "the measured columns they share).",
)
@click.option(
    "--diff-against",
    "diff_against",
    metavar="MODEL|TABLE:MODEL",
    help="Also write each measured row minus this published row, cell by cell (leaderboard.md and "
    "leaderboard_diff.csv); the row must be in a --reference table, e.g. 'ECHO Small'.",
)
@click.option(
    "--rank-by",
    "rank_by",
    type=click.Choice(["siren", "official"]),
    default="siren",
    show_default=True,
    help="The DCASE score siren-dcase results rank by: SIREN's year score (the papers' columns) or the official "
    "DCASE score (the year's evaluator; a column of its own, SIREN's then shown only).",
)
def leaderboard_command(
    results, output, normalise, no_verify, reference, rank_with_reference, diff_against, rank_by
) -> None:
    """Rank encoders: one table of every results folder given, in the papers' columns, with the X-ARES average."""
    from libtrad.ray_jobs.evaluation.leaderboard import write_leaderboard

    write_leaderboard(
        list(results),
        output,
        normalise,
        no_verify=no_verify,
        reference=list(reference),
        rank_with_reference=rank_with_reference,
        diff_against=diff_against,
        rank_by=rank_by,
    )
    click.echo((output / "leaderboard.md").read_text(encoding="utf-8").rstrip())
    click.echo(f"wrote leaderboard.md, leaderboard.csv and leaderboard.png to {output}")
