#!/usr/bin/env bash
# Builds the release binaries and runs every benchmark in this folder (see README.md).
# BACKEND=sqlite|postgres (default postgres), CONCURRENCY (16), SECONDS (5), N (200).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p portcullis-server --bin portcullis -p portcullis-bench
target/release/portcullis-bench --binary target/release/portcullis \
  --backend "${BACKEND:-postgres}" --concurrency "${CONCURRENCY:-16}" --seconds "${SECONDS:-5}"
python3 bench/roundtrip.py --binary target/release/portcullis -n "${N:-200}"
