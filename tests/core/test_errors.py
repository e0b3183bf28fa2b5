"""libtrad's error types survive pickling (how Ray sends a worker's exception to the driver) as themselves."""

from __future__ import annotations

import ast
import importlib
import pickle
from pathlib import Path

import pytest

from libtrad.core.errors import LibtradError, ParameterError

ROOT = Path(__file__).resolve().parents[2]

# One real instance of every LibtradError subclass in the package (the scan below finds them all).
EXAMPLES = {
    "libtrad.core.errors.LibtradError": lambda: LibtradError("data/tr1/train-0.parquet: corrupted"),
    "libtrad.core.errors.ParameterError": lambda: ParameterError("--train-fraction", 1.5, "must lie in (0, 1)"),
    "libtrad.builders.archives.DamagedArchive": lambda: _damaged(),
    "libtrad.ray_jobs.cluster.health.ClusterLost": lambda: _cluster_lost(),
}


def _cluster_lost():
    from libtrad.ray_jobs.cluster.health import ClusterLost

    return ClusterLost("the cluster's head (GCS at 127.0.0.1:6379) stopped answering", unreachable=True)


def _damaged():
    from libtrad.builders.archives import DamagedArchive

    return DamagedArchive("raw/fan.zip", "truncated (the central directory is missing)", "; download it again")


def _error_classes() -> set[str]:
    """``module.Class`` of every class in the package deriving (by name, transitively) from LibtradError."""
    found: dict[str, tuple[str, list[str]]] = {}
    skip = {".venv", "tests", "bench", "build", "dist"}
    for path in sorted(ROOT.rglob("*.py")):
        if skip & set(path.relative_to(ROOT).parts):
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        module = ".".join(["libtrad", *parts])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
                found[node.name] = (module, bases)
    errors = {"LibtradError"}
    while True:
        more = {name for name, (_, bases) in found.items() if set(bases) & errors} - errors
        if not more:
            break
        errors |= more
    return {f"{found[name][0]}.{name}" for name in errors}


def test_every_error_class_has_an_example():
    assert _error_classes() == set(EXAMPLES), "add an example for each new LibtradError subclass"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_pickle_round_trip_keeps_type_message_and_attributes(name):
    import cloudpickle

    module, _, cls_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    error = EXAMPLES[name]()
    assert type(error) is cls
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, pickle.loads)):
        again = loads(dumps(error))
        assert type(again) is cls and str(again) == str(error) and again.args == error.args
        assert vars(again) == vars(error)
    if isinstance(error, ParameterError):
        assert again.for_flag("--train-fraction") == "--train-fraction 1.5: must lie in (0, 1)"


# ----------------------------------------------------------------------------- how a message shows values
def test_a_long_value_is_shortened_in_the_middle_with_its_length():
    from libtrad.core.errors import VALUE_LIMIT, shortened, shown

    hub_id = "org/" + "a" * 4990 + "-end"
    text = shown(hub_id)
    assert len(text) <= VALUE_LIMIT and text.startswith("'org/aaa") and text.endswith("aa-end'")
    assert "[5000 characters]" in text  # the quoted value: 4998 characters and its two quotes
    assert shortened("short") == "short" and shown(12) == "12"
    error = ParameterError("dataset", hub_id, "no such folder (and not a Hub id user/name)")
    assert len(error.for_flag("--dataset")) < 200 and error.for_flag("--dataset").endswith("user/name)")


def test_control_characters_are_escaped_never_printed():
    from libtrad.core.errors import one_line, printable, shown

    assert printable("notes\nfor me\x1b[31m.md") == "notes\\nfor me\\x1b[31m.md"
    assert shown("a\tb", quote=False) == "a\\tb"
    assert one_line("bad file\nname: reason") == "bad file name: reason"  # one line, whatever it holds


def test_one_line_keeps_a_short_line_whole_and_bounds_a_long_one():
    from libtrad.core.errors import LINE_LIMIT, one_line

    deep = "/tmp/" + "/".join(["folder"] * 25) + "/model.safetensors"  # ~190 characters: kept whole
    assert one_line(f"{deep}: does not match config.json") == f"{deep}: does not match config.json"
    long = one_line("--repo-id " + "x" * 5000 + ": bad; also " + "y" * 3000 + " and " + "z" * 210)
    assert len(long) <= LINE_LIMIT and long.startswith("--repo-id xxx") and ": bad; also yyy" in long


def test_a_write_that_found_no_room_names_its_file():
    import errno

    from libtrad.core.errors import disk_full, naming_file, write_failed

    arrow_like = OSError("IOError: [Errno 28] No space left on device. Detail: [errno 28] No space left on device")
    assert disk_full(OSError(errno.EFBIG, "File too large")) == "File too large"
    assert disk_full(arrow_like) == "No space left on device" and disk_full(ValueError("x")) is None
    named = naming_file(arrow_like, "/out/data/train-0.parquet")
    assert named.filename == "/out/data/train-0.parquet" and named.errno == errno.ENOSPC
    assert str(write_failed("/out/enc.py", OSError(errno.EDQUOT, "x"))) == (
        "/out/enc.py: cannot write it (Disk quota exceeded)"
    )
