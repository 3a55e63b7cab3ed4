#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) of the parsers that read what users
# hand us: the validator's JPEG/PNG header readers (validate_header), JSONPath (jsonpath),
# intrinsic functions (intrinsic) and whole ASL definitions (definition).
#
#   bash scripts/fuzz.sh [seconds-per-target] [target…]     (default: 600 s, every target)
#
# It installs the pinned cargo-fuzz into fuzz/target/tools, builds the targets in fuzz/ (its
# own workspace and target dir: the main build is never touched) and runs each target in turn
# for the given time. Plain stable Rust: no sanitizer by default, since the code under test is
# safe Rust; the checks that matter are the targets' own invariants plus overflow checks and
# debug assertions. FUZZ_SANITIZER=address adds AddressSanitizer, which needs
# RUSTC_BOOTSTRAP=1 on a stable toolchain (set here). Run it under `nice -n 19` beside other work.
#
# The committed seeds in fuzz/corpus/<target>/ are read, never written: what the fuzzer learns
# goes to fuzz/target/corpus/<target>/. A crash stops the run with its input saved under
# fuzz/artifacts/<target>/ and the command that replays it; copy the input into
# fuzz/corpus/<target>/ (which `cargo test` replays) and add a regression test named after what
# it found (crates/states/tests/fuzz.rs, functions/validate/tests/fuzz.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-600}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(validate_header jsonpath intrinsic definition)
fi

cargo_fuzz_version=0.13.2
tools=fuzz/target/tools
if [[ "$("$tools/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]]; then
    echo "==> Installing cargo-fuzz $cargo_fuzz_version (crates.io) into $tools" >&2
    cargo install --quiet --locked --version "$cargo_fuzz_version" --root "$tools" cargo-fuzz
fi
export PATH="$PWD/$tools/bin:$PATH"

sanitizer=${FUZZ_SANITIZER:-none}
if [[ $sanitizer != none ]]; then
    export RUSTC_BOOTSTRAP=1
fi
# Release code with overflow checks and debug assertions on; one set of flags for build and
# run, so `run` never rebuilds.
flags=(-O -a -s "$sanitizer" --target-dir fuzz/target)

declare -A max_len=([validate_header]=70000 [jsonpath]=4096 [intrinsic]=4096 [definition]=32768)

echo "==> Building the fuzz targets (sanitizer: $sanitizer)" >&2
build_start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "built in $((SECONDS - build_start)) s" >&2

summary=()
for target in "${targets[@]}"; do
    work=fuzz/target/corpus/$target
    mkdir -p "$work" "fuzz/artifacts/$target"
    echo "==> Fuzzing $target for $seconds s" >&2
    log=fuzz/target/$target.log
    status=0
    cargo fuzz run "${flags[@]}" "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len="${max_len[$target]:-4096}" \
        -dict="fuzz/dict/$target.dict" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | tee "$log" | grep -E '^(#[0-9]+ +(INITED|DONE)|==|SUMMARY|thread|stat::number_of_executed_units|stat::peak_rss_mb)' >&2 \
        || status=${PIPESTATUS[0]}
    if [[ $status -ne 0 ]]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $target failed; its input is in fuzz/artifacts/$target/ (full log: $log)" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    summary+=("$target: ${runs:-?} runs in $seconds s, coverage ${cov:-?} edges, corpus $(ls "$work" | wc -l) + $(ls "fuzz/corpus/$target" | wc -l) seeds")
done
printf '%s\n' "${summary[@]}"
