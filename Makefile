# Two commands do all the set-up on a fresh machine with python3.11 and make:
#   make run    the whole pipeline locally (kfp.local + Beam DirectRunner) on a generated sample
#   make test   the test suite
# Both build .venv from requirements.lock first (about 2 minutes, once).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock

# The sample `make run` uses: DATA=shop (generated) or a real set: amazon-giftcards, ciao, hm.
DATA ?= shop
SHARED ?= ../shared/data
USERS ?= 2000
ITEMS ?= 500
EVENTS ?= 100000
SEED ?= 7
EPOCHS ?= 3
RUN_ID := $(shell date -u +%Y%m%dT%H%M%SZ)

export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv run test bench lint format compile docker clean

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
data/ciao/users: | $(STAMP)
	$(BIN)/python -m components.sources.adapt ciao --src $(SHARED)/ciao --out data/ciao
data/hm/users: | $(STAMP)
	$(BIN)/python -m components.sources.adapt hm --src $(SHARED)/hm-sample --out data/hm

ifeq ($(DATA),shop)
RAW_READY := data/shop/_meta.json
else
RAW_READY := data/$(DATA)/users
endif

run: $(STAMP) $(RAW_READY)
	$(BIN)/python pipeline.py run --raw data/$(DATA) --model-root models/$(DATA) \
		--pipeline-root runs/$(DATA)/$(RUN_ID) --epochs $(EPOCHS)

test: $(STAMP)
	$(BIN)/python -m pytest tests -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m pytest tests/bench -m bench -q -p no:cacheprovider -s

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

compile: $(STAMP)
	$(BIN)/python pipeline.py compile --out build/pipeline.yaml

docker:
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || \
		{ echo "make docker: no container engine answers here (docker info failed)"; exit 1; }
	docker build -f docker/cpu.Dockerfile -t shoprec-cpu:latest .
	docker build -f docker/gpu.Dockerfile -t shoprec-gpu:latest .

clean:
	rm -rf runs build .pytest_cache
