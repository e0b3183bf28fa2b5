"""The device policy (libtrad.core.devices) with torch's CUDA availability patched: no GPU needed."""

from __future__ import annotations

import pytest
import torch

from libtrad.core.devices import (
    autocast,
    check_precision,
    default_batch_size,
    device_record,
    parse_device,
    resolve_device,
)
from libtrad.core.errors import ParameterError


@pytest.mark.parametrize(
    "text, kind, index",
    [
        ("auto", "auto", None),
        ("cpu", "cpu", None),
        ("CUDA", "cuda", None),
        ("cuda:3", "cuda", 3),
        (" cuda:0 ", "cuda", 0),
    ],
)
def test_parse(text, kind, index):
    spec = parse_device(text)
    assert (spec.kind, spec.index) == (kind, index)


@pytest.mark.parametrize("text", ["gpu", "cpu:1", "auto:0", "cuda:-1", "cuda:x", "", None, "mps"])
def test_parse_refuses_by_name(text):
    with pytest.raises(ParameterError, match="expected one of auto, cpu, cuda, cuda:N"):
        parse_device(text)


def test_auto_follows_cuda_availability(gpus):
    gpus(0)
    assert resolve_device("auto") == torch.device("cpu")
    gpus(2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1) and resolve_device("cpu") == torch.device("cpu")


def test_cuda_without_a_gpu_names_the_node_and_what_it_found(gpus):
    from libtrad.core.devices import node_name

    gpus(0)
    with pytest.raises(ParameterError) as exc:
        resolve_device("cuda")
    assert exc.value.for_flag("--device").startswith("--device 'cuda': node ") and node_name() in str(exc.value)
    assert "no CUDA" in str(exc.value)


def test_an_index_beyond_the_visible_gpus_is_refused(gpus):
    gpus(1)
    with pytest.raises(ParameterError, match=r"has 1 CUDA GPU\(s\) visible \(cuda:0\)"):
        resolve_device("cuda:7")


def test_precision_rules():
    assert check_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ParameterError, match="fp16 runs on CUDA only"):
        check_precision("fp16", torch.device("cpu"))
    assert check_precision("fp16", torch.device("cuda", 0)) == "fp16"
    with pytest.raises(ParameterError, match="expected one of fp32, bf16, fp16"):
        check_precision("int8")


def test_autocast_and_batch_defaults_and_provenance():
    x = torch.ones(4, 4)
    with autocast(torch.device("cpu"), "bf16"):
        assert (x @ x).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert (x @ x).dtype == torch.float32
    assert default_batch_size(torch.device("cpu")) < default_batch_size(torch.device("cuda", 0))
    record = device_record(torch.device("cpu"), "bf16")
    assert record["device"] == "cpu" and record["precision"] == "bf16" and record["torch"] == torch.__version__
    assert "cuda" in record and record["device_name"]
