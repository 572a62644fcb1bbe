// stub.cpp: the CUDA layer of a build without nvcc (or with CUDA=0).
// Every entry point reports that CUDA support is missing; device_count() is 0
// so tests that need a GPU skip themselves.
#include <string>

#include "tensor/check.h"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

static const char* kNoCuda = "this build has no CUDA support: install the CUDA toolkit and rebuild";

bool built_with_cuda() { return false; }
int device_count() { return 0; }
bool is_available() { return false; }
std::string device_summary() { return "none (built without CUDA)"; }
void require_available(const char* what) { ENG_FAIL(what, ": ", kNoCuda); }

void* alloc(size_t) { ENG_FAIL("CUDA tensor requested: ", kNoCuda); }
void free(void*) {}
void copy_host_to_device(void*, const void*, size_t) { ENG_FAIL(kNoCuda); }
void copy_device_to_host(void*, const void*, size_t) { ENG_FAIL(kNoCuda); }
void copy_device_to_device(void*, const void*, size_t) { ENG_FAIL(kNoCuda); }
void synchronize() {}
void strided_copy(void*, const void*, int, const int64_t*, const int64_t*, int64_t, size_t) { ENG_FAIL(kNoCuda); }
void fill_f32(float*, float, int64_t) { ENG_FAIL(kNoCuda); }
void add_f32(float*, const float*, const float*, int64_t) { ENG_FAIL(kNoCuda); }

}  // namespace eng::cuda
