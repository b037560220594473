# audio_assets: conveniences around the README's commands (`make demo`, `make test`, `make dev`).
# Configuration is not here: Dagster's CLI and audio-assets read the project's .env.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# A CPU build of PyTorch by default (a bare `torch` may pull a multi-GB CUDA build). On a GPU machine:
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0

# .env builds DAGSTER_HOME from $$PWD, which make does not update under `make -C`
export PWD := $(CURDIR)

BIN := $(VENV)/bin
# dg warns unless the project's venv is the active one
DG := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg
STAMP := $(VENV)/.installed

.PHONY: setup demo dev check-defs test test-fast lint bench bench-quality bench-tokenizers worker system-deps clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Register every speaker folder of AUDIO_ROOT (default: the bundled sample corpus) and materialise all.
demo: setup
	$(BIN)/audio-assets demo

# The UI and the daemon (sensors, backfills, run queue) on http://127.0.0.1:3000
dev: setup
	$(DG) dev -h 127.0.0.1 -p 3000

check-defs: setup
	$(DG) check defs

# A Celery worker (AUDIO_ASSETS_EXECUTOR=celery); QUEUES=gpu on GPU machines, dagster for the rest
QUEUES ?= gpu,dagster
worker: setup
	$(BIN)/celery -A audio_assets.execution.celery_app worker -Q $(QUEUES) --loglevel=INFO

test: setup system-deps
	$(BIN)/python -m pytest -q

# The quick tier: pure logic (merge, reuse, sensor planning, checks, keys, file names, WER), no model
test-fast: setup
	$(BIN)/python -m pytest -q -m fast

# Old way vs raw engine vs pipeline on a synthesised corpus (needs espeak-ng); BENCH_ARGS="--speakers 40"
bench: setup system-deps
	$(BIN)/python benchmarks/pipeline.py $(BENCH_ARGS)

# WER and files/s of each Whisper model × backend on real and synthesised speech; BENCH_ARGS="--prompts 0"
bench-quality: setup system-deps
	$(BIN)/python benchmarks/quality.py $(BENCH_ARGS)

# Cost of each tokeniser setting (BEST-RQ, EnCodec at each bandwidth) on 1 and 2 threads; BENCH_ARGS="--clips 80"
bench-tokenizers: setup system-deps
	$(BIN)/python benchmarks/tokenizers.py $(BENCH_ARGS)

lint: setup
	$(BIN)/ruff check audio_assets audio_assets_tests benchmarks
	$(BIN)/ruff format --check audio_assets audio_assets_tests benchmarks

# Debian packages the tests need: espeak-ng (test speech), real recorded prompts with transcripts in
# English and French (asterisk-core-sounds-*), lame (a real MP3), chromium (UI test), postgresql and
# redis-server (scale-out test); apt-get installs the missing ones (as root, or with sudo).
SYSTEM_PACKAGES := espeak-ng asterisk-core-sounds-en-wav asterisk-core-sounds-en asterisk-core-sounds-fr-wav \
	asterisk-core-sounds-fr lame chromium postgresql redis-server
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "please install: $$missing (apt-get install $$missing)" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

# the local instance's stored runs and tables (its dagster.yaml stays) and the results
clean:
	find .dagster_home -mindepth 1 -maxdepth 1 ! -name dagster.yaml -exec rm -rf {} +
	rm -rf results
