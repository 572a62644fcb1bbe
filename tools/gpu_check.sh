#!/usr/bin/env bash
# gpu_check.sh: the one prepared check to run whenever a machine with an NVIDIA
# GPU is available (GPU time is scarce: the whole run stays well under 10 minutes).
#
#   tools/gpu_check.sh            build for sm_90 (GPU_ARCH overrides), then:
#     1. the CUDA tests (build/test_all -tc="cuda*"), skipped nowhere on a GPU machine
#     2. the same with ENG_CUDA_SYNC=1 (a sync after every kernel: faults name their kernel)
#     3. compute-sanitizer memcheck over the CUDA tests, racecheck over attention (if installed)
#     4. the GPU GEMM benchmark (build/bench gemm --device cuda), when bench supports it
#   and prints a table of pass/fail and times at the end.  Logs go to $LOG_DIR
#   (default build/gpu-check/).  Exit status 0 only when every step that ran passed.
#
# Environment: GPU_ARCH (default 90), JOBS (default 16), LOG_DIR, BUILD (default build).
set -u
cd "$(dirname "$0")/.."

GPU_ARCH=${GPU_ARCH:-90}
JOBS=${JOBS:-16}
BUILD=${BUILD:-build}
LOG_DIR=${LOG_DIR:-$BUILD/gpu-check}
mkdir -p "$LOG_DIR"

names=()
results=()
times=()
failed=0

# step NAME TIMEOUT_S COMMAND...: runs the command with a time limit, logs it, records the outcome.
step() {
    local name=$1 limit=$2
    shift 2
    local log="$LOG_DIR/$(echo "$name" | tr -c 'A-Za-z0-9\n' '_').log"
    LAST_LOG=$log
    echo "== $name (limit ${limit}s, log $log)"
    local t0=$(date +%s.%N)
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    local rc=$?
    local t1=$(date +%s.%N)
    local dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    local res=PASS
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then res="TIMEOUT"; failed=1
    elif [ $rc -ne 0 ]; then res="FAIL($rc)"; failed=1; fi
    tail -n 5 "$log" | cut -c1-160 | sed 's/^/   | /'
    names+=("$name")
    results+=("$res")
    times+=("$dt")
}

# The tests print 'skipped: no CUDA device' when they cannot use the GPU: here that is a failure.
require_gpu_ran() {
    if grep -q "skipped: no CUDA device" "$LAST_LOG" 2>/dev/null; then
        echo "   !! the CUDA tests skipped themselves: no usable GPU was found"
        results[$((${#results[@]} - 1))]="FAIL(no GPU)"
        failed=1
    fi
}

skip() {
    echo "== $1: skipped ($2)"
    names+=("$1")
    results+=("skip: $2")
    times+=("-")
}

echo "== GPU check: $(date -u '+%Y-%m-%d %H:%M UTC'), GPU_ARCH=$GPU_ARCH"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/   GPU: /'
else
    echo "   nvidia-smi not found"
fi

step "build (sm_$GPU_ARCH)" 420 make -j"$JOBS" GPU_ARCH="$GPU_ARCH" BUILD="$BUILD" all "$BUILD/test_all"
if [ ! -x "$BUILD/test_all" ]; then
    echo "build failed: nothing to test"
else
    step "cuda tests" 180 "$BUILD/test_all" -tc="cuda*"
    require_gpu_ran
    step "cuda tests, ENG_CUDA_SYNC=1" 180 env ENG_CUDA_SYNC=1 "$BUILD/test_all" -tc="cuda*"
    require_gpu_ran

    SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
    if [ -n "$SAN" ]; then
        step "compute-sanitizer memcheck" 240 "$SAN" --tool memcheck --leak-check no --error-exitcode 9 \
            "$BUILD/test_all" -tc="cuda*"
        step "compute-sanitizer racecheck (attention)" 120 "$SAN" --tool racecheck --error-exitcode 9 \
            "$BUILD/test_all" -tc="cuda attention*"
    else
        skip "compute-sanitizer" "not installed"
    fi

    if [ -x "$BUILD/bench" ] && "$BUILD/bench" gemm --help 2>&1 | grep -q -- "--device"; then
        step "bench gemm --device cuda" 120 "$BUILD/bench" gemm --device cuda
    else
        skip "bench gemm --device cuda" "bench lacks --device"
    fi
fi

# ---- data parallel: the one-rank NCCL communicator check (issue 8) ----
step "NCCL one-rank check" 300 sh tools/gpu_check_mpi.sh

echo
echo "== GPU check summary"
printf '%-42s %-26s %8s\n' "step" "result" "seconds"
for i in "${!names[@]}"; do
    printf '%-42s %-26s %8s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
exit $failed
