"""``libtrad demo``: the main job, ``libtrad benchmark``, on the embedded stand-ins — from nothing to result tables.

Steps (all on synthetic stand-ins, which every artefact says): synthesize LiB-TRAD and one DCASE
year (2021) at the default ``paper`` difficulty (:mod:`libtrad.builders.difficulty`: calibrated so
the baselines land in the papers' ranges, not at 100 %) as raw folders ``WORKDIR/data/<component>/``;
then run the benchmark on them — the same code path as on real corpora
(:func:`libtrad.ray_jobs.benchmark.run.run_benchmark`, suite ``all``, components ``dcase2021`` and
``lib-trad``): build both as Hub datasets, embed both with ECHO (random weights unless ``echo`` names a
converted checkpoint) and with ``logmel-stats`` on one Ray session (the actors loaded once per encoder),
train LiB-TRAD's attention auto-encoder per experiment (TR1–TR3, as the paper's Table 3) and score it
beside ECHO's embeddings, evaluate ``lib-trad`` and ``siren-dcase`` for both encoders, and write the
leaderboard with the papers' published rows and the differences; then score the trained AEs' venting events
in time (event F1, detection latency, false alarms per hour on normal charging:
:mod:`libtrad.ray_jobs.lib_trad.event_models`). The CNN (Table 2's supervised model)
is trained briefly on the built dataset too (its card in its folder). Prints a summary table
(:func:`summary_rows`: one row per number, easy to extend) and where every artefact is.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from libtrad.core.devices import parse_device, resolve_device
from libtrad.core.errors import ParameterError
from libtrad.folders.outputs import atomic_output, check_output

DCASE_YEAR = 2021
EXPERIMENTS = ("tr1", "tr2", "tr3")
TRAIN_FRACTION = 0.5  # of the LiB-TRAD export's normal segments (bench/calibrate_difficulty.py measures the same)
# DCASE clips per LiB-TRAD scale: at the demo's 0.05, 5 normal and 5 anomalous test clips per section and
# domain (25 pairs: an AUC step of 0.04); at the tests' 0.01, one of each (cheap).
DCASE_PER_SCALE = 50.0
COMPONENTS = (f"dcase{DCASE_YEAR}", "lib-trad")


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
    """Run the pipeline in ``workdir`` (every folder in it is libtrad's; the stand-ins are rewritten on a re-run).

    ``device`` (``auto|cpu|cuda|cuda:N``, :mod:`libtrad.core.devices`) is where training, embedding and the
    scorers run; it is checked on this machine before any work starts."""
    from libtrad.ray_jobs.benchmark.run import raise_if_failed, run_benchmark

    device = parse_device(device).text
    resolve_device(device)  # a cuda asked for but missing: one line naming the node, before anything is written
    workdir = Path(workdir).expanduser().resolve()
    paths = _paths(workdir)
    for name, kind in _KINDS.items():  # before any work: a folder libtrad did not write is never touched
        check_output(paths[name], kind, option="--workdir")
    if echo is not None and not Path(echo).expanduser().is_dir():
        raise ParameterError("echo", echo, "is not a folder (a converted ECHO checkpoint: libtrad convert echo)")
    start = time.perf_counter()
    _stand_ins(paths, scale, seed, progress)
    echo_dir, echo_note = _echo_folder(paths, echo)
    summary = run_benchmark(
        [f"echo:{echo_dir}", "logmel-stats"],
        paths["benchmark"],
        suite="all",
        data_root=paths["data"],
        components=COMPONENTS,
        device=device,
        build_options={"lib-trad": {"train_fraction": TRAIN_FRACTION}},
        lib_trad_epochs=epochs,
        progress=progress,
    )
    raise_if_failed(summary)
    lines = _datasets(paths) + _train(paths, epochs, progress, device)
    lines += _results(paths, summary, _events(paths, progress, device))
    lines += [f"ECHO: {echo_note}", "", "Artefacts:"]
    lines += [f"  {label:<36} {paths[name]}" for name, label in _LABELS.items() if paths[name].exists()]
    lines.append(
        f"done in {time.perf_counter() - start:.1f} s. All data here is a SYNTHETIC stand-in, not the real "
        "LiB-TRAD or DCASE recordings: the numbers only show the pipeline works."
    )
    return "\n".join(lines)


_KINDS = {
    "raw": "synthetic",
    "dcase_raw": "synthetic",
    "benchmark": "benchmark",
    "cnn": "model",
    "echo_random": "model",
}
_LABELS = {
    "lib_trad": "LiB-TRAD dataset (Hub-ready)",
    "dcase": f"DCASE {DCASE_YEAR} dataset (Hub-ready)",
    **{f"ae_{e}": f"attention auto-encoder ({e})" for e in EXPERIMENTS},
    "cnn": "CNN (tr1_cls)",
    "echo_random": "ECHO-Small, random weights",
    "embeddings": "embeddings (encoder/component)",
    "results": "results (encoder/component)",
    "leaderboard": "leaderboard (2 encoders, papers' columns)",
    "card": "results card (libtrad publish dataset)",
}


def _paths(workdir: Path) -> dict[str, Path]:
    bench = workdir / "benchmark"
    return {
        "data": workdir / "data",
        "raw": workdir / "data" / "lib-trad",
        "dcase_raw": workdir / "data" / f"dcase{DCASE_YEAR}",
        "benchmark": bench,
        "lib_trad": bench / "datasets" / "lib-trad",
        "dcase": bench / "datasets" / f"dcase{DCASE_YEAR}",
        **{f"ae_{e}": bench / "models" / f"ae-{e}" for e in EXPERIMENTS},
        "cnn": workdir / "models" / "cnn-tr1",
        "echo_random": workdir / "models" / "echo-small-random",
        "embeddings": bench / "embeddings",
        "results": bench / "results",
        "leaderboard": bench / "leaderboard",
        "card": bench / "README.md",
        "cache": workdir / "hf-cache",
    }


def _stand_ins(paths: dict[str, Path], scale: float, seed: int, progress: bool) -> None:
    """The raw stand-ins, laid out as a benchmark's --data-root: data/lib-trad/, data/dcase2021/."""
    from libtrad.builders.dcase.synth import synthesize_dcase
    from libtrad.builders.lib_trad.synth import synthesize_lib_trad

    synthesize_lib_trad(paths["raw"], scale=scale, seed=seed, progress=progress)
    synthesize_dcase(paths["dcase_raw"], year=DCASE_YEAR, scale=dcase_scale(scale), seed=seed, progress=progress)


def _datasets(paths: dict[str, Path]) -> list[str]:
    """The built datasets, loaded back as any user would (``load_dataset``)."""
    from datasets import load_dataset

    cache = str(paths["cache"])
    test = load_dataset(str(paths["lib_trad"]), "tr1", split="test", cache_dir=cache)
    row = test[0]
    samples = row["audio"].get_all_samples()
    seg = load_dataset(str(paths["lib_trad"]), "segments", split="train", cache_dir=cache)[0]["audio"].get_all_samples()
    dcase = load_dataset(str(paths["dcase"]), f"dcase{DCASE_YEAR}", split="test", cache_dir=cache)
    return [
        f"load_dataset(lib-trad, 'tr1', split='test'): {test.num_rows} rows; row 0: {row['experiment']} segment "
        f"{row['segment']} mic {row['channel']}, {test.features['label'].int2str(row['label'])}, audio "
        f"{tuple(samples.data.shape)} at {samples.sample_rate} Hz; 'segments': 4-microphone audio "
        f"{tuple(seg.data.shape)}",
        f"load_dataset(dcase{DCASE_YEAR}, split='test'): {dcase.num_rows} rows, machines "
        f"{', '.join(sorted(set(dcase['machine'])))}",
        "",
    ]


def _train(paths: dict[str, Path], epochs: int, progress: bool, device: str) -> list[str]:
    """The CNN (LiB-TRAD Table 2's supervised model) on the dataset the benchmark built; the AEs are the benchmark's."""
    from libtrad.ray_jobs.lib_trad.training import CNN_RECIPE, train_cnn

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
        f"trained an attention AE per experiment ({', '.join(e.upper() for e in EXPERIMENTS)}; {epochs} epochs, in "
        f"the benchmark's lib-trad suite) and the CNN ({epochs} epochs, {cnn.seconds:.1f} s): brief demo runs, "
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


def _events(paths: dict[str, Path], progress: bool, device: str) -> dict:
    """The benchmark's trained AEs' venting events on the built LiB-TRAD dataset (frame scores → events)."""
    from libtrad.ray_jobs.lib_trad.event_models import score_event_models

    models = {e: str(paths[f"ae_{e}"]) for e in EXPERIMENTS}
    return score_event_models(
        models, str(paths["lib_trad"]), cache_dir=paths["cache"], progress=progress, device=device
    )


def _results(paths: dict[str, Path], summary, events: dict | None = None) -> list[str]:
    """What the benchmark did, ECHO's lib-trad report (embeddings and the trained AEs in one table) and the summary."""
    echo = _results_of(paths, "echo", "lib-trad")
    lines = [summary.lines[0], "", (echo.parent / "results.md").read_text(encoding="utf-8").strip(), ""]
    rows = summary_rows(paths, events)
    width = max(len(what) for what, _ in rows)
    lines += ["Summary (synthetic stand-ins):", *(f"  {what:<{width}}  {value}" for what, value in rows), ""]
    return lines


def _results_of(paths: dict[str, Path], kind: str, job: str) -> Path:
    """results.json of the encoder of ``kind`` (echo, logmel-stats) for ``job``."""
    import json

    record = json.loads((paths["benchmark"] / "benchmark.json").read_text(encoding="utf-8"))
    slug = next(e["slug"] for e in record["encoders"] if e["fingerprint"]["kind"] == kind)
    return paths["results"] / slug / job / "results.json"


def summary_rows(paths: dict[str, Path], events: dict | None = None) -> list[tuple[str, str]]:
    """The demo's summary: (what, value) rows, one per number — a new suite adds its rows here. ``events``:
    :func:`~libtrad.ray_jobs.lib_trad.event_models.score_event_models`' summary (a row per experiment)."""
    import json

    def read(kind: str, job: str) -> dict:
        return json.loads(_results_of(paths, kind, job).read_text(encoding="utf-8"))

    rows = []
    for kind in ("echo", "logmel-stats"):
        rows.append((f"siren-dcase {DCASE_YEAR} year score, {kind}", _pct(read(kind, f"dcase{DCASE_YEAR}")["score"])))
    for kind in ("echo", "logmel-stats"):
        scorers = read(kind, "lib-trad")["scorers"]
        for scorer in sorted(scorers):
            rows.append((f"lib-trad harmonic mean AUC, {kind} + {scorer}", _pct(scorers[scorer]["harmonic_mean"])))
    model = read("echo", "lib-trad").get("model") or {}
    rows.append(("lib-trad harmonic mean AUC, attention AE (TR1-TR3)", _pct(model.get("harmonic_mean_auc"))))
    scorer = "attention_ae mahalanobis"
    for experiment, m in sorted(((events or {}).get("scorers", {}).get(scorer, {}).get("experiments") or {}).items()):
        latency, alarms = m["latency"]["median_s"], m.get("charging_false_alarms_per_hour")
        rows.append(
            (
                f"venting events, attention AE {experiment.upper()}",
                f"event F1 {m['event_f1']:.2f}, median latency {'—' if latency is None else f'{latency:.2f} s'}, "
                f"false alarms/h on normal charging {'—' if alarms is None else f'{alarms:.1f}'}",
            )
        )
    rows.append(("leaderboard (papers' columns, published rows)", str(paths["leaderboard"] / "leaderboard.md")))
    return rows


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"
