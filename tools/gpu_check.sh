#!/usr/bin/env bash
# gpu_check.sh: the one prepared check to run whenever a machine with an NVIDIA
# GPU is available (GPU time is scarce: the whole run stays well under 10 minutes).
#
#   tools/gpu_check.sh            build for sm_90 (GPU_ARCH overrides), then:
#     1. every CUDA test case in its own process with ENG_CUDA_SYNC=1 (a sync after every
#        kernel, so a fault names its kernel and cannot poison the other cases)
#     2. all CUDA cases in one process without the syncs
#     3. the GPU benchmarks: bench gpu (GEMM in fp32/tf32/bf16, the attention kernels), and
#        bench step --device cuda on bench-cpu.json and paper.json (bf16), each compared
#        with tools/reference/bench_step_torch.py on the same GPU when PyTorch is there,
#        and the paper step once more with the flash attention, and the bench-cpu
#        step in bf16-true
#     4. the one-rank NCCL check of the data-parallel code (tools/gpu_check_mpi.sh)
#     5. compute-sanitizer memcheck over the CUDA tests, racecheck over attention
#   and prints a table of pass/fail and times at the end.  Logs go to $LOG_DIR
#   (default build/gpu-check/).  Exit status 0 only when every step that ran passed.
#
# Environment: GPU_ARCH (default 90), JOBS (default 16), LOG_DIR, BUILD (default build),
# SKIP_BUILD=1 (use programs built elsewhere for this GPU, e.g. carried to the machine),
# SKIP="memcheck racecheck bench nccl" (any of these words: leave those steps out).
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
    tail -n "${TAIL:-5}" "$log" | cut -c1-160 | sed 's/^/   | /'
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

skipped() { case " ${SKIP:-} " in *" $1 "*) return 0 ;; esac; return 1; }

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

if [ "${SKIP_BUILD:-0}" = 1 ]; then
    skip "build (sm_$GPU_ARCH)" "SKIP_BUILD=1: using the programs already in $BUILD/"
else
    step "build (sm_$GPU_ARCH)" 420 make -j"$JOBS" GPU_ARCH="$GPU_ARCH" BUILD="$BUILD" all "$BUILD/test_all"
fi
if [ ! -x "$BUILD/test_all" ]; then
    echo "build failed: nothing to test"
else
    # Each CUDA case in its own process with ENG_CUDA_SYNC=1: a kernel fault leaves the
    # CUDA context unusable, so one bad kernel must not hide the results of the others.
    "$BUILD/test_all" -ltc -tc="cuda*" 2>/dev/null | grep -v '^\[doctest\]' | grep -v '^=*$' >"$LOG_DIR/cases.txt"
    ncase=$(wc -l <"$LOG_DIR/cases.txt")
    echo "== cuda tests, one process per case ($ncase cases, ENG_CUDA_SYNC=1)"
    pass=0; fails=""
    t0=$(date +%s.%N)
    i=0
    while IFS= read -r name; do
        i=$((i + 1))
        filter=$(printf '%s' "$name" | sed 's/,/?/g')  # doctest splits filters at commas
        log="$LOG_DIR/case_$i.log"
        if ENG_CUDA_SYNC=1 timeout --kill-after=5 90 "$BUILD/test_all" -tc="$filter" >"$log" 2>&1; then
            pass=$((pass + 1))
            grep -q "skipped: no CUDA device" "$log" && fails="$fails\n   SKIPPED(no GPU) $name"
        else
            fails="$fails\n   FAIL $name (log $log)"
            grep -E "ERROR|error|CHECK|what\(\)|fault|values: " "$log" | head -n 12 | cut -c1-220 | sed 's/^/      /'
        fi
    done <"$LOG_DIR/cases.txt"
    t1=$(date +%s.%N)
    [ -n "$fails" ] && printf "$fails\n"
    names+=("cuda tests, per case, ENG_CUDA_SYNC=1")
    if [ "$pass" -eq "$ncase" ] && [ "$ncase" -gt 0 ] && ! printf "$fails" | grep -q SKIPPED; then
        results+=("PASS $pass/$ncase")
    else
        results+=("FAIL $pass/$ncase passed"); failed=1
    fi
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')")

    step "cuda tests, one process" 180 "$BUILD/test_all" -tc="cuda*"
    require_gpu_ran

    # ---- benchmarks (issue 6): kernels against their rooflines, then the MaMA step
    # against PyTorch eager with bf16 autocast on the same GPU in the same run.
    # The torch script needs python3 with PyTorch; without it the step runs alone.
    if ! skipped bench; then
        TAIL=24 step "bench gpu (GEMM, attention)" 120 "$BUILD/bench" gpu --reps 10
        cmp=""
        python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null && cmp="--compare-torch"
        TAIL=30 step "bench step bench-cpu.json, bf16 $cmp" 180 "$BUILD/bench" step --device cuda \
            --config mama/configs/bench-cpu.json --steps 10 --warmup 3 $cmp
        TAIL=12 step "bench step bench-cpu.json, bf16-true" 90 "$BUILD/bench" step --device cuda \
            --config mama/configs/bench-cpu.json --steps 10 --warmup 3 --precision bf16-true
        TAIL=30 step "bench step paper.json, bf16 $cmp" 360 "$BUILD/bench" step --device cuda \
            --config mama/configs/paper.json --steps 3 --warmup 1 $cmp
        TAIL=14 step "bench step paper.json, bf16, flash attention" 240 "$BUILD/bench" step --device cuda \
            --config mama/configs/paper.json --steps 3 --warmup 1 --attention flash
    fi
fi

# ---- data parallel: the one-rank NCCL communicator check (issue 8) ----
if skipped nccl; then skip "NCCL one-rank check" "SKIP"; else step "NCCL one-rank check" 300 sh tools/gpu_check_mpi.sh; fi

# ---- sanitizers last: slow, and the results above matter more when time runs out
if [ -x "$BUILD/test_all" ]; then
    SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
    if [ -n "$SAN" ] && ! skipped memcheck; then
        # The allocator's out-of-memory case provokes cudaMalloc errors on purpose: API errors are not reported.
        step "compute-sanitizer memcheck" 150 "$SAN" --tool memcheck --leak-check no --report-api-errors no \
            --error-exitcode 9 "$BUILD/test_all" -tc="cuda*" -tce="cuda mama*"
    fi
    if [ -n "$SAN" ] && ! skipped racecheck; then
        step "compute-sanitizer racecheck (attention)" 120 "$SAN" --tool racecheck \
            --error-exitcode 9 "$BUILD/test_all" -tc="cuda attention*"
    fi
    [ -z "$SAN" ] && skip "compute-sanitizer" "not installed"
fi

echo
echo "== GPU check summary"
printf '%-42s %-26s %8s\n' "step" "result" "seconds"
for i in "${!names[@]}"; do
    printf '%-42s %-26s %8s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
exit $failed
