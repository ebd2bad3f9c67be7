#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted bytes, on the stable toolchain
# (cargo-fuzz with --sanitizer none; why: docs/reliability.md, "Fuzzing").
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  how long each target runs (default 600); CI runs 30.
#   TARGET...           some of the targets in fuzz/Cargo.toml (default: all of them).
# Environment:
#   FUZZ_RUNS=N         also stop a target after N executions (the recorded campaign: 10000000),
#                       SECONDS_PER_TARGET still caps it.
#   FUZZ_CORPUS=DIR     the working corpus, outside git (default fuzz/corpus); it grows run by
#                       run and is read together with the committed seeds (fuzz/seeds).
#   FUZZ_TARGET_DIR=DIR cargo's target directory for the fuzz build (default
#                       ~/.cache/userstream/fuzz-target, outside the clone, so CI and every
#                       checkout on a machine share one build and rebuild only what changed).
#   FUZZ_CODEGEN_UNITS  codegen units for the build (default 16: a build several times faster
#                       for fuzzing a little slower; 1 for the fastest binaries).
#
# Builds every target once, runs them one after the other (one job at a time), prints per
# target: executions, exec/s, coverage (libFuzzer's cov and ft), corpus size, crashes. Exits
# non-zero if any target crashed (a panic, a failed assertion, a timeout of 10 s for one input,
# or more than 2 GiB of memory), leaving the input in fuzz/artifacts/TARGET/ and printing the
# command that reproduces it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-600}
shift || true
[[ $seconds =~ ^[0-9]+$ ]] && ((seconds > 0)) || { echo "error: SECONDS_PER_TARGET must be a positive integer" >&2; exit 2; }
runs=${FUZZ_RUNS:-0}
corpus_root=${FUZZ_CORPUS:-$root/fuzz/corpus}
target_dir=${FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/userstream/fuzz-target}
codegen_units=${FUZZ_CODEGEN_UNITS:-16}

# What the build needs: a C++ compiler for libFuzzer itself, and cargo-fuzz.
command -v cargo >/dev/null 2>&1 || { echo "error: cargo (Rust stable) is required: https://rustup.rs" >&2; exit 1; }
if ! command -v c++ >/dev/null 2>&1; then
    echo "installing: g++"
    apt-get update -qq && apt-get install -y -qq g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing: cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

mapfile -t all_targets < <(cd fuzz && cargo fuzz list)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
    printf '%s\n' "${all_targets[@]}" | grep -qx -- "$target" || { echo "error: no fuzz target '$target' (have: ${all_targets[*]})" >&2; exit 2; }
done

echo "fuzz: building ${#all_targets[@]} targets (cargo fuzz build --sanitizer none, stable)"
start=$SECONDS
(cd fuzz && cargo fuzz build --sanitizer none --codegen-units "$codegen_units" --target-dir "$target_dir")
echo "fuzz: built in $((SECONDS - start)) s"
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"

summary=()
crashed=()
for target in "${targets[@]}"; do
    corpus="$corpus_root/$target"
    artifacts="$root/fuzz/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="$artifacts/last-run.log"
    args=(
        -artifact_prefix="$artifacts/"
        -max_total_time="$seconds"
        -timeout=10
        -rss_limit_mb=2048
        -print_final_stats=1
    )
    ((runs > 0)) && args+=(-runs="$runs")
    echo "fuzz: $target for up to $seconds s${FUZZ_RUNS:+ or $runs executions}"
    touch "$artifacts/.started"
    status=0
    "$bin_dir/$target" "${args[@]}" "$corpus" "$root/fuzz/seeds/$target" >"$log" 2>&1 || status=$?
    # The last status line (DONE, or the last pulse before a crash) and the final stats.
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
    execs=$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]*([0-9]+)/\1/p' "$log")
    rate=$(sed -nE 's/^stat::average_exec_per_sec:[[:space:]]*([0-9]+)/\1/p' "$log")
    rss=$(sed -nE 's/^stat::peak_rss_mb:[[:space:]]*([0-9]+)/\1/p' "$log")
    execs=${execs:-$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")}
    mapfile -t inputs < <(find "$artifacts" -maxdepth 1 -type f ! -name '*.log' ! -name '.started' -newer "$artifacts/.started")
    crashes=${#inputs[@]}
    if ((status != 0)) && ((crashes == 0)); then crashes=1; fi
    line="| $target | ${execs:-?} | ${rate:-?} | ${cov:-?} / ${ft:-?} | ${corp:-?} | ${rss:-?} MB | $crashes |"
    summary+=("$line")
    if ((crashes > 0)); then
        crashed+=("$target")
        echo "fuzz: $target CRASHED (exit $status); log: $log"
        grep -E -A12 "panicked at|ERROR: libFuzzer|==[0-9]+== ERROR" "$log" | head -n 40 || tail -n 40 "$log"
        for input in "${inputs[@]}"; do
            echo "fuzz: input kept at $input"
            echo "fuzz: reproduce with: (cd fuzz && cargo fuzz run --sanitizer none $target ${input#"$root/fuzz/"})"
        done
    else
        echo "fuzz: $target ok: ${execs:-?} executions, ${rate:-?}/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    fi
done

echo
echo "| target | executions | exec/s | cov / ft | corpus (units/bytes) | peak RSS | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${summary[@]}"
if ((${#crashed[@]})); then
    echo "fuzz: crashes in: ${crashed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crashes"
