// The z-score kernel alone against a plain 25-line C++/OpenMP kernel, with the output
// freshly allocated (as partition does) and pre-touched (allocation left out), on
// 2,000 traces x 100,000 frames at skip=10 and 500 x 100,000 at skip=1 (float32, 20-frame
// windows). Windows only: no labels, indices or validation; fresh outputs get 4 KiB pages
// (partition asks for huge pages). Build and run from the repository root:
//   g++ -O3 -fopenmp -ffp-contract=off -fno-math-errno -Wno-psabi -Icpp/include
//       cpp/src/normalise.cpp benchmarks/bench_kernel.cpp -o /tmp/bench_kernel && /tmp/bench_kernel
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "calspike/normalise.hpp"

namespace {

constexpr std::int64_t kFrames = 100000, kLength = 20;

// The plain kernel: one window at a time, sums in order, one division per value.
void plain_zscore(const float* trace, std::int64_t count, std::int64_t skip, float* out) {
    for (std::int64_t k = 0; k < count; ++k) {
        const float* w = trace + k * skip;
        double sum = 0.0, squares = 0.0;
        for (int j = 0; j < kLength; ++j) sum += w[j];
        const double mean = sum / kLength;
        for (int j = 0; j < kLength; ++j) squares += (w[j] - mean) * (w[j] - mean);
        const double denominator = std::sqrt(squares / kLength) + 1e-7;
        for (int j = 0; j < kLength; ++j) out[k * kLength + j] = static_cast<float>((w[j] - mean) / denominator);
    }
}

void calspike_zscore(const float* trace, std::int64_t count, std::int64_t skip, float* out) {
    thread_local std::vector<double> scratch;
    calspike::zscore_windows(trace, count, skip, kLength, out, scratch);
}

// Best seconds of 5 calls over all traces; fresh: a new output per call, first touched by the threads.
template <class Kernel>
double best_seconds(Kernel kernel, const std::vector<float>& traces, std::int64_t neurons, std::int64_t skip,
                    bool fresh) {
    const std::int64_t count = (kFrames - kLength) / skip + 1;
    const std::size_t values = static_cast<std::size_t>(neurons * count * kLength);
    float* reused = fresh ? nullptr : static_cast<float*>(std::malloc(values * sizeof(float)));
    if (reused != nullptr) std::memset(reused, 0, values * sizeof(float));
    double best = 1e30;
    for (int repeat = 0; repeat < 5; ++repeat) {
        const auto start = std::chrono::steady_clock::now();
        float* out = fresh ? static_cast<float*>(std::malloc(values * sizeof(float))) : reused;
#pragma omp parallel for schedule(dynamic, 8)
        for (std::int64_t n = 0; n < neurons; ++n) kernel(traces.data() + n * kFrames, count, skip, out + n * count * kLength);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        best = std::min(best, seconds);
        if (fresh) std::free(out);
    }
    std::free(reused);
    return best;
}

}  // namespace

int main() {
    std::printf("%d threads\n", omp_get_max_threads());
    for (const auto& [neurons, skip] : {std::pair<std::int64_t, std::int64_t>{2000, 10}, {500, 1}}) {
        std::vector<float> traces(static_cast<std::size_t>(neurons * kFrames));
        std::mt19937 generator(1);
        std::normal_distribution<float> noise(0.0f, 1.0f);
        float level = 0.0f;
        for (float& x : traces) x = level = 0.95f * level + noise(generator);
        const double gigabytes = static_cast<double>(neurons * ((kFrames - kLength) / skip + 1) * kLength * 4) / 1e9;
        std::printf("\n%lld traces x %lld frames, skip=%lld: %.2f GB of windows\n", static_cast<long long>(neurons),
                    static_cast<long long>(kFrames), static_cast<long long>(skip), gigabytes);
        std::printf("  %-26s%12s%12s%16s\n", "output", "plain GB/s", "calspike", "calspike/plain");
        for (const bool fresh : {true, false}) {
            const double plain = best_seconds(plain_zscore, traces, neurons, skip, fresh);
            const double ours = best_seconds(calspike_zscore, traces, neurons, skip, fresh);
            std::printf("  %-26s%12.2f%12.2f%15.2fx\n", fresh ? "fresh (allocation timed)" : "pre-touched",
                        gigabytes / plain, gigabytes / ours, plain / ours);
        }
    }
    return 0;
}
