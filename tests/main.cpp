// main.cpp: the doctest entry point of the one test binary, build/test_all.
//   build/test_all -tc="gemm*"     runs the cases whose names match
//   build/test_all -ltc            lists them
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
