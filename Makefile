# Makefile: builds the engine library, the programs and the test suite into build/.
#
#   make              library + programs (CUDA backend when nvcc is found)
#   make test         build and run the doctest suite
#   make CUDA=0       force the CPU-only build (the cuda/ stub is linked)
#   make DEBUG=1      -O1 -g with AddressSanitizer and UBSan, into build-debug/
#   make deps         install missing Debian packages (or print the command)
#   make GPU_ARCH=80  compile the CUDA code for another architecture
#   make clean

CXX      ?= g++
BUILD    ?= build
DEBUG    ?= 0
GPU_ARCH ?= 90

# OpenMP threads sleep when idle instead of spinning: the kernels run many short
# parallel regions next to the data loader's threads, and spinning would steal
# their cores (it costs 3x on a 2-core machine).  Set it yourself to override.
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY

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

# ---- sources -----------------------------------------------------------------
LIB_SRCS  := $(wildcard tensor/*.cpp tensor/cpu/*.cpp autograd/*.cpp nn/*.cpp mama/*.cpp) $(CUDA_SRCS)
LIB_OBJS  := $(patsubst %,$(BUILD)/obj/%.o,$(LIB_SRCS))
TOOL_SRCS := $(wildcard tools/*.cpp)
PROGRAMS  := $(patsubst tools/%.cpp,$(BUILD)/%,$(TOOL_SRCS))
TEST_SRCS := $(wildcard tests/*.cpp tests/*/*.cpp)
TEST_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(TEST_SRCS))
LIB       := $(BUILD)/libengine.a
DEPS_OK   := $(BUILD)/.deps-ok

# Keep the programs' object files (make would delete them as intermediates).
.SECONDARY:

.PHONY: all test deps clean banner
all: banner $(LIB) $(PROGRAMS)

banner:
	@echo "== build: $(CXX) $$($(CXX) -dumpversion), OpenMP on, DEBUG=$(DEBUG), into $(BUILD)/"
	@if [ "$(CUDA)" = 1 ]; then echo "== CUDA: on  (nvcc $(NVCC_VER) at $(NVCC), toolkit $(CUDA_HOME), sm_$(GPU_ARCH) + PTX)"; \
	 else echo "== CUDA: off (stub linked$(if $(NVCC),; CUDA=0 given,; nvcc not found))"; fi

# The dependency check runs once per build directory; `make deps` forces it.
$(DEPS_OK):
	@sh tools/check_deps.sh
	@mkdir -p $(BUILD) && touch $@
deps:
	@sh tools/check_deps.sh

$(BUILD)/obj/%.cpp.o: %.cpp | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu | $(DEPS_OK)
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

clean:
	rm -rf build build-debug

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(patsubst %,$(BUILD)/obj/%.o,$(TOOL_SRCS:.cpp=.cpp.d))
