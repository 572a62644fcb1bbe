// test_random.cpp: the counter-based generator: determinism, state restore,
// independence from the number of threads, and the distributions' moments.
#include <omp.h>

#include "tests/testing.h"

using namespace eng;

TEST_CASE("random: same seed gives the same draws, state restores exactly") {
    Generator a(42), b(42);
    CHECK(rand({100}, &a).to_vector() == rand({100}, &b).to_vector());
    GeneratorState s = a.state();
    std::vector<float> first = randn({50}, &a).to_vector();
    a.set_state(s);
    CHECK(randn({50}, &a).to_vector() == first);
    Generator c(43);
    CHECK(rand({10}, &c).to_vector() != rand({10}, &b).to_vector());
}

TEST_CASE("random: results do not depend on the number of threads") {
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    Generator g1(7);
    std::vector<float> one = randn({200000}, &g1).to_vector();
    omp_set_num_threads(2);
    Generator g2(7);
    std::vector<float> two = randn({200000}, &g2).to_vector();
    omp_set_num_threads(saved);
    CHECK(one == two);
}

TEST_CASE("random: distribution moments") {
    Generator g(1);
    const int n = 200000;
    std::vector<float> u = uniform({n}, -2.0f, 4.0f, &g).to_vector();
    double mu = 0, vu = 0;
    for (float x : u) {
        CHECK_MESSAGE((x >= -2.0f && x < 4.0f), x);
        mu += x;
    }
    mu /= n;
    for (float x : u) vu += (x - mu) * (x - mu);
    vu /= n;
    CHECK(std::fabs(mu - 1.0) < 0.02);       // mean 1, std error 1.7/sqrt(n) = 0.004
    CHECK(std::fabs(vu - 3.0) < 0.05);       // (b-a)^2/12 = 3
    std::vector<float> z = normal({n}, 2.0f, 3.0f, &g).to_vector();
    double mz = 0, vz = 0;
    for (float x : z) mz += x;
    mz /= n;
    for (float x : z) vz += (x - mz) * (x - mz);
    vz /= n;
    CHECK(std::fabs(mz - 2.0) < 0.03);
    CHECK(std::fabs(vz - 9.0) < 0.15);
    std::vector<float> b = bernoulli({n}, 0.3f, &g).to_vector();
    double mb = 0;
    for (float x : b) {
        CHECK((x == 0.0f || x == 1.0f));
        mb += x;
    }
    CHECK(std::fabs(mb / n - 0.3) < 0.01);
}

TEST_CASE("random: randint range and randperm is a permutation") {
    Generator g(5);
    std::vector<int32_t> r = randint(-3, 4, {10000}, &g).to_ivector();
    std::vector<int> counts(7, 0);
    for (int32_t x : r) {
        REQUIRE((x >= -3 && x < 4));
        counts[size_t(x + 3)]++;
    }
    for (int c : counts) CHECK(c > 1200);  // expected 1428 each
    std::vector<int32_t> p = randperm(1000, &g).to_ivector();
    std::vector<int32_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 1000; ++i) CHECK(sorted[size_t(i)] == i);
    CHECK(p != sorted);
    CHECK_THROWS_CONTAINING(randint(3, 3, {2}, &g), "empty range");
    CHECK_THROWS_CONTAINING(bernoulli({2}, 1.5f, &g), "outside [0, 1]");
}

TEST_CASE("random: the default generator is reseeded by manual_seed") {
    manual_seed(11);
    std::vector<float> a = rand({5}).to_vector();
    manual_seed(11);
    CHECK(rand({5}).to_vector() == a);
}
