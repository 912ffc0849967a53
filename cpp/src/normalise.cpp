// Normalisation kernels of partition: exact per-window z-scores, robust trace statistics.
#include "calspike/normalise.hpp"

#include <algorithm>
#include <cmath>

#include "calspike/pairwise_sum.hpp"

// An x86-64 build carries an AVX2 copy of the z-score kernel, chosen at load time;
// FMA stays off (-ffp-contract=off), so every copy rounds exactly like NumPy.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define CALSPIKE_TARGET_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CALSPIKE_TARGET_CLONES
#endif

namespace calspike {

namespace {

constexpr double kWindowEpsilon = 1e-7;            // the tutorial's std offset
constexpr double kMadToSigma = 1.482602218505602;  // 1 / Phi^-1(3/4)

// (w - mean(w)) / (std(w) + 1e-7) for each window, computed in double with
// NumPy's operations in NumPy's order (pairwise sums, no FMA), so the float32
// result equals NumPy's bit for bit. T is the input's float type: values are
// widened to double as they are loaded.
template <class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_window(const T* window, std::int64_t length,
                                                    double* values, double* deviation, float* out) noexcept {
    for (std::int64_t j = 0; j < length; ++j) values[j] = static_cast<double>(window[j]);
    const double n = static_cast<double>(length);
    const double mean = pairwise_sum(values, length) / n;
    for (std::int64_t j = 0; j < length; ++j) {
        deviation[j] = values[j] - mean;
        values[j] = deviation[j] * deviation[j];  // now the squared deviations
    }
    const double denominator = std::sqrt(pairwise_sum(values, length) / n) + kWindowEpsilon;
    for (std::int64_t j = 0; j < length; ++j) out[j] = static_cast<float>(deviation[j] / denominator);
}

#if defined(__GNUC__)
// The tutorial's 20-frame windows, four per vector lane set: lane c of v[j] holds value j
// of window c, so each step of NumPy's order for n = 20 (r[j] = w[j] + w[j + 8] for j < 8,
// then ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then w[16..19] one by one) is one vector
// operation for four windows. Vectors are 4 doubles (AVX2 in the AVX2 clone, two SSE2
// halves otherwise).
typedef double Double4 __attribute__((vector_size(32)));
typedef double UnalignedDouble4 __attribute__((vector_size(32), aligned(8), may_alias));
typedef float Float4 __attribute__((vector_size(16)));
typedef float UnalignedFloat4 __attribute__((vector_size(16), aligned(4), may_alias));

// Rows a, b, c, d of a 4x4 block, returned as its columns.
template <class V>
CALSPIKE_ALWAYS_INLINE inline void transpose4(V& a, V& b, V& c, V& d) noexcept {
    const V ab_low = __builtin_shufflevector(a, b, 0, 4, 1, 5), ab_high = __builtin_shufflevector(a, b, 2, 6, 3, 7);
    const V cd_low = __builtin_shufflevector(c, d, 0, 4, 1, 5), cd_high = __builtin_shufflevector(c, d, 2, 6, 3, 7);
    a = __builtin_shufflevector(ab_low, cd_low, 0, 1, 4, 5);
    b = __builtin_shufflevector(ab_low, cd_low, 2, 3, 6, 7);
    c = __builtin_shufflevector(ab_high, cd_high, 0, 1, 4, 5);
    d = __builtin_shufflevector(ab_high, cd_high, 2, 3, 6, 7);
}

// Values 4b .. 4b+3 of four windows, transposed: v[j] holds value 4b + j of each window.
CALSPIKE_ALWAYS_INLINE inline void load_columns(const float* const (&window)[4], int b, Double4* v) noexcept {
    Float4 r[4];
    for (int c = 0; c < 4; ++c) r[c] = *reinterpret_cast<const UnalignedFloat4*>(window[c] + 4 * b);
    transpose4(r[0], r[1], r[2], r[3]);
    for (int j = 0; j < 4; ++j) v[j] = __builtin_convertvector(r[j], Double4);
}
CALSPIKE_ALWAYS_INLINE inline void load_columns(const double* const (&window)[4], int b, Double4* v) noexcept {
    for (int c = 0; c < 4; ++c) v[c] = *reinterpret_cast<const UnalignedDouble4*>(window[c] + 4 * b);
    transpose4(v[0], v[1], v[2], v[3]);
}

// NumPy's pairwise sum of 20 values, for the four windows of each of G groups.
template <int G>
CALSPIKE_ALWAYS_INLINE inline void pairwise_sum_20(const Double4 (&v)[G][20], Double4 (&sum)[G]) noexcept {
    Double4 r[G][8];
    for (int j = 0; j < 8; ++j)
        for (int g = 0; g < G; ++g) r[g][j] = v[g][j] + v[g][j + 8];
    for (int g = 0; g < G; ++g)
        sum[g] = ((r[g][0] + r[g][1]) + (r[g][2] + r[g][3])) + ((r[g][4] + r[g][5]) + (r[g][6] + r[g][7]));
    for (int j = 16; j < 20; ++j)
        for (int g = 0; g < G; ++g) sum[g] += v[g][j];
}

// 4 * G windows of 20 frames, window i starting at first + i * skip, written to rows
// out + 20 i. The G groups of four are interleaved statement by statement: one group's
// chain (sum, divide, sum, sqrt, divide) is long, and the interleaving lets the CPU
// overlap G of them (4 groups: 18 % faster than one at a time on Zen 4).
template <int G, class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_windows_20(const T* first, std::int64_t skip, float* out) noexcept {
    Double4 v[G][20];
    for (int g = 0; g < G; ++g) {
        const T* const window[4] = {first + (4 * g) * skip, first + (4 * g + 1) * skip,
                                    first + (4 * g + 2) * skip, first + (4 * g + 3) * skip};
        for (int b = 0; b < 5; ++b)
            load_columns(window, b, v[g] + 4 * b);
    }
    Double4 mean[G], squared[G][20], denominator[G];
    pairwise_sum_20<G>(v, mean);
    for (int g = 0; g < G; ++g) mean[g] /= 20.0;
    for (int j = 0; j < 20; ++j)
        for (int g = 0; g < G; ++g) {
            v[g][j] -= mean[g];  // now the deviations
            squared[g][j] = v[g][j] * v[g][j];
        }
    pairwise_sum_20<G>(squared, denominator);
    for (int g = 0; g < G; ++g) {
        const Double4 variance = denominator[g] / 20.0;
        denominator[g] = Double4{std::sqrt(variance[0]), std::sqrt(variance[1]), std::sqrt(variance[2]),
                                 std::sqrt(variance[3])} + kWindowEpsilon;
    }
    for (int g = 0; g < G; ++g)
        for (int b = 0; b < 5; ++b) {
            Float4 r[4];
            for (int j = 0; j < 4; ++j) r[j] = __builtin_convertvector(v[g][4 * b + j] / denominator[g], Float4);
            transpose4(r[0], r[1], r[2], r[3]);
            for (int c = 0; c < 4; ++c)
                *reinterpret_cast<UnalignedFloat4*>(out + (4 * g + c) * 20 + 4 * b) = r[c];
        }
}
#endif

// All `count` windows of one contiguous trace, window k starting at frame k * skip.
template <class T>
CALSPIKE_ALWAYS_INLINE inline void normalise_windows_body(const T* trace, std::int64_t count, std::int64_t skip,
                                                          std::int64_t length, float* out,
                                                          std::vector<double>& scratch) {
    std::int64_t k = 0;
#if defined(__GNUC__)
    if (length == 20) {  // the tutorial's windows: 16, then 4 at a time; the rest below
        for (; k + 16 <= count; k += 16) normalise_windows_20<4>(trace + k * skip, skip, out + k * 20);
        for (; k + 4 <= count; k += 4) normalise_windows_20<1>(trace + k * skip, skip, out + k * 20);
    }
#endif
    scratch.resize(static_cast<std::size_t>(2 * length));
    for (; k < count; ++k) {
        normalise_window(trace + k * skip, length, scratch.data(), scratch.data() + length, out + k * length);
    }
}

}  // namespace

// One entry point per input type, each with an AVX2 clone (templates cannot carry target_clones).
CALSPIKE_TARGET_CLONES
void zscore_windows(const float* trace, std::int64_t count, std::int64_t skip, std::int64_t length,
                       float* out, std::vector<double>& scratch) {
    normalise_windows_body(trace, count, skip, length, out, scratch);
}

CALSPIKE_TARGET_CLONES
void zscore_windows(const double* trace, std::int64_t count, std::int64_t skip, std::int64_t length,
                       float* out, std::vector<double>& scratch) {
    normalise_windows_body(trace, count, skip, length, out, scratch);
}

namespace {

double median_in_place(double* values, std::int64_t n) {
    const std::int64_t mid = n / 2;
    std::nth_element(values, values + mid, values + n);
    const double upper = values[mid];
    if (n % 2 == 1) return upper;
    const double lower = *std::max_element(values, values + mid);
    return (lower + upper) / 2.0;
}

}  // namespace

void robust_centre_scale(const double* trace, std::int64_t n, std::vector<double>& scratch,
                         double& centre, double& scale) {
    scratch.assign(trace, trace + n);
    centre = median_in_place(scratch.data(), n);
    for (std::int64_t t = 0; t < n; ++t) scratch[t] = std::fabs(trace[t] - centre);
    scale = kMadToSigma * median_in_place(scratch.data(), n);
    if (scale > 0.0) return;
    double sum = 0.0;
    for (std::int64_t t = 0; t < n; ++t) sum += trace[t];
    const double mean = sum / static_cast<double>(n);
    double squares = 0.0;
    for (std::int64_t t = 0; t < n; ++t) squares += (trace[t] - mean) * (trace[t] - mean);
    scale = std::sqrt(squares / static_cast<double>(n));
    if (!(scale > 0.0)) scale = 1.0;
}

}  // namespace calspike
