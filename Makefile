# harborguard — build, run, test, benchmark.
SHELL := /bin/bash
SWIFT ?= swift
PYTHON ?= python3
DATA_DIR ?= ./data
BIN_DEBUG := .build/debug/harborguard
BIN_RELEASE := .build/release/harborguard

.PHONY: all deps build run test test-swift test-e2e test-e2e-postgres release release-check bench fuzz soak clean screenshots deb image test-packages

all: build

# System packages the build and tests need (Debian). Skips apt when all are present.
deps:
	@bash scripts/install-deps.sh

build:
	$(SWIFT) build

run: deps build
	$(BIN_DEBUG) serve --data-dir $(DATA_DIR)

# Every test: Swift unit and router tests, then end-to-end tests on the real binary, then the
# end-to-end tests again with every server on PostgreSQL (tests marked sqlite_only skip). A
# throwaway PostgreSQL server (scripts/pg-test.sh, on 127.0.0.1) runs for the duration: the
# database tests run on it as well as on SQLite.
WITH_PG = set -e; eval "$$(bash scripts/pg-test.sh start)"; trap 'bash scripts/pg-test.sh stop "$$PG_TEST_DIR"' EXIT;
E2E_ON_POSTGRES = HARBORGUARD_E2E_DATABASE=postgres HARBORGUARD_BIN=$(BIN_DEBUG) $(PYTHON) -m pytest -q Tests/e2e \
	--deselect Tests/e2e/test_postgres_move.py --deselect Tests/e2e/test_ha_postgres.py \
	--deselect Tests/e2e/test_vulndb_release_postgres.py
# Suites that assert how long something takes (a notification within 1 s, a refused
# connection classified before its timeout, constant-time comparisons) run in a second pass of
# their own: beside the CPU-heavy suites on 2 cores they measured the machine, not the code.
TIMED_TESTS = PostgresInvalidationTests|ClientTests|OutgoingPolicyTests|HostileRegistryTests|ConstantTimeTests|CVEWatchTests|ExternalScannerTests
SWIFT_TESTS = $(SWIFT) test --skip '$(TIMED_TESTS)'; $(SWIFT) test --skip-build --filter '$(TIMED_TESTS)'
test: deps build
	@$(WITH_PG) \
	$(SWIFT_TESTS); \
	HARBORGUARD_BIN=$(BIN_DEBUG) $(PYTHON) -m pytest -q Tests/e2e; \
	$(E2E_ON_POSTGRES)

test-e2e-postgres: build
	@$(WITH_PG) $(E2E_ON_POSTGRES)

test-swift:
	@$(WITH_PG) $(SWIFT_TESTS)

test-e2e: build
	HARBORGUARD_BIN=$(BIN_DEBUG) $(PYTHON) -m pytest -q Tests/e2e

# One statically linked, stripped executable (glibc, sqlite, zlib, openssl linked in).
release:
	$(SWIFT) build -c release -Xswiftc -static-executable
	strip $(BIN_RELEASE)
	@ls -l $(BIN_RELEASE)

# The static binary is really static and serves a request.
release-check: release
	bash scripts/release-check.sh $(BIN_RELEASE)

bench:
	bash scripts/bench.sh

# PNGs of every console page (1280x800, and the overview at phone width) into docs/screenshots,
# taken by the console's browser test while it signs in, adds a registry, syncs, scans and triages.
screenshots: deps build
	rm -f docs/screenshots/*.png
	HARBORGUARD_SCREENSHOTS=docs/screenshots HARBORGUARD_BIN=$(BIN_DEBUG) $(PYTHON) -m pytest -q \
		Tests/e2e/test_console.py -k sign_in_add_registry
	HARBORGUARD_SCREENSHOTS=docs/screenshots HARBORGUARD_BIN=$(BIN_DEBUG) $(PYTHON) -m pytest -q \
		Tests/e2e/test_console_policies.py -k admin_creates
	@ls -l docs/screenshots

# The property-based fuzz suite for longer than `swift test` runs it: FUZZ_SCALE times the
# cases of each property, a fresh seed each run (printed; rerun with FUZZ_SEED=<seed>).
FUZZ_SCALE ?= 10
FUZZ_SEED ?= $(shell date +%s)
fuzz:
	HARBORGUARD_FUZZ_SCALE=$(FUZZ_SCALE) HARBORGUARD_FUZZ_SEED=$(FUZZ_SEED) $(SWIFT) test --filter FuzzTests

# wrk for 60 s at 64 connections on the list endpoints while scans run (not part of `make
# test`). Uses the debug binary unless HARBORGUARD_BIN names another (e.g. the release one).
HARBORGUARD_BIN ?= $(BIN_DEBUG)
soak: deps
	@if [ "$(HARBORGUARD_BIN)" = "$(BIN_DEBUG)" ]; then $(SWIFT) build; fi
	$(PYTHON) bench/soak.py --bin $(HARBORGUARD_BIN)

clean:
	rm -rf .build

# harborguard_<version>_amd64.deb in dist/ from the static release binary (checked with lintian
# when it is installed).
deb: release
	bash scripts/make-deb.sh $(BIN_RELEASE) dist
	@if command -v lintian >/dev/null; then lintian --no-tag-display-limit dist/harborguard_*_amd64.deb || true; fi

# An OCI image layout in dist/oci (scratch, the static binary, a CA bundle, user 65532, /data
# volume, port 8080), built without a container engine; push it with
#   skopeo copy oci:dist/oci:<version> docker://REGISTRY/harborguard:<version>
image: release
	$(PYTHON) scripts/make-image.py $(BIN_RELEASE) dist/oci

# The .deb's and the image's tests on the static release binary (a bookworm chroot; root): run by .ci/run after
# the release build, not by `make test` (which builds debug only). The image's test pushes
# it to a docker-registry with skopeo and runs its entrypoint in a chroot of its layer.
test-packages: release
	HARBORGUARD_RELEASE_BIN=$(BIN_RELEASE) $(PYTHON) -m pytest -q Tests/packages
