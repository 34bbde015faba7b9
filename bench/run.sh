#!/usr/bin/env bash
# Builds the release binary and runs every benchmark in this folder.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p portcullis-server --bin portcullis
python3 bench/roundtrip.py --binary target/release/portcullis -n "${N:-200}"
