#!/usr/bin/env bash
# The one test command. It installs what the tests need (the pinned npm ASL validator), runs
# every check (formatting, lints, the ASL validator, the whole Rust test suite) and stops
# whatever it started. Run it from anywhere: `bash scripts/test.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "Installing the ASL validator (npm, pinned in tools/asl/package-lock.json)"
(cd tools/asl && npm ci --no-audit --no-fund --loglevel=error)
asl_validator=tools/asl/node_modules/.bin/asl-validator

step "Validating the state machines with asl-validator"
for definition in statemachine/*.asl.json; do
    "$asl_validator" --json-path "$definition"
done
# A validator that accepts everything proves nothing: it must refuse a broken definition.
if "$asl_validator" --silent --json-path tests/fixtures/asl/missing-transition.asl.json; then
    echo "asl-validator accepted tests/fixtures/asl/missing-transition.asl.json" >&2
    exit 1
fi

step "Checking formatting (cargo fmt)"
cargo fmt --all -- --check

step "Linting (cargo clippy)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Running the tests (cargo test)"
cargo test --workspace --locked
