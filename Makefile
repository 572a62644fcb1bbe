# Makefile: builds the engine library, the programs and the test suite into build/.
#
#   make              library + programs (CUDA backend when nvcc is found)
#   make test         build and run the doctest suite
#   make CUDA=0       force the CPU-only build (the cuda/ stub is linked)
#   make DEBUG=1      -O1 -g with AddressSanitizer and UBSan, into build-debug/
#   make deps         install missing Debian packages (or print the command)
#   make GPU_ARCH=80  compile the CUDA code for another architecture
#   make demo         synthetic data -> pretraining -> evaluation (tools/demo.sh)
#   make clean

CXX      ?= g++
BUILD    ?= build
DEBUG    ?= 0
GPU_ARCH ?= 90

# Idle OpenMP threads spin briefly, then sleep.  The kernels run many short
# parallel regions back to back: threads that sleep at once (OMP_WAIT_POLICY=
# PASSIVE) pay a wake-up at each, 13 % of the demo's pretraining speed on 2
# idle cores; libgomp's default spin (300000 rounds, milliseconds) steals the
# cores of the data loader's threads and of other processes (on 2 cores beside
# one busy process it trained at 0.6x the passive speed).  1000 rounds (tens of
# microseconds) keeps nearly all of the first and 0.95x of the second
# (BENCHMARKS.md, session 14).  Set GOMP_SPINCOUNT or OMP_WAIT_POLICY yourself
# to override.  libgomp lets a GOMP_SPINCOUNT override OMP_WAIT_POLICY's spin,
# so the count is set only when you have not chosen a policy.
ifeq ($(origin OMP_WAIT_POLICY),undefined)
GOMP_SPINCOUNT ?= 1000
export GOMP_SPINCOUNT
endif

CXXFLAGS := -std=c++17 -Wall -Wextra -fopenmp -I. -MMD -MP
LDFLAGS  := -fopenmp
LDLIBS   := -lstb
ifeq ($(DEBUG),1)
  BUILD    := build-debug
  CXXFLAGS += -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -march=x86-64-v3
  LDFLAGS  += -fsanitize=address,undefined
else
  CXXFLAGS += -O3 -march=x86-64-v3 -DNDEBUG
endif

# ---- CUDA detection: on when nvcc exists, unless CUDA=0 ----------------------
NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifeq ($(NVCC),)
  CUDA ?= 0
else
  CUDA ?= 1
endif
ifeq ($(CUDA),1)
  ifeq ($(NVCC),)
    $(error CUDA=1 but nvcc was not found: install the CUDA toolkit or build with CUDA=0)
  endif
  # nvcc may be a wrapper script (e.g. /usr/local/bin/nvcc), so ask nvcc itself
  # where its toolkit lives instead of guessing from its path.
  ifeq ($(CUDA_HOME),)
    CUDA_HOME := $(realpath $(shell $(NVCC) --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^\#\$$ TOP=//p'))
  endif
  ifeq ($(wildcard $(CUDA_HOME)/lib64/libcudart_static.a),)
    $(error nvcc found at $(NVCC) but no CUDA libraries under '$(CUDA_HOME)/lib64': set CUDA_HOME=/path/to/cuda or build with CUDA=0)
  endif
  NVCC_VER    := $(shell $(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
  NVCCFLAGS   := -std=c++17 -O3 -I. --expt-relaxed-constexpr -MMD -MP \
                 -gencode arch=compute_$(GPU_ARCH),code=[sm_$(GPU_ARCH),compute_$(GPU_ARCH)] \
                 -DENG_GPU_ARCH=$(shell echo '$(GPU_ARCH)' | sed 's/[^0-9].*//') \
                 -Xcompiler -fPIC,-Wall
  ifeq ($(DEBUG),1)
    NVCCFLAGS += -g -lineinfo
  endif
  CXXFLAGS    += -DENG_CUDA=1 -I$(CUDA_HOME)/include
  LDLIBS      += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart_static -ldl -lrt -lpthread
  CUDA_SRCS   := $(wildcard cuda/*.cu) $(filter-out cuda/stub.cpp,$(wildcard cuda/*.cpp))
else
  CUDA_SRCS   := cuda/stub.cpp
endif

# ---- MPI and NCCL (optional): make MPI=1 --------------------------------------
# Data-parallel training (mpirun -np N build-mpi/pretrain ...).  Flags come from
# Open MPI's compiler wrapper (mpicc --showme); for another MPI give MPI_CFLAGS
# and MPI_LIBS yourself.  NCCL is used when CUDA is on and nccl.h is found.
# The objects differ from the plain build's, so they go to build-mpi/ (or
# build-debug-mpi/) unless BUILD is given.
MPI ?= 0
ifeq ($(MPI),1)
  MPICC := $(shell command -v mpicc 2>/dev/null)
  ifeq ($(MPI_CFLAGS)$(MPI_LIBS),)
    ifeq ($(MPICC),)
      $(error MPI=1 but mpicc was not found: install Open MPI (apt-get install libopenmpi-dev openmpi-bin), or give MPI_CFLAGS and MPI_LIBS)
    endif
    MPI_CFLAGS := $(shell $(MPICC) --showme:compile)
    MPI_LIBS   := $(shell $(MPICC) --showme:link)
    MPI_VER    := $(shell $(MPICC) --showme:version 2>&1 | awk '{print $$2, $$3, $$4}')
  endif
  ifneq ($(filter file,$(origin BUILD)),)
    BUILD := $(BUILD)-mpi
  endif
  CXXFLAGS += -DENG_MPI=1 $(MPI_CFLAGS)
  LDLIBS   += $(MPI_LIBS)
  ifeq ($(CUDA),1)
    NCCL_H := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
    ifneq ($(NCCL_H),)
      NCCL_VER := $(shell awk '/define NCCL_(MAJOR|MINOR|PATCH) /{print $$3}' $(NCCL_H) | paste -sd.)
      CXXFLAGS += -DENG_NCCL=1
      LDLIBS   += -lnccl
    endif
  endif
endif

# ---- sources -----------------------------------------------------------------
LIB_SRCS  := $(wildcard tensor/*.cpp tensor/cpu/*.cpp autograd/*.cpp nn/*.cpp mama/*.cpp) $(CUDA_SRCS)
LIB_OBJS  := $(patsubst %,$(BUILD)/obj/%.o,$(LIB_SRCS))
TOOL_SRCS := $(wildcard tools/*.cpp)
PROGRAMS  := $(patsubst tools/%.cpp,$(BUILD)/%,$(TOOL_SRCS))
TEST_SRCS := $(filter-out tests/mpi/%,$(wildcard tests/*.cpp tests/*/*.cpp))
MPI_TEST_SRCS := $(wildcard tests/mpi/*.cpp)
TEST_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(TEST_SRCS))
LIB       := $(BUILD)/libengine.a
DEPS_OK   := $(BUILD)/.deps-ok

# Keep the programs' object files (make would delete them as intermediates).
.SECONDARY:

# Every object depends on a file holding the compile settings, rewritten only
# when they change (e.g. CUDA=0 after a CUDA build in the same folder, or
# another GPU_ARCH): then the whole folder is rebuilt instead of mixing objects
# of both.  A folder built before this file existed gets one dated 1970, so its
# objects are trusted once.  (The rule always runs, so `make -q` and `make -n`
# report every object as out of date.)  Link flags follow the compile flags
# (-DENG_CUDA, -DENG_MPI, -DENG_NCCL), so they are not part of it.
BUILD_SETTINGS := $(CXX) $(CXXFLAGS)$(if $(filter 1,$(CUDA)), | $(NVCC) $(NVCCFLAGS))
SETTINGS := $(BUILD)/.settings
$(SETTINGS): FORCE
	@mkdir -p $(BUILD)
	@if [ ! -f $@ ]; then printf '%s\n' '$(BUILD_SETTINGS)' > $@ && touch -d @0 $@; \
	 elif [ "$$(cat $@)" != '$(BUILD_SETTINGS)' ]; then \
	   echo "== the build settings differ from those $(BUILD)/ was built with: rebuilding it"; \
	   printf '%s\n' '$(BUILD_SETTINGS)' > $@; fi
.PHONY: FORCE
FORCE:

.PHONY: all test deps clean banner demo
all: banner $(LIB) $(PROGRAMS)

banner:
	@echo "== build: $(CXX) $$($(CXX) -dumpversion), OpenMP on, DEBUG=$(DEBUG), into $(BUILD)/"
	@if [ "$(CUDA)" = 1 ]; then echo "== CUDA: on  (nvcc $(NVCC_VER) at $(NVCC), toolkit $(CUDA_HOME), sm_$(GPU_ARCH) + PTX)"; \
	 else echo "== CUDA: off (stub linked$(if $(NVCC),; CUDA=0 given,; nvcc not found))"; fi
	@if [ "$(MPI)" = 1 ]; then echo "== MPI: on  ($(or $(MPI_VER),MPI_CFLAGS/MPI_LIBS given)), NCCL: $(if $(NCCL_VER),on ($(NCCL_VER)),off ($(if $(filter 1,$(CUDA)),nccl.h not found,CUDA off)))"; \
	 else echo "== MPI: off (make MPI=1 for multi-process training with mpirun)"; fi

# The dependency check runs once per build directory; `make deps` forces it.
$(DEPS_OK):
	@sh tools/check_deps.sh
	@mkdir -p $(BUILD) && touch $@
deps:
	@sh tools/check_deps.sh

$(BUILD)/obj/%.cpp.o: %.cpp $(SETTINGS) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# The optimisers' loops vectorise only when sqrtf need not set errno (the
# bf16-true AdamW of tensor/optim_bf16_true.h is written as plain scalar code).
$(BUILD)/obj/tensor/cpu/optim.cpp.o: CXXFLAGS += -fno-math-errno

$(BUILD)/obj/%.cu.o: %.cu $(SETTINGS) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%: $(BUILD)/obj/tools/%.cpp.o $(LIB)
	$(CXX) $< $(LIB) -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/test_all: $(TEST_OBJS) $(LIB)
	$(CXX) $(TEST_OBJS) $(LIB) -o $@ $(LDFLAGS) $(LDLIBS)

# TEST_ARGS passes doctest options, e.g. make test TEST_ARGS='-tc="*gemm*"'
test: banner $(BUILD)/test_all $(PROGRAMS)
	$(BUILD)/test_all $(TEST_ARGS)

# make test-mpi: the MPI tests (tests/mpi/) on MPI_NP ranks, in the MPI=1 build
# (with DEBUG=1 the leak checker is off: Open MPI keeps allocations until exit).
MPI_NP ?= 2
MPIRUN ?= mpirun --oversubscribe $(if $(filter 0,$(shell id -u)),--allow-run-as-root) -np $(MPI_NP)
.PHONY: test-mpi
ifeq ($(MPI),1)
$(BUILD)/test_mpi: $(patsubst %,$(BUILD)/obj/%.o,$(MPI_TEST_SRCS)) $(LIB)
	$(CXX) $^ -o $@ $(LDFLAGS) $(LDLIBS)
test-mpi: banner $(BUILD)/test_mpi
	OMP_NUM_THREADS=1 $(if $(filter 1,$(DEBUG)),ASAN_OPTIONS=detect_leaks=0) timeout 900 $(MPIRUN) $(BUILD)/test_mpi $(TEST_ARGS)
else
test-mpi:
	$(MAKE) MPI=1 test-mpi
endif

# The main job: synthetic data -> pretraining (cpu-small) -> zero-shot and linear
# probing for density.  70-85 s on 2 cores once built (README); see tools/demo.sh.
demo: all
	@sh tools/demo.sh $(BUILD)

clean:
	rm -rf build build-debug build-mpi build-debug-mpi

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(patsubst %,$(BUILD)/obj/%.d,$(MPI_TEST_SRCS)) $(patsubst %,$(BUILD)/obj/%.d,$(TOOL_SRCS))
