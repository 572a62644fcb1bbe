// mpi_testing.h: what the MPI tests share: the world communicator of the
// process (created in tests/mpi/main.cpp before any test runs).
#pragma once
#include "nn/comm.h"

namespace mpitest {
eng::nn::Communicator& world();
}  // namespace mpitest
