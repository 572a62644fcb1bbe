// main.cpp: the entry point of build-mpi/test_mpi, the tests that need
// several ranks (make test-mpi runs it under mpirun -np 2; alone, it runs with
// one rank and the cases reduce to single-process checks).  MPI is started
// before the first case; the exit code is the same on every rank (failed if
// any rank failed) so that mpirun reports it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "tests/mpi/mpi_testing.h"

namespace {
std::shared_ptr<eng::nn::Communicator> g_world;
}

eng::nn::Communicator& mpitest::world() { return *g_world; }

int main(int argc, char** argv) {
    try {
        g_world = eng::nn::make_communicator(eng::Device::CPU);
    } catch (const std::exception& e) {
        std::cerr << "test_mpi: " << e.what() << "\n";
        return 1;
    }
    if (g_world->is_main()) std::cerr << "== test_mpi: " << g_world->world_size() << " rank(s), " << g_world->name() << "\n";
    doctest::Context ctx(argc, argv);
    if (!g_world->is_main()) ctx.setOption("minimal", true);  // one summary, from rank 0 (failures still print)
    int rc = ctx.run();
    if (ctx.shouldExit()) return rc;
    eng::Tensor failed = eng::from_ivector({rc != 0 ? 1 : 0}, {1});
    g_world->all_reduce_sum(failed);
    return failed.to_ivector()[0] != 0 ? 1 : 0;
}
