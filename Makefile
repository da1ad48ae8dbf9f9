# lytewatch — the two commands a newcomer needs are `make run` and `make test`; both do their own set-up.

PYTHON ?= python3
VENV ?= .venv
KAFKA_PORT ?= 9092
export KAFKA_PORT
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKACTL := deploy/kafka/kafkactl.sh
PYTEST_ARGS ?=

.PHONY: install system-packages kafka-up kafka-down kafka-status topics run test unit integration lint typecheck bench bench-peers failover fuzz-clinical chaos clean

## install: .venv with lytewatch (and its dev tools) and the Kafka jars
install: $(STAMP) deploy/kafka/lib/.complete

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lytewatch needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

deploy/kafka/lib/.complete: deploy/kafka/pom.xml
	$(KAFKACTL) fetch

## system-packages: Debian's prometheus and chromium, which the tests drive (needs root or sudo)
system-packages:
	@deploy/system-packages.sh

## kafka-up / kafka-down: the local single-node KRaft broker on 127.0.0.1:$(KAFKA_PORT)
kafka-up: deploy/kafka/lib/.complete
	$(KAFKACTL) start

kafka-down:
	$(KAFKACTL) stop

kafka-status:
	$(KAFKACTL) status

topics: install kafka-up
	LYTEWATCH_BROKER=kafka://127.0.0.1:$(KAFKA_PORT) $(BIN)/lytewatch topics create

## run: broker, topics, a worker, the dashboard and the demo feed; Ctrl-C stops them all
## (a broker already answering on KAFKA_PORT is used as it is, and left running afterwards)
run: install deploy/kafka/lib/.complete
	@trap 'true' INT TERM; \
	if python3 deploy/kafka/wait_ready.py --port $(KAFKA_PORT) --timeout 1 >/dev/null 2>&1; then \
	  echo "using the broker already answering on 127.0.0.1:$(KAFKA_PORT) (it is left running)"; ours=0; \
	else $(KAFKACTL) start || exit 1; ours=1; fi; \
	LYTEWATCH_BROKER=kafka://127.0.0.1:$(KAFKA_PORT) $(BIN)/lytewatch demo; status=$$?; \
	if [ $$ours -eq 1 ]; then $(KAFKACTL) stop; fi; exit $$status

## test: the whole suite (unit + integration + e2e) on a real broker, then ruff, mypy and the import contracts
test: install system-packages
	@status=0; \
	$(KAFKACTL) start || exit 1; \
	LYTEWATCH_TEST_KAFKA=127.0.0.1:$(KAFKA_PORT) $(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	echo "== ruff"; $(BIN)/ruff check . || status=1; \
	echo "== mypy"; $(BIN)/mypy || status=1; \
	echo "== import contracts"; $(BIN)/lint-imports --no-cache || status=1; \
	$(KAFKACTL) stop; \
	if [ $$status -eq 0 ]; then echo "make test: all passed"; else echo "make test: FAILED ($$status)"; fi; \
	exit $$status

unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: install kafka-up
	LYTEWATCH_TEST_KAFKA=127.0.0.1:$(KAFKA_PORT) $(BIN)/python -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

## lint: ruff, and the import contracts of pyproject.toml (alerts/ pure; codecs and feeds free of the worker)
lint:
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck:
	$(BIN)/mypy

## fuzz-clinical: the model-based test of the clinical rules, long (FUZZ_EXAMPLES examples; no broker needed)
FUZZ_EXAMPLES ?= 100000
fuzz-clinical: install
	LYTEWATCH_FUZZ_PROFILE=long LYTEWATCH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) nice $(BIN)/python -m pytest \
		tests/model -p no:cacheprovider -o timeout=0 -s -q $(PYTEST_ARGS)

## chaos: the chaos suite on private brokers (tests marked `chaos`; long, so not in `make test`); sizes by
## LYTEWATCH_CHAOS_EVENTS (100000), _KILLS (10), _BROKER_EVENTS (20000), _HOSTILE (20000)
chaos: install deploy/kafka/lib/.complete
	nice $(BIN)/python -m pytest tests/integration/test_chaos.py -m chaos -p no:cacheprovider -s -q $(PYTEST_ARGS)

## bench-peers: the Quix Streams peer's own virtualenv (.venv-quix; quixstreams pins an older pydantic than ours)
bench-peers: $(VENV)-quix/.installed

$(VENV)-quix/.installed: deploy/bench/quix-requirements.txt
	$(PYTHON) -m venv $(VENV)-quix
	$(VENV)-quix/bin/pip install --quiet -r deploy/bench/quix-requirements.txt
	@touch $@

bench: install bench-peers kafka-up
	LYTEWATCH_BROKER=kafka://127.0.0.1:$(KAFKA_PORT) $(BIN)/lytewatch bench --json bench.json

## failover: seconds from SIGKILL of one of two workers to the first alert from its partitions, with 0 and 1
## standby replicas (a benchmark: prints figures; the 2-worker tests are tests/integration/test_failover.py)
failover: install kafka-up
	LYTEWATCH_TEST_KAFKA=127.0.0.1:$(KAFKA_PORT) $(BIN)/python -m tests.bench.bench_failover --runs 3

clean: kafka-down
	rm -rf .run $(VENV) $(VENV)-quix deploy/kafka/lib build *.egg-info tests/support/oidc/node_modules
