// OASIS for AR(1) (Friedrich, Zhou & Paninski 2017, PLoS Comput Biol 13:e1005423): exact
// pool merging, and the noise-constrained choice of lambda.
#include "calspike/oasis.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace calspike {

namespace {

constexpr double kPinned = std::numeric_limits<double>::infinity();  // weight of a pool held at 0
constexpr int kMaxLambdaUpdates = 200;

inline double value(const OasisPool& pool) noexcept { return pool.v / pool.w; }

// Merges pool `last` into `prev`: their frames now decay from one start value.
inline void merge(OasisPool& prev, const OasisPool& last) noexcept {
    prev.v += last.v * prev.decay;
    prev.w += last.w * prev.decay * prev.decay;
    prev.decay *= last.decay;
    prev.l += last.l;
}

// Restores the constraints among pools[0..size) after pools[size - 1] was added or
// changed: merges backwards while a pool starts below s_min above its predecessor's
// end, and pins the first pool at zero (c_0 >= 0) when its value turns negative.
// True when `last` starts below s_min above the end of `prev`, i.e. when
// last.v / last.w < prev.v / prev.w * prev.decay + s_min, compared without dividing
// (weights are positive; a pinned pool's value is 0).
inline bool violates(const OasisPool& prev, const OasisPool& last, double s_min) noexcept {
    if (prev.w == kPinned) return last.v < s_min * last.w;
    return last.v * prev.w < (prev.v * prev.decay + s_min * prev.w) * last.w;
}

inline std::size_t settle(std::vector<OasisPool>& pools, std::size_t size, double s_min) noexcept {
    while (size > 1 && violates(pools[size - 2], pools[size - 1], s_min)) {
        merge(pools[size - 2], pools[size - 1]);
        --size;
    }
    if (size == 1 && pools[0].v < 0.0) pools[0].w = kPinned;
    return size;
}

// Re-establishes all constraints after every pool's value moved (a change of lambda).
std::size_t settle_all(std::vector<OasisPool>& pools, double s_min) noexcept {
    std::size_t size = 0;
    for (std::size_t i = 0; i < pools.size(); ++i) {
        pools[size++] = pools[i];
        size = settle(pools, size, s_min);
    }
    pools.resize(size);
    return size;
}

// c and s from the pools; s_0 = 0, and s is exactly 0 inside a pool.
void write_solution(const std::vector<OasisPool>& pools, double g, double* c, double* s) noexcept {
    for (std::size_t j = 0; j < pools.size(); ++j) {
        const OasisPool& pool = pools[j];
        double level = std::max(value(pool), 0.0);
        for (std::int64_t k = 0; k < pool.l; ++k) {
            c[pool.t + k] = level;
            s[pool.t + k] = 0.0;
            level *= g;
        }
        if (j > 0) s[pool.t] = c[pool.t] - g * c[pool.t - 1];
    }
}

double squared_residual(const double* y, const double* c, std::int64_t n, double* residual) noexcept {
    double sum = 0.0;
    for (std::int64_t t = 0; t < n; ++t) {
        residual[t] = y[t] - c[t];
        sum += residual[t] * residual[t];
    }
    return sum;
}

}  // namespace

std::int64_t oasis_ar1(const double* y, std::int64_t n, double g, double lambda, double s_min,
                       double* c, double* s, std::vector<OasisPool>& pools) {
    pools.resize(static_cast<std::size_t>(n));
    // The penalty lambda * sum(s) equals lambda * (sum over t < n-1 of (1 - g) c_t, plus c_(n-1)):
    // it shifts the data down by lambda * (1 - g), and the last frame by lambda.
    const double shift = lambda * (1.0 - g);
    std::size_t size = 0;
    for (std::int64_t t = 0; t < n; ++t) {
        pools[size++] = OasisPool{y[t] - (t == n - 1 ? lambda : shift), 1.0, g, t, 1};
        size = settle(pools, size, s_min);
    }
    pools.resize(size);
    write_solution(pools, g, c, s);
    return static_cast<std::int64_t>(size);
}

double oasis_ar1_constrained(const double* y, std::int64_t n, double g, double sn, double* c,
                             double* s, std::vector<OasisPool>& pools, std::vector<double>& scratch) {
    scratch.resize(static_cast<std::size_t>(2 * n));
    double* residual = scratch.data();
    double* slope = residual + n;  // -dc/dlambda with the pools held fixed
    const double target = sn * sn * static_cast<double>(n);
    oasis_ar1(y, n, g, 0.0, 0.0, c, s, pools);
    double rss = squared_residual(y, c, n, residual);
    double lambda = 0.0;
    for (int update = 0; update < kMaxLambdaUpdates && rss < target * (1.0 - 1e-4); ++update) {
        double total = 0.0;
        for (std::int64_t t = 0; t < n; ++t) total += c[t];
        if (total <= 1e-9) break;  // no spikes left to remove
        for (std::size_t j = 0; j < pools.size(); ++j) {
            const OasisPool& pool = pools[j];
            double rate = (j + 1 == pools.size() ? 1.0 : 1.0 - pool.decay) / pool.w;
            if (value(pool) <= 0.0) rate = 0.0;  // clipped at zero: does not move
            for (std::int64_t k = 0; k < pool.l; ++k) {
                slope[pool.t + k] = rate;
                rate *= g;
            }
        }
        // |residual + dlambda * slope|^2 = target, solved for dlambda > 0
        double aa = 0.0, bb = 0.0;
        for (std::int64_t t = 0; t < n; ++t) {
            aa += slope[t] * slope[t];
            bb += residual[t] * slope[t];
        }
        const double discriminant = bb * bb - aa * (rss - target);
        if (!(aa > 0.0) || !(discriminant >= 0.0)) break;
        const double step = (-bb + std::sqrt(discriminant)) / aa;
        if (!(step > 0.0)) break;
        lambda += step;
        for (std::size_t j = 0; j < pools.size(); ++j) {
            pools[j].v -= step * (j + 1 == pools.size() ? 1.0 : 1.0 - pools[j].decay);
        }
        settle_all(pools, 0.0);
        write_solution(pools, g, c, s);
        rss = squared_residual(y, c, n, residual);
    }
    return lambda;
}

}  // namespace calspike
