# keyplane — build, run and test.
#
#   make run            private Postgres (unless DATABASE_URL is set) + dev master key, then `keyplane serve` and `keyplane gateway`
#   make test           private Postgres (unless KEYPLANE_TEST_DATABASE_URL or DATABASE_URL is set), then go test ./...
#   make bench          benchmarks against the private Postgres
#   make chaos          the chaos test for CHAOS_DURATION (default 2m), printing its figures
#   make lint           gofmt + go vet
#   make fuzz           every Fuzz* target for FUZZTIME each
#   make build          bin/keyplane
#   make compose-check  validate docker-compose.yml
#   make stop           stop the serve and gateway of `make run`, then the private Postgres
#   make db-url         print the private Postgres URL (starting it if needed)
#   make db-destroy     stop the private Postgres and delete its data
#   make clean          remove bin/

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO           ?= go
PKGS         ?= ./...
TEST_TIMEOUT ?= 20m
TESTFLAGS    ?=
BENCHFLAGS   ?=
FUZZTIME     ?= 30s
ARGS         ?=
# Where `make run` records the process ids of the serve and gateway it
# starts, for `make stop`.
RUN_DIR      ?= .data

# docker-compose (Debian's v1) if present, else the `docker compose` plugin.
COMPOSE ?= $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)

# Shell snippet: make sure KEYPLANE_TEST_DATABASE_URL is set and exported,
# starting the private cluster unless a URL was given.
define test_db
if [ -z "$${KEYPLANE_TEST_DATABASE_URL:-}" ]; then \
  if [ -n "$${DATABASE_URL:-}" ]; then KEYPLANE_TEST_DATABASE_URL="$$DATABASE_URL"; \
  else KEYPLANE_TEST_DATABASE_URL="$$(scripts/pg.sh start)"; fi; \
fi; \
export KEYPLANE_TEST_DATABASE_URL; \
echo "KEYPLANE_TEST_DATABASE_URL=$$KEYPLANE_TEST_DATABASE_URL" >&2;
endef

.PHONY: chaos
.PHONY: help run test bench lint fmt vet fuzz build compose-check stop db-url db-destroy clean

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

run:
	@if [ -z "$${DATABASE_URL:-}" ]; then DATABASE_URL="$$(scripts/pg.sh start)"; fi; \
	export DATABASE_URL; \
	if [ -z "$${KEYPLANE_MASTER_KEY:-}" ]; then KEYPLANE_MASTER_KEY="$$(scripts/master-key.sh)"; fi; \
	export KEYPLANE_MASTER_KEY; \
	echo "DATABASE_URL=$$DATABASE_URL" >&2; \
	if [ -z "$${KEYPLANE_GATEWAY_TARGETS_ALLOW+set}" ]; then \
		KEYPLANE_GATEWAY_TARGETS_ALLOW=127.0.0.0/8,::1,localhost; \
		echo "development setup: gateway targets may be on loopback (KEYPLANE_GATEWAY_TARGETS_ALLOW=$$KEYPLANE_GATEWAY_TARGETS_ALLOW)" >&2; \
	fi; \
	export KEYPLANE_GATEWAY_TARGETS_ALLOW; \
	$(GO) build -o bin/keyplane ./cmd/keyplane; \
	mkdir -p "$(RUN_DIR)"; \
	bin/keyplane gateway & gateway=$$!; echo $$gateway > "$(RUN_DIR)/gateway.pid"; \
	bin/keyplane serve $(ARGS) & serve=$$!; echo $$serve > "$(RUN_DIR)/serve.pid"; \
	trap 'kill -TERM $$serve $$gateway 2>/dev/null || true' INT TERM; \
	trap 'kill -TERM $$serve $$gateway 2>/dev/null || true; wait $$serve $$gateway 2>/dev/null || true; rm -f "$(RUN_DIR)/serve.pid" "$(RUN_DIR)/gateway.pid"' EXIT; \
	rc=0; wait $$serve || rc=$$?; \
	if [ $$rc -gt 128 ]; then rc=0; wait $$serve || rc=$$?; fi; \
	exit $$rc

test:
	@$(test_db) \
	echo "$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) $(PKGS)" >&2; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) $(PKGS)

# cmd/keyplane-bench on the private Postgres (or DATABASE_URL): it builds
# keyplane, serves a fresh database keyplane_bench with it, loads the data
# set, times every operation against raw pgx on the same database, prints
# the table and writes bench.json. BENCHFLAGS passes flags, such as
# BENCHFLAGS='-keystores 100 -duration 2s'; see go run ./cmd/keyplane-bench -h.
# It ends by comparing `keyplane gateway` with nginx (found, or installed
# with apt-get as root) in front of one mTLS backend, 64 connections;
# BENCHFLAGS='-only gateway' runs that part alone, in about a minute, and
# replaces only its section of bench.json (-proxy-duration, -proxy-warmup,
# -proxy-rounds, -proxy-connections, -nginx tune it; -idle-connections -1
# skips the idle-connection memory). Last comes the gateway runtime at scale
# (-runtime-envs 1000, measured at 100 then 1,000 environments × 10 proxies;
# -runtime-envs 100 for a quick run, -1 to skip; -only runtime alone).
# BENCHFLAGS='-only reads -keystores 20 -aliases 20 -references 20' times
# the three API reads next to GET /healthz alone, in under a minute, and
# writes a report only where -out says (never bench.json).
bench:
	@$(test_db) \
	DATABASE_URL="$$KEYPLANE_TEST_DATABASE_URL" $(GO) run ./cmd/keyplane-bench $(BENCHFLAGS)

# The chaos test (internal/chaos): three servers and a gateway on a private
# cluster of its own, a deployment storm, servers killed with SIGKILL,
# PostgreSQL restarted twice and certificates rotated under gateway load,
# for CHAOS_DURATION; it prints its figures and fails if an operation is
# lost or run twice or a gateway request fails outside an outage. make test
# runs it for 40 seconds.
CHAOS_DURATION ?= 2m
chaos:
	@$(test_db) \
	KEYPLANE_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -count=1 -timeout 30m -run '^TestChaos$$' -v ./internal/chaos

lint: fmt vet

fmt:
	@files="$$(find . -path ./.data -prune -o -path ./bin -prune -o -path ./.git -prune -o -name '*.go' -print)"; \
	bad="$$( [ -z "$$files" ] || gofmt -l $$files )"; \
	if [ -n "$$bad" ]; then echo "gofmt needed on:" >&2; echo "$$bad" >&2; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Runs every Fuzz* function (found with `go test -list '^Fuzz'`) for FUZZTIME.
fuzz:
	@$(test_db) \
	list="$$($(GO) test -list '^Fuzz' $(PKGS) | awk '/^Fuzz/ {n[++c]=$$1; next} /^ok/ {for (i=1;i<=c;i++) print $$2, n[i]} {c=0}')"; \
	if [ -z "$$list" ]; then echo "no Fuzz targets found" >&2; exit 0; fi; \
	while read -r pkg fn; do \
	  echo "==> fuzz $$pkg $$fn for $(FUZZTIME)" >&2; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s "$$pkg"; \
	done <<< "$$list"

build:
	$(GO) build -o bin/keyplane ./cmd/keyplane

# Validates docker-compose.yml with dummy values for the required variables,
# and checks that leaving them out is refused (an empty env file stands in for
# any local .env).
compose-check:
	@envf="$$(mktemp)"; trap 'rm -f "$$envf"' EXIT; \
	echo "$(COMPOSE) -f docker-compose.yml config -q  (with dummy KEYPLANE_MASTER_KEY, KEYPLANE_BOOTSTRAP_TOKEN)" >&2; \
	KEYPLANE_MASTER_KEY=dummy-master-key KEYPLANE_BOOTSTRAP_TOKEN=dummy-token \
	  $(COMPOSE) --env-file "$$envf" -f docker-compose.yml config -q; \
	if env -u KEYPLANE_MASTER_KEY -u KEYPLANE_BOOTSTRAP_TOKEN \
	  $(COMPOSE) --env-file "$$envf" -f docker-compose.yml config -q >/dev/null 2>&1; then \
	  echo "docker-compose.yml must refuse to run without KEYPLANE_MASTER_KEY and KEYPLANE_BOOTSTRAP_TOKEN" >&2; exit 1; \
	fi; \
	echo "docker-compose.yml OK" >&2

# Stops the serve and gateway that `make run` recorded in RUN_DIR (only if
# they still run this checkout's bin/keyplane), waits for them to exit, then
# stops the private Postgres.
stop:
	@for name in gateway serve; do \
	  f="$(RUN_DIR)/$$name.pid"; [ -f "$$f" ] || continue; pid=$$(cat "$$f"); \
	  if [ "$$(readlink "/proc/$$pid/exe" 2>/dev/null)" = "$$(pwd -P)/bin/keyplane" ]; then \
	    echo "stopping keyplane $$name (pid $$pid)" >&2; kill -TERM "$$pid"; \
	    for i in $$(seq 1 100); do [ -d "/proc/$$pid" ] || break; sleep 0.1; done; \
	  fi; \
	  rm -f "$$f"; \
	done
	scripts/pg.sh stop

db-url:
	@scripts/pg.sh start

db-destroy:
	scripts/pg.sh destroy

clean:
	rm -rf bin
