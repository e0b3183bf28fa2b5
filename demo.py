"""``libtrad demo``: the whole pipeline on the embedded default, from nothing to result tables.

Steps (all on synthetic stand-ins, which every artefact says): synthesize LiB-TRAD and one DCASE
year (2021) at the default ``paper`` difficulty (:mod:`libtrad.builders.difficulty`: calibrated so
the baselines land in the papers' ranges, not at 100 %), build both as Hub datasets and load them
back; train the LiB-TRAD attention auto-encoder (one per experiment, TR1–TR3, as the paper's
Table 3) and the CNN briefly (cards written); embed both datasets with ECHO (random weights
unless ``echo`` names a converted checkpoint) and with ``logmel-stats`` through Ray (one local
session for every Ray step); evaluate ``lib-trad`` (embeddings and the trained AEs in one table)
and ``siren-dcase`` for both encoders; rank them in one leaderboard; score the trained AEs' venting events (event
F1, latency, false alarms per hour: :mod:`libtrad.ray_jobs.lib_trad.event_models`); print where every artefact is.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from libtrad.builders.registry import SIREN
from libtrad.core.devices import parse_device, resolve_device
from libtrad.core.errors import ParameterError
from libtrad.folders.outputs import atomic_output, check_output
from libtrad.ray_jobs import cluster  # cluster.ray_session, looked up at each call: the one place a test replaces it
from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings

DCASE_YEAR = 2021
EXPERIMENTS = ("tr1", "tr2", "tr3")
TRAIN_FRACTION = 0.5  # of the LiB-TRAD export's normal segments (bench/calibrate_difficulty.py measures the same)
# DCASE clips per LiB-TRAD scale: at the demo's 0.05, 5 normal and 5 anomalous test clips per section and
# domain (25 pairs: an AUC step of 0.04); at the tests' 0.01, one of each (cheap).
DCASE_PER_SCALE = 50.0


def dcase_scale(scale: float) -> float:
    """The DCASE stand-in's scale for a LiB-TRAD ``scale`` (its own counts are per section and domain)."""
    return min(100.0, max(0.5, DCASE_PER_SCALE * scale))


def run_demo(
    workdir: str | Path,
    *,
    scale: float = 0.05,
    seed: int = 0,
    epochs: int = 3,
    echo: str | Path | None = None,
    progress: bool = True,
    device: str = "auto",
) -> str:
    """Run the pipeline in ``workdir`` (every folder in it is libtrad's and replaced on a re-run).

    ``device`` (``auto|cpu|cuda|cuda:N``, :mod:`libtrad.core.devices`) is where training, embedding and the
    scorers run; it is checked on this machine before any work starts."""
    device = parse_device(device).text
    resolve_device(device)  # a cuda asked for but missing: one line naming the node, before anything is written
    workdir = Path(workdir).expanduser().resolve()
    paths = _paths(workdir)
    for name, kind in _KINDS.items():  # before any work: a folder libtrad did not write is never touched
        check_output(paths[name], kind, option="--workdir")
    if echo is not None and not Path(echo).expanduser().is_dir():
        raise ParameterError("echo", echo, "is not a folder (a converted ECHO checkpoint: libtrad convert echo)")
    start = time.perf_counter()
    lines = _datasets(paths, scale, seed, progress)
    lines += _train(paths, epochs, progress, device)
    echo_dir, echo_note = _echo_folder(paths, echo)
    lines += _embed_and_evaluate(paths, f"echo:{echo_dir}", progress, device)
    lines += [f"ECHO: {echo_note}", "", "Artefacts:"]
    lines += [f"  {label:<36} {paths[name]}" for name, label in _LABELS.items() if paths[name].exists()]
    lines.append(
        f"done in {time.perf_counter() - start:.1f} s. All data here is a SYNTHETIC stand-in, not the real "
        "LiB-TRAD or DCASE recordings: the numbers only show the pipeline works."
    )
    return "\n".join(lines)


_KINDS = {
    "raw": "synthetic",
    "lib_trad": "dataset",
    "dcase_raw": "synthetic",
    "dcase": "dataset",
    **{f"ae_{e}": "model" for e in EXPERIMENTS},
    "cnn": "model",
    "echo_random": "model",
    "emb_echo_lt": "embeddings",
    "emb_logmel_lt": "embeddings",
    "emb_echo_dcase": "embeddings",
    "emb_logmel_dcase": "embeddings",
    "res_lt": "results",
    "res_lt_logmel": "results",
    "res_dcase_echo": "results",
    "res_dcase_logmel": "results",
    "leaderboard": "leaderboard",
}
_LABELS = {
    "lib_trad": "LiB-TRAD dataset (Hub-ready)",
    "dcase": f"DCASE {DCASE_YEAR} dataset (Hub-ready)",
    **{f"ae_{e}": f"attention auto-encoder ({e})" for e in EXPERIMENTS},
    "cnn": "CNN (tr1_cls)",
    "echo_random": "ECHO-Small, random weights",
    "emb_echo_lt": "ECHO embeddings, LiB-TRAD",
    "emb_echo_dcase": f"ECHO embeddings, DCASE {DCASE_YEAR}",
    "emb_logmel_lt": "logmel-stats embeddings, LiB-TRAD",
    "emb_logmel_dcase": f"logmel-stats embeddings, DCASE {DCASE_YEAR}",
    "res_lt": "lib-trad results (ECHO + AEs)",
    "res_lt_logmel": "lib-trad results (logmel-stats)",
    "res_dcase_echo": "siren-dcase results (ECHO)",
    "res_dcase_logmel": "siren-dcase results (logmel-stats)",
    "leaderboard": "leaderboard (2 encoders × 2 suites)",
}


def _paths(workdir: Path) -> dict[str, Path]:
    return {
        "raw": workdir / "raw",
        "lib_trad": workdir / "lib-trad",
        "dcase_raw": workdir / f"dcase{DCASE_YEAR}-raw",
        "dcase": workdir / f"dcase{DCASE_YEAR}",
        **{f"ae_{e}": workdir / "models" / f"ae-{e}" for e in EXPERIMENTS},
        "cnn": workdir / "models" / "cnn-tr1",
        "echo_random": workdir / "models" / "echo-small-random",
        "emb_echo_lt": workdir / "embeddings" / "echo-lib-trad",
        "emb_logmel_lt": workdir / "embeddings" / "logmel-lib-trad",
        "emb_echo_dcase": workdir / "embeddings" / f"echo-dcase{DCASE_YEAR}",
        "emb_logmel_dcase": workdir / "embeddings" / f"logmel-dcase{DCASE_YEAR}",
        "res_lt": workdir / "results" / "lib-trad",
        "res_lt_logmel": workdir / "results" / "lib-trad-logmel",
        "res_dcase_echo": workdir / "results" / "siren-dcase-echo",
        "res_dcase_logmel": workdir / "results" / "siren-dcase-logmel",
        "leaderboard": workdir / "leaderboard",
        "cache": workdir / "hf-cache",
    }


def _datasets(paths: dict[str, Path], scale: float, seed: int, progress: bool) -> list[str]:
    from datasets import load_dataset

    from libtrad.builders.dcase.synth import synthesize_dcase
    from libtrad.builders.lib_trad.export import export_lib_trad
    from libtrad.builders.lib_trad.synth import synthesize_lib_trad

    synthesize_lib_trad(paths["raw"], scale=scale, seed=seed, progress=progress)
    # Half the normal segments tested (the paper's export default is 80 % train): at the demo's small scale an
    # experiment then has 2-4 normal test segments instead of one, so its AUC is not one segment's draw.
    summary = export_lib_trad(paths["raw"], paths["lib_trad"], train_fraction=TRAIN_FRACTION, progress=progress)
    synthesize_dcase(paths["dcase_raw"], year=DCASE_YEAR, scale=dcase_scale(scale), seed=seed, progress=progress)
    SIREN.build(paths["dcase_raw"], paths["dcase"], component=f"dcase{DCASE_YEAR}", progress=progress)
    cache = str(paths["cache"])
    test = load_dataset(str(paths["lib_trad"]), "tr1", split="test", cache_dir=cache)
    row = test[0]
    samples = row["audio"].get_all_samples()
    seg = load_dataset(str(paths["lib_trad"]), "segments", split="train", cache_dir=cache)[0]["audio"].get_all_samples()
    dcase = load_dataset(str(paths["dcase"]), f"dcase{DCASE_YEAR}", split="test", cache_dir=cache)
    return [
        summary.describe(),
        "",
        f"load_dataset(lib-trad, 'tr1', split='test'): {test.num_rows} rows; row 0: {row['experiment']} segment "
        f"{row['segment']} mic {row['channel']}, {test.features['label'].int2str(row['label'])}, audio "
        f"{tuple(samples.data.shape)} at {samples.sample_rate} Hz; 'segments': 4-microphone audio "
        f"{tuple(seg.data.shape)}",
        f"load_dataset(dcase{DCASE_YEAR}, split='test'): {dcase.num_rows} rows, machines "
        f"{', '.join(sorted(set(dcase['machine'])))}",
        "",
    ]


def _train(paths: dict[str, Path], epochs: int, progress: bool, device: str) -> list[str]:
    from libtrad.ray_jobs.lib_trad.training import AE_RECIPE, CNN_RECIPE, train_attention_ae, train_cnn

    ae = [
        train_attention_ae(
            str(paths["lib_trad"]),
            paths[f"ae_{e}"],
            config=e,
            recipe=replace(AE_RECIPE, epochs=epochs),
            cache_dir=paths["cache"],
            progress=progress,
            device=device,
        )
        for e in EXPERIMENTS
    ]
    cnn = train_cnn(
        str(paths["lib_trad"]),
        paths["cnn"],
        config="tr1_cls",
        recipe=replace(CNN_RECIPE, epochs=epochs),
        cache_dir=paths["cache"],
        progress=progress,
        device=device,
    )
    return [
        f"trained an attention AE per experiment ({', '.join(e.upper() for e in EXPERIMENTS)}; {epochs} epochs, "
        f"{sum(a.seconds for a in ae):.1f} s) and the CNN ({epochs} epochs, {cnn.seconds:.1f} s): brief demo runs, "
        "not the papers' recipes (200 / 50 epochs); cards in their folders",
        "",
    ]


def _echo_folder(paths: dict[str, Path], echo) -> tuple[Path, str]:
    if echo is not None:
        return Path(echo).expanduser().resolve(), f"converted checkpoint {echo}"
    import torch

    from libtrad.models.echo import EchoConfig, EchoFeatureExtractor, EchoModel

    torch.manual_seed(0)
    with atomic_output(paths["echo_random"], "model", option="--workdir") as tmp:
        EchoModel(EchoConfig()).save_pretrained(tmp)
        EchoFeatureExtractor().save_pretrained(tmp)
        (tmp / "README.md").write_text(
            "# ECHO-Small, RANDOM weights\n\nWritten by `libtrad demo` so the pipeline runs "
            "without a checkpoint. Its embeddings mean nothing; pass `--echo DIR` (a folder "
            "from `libtrad convert echo`) for real ones.\n",
            encoding="utf-8",
        )
    return paths["echo_random"], "RANDOM weights (ECHO-Small's shape): pass --echo DIR for a converted checkpoint"


def _embed_and_evaluate(paths: dict[str, Path], echo_spec: str, progress: bool, device: str) -> list[str]:
    from libtrad.ray_jobs.embedding.embed import embed_dataset
    from libtrad.ray_jobs.lib_trad.evaluation import attach_models

    lines = []
    with cluster.ray_session():  # one local Ray (127.0.0.1) for every embedding job and suite
        for key, spec, dataset, config in (
            ("emb_echo_lt", echo_spec, "lib_trad", "all"),
            ("emb_logmel_lt", "logmel-stats", "lib_trad", "all"),
            ("emb_echo_dcase", echo_spec, "dcase", None),
            ("emb_logmel_dcase", "logmel-stats", "dcase", None),
        ):
            s = embed_dataset(str(paths[dataset]), spec, paths[key], config=config, progress=progress, device=device)
            lines.append(
                f"embedded {sum(s.rows.values())} rows of {paths[dataset].name} with "
                f"{spec.split(':')[0]} (dim {s.output_dim}) on Ray -> {paths[key].name}"
            )

        models = {e: str(paths[f"ae_{e}"]) for e in EXPERIMENTS}  # one AE per experiment, as Table 3
        attach = attach_models(
            models, str(paths["lib_trad"]), cache_dir=paths["cache"], progress=progress, device=device
        )
        lt = evaluate_embeddings(
            "lib-trad",
            [paths["emb_echo_lt"]],
            paths["res_lt"],
            attach=attach,
            progress=progress,
            extra_inputs={"dataset": paths["lib_trad"], **{f"model_{e}": paths[f"ae_{e}"] for e in EXPERIMENTS}},
            device=device,
        )
        evaluate_embeddings(
            "lib-trad", [paths["emb_logmel_lt"]], paths["res_lt_logmel"], progress=progress, device=device
        )
        scores = {}
        for key, res in (("emb_echo_dcase", "res_dcase_echo"), ("emb_logmel_dcase", "res_dcase_logmel")):
            scores[key] = evaluate_embeddings(
                "siren-dcase", [paths[key]], paths[res], progress=progress, device=device
            )["score"]
    from libtrad.ray_jobs.evaluation.leaderboard import write_leaderboard

    write_leaderboard(
        [paths[k] for k in ("res_lt", "res_lt_logmel", "res_dcase_echo", "res_dcase_logmel")], paths["leaderboard"]
    )
    lines += [
        "",
        (paths["res_lt"] / "results.md").read_text(encoding="utf-8").strip(),
        "",
        f"siren-dcase {DCASE_YEAR} year score: ECHO {_pct(scores['emb_echo_dcase'])}, "
        f"logmel-stats {_pct(scores['emb_logmel_dcase'])}",
        f"lib-trad harmonic mean AUC (ECHO, KNN): {_pct(lt['scorers']['knn']['harmonic_mean'])}",
        _event_line(paths, progress, device),
        "",
        (paths["leaderboard"] / "leaderboard.md").read_text(encoding="utf-8").split("## Columns")[0].strip(),
    ]
    return lines


def _event_line(paths: dict[str, Path], progress: bool, device: str) -> str:
    """The trained AEs' venting events (event F1, latency, false alarms per hour): one line beside the AUCs."""
    from libtrad.ray_jobs.lib_trad.event_models import event_summary_line, score_event_models

    models = {e: str(paths[f"ae_{e}"]) for e in EXPERIMENTS}
    summary = score_event_models(
        models, str(paths["lib_trad"]), cache_dir=paths["cache"], progress=progress, device=device
    )
    return event_summary_line(summary)


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"
