# Portcullis developer entry points. `make run` and `make test` are the two commands the
# README promises work on a fresh machine.
SHELL := /bin/bash
CARGO ?= cargo
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432

.PHONY: run test lint fmt bench ci

## Run the server on the embedded SQLite default (data in ./data), release build.
run:
	$(CARGO) run --release -p portcullis-server --bin portcullis -- serve

## Unit, store conformance (SQLite and Postgres) and end-to-end tests.
test:
	@if ! (exec 3<>/dev/tcp/$(PG_HOST)/$(PG_PORT)) 2>/dev/null; then \
	  if [ "$${CI:-}" = "true" ]; then \
	    echo "make test: Postgres is not reachable on $(PG_HOST):$(PG_PORT) and CI=true: failing" >&2; exit 1; \
	  fi; \
	  echo "make test: NOTE Postgres is not reachable on $(PG_HOST):$(PG_PORT): every Postgres-backed test will print SKIPPED and not run" >&2; \
	fi
	@# The e2e tests drive the real binary; nextest builds test targets only.
	$(CARGO) build -p portcullis-server --bin portcullis
	$(CARGO) nextest run --workspace --all-targets --no-fail-fast

## Formatting and clippy, as CI runs them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Load benchmarks against a release build (see bench/README.md).
bench:
	bash bench/run.sh

ci: lint test
