#!/bin/sh
# gpu_check_mpi.sh: the NCCL check of issue 8 on a machine with a GPU.
# Builds the MPI test binary with NCCL (make MPI=1, CUDA on, into build-mpi/)
# and runs its NCCL case as ONE rank: NCCL all-reduce (sum, mean), all-gather,
# broadcast and the bucketed gradient averaging on CUDA tensors must equal the
# MPI/CPU (single-process) results.  Without mpirun it makes a one-rank NCCL
# clique itself; with Open MPI's mpirun present it also runs under mpirun -np 1.
# Exit status: 0 passed (or skipped because Open MPI is not installed), 1 failed.
set -eu
cd "$(dirname "$0")/.."
if ! command -v mpicc >/dev/null 2>&1; then
    echo "gpu_check_mpi: SKIPPED: Open MPI is not installed (apt-get install libopenmpi-dev openmpi-bin)"
    exit 0
fi
if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x build-mpi/test_mpi ]; then
    echo "gpu_check_mpi: SKIP_BUILD=1: using build-mpi/test_mpi as it is"
else
    make -j"$(nproc)" MPI=1 build-mpi/test_mpi
fi
out=$(build-mpi/test_mpi -tc="nccl*" 2>&1) || { echo "$out"; echo "gpu_check_mpi: FAILED"; exit 1; }
echo "$out"
case "$out" in
    *"NCCL communicator:"*) ;;
    *) echo "gpu_check_mpi: FAILED: the NCCL case skipped (no GPU seen, or the build has no NCCL)"; exit 1 ;;
esac
if command -v mpirun >/dev/null 2>&1; then
    root=""; [ "$(id -u)" = 0 ] && root="--allow-run-as-root"
    mpirun $root -np 1 build-mpi/test_mpi -tc="nccl*" || { echo "gpu_check_mpi: FAILED under mpirun -np 1"; exit 1; }
fi
echo "gpu_check_mpi: PASSED"
