# Two commands do all the set-up on a fresh machine with python3.11 and make:
#   make run    the whole pipeline locally (kfp.local + Beam DirectRunner) on a generated sample
#   make test   the test suite
# Both build .venv from requirements.lock first (about 2 minutes, once).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock

# The sample `make run` uses: DATA=shop (generated) or a real set: amazon-giftcards,
# amazon2014-grocery, amazon2014-beauty, ciao, hm.
DATA ?= shop
SHARED ?= ../shared/data
USERS ?= 2000
ITEMS ?= 500
EVENTS ?= 100000
SEED ?= 7
EPOCHS ?= 8
RUN_ID := $(shell date -u +%Y%m%dT%H%M%SZ)

export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

# Images and pipeline YAML (`make compile`, `make docker`): the defaults are Images() in
# components/containers.py. TARGET=vertex compiles for Vertex AI Pipelines (no kfp-kubernetes section).
REGISTRY ?= ghcr.io/shoprec
TAG ?= 0.1.0
TARGET ?= kfp
# GPU=1: the trainer runs in the GPU image and requests gpu_count x gpu_type accelerators.
GPU ?= 0
ENGINE ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
# `make schedule`: the KFP API endpoint, a 6-field cron (seconds first, UTC) and run parameters,
# e.g. SCHEDULE_ARGS="--param raw_uri=gs://b/raw --param model_root=gs://b/models"
KFP_HOST ?= http://localhost:8888
CRON ?= 0 0 2 * * *
SCHEDULE_ARGS ?=

.PHONY: venv run test bench lint format compile docker schedule audit clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

data/shop/_meta.json: | $(STAMP)
	$(BIN)/python -m components.sources.generate --users $(USERS) --items $(ITEMS) \
		--events $(EVENTS) --seed $(SEED) --out data/shop

data/amazon-giftcards/users: | $(STAMP)
	$(BIN)/python -m components.sources.adapt amazon --src $(SHARED)/amazon2018-giftcards --out data/amazon-giftcards
data/amazon2014-grocery/users: | $(STAMP)
	$(BIN)/python -m components.sources.adapt amazon2014 --src $(SHARED)/amazon2014-grocery --out data/amazon2014-grocery
data/amazon2014-beauty/users: | $(STAMP)
	$(BIN)/python -m components.sources.adapt amazon2014 --src $(SHARED)/amazon2014-beauty --out data/amazon2014-beauty
data/ciao/users: | $(STAMP)
	$(BIN)/python -m components.sources.adapt ciao --src $(SHARED)/ciao --out data/ciao
data/hm/users: | $(STAMP)
	$(BIN)/python -m components.sources.adapt hm --src $(SHARED)/hm-sample --out data/hm

ifeq ($(DATA),shop)
RAW_READY := data/shop/_meta.json
else
RAW_READY := data/$(DATA)/users
endif

# The generated shop knows its own window (train until the history cut, evaluate on the next
# half of what follows); real data sets use ingest's default quantile cut-offs.
ifeq ($(DATA),shop)
CUTOFFS = $(shell $(BIN)/python -c 'import json; w = json.load(open("data/shop/_meta.json"))["world"]; print("--train-end", w["history_cut"], "--eval-end", w["eval_end"])' 2>/dev/null)
endif

# Pseudonymization key of local runs: created once, never committed (.gitignore: .secrets/).
# Keep it: a new key renames every user, and models trained on the old ids go cold. Only the
# run recipe sets it, so tests and benchmarks see raw ids.
PSEUDONYM_KEY := .secrets/pseudonym.key
$(PSEUDONYM_KEY):
	mkdir -p -m 700 $(@D)
	(umask 077 && python3 -c "import secrets; print(secrets.token_hex(32))" > $@)

run: $(STAMP) $(RAW_READY) $(PSEUDONYM_KEY)
	SHOPREC_PSEUDONYM_KEY_FILE=$(CURDIR)/$(PSEUDONYM_KEY) $(BIN)/python pipeline.py run --raw data/$(DATA) --model-root models/$(DATA) \
		--pipeline-root runs/$(DATA)/$(RUN_ID) --epochs $(EPOCHS) $(CUTOFFS)

# The report's browser test opens the page in Debian's Chromium: installed once, as root or
# through sudo (the machine reaches Debian's package registry).
BROWSER := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(BROWSER):
	$(SUDO) apt-get install -y --no-install-recommends chromium || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }

# TEST_WORKERS pytest-xdist processes (one per core here); a test file runs whole on one worker,
# so its module fixtures are built once. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: $(STAMP) $(BROWSER)
	$(BIN)/python -m pytest tests -q -p no:cacheprovider --durations=30 \
		$(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# Benchmarks write their figures to bench-results/ (latest.json + one file per run).
bench: $(STAMP)
	$(BIN)/python -m pytest tests/bench -m bench -q -p no:cacheprovider -s

# Supply chain: every pin of both locks against the PyPI advisory data (AUDIT_SERVICE=osv for
# OSV). --strict makes a package that cannot be looked up an error: without it pip-audit says
# "No known vulnerabilities found" and exits 0 when the service is unreachable (as on a machine
# that reaches only the package index). Accepted findings: AUDIT_IGNORE="ID ..." (reasons in
# README.md).
AUDIT_SERVICE ?= pypi
AUDIT_IGNORE ?=

audit: $(STAMP)
	$(BIN)/pip-audit --strict --no-deps --disable-pip --progress-spinner off \
		--vulnerability-service $(AUDIT_SERVICE) $(addprefix --ignore-vuln ,$(AUDIT_IGNORE)) \
		-r requirements.lock -r requirements-gpu.lock

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

compile: $(STAMP)
	$(BIN)/python pipeline.py compile --out build/pipeline.yaml \
		--registry $(REGISTRY) --tag $(TAG) --target $(TARGET) $(if $(filter 1,$(GPU)),--gpu)

docker:
	@test -n "$(ENGINE)" && $(ENGINE) info >/dev/null 2>&1 || \
		{ echo "make docker: no container engine answers here ('$(or $(ENGINE),docker/podman) info' failed); run it where docker or podman runs" >&2; exit 1; }
	$(ENGINE) build -f docker/cpu.Dockerfile -t $(REGISTRY)/shoprec-cpu:$(TAG) .
	$(ENGINE) build -f docker/gpu.Dockerfile -t $(REGISTRY)/shoprec-gpu:$(TAG) .

schedule: compile
	$(BIN)/python -m components.schedule --host $(KFP_HOST) --package build/pipeline.yaml \
		--cron "$(CRON)" $(SCHEDULE_ARGS)

clean:
	rm -rf runs build .pytest_cache
