#!/usr/bin/env bash
# Builds the release binaries and runs every benchmark in this folder (see README.md).
# BACKEND=sqlite|postgres (default postgres), CONCURRENCY (16), BENCH_SECONDS (5), N (200).
# (BENCH_SECONDS, not SECONDS: bash sets SECONDS itself, to the shell's age.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p portcullis-server -p portcullis-bench --bin portcullis --bin portcullis-bench
target/release/portcullis-bench --binary target/release/portcullis \
  --backend "${BACKEND:-postgres}" --concurrency "${CONCURRENCY:-16}" --seconds "${BENCH_SECONDS:-5}"
# Refresh again for a client registered with ES256 ID tokens: RS256 (the OIDC default)
# spends most of a refresh on the RSA signature.
target/release/portcullis-bench --binary target/release/portcullis --scenario refresh \
  --id-token-alg ES256 \
  --backend "${BACKEND:-postgres}" --concurrency "${CONCURRENCY:-16}" --seconds "${BENCH_SECONDS:-5}"
python3 bench/roundtrip.py --binary target/release/portcullis -n "${N:-200}"
