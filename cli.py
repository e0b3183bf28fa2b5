"""The one libtrad command line (console script ``libtrad``; ``python cli.py`` from a checkout).

Every command is a thin wrapper: the work lives in the library modules, imported lazily so
``--help`` stays fast. User mistakes (:class:`libtrad.errors.LibtradError`) become a one-line
``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _bootstrap_checkout() -> None:
    """Make ``import libtrad`` work when this file is run as ``python cli.py`` from a checkout."""
    import importlib.util

    root = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        "libtrad", root / "__init__.py", submodule_search_locations=[str(root)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["libtrad"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__" and not __package__:
    try:
        import libtrad  # noqa: F401  (installed)
    except ImportError:
        _bootstrap_checkout()

import click  # noqa: E402

from libtrad.errors import LibtradError, ParameterError, exception_reason, first_line  # noqa: E402


_DEBUG_ENV = "LIBTRAD_DEBUG"


class _Command(click.Command):
    """A command whose library errors about a parameter name the flag the user typed."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ParameterError as exc:
            raise LibtradError(exc.for_flag(_flag_of(self, exc.param))) from None


def _flag_of(command: click.Command, param: str) -> str:
    """``train_fraction`` -> ``--train-fraction``; an argument keeps its metavar (``OUT``)."""
    for p in command.params:
        if p.name == param:
            return p.opts[0] if isinstance(p, click.Option) else p.human_readable_name
    return param


class _Group(click.Group):
    """The top-level group: every failure is one ``error: ...`` line on stderr, never a traceback.

    User mistakes (:class:`LibtradError`, bad options, OS errors such as a full or read-only disk)
    exit with status 2; an unexpected exception is reported as an internal error (status 1)
    whose traceback ``--debug`` or ``LIBTRAD_DEBUG=1`` shows.
    """

    command_class = _Command
    group_class = type  # sub-groups are _Group too, so their commands are _Command

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv[: next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))] \
            or os.environ.get(_DEBUG_ENV, "").lower() in {"1", "true", "yes", "on"}
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except (KeyboardInterrupt, click.exceptions.Abort):
            _fail("interrupted", 130)
        except click.ClickException as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) is not None else ""
            _fail(exc.format_message() + (hint if isinstance(exc, click.UsageError) else ""), 2)
        except LibtradError as exc:
            _fail(str(exc), 2)
        except Exception as exc:  # noqa: BLE001 - the boundary: nothing escapes as a traceback by default
            if debug:
                raise
            message, code = describe_unexpected(exc)
            _fail(message, code)
        sys.exit(code if isinstance(code, int) else 0)


def describe_unexpected(exc: BaseException) -> tuple[str, int]:
    """One line (and exit status) for an exception no library function mapped itself."""
    if isinstance(exc, OSError):
        where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
        return f"{where + ': ' if where else ''}{exception_reason(exc)}", 2
    if isinstance(exc, UnicodeError):
        return f"text that is not valid UTF-8 ({first_line(exc)})", 2
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --batch-size or fewer files at once)", 2
    return (f"internal error in libtrad ({type(exc).__name__}: {first_line(exc)}); run again with --debug "
            f"(or {_DEBUG_ENV}=1) for the traceback and report it"), 1


def _fail(message: str, code: int) -> None:
    """Print ``error: message`` as one printable line (file names that are not UTF-8 are escaped)."""
    text = " ".join(str(message).split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    click.echo(f"error: {text}", err=True)
    sys.exit(code)


def _number(option: str, *, low=None, high=None, low_open=False, high_open=False, integer=False):
    """A click type for a numeric option: NaN, ±inf and out-of-range values are refused by name."""
    from libtrad.options import check_number

    class _Number(click.ParamType):
        name = "integer" if integer else "number"

        def convert(self, value, param, ctx):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                number = value
            else:
                try:
                    number = int(value) if integer else float(value)
                except (TypeError, ValueError):
                    raise LibtradError(f"{option} {value!r}: not {'an integer' if integer else 'a number'}") from None
            try:
                return check_number(option, number, low=low, high=high, low_open=low_open, high_open=high_open,
                                    integer=integer)
            except ParameterError as exc:
                raise LibtradError(exc.for_flag(option)) from None

    return _Number()


def _seed_type():
    from libtrad.options import SEED_MAX

    return _number("--seed", low=0, high=SEED_MAX, integer=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="libtrad")
@click.option("--debug", is_flag=True, help=f"Show the traceback of an internal error (also {_DEBUG_ENV}=1).")
def main(debug: bool) -> None:
    """libtrad: acoustic anomaly detection for machines (datasets, models, Ray jobs)."""


# --------------------------------------------------------------------------- datasets
@main.group()
def synth() -> None:
    """Write synthetic stand-in data in a dataset's raw layout."""


@main.group()
def build() -> None:
    """Build a dataset from its raw layout into a Hub-ready folder (Parquet + card)."""


@main.group()
def publish() -> None:
    """Upload a built dataset or a saved model to the Hugging Face Hub."""


def _spec_option(spec, *, prefix: str = ""):
    """A click option from a dataset's :class:`~libtrad.options.OptionSpec` (flag, default, checks)."""
    if spec.kind is bool:
        return click.option(spec.flag, spec.name, is_flag=True, default=spec.default, help=spec.help)
    if spec.choices:
        kind = click.Choice([str(c) for c in spec.choices])
    elif spec.kind in (int, float):
        kind = _number(spec.flag, integer=spec.kind is int, **spec.bounds)
    else:
        kind = click.Path(path_type=Path) if spec.kind is Path else str
    return click.option(spec.flag, spec.name, type=kind, default=spec.default, show_default=spec.default is not None,
                        help=spec.help)


def _with_options(specs, function):
    for spec in reversed(specs):
        function = _spec_option(spec)(function)
    return function


def _component_option(entry, *, allow_all: bool):
    names = list(entry.components) + (["all"] if allow_all else [])
    return click.option("--component", required=True, type=click.Choice(names),
                        help="The component; all: DATA_DIR/<component>/ (or OUT/<component>/) for each.")


def _synth_command(entry) -> click.Command:
    def run(out: Path, component: str | None = None, **options) -> None:
        summary = entry.synthesize(out, component=component, **options)
        click.echo(summary.describe())

    run.__doc__ = f"Write a SYNTHETIC stand-in for {entry.name} in its official raw layout to OUT."
    command = _with_options(entry.synth_options, run)
    if entry.multi:
        command = _component_option(entry, allow_all=True)(command)
    command = click.argument("out", type=click.Path(file_okay=False, path_type=Path))(command)
    return synth.command(entry.name, help=f"{run.__doc__}\n\n{entry.summary}")(command)


def _build_command(entry) -> click.Command:
    def run(data_dir, output_dir, configs, on_error, repo_id, license_, component=None, **options) -> None:
        summary = entry.build(data_dir, output_dir, component=component, configs=_comma_list("--configs", configs),
                              on_error=on_error, repo_id=repo_id, license=license_, **options)
        click.echo(summary.describe())

    command = _with_options(entry.build_options, run)
    for option in reversed([
        click.option("--data-dir", required=True, type=click.Path(path_type=Path), help=entry.data_dir_help),
        click.option("--output", "output_dir", type=click.Path(path_type=Path), default=entry.default_output or None,
                     show_default=bool(entry.default_output),
                     help="Hub dataset folder to write (replaced atomically if it is libtrad's previous export)."),
        click.option("--configs", default=None, help="Comma-separated subset of configs (default: all)."),
        click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
                     help="skip: leave bad files out and list them in manifest.json and the card."),
        click.option("--repo-id", default=None, help="Hub id used in the card's usage snippet."),
        click.option("--license", "license_", default=None, help="Card license (default: the dataset's own)."),
        *([_component_option(entry, allow_all=True)] if entry.multi else []),
    ]):
        command = option(command)
    return build.command(entry.name, help=f"Validate a raw {entry.name} folder and export it as a Hub dataset "
                                          f"repository.\n\n{entry.summary}")(command)


def _register_dataset_commands() -> None:
    from libtrad.builders.registry import DATASETS

    for entry in DATASETS.values():
        _synth_command(entry)
        _build_command(entry)


_register_dataset_commands()


def _comma_list(option: str, text: str | None) -> tuple[str, ...] | None:
    """``--configs a,b``: None when not given; an empty item (``","``, ``"a,"``) is an error, never "all"."""
    if text is None:
        return None
    names = tuple(c.strip() for c in text.split(","))
    if any(not n for n in names):
        raise LibtradError(f"{option} {text!r}: expected a comma-separated list of names with none empty")
    return names


def _publish_options(command):
    """The arguments every ``publish`` command takes."""
    command = click.option("--dry-run", is_flag=True, help="List exactly what would be sent; send nothing.")(command)
    command = click.option("--private", is_flag=True, help="Create the repo as private.")(command)
    command = click.option("--repo-id", required=True, help="Target Hub repo, ORG/NAME.")(command)
    return click.argument("folder", type=click.Path(path_type=Path))(command)


@publish.command("dataset")
@_publish_options
def publish_dataset(folder: Path, repo_id: str, private: bool, dry_run: bool) -> None:
    """Upload a built dataset folder (README.md card, data/, manifest.json) or an embeddings folder
    (README.md card, data/, embeddings.json) to the Hub."""
    from libtrad.outputs import marker_kind

    record = "embeddings.json" if marker_kind(folder) == "embeddings" else "manifest.json"
    _publish(folder, repo_id, "dataset", private, dry_run, required=("README.md", record, "data"))


def _publish(folder: Path, repo_id: str, repo_type: str, private: bool, dry_run: bool, required: tuple) -> None:
    """The one publish path: plan (validate + list), then print the plan or upload it."""
    from libtrad.publish import plan_upload, publish_folder

    plan = plan_upload(folder, repo_id, repo_type, private, required=required)
    if dry_run:
        click.echo(plan.describe())
        return
    url = publish_folder(plan, folder, commit_message=f"Upload {repo_type} with libtrad")
    click.echo(f"published {len(plan.files)} files to {url}")


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
def verify(folder: Path) -> None:
    """Check any libtrad folder: checksums, schema, every shard readable, card configs matching the shards."""
    from libtrad.verify import verify_folder

    report = verify_folder(folder)
    click.echo(report.describe())
    if not report.ok:
        raise LibtradError(f"{folder}: {len(report.problems)} problem(s) found (listed above)")


@main.command()
@click.option("--scale", type=_number("--scale", low=0, low_open=True, high=100), default=0.05, show_default=True, help="Size of the synthetic stand-in.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Where the raw stand-in and the built dataset go (replaced).")
@click.option("--seed", type=_seed_type(), default=0, show_default=True)
@click.option("--epochs", type=_number("--epochs", low=1, high=100000, integer=True), default=3, show_default=True,
              help="Training epochs of the demo's AE and CNN (the papers use 200 / 50).")
@click.option("--echo", type=click.Path(path_type=Path), default=None,
              help="A converted ECHO folder (libtrad convert echo); default: ECHO-Small with random weights.")
def demo(scale: float, workdir: Path, seed: int, epochs: int, echo: Path | None) -> None:
    """The main job on the embedded default: synthesize LiB-TRAD and a DCASE year, build, train, embed on
    Ray, evaluate; prints where every artefact is."""
    from libtrad.demo import run_demo

    click.echo(run_demo(workdir, scale=scale, seed=seed, epochs=epochs, echo=echo))


# --------------------------------------------------------------------------- models
@main.group()
def convert() -> None:
    """Convert official checkpoints to libtrad's save_pretrained format."""


@convert.command("echo")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--heads", type=_number("--heads", low=1, high=1024, integer=True), default=None, help="Attention heads (not stored in the weights; Small 6, Base 12).")
@click.option("--model-type", default=None, help="Override the checkpoint's model type (e.g. small, base).")
def convert_echo(checkpoint: Path, out_dir: Path, heads: int | None, model_type: str | None) -> None:
    """Convert an official ECHO checkpoint (.pth or .safetensors) to OUT_DIR."""
    from libtrad.models.echo.convert_echo_checkpoint import convert_checkpoint

    model = convert_checkpoint(checkpoint, out_dir, heads=heads, model_type=model_type)
    cfg = model.config
    click.echo(
        f"wrote {out_dir}: ECHO D={cfg.hidden_size} layers={cfg.num_hidden_layers} "
        f"heads={cfg.num_attention_heads} ({model.num_parameters():,} parameters)"
    )


@main.group()
def train() -> None:
    """Train a model with its paper's recipe."""


@main.group()
def evaluate() -> None:
    """Reproduce a paper's evaluation tables."""


# --------------------------------------------------------------------------- LiB-TRAD models
def _lib_trad_recipe(default, epochs, batch_size, lr, seed):
    from libtrad.ray_jobs.lib_trad.training import Recipe

    return Recipe(
        epochs=default.epochs if epochs is None else epochs,
        batch_size=default.batch_size if batch_size is None else batch_size,
        learning_rate=default.learning_rate if lr is None else lr,
        seed=seed,
    )


def _lib_trad_train_options(config_default: str):
    def decorate(fn):
        for option in reversed([
            click.option("--dataset", required=True, help="Built LiB-TRAD dataset: Hub-style folder or Hub id ORG/NAME."),
            click.option("--config", default=config_default, show_default=True, help="Dataset config to train on."),
            click.option("--output", required=True, type=click.Path(path_type=Path), help="Model folder to write (save_pretrained + README.md card)."),
            click.option("--epochs", type=_number("--epochs", low=1, high=100_000, integer=True), default=None, help="Override the recipe's epochs (quick runs)."),
            click.option("--batch-size", type=_number("--batch-size", low=1, high=65_536, integer=True), default=None, help="Override the recipe's batch size."),
            click.option("--lr", type=_number("--lr", low=0, low_open=True, high=10), default=None, help="Override Adam's learning rate (paper: 1e-3)."),
            click.option("--seed", type=_seed_type(), default=0, show_default=True),
            click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="datasets cache folder."),
        ]):
            fn = option(fn)
        return fn
    return decorate


@train.command("cnn")
@_lib_trad_train_options("tr1_cls")
def train_cnn_command(dataset, config, output, epochs, batch_size, lr, seed, cache_dir) -> None:
    """LiB-TRAD CNN classifier (paper Table 2 baseline): BCE, Adam 1e-3, validation AUC every epoch."""
    from libtrad.ray_jobs.lib_trad.training import CNN_RECIPE, train_cnn

    result = train_cnn(dataset, output, config=config, recipe=_lib_trad_recipe(CNN_RECIPE, epochs, batch_size, lr, seed), cache_dir=cache_dir)
    last = result.history[-1]
    click.echo(f"saved CNN to {output} ({result.seconds:.1f} s): final loss {last['loss']:.4f}, "
               f"validation AUC {'n/a' if last.get('val_auc') is None else format(last['val_auc'], '.4f')}")


@train.command("ae")
@_lib_trad_train_options("tr1")
@click.option("--context-frames", type=_number("--context-frames", low=1, high=255, integer=True), default=1, show_default=True,
              help="1 = the paper's literal attention over one frame (= V); odd N > 1 attends over N neighbouring frames.")
@click.option("--score-reduction", type=click.Choice(["mean", "max", "percentile"]), default="mean", show_default=True,
              help="Frame scores -> clip score (paper: mean).")
def train_ae_command(dataset, config, output, epochs, batch_size, lr, seed, cache_dir, context_frames, score_reduction) -> None:
    """LiB-TRAD attention auto-encoder (paper Table 3): 200 epochs, 128-frame batches, Mahalanobis scoring."""
    from libtrad.errors import LibtradError
    from libtrad.ray_jobs.lib_trad.training import AE_RECIPE, train_attention_ae

    if context_frames < 1 or context_frames % 2 == 0:
        raise LibtradError(f"--context-frames {context_frames}: must be an odd number >= 1")
    result = train_attention_ae(
        dataset, output, config=config, recipe=_lib_trad_recipe(AE_RECIPE, epochs, batch_size, lr, seed), cache_dir=cache_dir,
        model_kwargs={"context_frames": context_frames, "score_reduction": score_reduction},
    )
    auc = result.history[-1].get("test_auc")
    click.echo(f"saved auto-encoder to {output} ({result.seconds:.1f} s): final loss {result.history[-1]['loss']:.4f}, "
               f"test AUC {'n/a' if auc is None else format(auc, '.4f')}")


def _suite_options(command):
    """--embeddings/--output/--local/--address: what every embeddings suite takes."""
    for decorator in reversed([
        click.option("--embeddings", "embeddings", multiple=True, type=click.Path(path_type=Path),
                     help="An embeddings folder (libtrad embed's, or any folder of Parquet files with the suite's "
                          "columns); repeat to concatenate several."),
        click.option("--output", type=click.Path(path_type=Path), required=True,
                     help="The results folder (results.json, results.md, PNG plots)."),
        click.option("--local", is_flag=True, help="Run the units in this process instead of as Ray tasks."),
        click.option("--address", default=None, help="Attach to a running Ray cluster (auto, HOST:PORT, ray://...)."),
    ]):
        command = decorator(command)
    return command


def _print_results(output: Path) -> None:
    click.echo((output / "results.md").read_text(encoding="utf-8").rstrip())
    click.echo(f"wrote results.json, results.md and plots to {output}")


@evaluate.command("siren-dcase")
@_suite_options
@click.option("--official-domain-auc", is_flag=True,
              help="Domain AUC as the official DCASE evaluator (the domain's normals vs all the section's "
                   "anomalies); default SIREN's (the domain's normals and anomalies).")
def evaluate_siren_dcase_command(embeddings, output, local, address, official_domain_auc) -> None:
    """SIREN's DCASE Task 2 protocol: cosine 1-NN scores, AUC/pAUC per group, set and year scores."""
    from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

    evaluate_embeddings("siren-dcase", list(embeddings), output, local=local, address=address,
                        official_domain_auc=official_domain_auc)
    _print_results(output)


@evaluate.command("siren-fault")
@_suite_options
@click.option("--protocol", type=click.Choice(["auto", "loocv", "kfold"]), default="auto", show_default=True,
              help="auto: k-fold over the `fold` column when present (IICA), else leave-one-out.")
@click.option("--siren-compat", is_flag=True,
              help="SIREN's quirks: 8 pseudo-channels, distances z-scored per query and averaged over 7.")
def evaluate_siren_fault_command(embeddings, output, local, address, protocol, siren_compat) -> None:
    """SIREN's fault protocol: 5-NN (Euclidean), LOOCV or k-fold; weighted and macro P/R/F1."""
    from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

    evaluate_embeddings("siren-fault", list(embeddings), output, local=local, address=address, protocol=protocol,
                        siren_compat=siren_compat)
    _print_results(output)


@evaluate.command("lib-trad")
@click.option("--model", "models", multiple=True,
              help="Model folder (used for every experiment) or EXPERIMENT=DIR, repeated (tr1=..., tr2=..., tr3=...).")
@click.option("--dataset", default=None, help="Built LiB-TRAD dataset (with --model): Hub-style folder or Hub id.")
@click.option("--embeddings", "embeddings", multiple=True, type=click.Path(path_type=Path),
              help="Embeddings of a LiB-TRAD anomaly config (libtrad embed --config all): KNN and Mahalanobis scorers.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("lib-trad-eval"), show_default=True,
              help="Folder for the JSON, Markdown and ROC PNGs.")
@click.option("--experiments", default="tr1,tr2,tr3", show_default=True, help="Comma-separated experiments.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="datasets cache folder.")
@click.option("--local", is_flag=True, help="Run the embedding units in this process instead of as Ray tasks.")
@click.option("--address", default=None, help="Attach to a running Ray cluster (auto, HOST:PORT, ray://...).")
def evaluate_lib_trad_command(models, dataset, embeddings, output, experiments, cache_dir, local, address) -> None:
    """Paper Table 2 (CNN models: validation of tr*_cls) or Table 3 (auto-encoders: test of tr*), and/or
    KNN and Mahalanobis scorers on embeddings — in one table when both are given."""
    from libtrad.errors import LibtradError
    from libtrad.ray_jobs.lib_trad.evaluation import (EXPERIMENTS, evaluate_lib_trad, parse_model_arguments,
                                                      score_lib_trad_models, write_model_results)

    chosen = tuple(e.lower() for e in _comma_list("--experiments", experiments))
    unknown = [e for e in chosen if e not in EXPERIMENTS]
    if not chosen or unknown:
        raise LibtradError(f"--experiments {experiments}: expected a comma-separated subset of {','.join(EXPERIMENTS)}")
    if not models and not embeddings:
        raise LibtradError("give --model (trained checkpoints, with --dataset) and/or --embeddings")
    if models and not dataset:
        raise LibtradError("--model needs --dataset (the built LiB-TRAD dataset to score)")
    model_args = parse_model_arguments(models, chosen) if models else None
    if not embeddings:
        summary = evaluate_lib_trad(model_args, dataset, output, cache_dir=cache_dir)
        click.echo((output / summary["files"][1]).read_text().rstrip())
        click.echo(f"wrote {', '.join(summary['files'])} to {output}")
        return
    from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

    def attach():
        summary, curves = score_lib_trad_models(model_args, dataset, cache_dir=cache_dir)
        return {"model": summary}, lambda folder: write_model_results(summary, curves, folder)

    extra = {"--dataset": Path(dataset) if dataset and Path(dataset).exists() else None, "--cache-dir": cache_dir}
    extra.update({f"--model {e}": Path(d) for e, d in (model_args or {}).items()})
    evaluate_embeddings("lib-trad", list(embeddings), output, local=local, address=address,
                        extra_inputs=extra, attach=attach if model_args else None)
    _print_results(output)


@publish.command("model")
@_publish_options
def publish_model(folder: Path, repo_id: str, private: bool, dry_run: bool) -> None:
    """Upload a saved model folder (config.json, model.safetensors, README.md card) to the Hub."""
    _publish(folder, repo_id, "model", private, dry_run, required=("config.json", "model.safetensors", "README.md"))


@main.command("embed")
@click.option("--dataset", required=True, help="A dataset folder (e.g. a libtrad export) or a Hub id user/name.")
@click.option("--config", default=None, help="Config to embed (default: the card's default config).")
@click.option("--split", "splits", multiple=True, help="Split to embed; repeat for several (default: all).")
@click.option("--encoder", required=True, help="echo:DIR | attention-ae:DIR | logmel-stats | hf:DIR")
@click.option("--output", required=True, type=click.Path(path_type=Path), help="The embeddings folder to write.")
@click.option("--address", default=None, help="Attach to a running Ray cluster (auto, HOST:PORT, ray://...); "
              "default: a private local Ray on 127.0.0.1.")
@click.option("--actors", type=_number("--actors", low=1, high=4096, integer=True), default=None,
              help="Encoder actors (default: one per node).")
@click.option("--threads-per-actor", type=_number("--threads-per-actor", low=1, high=4096, integer=True), default=None,
              help="Torch threads per actor (default: the node's cores ÷ its actors).")
@click.option("--batch-size", type=_number("--batch-size", low=1, high=65536, integer=True), default=8,
              show_default=True, help="Clips per encoder call (results do not depend on it).")
@click.option("--frames", is_flag=True, help="Also store frame embeddings (column `frames`).")
@click.option("--multichannel", type=click.Choice(["concat", "mean"]), default="concat", show_default=True,
              help="Multichannel rows: channel embeddings concatenated (SIREN) or averaged.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 autocast for ECHO (faster on AVX512-BF16/AMX CPUs, not bit-faithful).")
def embed_command(dataset, config, splits, encoder, output, address, actors, threads_per_actor, batch_size, frames,
                  multichannel, precision) -> None:
    """Embed a dataset's rows with an encoder on Ray (resumable; every row exactly once)."""
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    summary = embed_dataset(dataset, encoder, output, config=config, splits=list(splits) or None, address=address,
                            actors=actors, threads_per_actor=threads_per_actor, batch_size=batch_size, frames=frames,
                            multichannel=multichannel, precision=precision)
    click.echo(f"wrote embeddings to {summary.output} (dim {summary.output_dim}; {summary.computed} of "
               f"{summary.units} units computed, {summary.reused} reused)")
    for split, rows in summary.rows.items():
        click.echo(f"  {split}: {rows} rows")


def _probe_training_options(epochs: int, batch_size: int):
    """--seeds/--epochs/--batch-size/--lr/--val-fraction/--split-seed of the trained-probe suites."""
    def decorate(command):
        for decorator in reversed([
            click.option("--seeds", type=_number("--seeds", low=1, high=1000, integer=True), default=3,
                         show_default=True,
                         help="Training seeds 0..N-1, each an independent run; reported: mean ± std."),
            click.option("--epochs", type=_number("--epochs", low=1, high=100_000, integer=True), default=epochs,
                         show_default=True, help="Training epochs (the best-validation epoch is kept)."),
            click.option("--batch-size", type=_number("--batch-size", low=1, high=1 << 20, integer=True),
                         default=batch_size, show_default=True, help="Rows per optimiser step."),
            click.option("--lr", type=_number("--lr", low=0, low_open=True), default=1e-3, show_default=True,
                         help="Peak learning rate."),
            click.option("--val-fraction", type=_number("--val-fraction", low=0, high=1, low_open=True, high_open=True),
                         default=0.1, show_default=True,
                         help="Share of each class's training rows carved as validation (when there is no "
                              "validation split)."),
            click.option("--split-seed", type=_seed_type(), default=0, show_default=True,
                         help="Seed of the validation carve and of the 5 folds of a leave-one-out dataset."),
        ]):
            command = decorator(command)
        return command

    return decorate


def _evaluate_probe(suite: str, embeddings, output: Path, local: bool, address, **options) -> None:
    from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings
    from libtrad.ray_jobs.evaluation.suites.probes import task_name

    task = task_name(list(embeddings)) if embeddings else None
    evaluate_embeddings(suite, list(embeddings), output, local=local, address=address, task=task, **options)
    _print_results(output)


@evaluate.command("linear-probe")
@_suite_options
@_probe_training_options(epochs=200, batch_size=32)
def evaluate_linear_probe_command(embeddings, output, local, address, seeds, epochs, batch_size, lr, val_fraction,
                                  split_seed) -> None:
    """ARCH's linear probe (AdamW, warm-up + linear decay), best-validation epoch scored once on test."""
    _evaluate_probe("linear-probe", embeddings, output, local, address, seeds=seeds, epochs=epochs,
                    batch_size=batch_size, lr=lr, val_fraction=val_fraction, split_seed=split_seed)


@evaluate.command("xares-mlp")
@_suite_options
@_probe_training_options(epochs=10, batch_size=32)
def evaluate_xares_mlp_command(embeddings, output, local, address, seeds, epochs, batch_size, lr, val_fraction,
                               split_seed) -> None:
    """X-ARES's LayerNorm + Linear probe (Adam, cosine decay), selected on validation carved from training folds."""
    _evaluate_probe("xares-mlp", embeddings, output, local, address, seeds=seeds, epochs=epochs,
                    batch_size=batch_size, lr=lr, val_fraction=val_fraction, split_seed=split_seed)


@evaluate.command("xares-knn")
@_suite_options
@click.option("--k", "k", type=_number("--k", low=1, high=1_000_000, integer=True), default=10, show_default=True,
              help="Neighbours that vote.")
@click.option("--temperature", type=_number("--temperature", low=0, low_open=True), default=0.07, show_default=True,
              help="Softmax temperature of the similarity-weighted votes.")
@click.option("--split-seed", type=_seed_type(), default=0, show_default=True,
              help="Seed of the 5 stratified folds of a leave-one-out dataset.")
def evaluate_xares_knn_command(embeddings, output, local, address, k, temperature, split_seed) -> None:
    """X-ARES's weighted kNN: cosine similarity, softmax(similarity / T) votes of the k nearest."""
    _evaluate_probe("xares-knn", embeddings, output, local, address, k=k, temperature=temperature,
                    split_seed=split_seed)


@main.command("leaderboard")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", required=True, type=click.Path(path_type=Path),
              help="Folder for leaderboard.md, leaderboard.csv and leaderboard.png.")
@click.option("--normalise", type=click.Choice(["metric-range", "encoders"]), default="metric-range", show_default=True,
              help="X-ARES average: each value min-max normalised over its metric's range, or over the encoders "
                   "in the table.")
def leaderboard_command(results, output, normalise) -> None:
    """Rank encoders: one table of every results folder given (encoders × suite/task), X-ARES and DCASE summaries."""
    from libtrad.ray_jobs.evaluation.leaderboard import write_leaderboard

    write_leaderboard(list(results), output, normalise)
    click.echo((output / "leaderboard.md").read_text(encoding="utf-8").rstrip())
    click.echo(f"wrote leaderboard.md, leaderboard.csv and leaderboard.png to {output}")


@main.command("check-encoder")
@click.argument("encoder", metavar="SPEC")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: spec, encoder, checks, passed.")
@click.option("--quick", is_flag=True, help="Skip the 30-s clip (the slow check).")
def check_encoder_command(encoder: str, as_json: bool, quick: bool) -> None:
    """Check that an encoder spec (as `embed --encoder` takes) keeps the encoder contract.

    Prints one `FAIL <check>: ...` line per failed check and a summary; exit status 1 if any failed.
    """
    import json

    from libtrad.ray_jobs.embedding.check_encoder import check_encoder_spec, format_report, results_json

    results = check_encoder_spec(encoder, quick=quick)
    click.echo(json.dumps(results_json(results, spec=encoder), indent=2) if as_json else format_report(results))
    if not all(r.passed for r in results):
        click.get_current_context().exit(1)


if __name__ == "__main__":
    main()
