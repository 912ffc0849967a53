// OASIS for AR(1) (Friedrich, Zhou & Paninski 2017, PLoS Comput Biol 13:e1005423) and the
// estimation of its parameters.
#include "calspike/oasis.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <stdexcept>

namespace calspike {

namespace {

constexpr double kPinned = std::numeric_limits<double>::infinity();  // weight of a pool held at 0
constexpr double kPi = 3.14159265358979323846;
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

// In-place radix-2 FFT of a power-of-two length.
void fft(std::vector<std::complex<double>>& a) {
    const std::size_t n = a.size();
    for (std::size_t i = 1, j = 0; i < n; ++i) {
        std::size_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) std::swap(a[i], a[j]);
    }
    for (std::size_t len = 2; len <= n; len <<= 1) {
        const std::complex<double> step = std::polar(1.0, -2.0 * kPi / static_cast<double>(len));
        for (std::size_t i = 0; i < n; i += len) {
            std::complex<double> twiddle = 1.0;
            for (std::size_t k = 0; k < len / 2; ++k) {
                const std::complex<double> even = a[i + k], odd = a[i + k + len / 2] * twiddle;
                a[i + k] = even + odd;
                a[i + k + len / 2] = even - odd;
                twiddle *= step;
            }
        }
    }
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

namespace {

// The AR(2) pool machinery for one trace: roots, impulse response tables and pool updates.
struct Ar2Model {
    double g1, g2, d, r;
    const double* h;        // h_k, k < n
    const double* hh;       // sum_(j<=k) h_j^2
    const double* hq;       // sum_(j<=k) h_j * g2 * h_(j-1)
    double d_squared;

    double q(std::int64_t k) const noexcept { return k == 0 ? 0.0 : g2 * h[k - 1]; }

    // The first pool decays with d alone; its value is clipped at zero as in OASIS.
    void refit_first(Ar2Pool& pool) const noexcept {
        const double norm = (1.0 - pool.power_d * pool.power_d) / (1.0 - d_squared);
        pool.first = std::max(0.0, pool.sum_d / norm);
        pool.last = pool.first * pool.power_d / d;  // first * d^(l-1)
    }

    // Best start value of a later pool given the previous pool's last calcium value.
    void refit(Ar2Pool& pool, double previous_last) const noexcept {
        const std::int64_t k = pool.l - 1;
        const double projection = (d * pool.sum_d - r * pool.sum_r) / (d - r);  // sum_k h_k y'[t + k]
        pool.first = (projection - previous_last * hq[k]) / hh[k];
        pool.last = h[k] * pool.first + q(k) * previous_last;
    }

    // Calcium the pool before `next` would reach at next's first frame without a spike.
    double continuation(const std::vector<Ar2Pool>& pools, std::size_t prev) const noexcept {
        const Ar2Pool& pool = pools[prev];
        if (prev == 0) return pool.last * d;
        return h[pool.l] * pool.first + q(pool.l) * pools[prev - 1].last;
    }
};

}  // namespace

std::int64_t oasis_ar2(const double* y, std::int64_t n, double g1, double g2, double lambda, double s_min,
                       double* c, double* s, std::vector<Ar2Pool>& pools, std::vector<double>& scratch) {
    const double root = std::sqrt(g1 * g1 + 4.0 * g2);
    const double d = (g1 + root) / 2.0, r = (g1 - root) / 2.0;
    scratch.resize(static_cast<std::size_t>(3 * (n + 1)));
    double* h = scratch.data();
    double* hh = h + n + 1;
    double* hq = hh + n + 1;
    double dk = d, rk = r;  // d^(k+1), r^(k+1)
    for (std::int64_t k = 0; k <= n; ++k) {
        h[k] = (dk - rk) / (d - r);
        dk *= d;
        rk *= r;
        const double q = k == 0 ? 0.0 : g2 * h[k - 1];
        hh[k] = (k == 0 ? 0.0 : hh[k - 1]) + h[k] * h[k];
        hq[k] = (k == 0 ? 0.0 : hq[k - 1]) + h[k] * q;
    }
    const Ar2Model model{g1, g2, d, r, h, hh, hq, d * d};

    pools.resize(static_cast<std::size_t>(n));
    std::size_t size = 0;
    for (std::int64_t t = 0; t < n; ++t) {
        // lambda * sum(s) shifts the data by lambda (1 - g1 - g2), the last two frames less
        const double shift = t == n - 1 ? lambda : t == n - 2 ? lambda * (1.0 - g1) : lambda * (1.0 - g1 - g2);
        const double value = y[t] - shift;
        Ar2Pool& pool = pools[size++] = Ar2Pool{value, value, d, r, value, value, t, 1};
        if (size == 1) model.refit_first(pool);
        while (size > 1 && model.continuation(pools, size - 2) > pools[size - 1].first - s_min) {
            Ar2Pool& prev = pools[size - 2];
            const Ar2Pool& last = pools[size - 1];
            prev.sum_d += prev.power_d * last.sum_d;
            prev.sum_r += prev.power_r * last.sum_r;
            prev.power_d *= last.power_d;
            prev.power_r *= last.power_r;
            prev.l += last.l;
            --size;
            if (size == 1) model.refit_first(prev);
            else model.refit(prev, pools[size - 2].last);
        }
    }
    pools.resize(size);

    for (std::size_t j = 0; j < size; ++j) {
        const Ar2Pool& pool = pools[j];
        double* out = c + pool.t;
        if (j == 0) {
            double level = pool.first;
            for (std::int64_t k = 0; k < pool.l; ++k, level *= d) out[k] = level;
        } else {
            const double before = pools[j - 1].last;
            for (std::int64_t k = 0; k < pool.l; ++k) out[k] = h[k] * pool.first + model.q(k) * before;
        }
        for (std::int64_t k = 0; k < pool.l; ++k) s[pool.t + k] = 0.0;
        if (pool.t >= 2) s[pool.t] = c[pool.t] - g1 * c[pool.t - 1] - g2 * c[pool.t - 2];
    }
    return static_cast<std::int64_t>(size);
}

namespace {

// Row t of the AR(2) difference operator G applied to c: c_t - g1 c_(t-1) - g2 c_(t-2), zero history.
inline double difference(const double* c, std::int64_t t, double g1, double g2) noexcept {
    double value = c[t];
    if (t >= 1) value -= g1 * c[t - 1];
    if (t >= 2) value -= g2 * c[t - 2];
    return value;
}

// Entry (t, u) of G G^T for 0 <= t - u <= 2 (it is pentadiagonal).
inline double gram(std::int64_t t, std::int64_t u, double g1, double g2) noexcept {
    switch (t - u) {
        case 0: return 1.0 + (t >= 1 ? g1 * g1 : 0.0) + (t >= 2 ? g2 * g2 : 0.0);
        case 1: return -g1 + (t >= 2 ? g1 * g2 : 0.0);
        case 2: return -g2;
        default: return 0.0;
    }
}

struct ActiveSetWork {
    std::vector<std::uint8_t> active;  // constraint s_t >= 0 held with equality
    std::vector<std::int64_t> index;
    std::vector<double> nu, diagonal, lower1, lower2, rhs, shifted;
};

// For the active set A: the dual least squares (G_A G_A^T) nu_A = -G_A y, by a banded
// LDL^T of the pentadiagonal normal matrix, then c = y + G^T nu and s = G c.
void solve_active_set(const double* y, std::int64_t n, double g1, double g2, ActiveSetWork& w, double* c,
                      double* s) {
    w.index.clear();
    for (std::int64_t t = 0; t < n; ++t)
        if (w.active[t]) w.index.push_back(t);
    const auto m = static_cast<std::int64_t>(w.index.size());
    w.diagonal.resize(static_cast<std::size_t>(m));
    w.lower1.resize(static_cast<std::size_t>(m));
    w.lower2.resize(static_cast<std::size_t>(m));
    w.rhs.resize(static_cast<std::size_t>(m));
    const std::int64_t* at = w.index.data();
    for (std::int64_t i = 0; i < m; ++i) {
        const std::int64_t t = at[i];
        const double l2 = i >= 2 ? gram(t, at[i - 2], g1, g2) / w.diagonal[i - 2] : 0.0;
        const double m21 = i >= 1 ? gram(t, at[i - 1], g1, g2) : 0.0;
        const double l1 = i >= 1 ? (m21 - (i >= 2 ? l2 * w.diagonal[i - 2] * w.lower1[i - 1] : 0.0)) / w.diagonal[i - 1]
                                 : 0.0;
        w.lower1[i] = l1;
        w.lower2[i] = l2;
        w.diagonal[i] = gram(t, t, g1, g2) - (i >= 1 ? l1 * l1 * w.diagonal[i - 1] : 0.0) -
                        (i >= 2 ? l2 * l2 * w.diagonal[i - 2] : 0.0);
        w.rhs[i] = -difference(y, t, g1, g2) - (i >= 1 ? l1 * w.rhs[i - 1] : 0.0) - (i >= 2 ? l2 * w.rhs[i - 2] : 0.0);
    }
    for (std::int64_t i = m - 1; i >= 0; --i) {
        double x = w.rhs[i] / w.diagonal[i];
        if (i + 1 < m) x -= w.lower1[i + 1] * w.rhs[i + 1];
        if (i + 2 < m) x -= w.lower2[i + 2] * w.rhs[i + 2];
        w.rhs[i] = x;
    }
    w.nu.assign(static_cast<std::size_t>(n) + 2, 0.0);
    for (std::int64_t i = 0; i < m; ++i) w.nu[at[i]] = w.rhs[i];
    for (std::int64_t k = 0; k < n; ++k) c[k] = y[k] + w.nu[k] - g1 * w.nu[k + 1] - g2 * w.nu[k + 2];
    for (std::int64_t t = 0; t < n; ++t) s[t] = difference(c, t, g1, g2);
}

}  // namespace

std::int64_t oasis_ar2_exact(const double* y, std::int64_t n, double g1, double g2, double lambda, double* c,
                             double* s, std::vector<Ar2Pool>& pools, std::vector<double>& scratch) {
    thread_local ActiveSetWork work;
    // y' = y - lambda G^T 1 folds the penalty into the data (G^T 1 is 1 - g1 - g2, then 1 - g1, 1)
    work.shifted.resize(static_cast<std::size_t>(n));
    double scale = 1.0;
    for (std::int64_t t = 0; t < n; ++t) {
        const double shift = t == n - 1 ? lambda : t == n - 2 ? lambda * (1.0 - g1) : lambda * (1.0 - g1 - g2);
        work.shifted[t] = y[t] - shift;
        scale = std::max(scale, std::fabs(work.shifted[t]));
    }
    const double* target = work.shifted.data();
    // start from the greedy solution: constraints active where it has no spike
    oasis_ar2(y, n, g1, g2, lambda, 0.0, c, s, pools, scratch);
    const double tolerance = 1e-12 * scale;
    // inside a greedy pool G c vanishes only up to rounding: those frames start active
    work.active.assign(static_cast<std::size_t>(n), 0);
    for (std::int64_t t = 0; t < n; ++t) work.active[t] = difference(c, t, g1, g2) <= 1e3 * tolerance ? 1 : 0;

    const std::int64_t max_iterations = 200 + 4 * n;
    std::int64_t best = std::numeric_limits<std::int64_t>::max(), stalled = 0;
    bool single_pivots = false;
    for (std::int64_t iteration = 1; iteration <= max_iterations; ++iteration) {
        solve_active_set(target, n, g1, g2, work, c, s);
        std::int64_t violations = 0, first = -1;
        for (std::int64_t t = 0; t < n; ++t) {
            const bool wrong = work.active[t] ? work.nu[t] < -tolerance : s[t] < -tolerance;
            if (wrong) {
                ++violations;
                if (first < 0) first = t;
            }
        }
        if (violations == 0) {
            for (std::int64_t t = 0; t < n; ++t) s[t] = work.active[t] ? 0.0 : std::max(s[t], 0.0);
            s[0] = 0.0;  // the first two frames carry the initial calcium
            if (n > 1) s[1] = 0.0;
            return iteration;
        }
        if (violations < best) {
            best = violations;
            stalled = 0;
        } else if (++stalled >= 5) {
            single_pivots = true;  // Murty's least-index rule: finite for this positive definite problem
        }
        if (single_pivots) {
            work.active[first] ^= 1;
        } else {
            for (std::int64_t t = 0; t < n; ++t) {
                if (work.active[t] ? work.nu[t] < -tolerance : s[t] < -tolerance) work.active[t] ^= 1;
            }
        }
    }
    return -1;
}

double oasis_ar2_constrained(const double* y, std::int64_t n, double g1, double g2, double sn, bool exact,
                             double* c, double* s, std::vector<Ar2Pool>& pools, std::vector<double>& scratch) {
    const double target = sn * sn * static_cast<double>(n);
    auto excess = [&](double lambda) {  // RSS(lambda) - target; leaves that solution in c, s
        if (!exact) {
            oasis_ar2(y, n, g1, g2, lambda, 0.0, c, s, pools, scratch);
        } else if (oasis_ar2_exact(y, n, g1, g2, lambda, c, s, pools, scratch) < 0) {
            throw std::runtime_error("exact AR(2) deconvolution did not converge; use exact=False");
        }
        double rss = 0.0;
        for (std::int64_t t = 0; t < n; ++t) rss += (y[t] - c[t]) * (y[t] - c[t]);
        return rss - target;
    };
    double low = 0.0, f_low = excess(0.0);
    if (f_low >= -1e-4 * target) return 0.0;
    double scale = 0.0;  // a lambda that certainly removes every spike: the data's size
    for (std::int64_t t = 0; t < n; ++t) scale = std::max(scale, std::fabs(y[t]));
    double high = std::max(sn, 1e-12), f_high = excess(high);
    for (int grow = 0; f_high < 0.0 && grow < 60 && high < 1e3 * (scale + sn) * static_cast<double>(n); ++grow) {
        low = high;
        f_low = f_high;
        high *= 4.0;
        f_high = excess(high);
    }
    if (f_high < 0.0) return high;  // no lambda reaches the target: the sparsest solution
    // Illinois-modified regula falsi on a monotone bracket
    int side = 0;
    double lambda = high;
    for (int step = 0; step < 60 && high - low > 1e-9 * high; ++step) {
        lambda = (low * f_high - high * f_low) / (f_high - f_low);
        if (!(lambda > low && lambda < high)) lambda = 0.5 * (low + high);
        const double f = excess(lambda);
        if (std::fabs(f) <= 1e-4 * target) return lambda;
        if (f < 0.0) {
            low = lambda;
            f_low = f;
            if (side == -1) f_high /= 2.0;
            side = -1;
        } else {
            high = lambda;
            f_high = f;
            if (side == 1) f_low /= 2.0;
            side = 1;
        }
    }
    excess(high);  // the bracket's feasible end
    return high;
}

void ar2_coefficients(const double* y, std::int64_t n, double sn, double fudge, double& g1, double& g2) {
    constexpr std::int64_t kLags = 12;
    double roots[2] = {0.95, 0.15};
    if (n > kLags + 1) {
        double mean = 0.0;
        for (std::int64_t t = 0; t < n; ++t) mean += y[t];
        mean /= static_cast<double>(n);
        double xc[kLags + 1];
        for (std::int64_t lag = 0; lag <= kLags; ++lag) {
            double sum = 0.0;
            for (std::int64_t t = lag; t < n; ++t) sum += (y[t] - mean) * (y[t - lag] - mean);
            xc[lag] = sum / static_cast<double>(n);
        }
        // rows i = 0..11: [xc_i - sn^2 [i == 0], xc_|i-1| - sn^2 [i == 1]] (g1, g2) = xc_(i+1)
        double a11 = 0.0, a12 = 0.0, a22 = 0.0, b1 = 0.0, b2 = 0.0;
        for (std::int64_t i = 0; i < kLags; ++i) {
            const double u = xc[i] - (i == 0 ? sn * sn : 0.0);
            const double v = xc[i == 0 ? 1 : i - 1] - (i == 1 ? sn * sn : 0.0);
            a11 += u * u;
            a12 += u * v;
            a22 += v * v;
            b1 += u * xc[i + 1];
            b2 += v * xc[i + 1];
        }
        const double det = a11 * a22 - a12 * a12;
        if (det != 0.0 && std::isfinite(det)) {
            const double c1 = (a22 * b1 - a12 * b2) / det, c2 = (a11 * b2 - a12 * b1) / det;
            const double discriminant = c1 * c1 + 4.0 * c2;
            const double spread = discriminant > 0.0 ? std::sqrt(discriminant) : 0.0;  // complex: real parts
            roots[0] = (c1 + spread) / 2.0;
            roots[1] = (c1 - spread) / 2.0;
        }
    }
    for (double& root : roots) {  // OASIS's fallbacks, without its random jitter
        if (!(root < 1.0)) root = 0.95;
        if (!(root > 0.0)) root = 0.15;
        root *= fudge;
    }
    if (roots[0] - roots[1] < 1e-3) roots[1] = roots[0] - 1e-3;  // keep the roots distinct
    g1 = roots[0] + roots[1];
    g2 = -roots[0] * roots[1];
}

double noise_level(const double* y, std::int64_t n, std::vector<double>& scratch) {
    const std::int64_t segment = std::min<std::int64_t>(256, n);
    const std::int64_t step = segment - segment / 2;
    const std::int64_t first_bin = segment / 4 + 1;  // frequencies strictly inside (0.25, 0.5)
    const std::int64_t end_bin = (segment + 1) / 2;
    if (n < 4 || end_bin <= first_bin) {
        // too short for a spectrum: the first differences' robust spread
        scratch.resize(static_cast<std::size_t>(std::max<std::int64_t>(n - 1, 1)));
        if (n < 2) return 0.0;
        for (std::int64_t t = 1; t < n; ++t) scratch[t - 1] = std::fabs(y[t] - y[t - 1]);
        std::nth_element(scratch.begin(), scratch.begin() + (n - 1) / 2, scratch.begin() + (n - 1));
        return scratch[(n - 1) / 2] / (0.6744897501960817 * std::sqrt(2.0));
    }
    std::vector<double> window(static_cast<std::size_t>(segment));
    double window_power = 0.0;
    for (std::int64_t k = 0; k < segment; ++k) {  // periodic Hann, as scipy's get_window
        window[k] = 0.5 - 0.5 * std::cos(2.0 * kPi * static_cast<double>(k) / static_cast<double>(segment));
        window_power += window[k] * window[k];
    }
    const bool power_of_two = (segment & (segment - 1)) == 0;
    std::vector<std::complex<double>> spectrum(static_cast<std::size_t>(segment));
    scratch.assign(static_cast<std::size_t>(end_bin), 0.0);
    const std::int64_t segments = (n - segment) / step + 1;
    for (std::int64_t m = 0; m < segments; ++m) {
        const double* x = y + m * step;
        double mean = 0.0;
        for (std::int64_t k = 0; k < segment; ++k) mean += x[k];
        mean /= static_cast<double>(segment);
        for (std::int64_t k = 0; k < segment; ++k) spectrum[k] = (x[k] - mean) * window[k];
        if (power_of_two) {
            fft(spectrum);
        } else {  // short traces only: a direct DFT of the bins needed
            std::vector<std::complex<double>> input(spectrum);
            for (std::int64_t f = first_bin; f < end_bin; ++f) {
                std::complex<double> sum = 0.0;
                for (std::int64_t k = 0; k < segment; ++k)
                    sum += input[k] * std::polar(1.0, -2.0 * kPi * static_cast<double>(f * k % segment) /
                                                          static_cast<double>(segment));
                spectrum[f] = sum;
            }
        }
        for (std::int64_t f = first_bin; f < end_bin; ++f) scratch[f] += std::norm(spectrum[f]);
    }
    // one-sided density: 2 |X|^2 / sum(w^2), averaged over segments; sn^2 = mean(PSD / 2)
    double mean_power = 0.0;
    for (std::int64_t f = first_bin; f < end_bin; ++f) mean_power += scratch[f];
    mean_power /= static_cast<double>((end_bin - first_bin) * segments) * window_power;
    return std::sqrt(mean_power);
}

double ar1_coefficient(const double* y, std::int64_t n, double sn, double fudge) {
    constexpr std::int64_t kLags = 11;
    if (n <= kLags + 1) return 0.95 * fudge;
    double mean = 0.0;
    for (std::int64_t t = 0; t < n; ++t) mean += y[t];
    mean /= static_cast<double>(n);
    double autocovariance[kLags + 1];
    for (std::int64_t lag = 0; lag <= kLags; ++lag) {
        double sum = 0.0;
        for (std::int64_t t = lag; t < n; ++t) sum += (y[t] - mean) * (y[t - lag] - mean);
        autocovariance[lag] = sum / static_cast<double>(n);
    }
    // Yule-Walker, least squares: (xc[i] - sn^2 [i == 0]) g = xc[i + 1], i = 0..10
    double numerator = 0.0, denominator = 0.0;
    for (std::int64_t lag = 0; lag < kLags; ++lag) {
        const double a = autocovariance[lag] - (lag == 0 ? sn * sn : 0.0);
        numerator += a * autocovariance[lag + 1];
        denominator += a * a;
    }
    double g = denominator > 0.0 ? numerator / denominator : 0.95;
    if (!(g > 0.0)) g = 0.15;  // OASIS's fallbacks for roots outside (0, 1)
    if (g >= 1.0) g = 0.95;
    return g * fudge;
}

double percentile(const double* y, std::int64_t n, double q, std::vector<double>& scratch) {
    scratch.assign(y, y + n);
    const double position = q / 100.0 * static_cast<double>(n - 1);
    const auto lower = static_cast<std::int64_t>(std::floor(position));
    std::nth_element(scratch.begin(), scratch.begin() + lower, scratch.end());
    const double low = scratch[lower];
    if (lower + 1 >= n) return low;
    const double high = *std::min_element(scratch.begin() + lower + 1, scratch.end());
    return low + (high - low) * (position - static_cast<double>(lower));
}

}  // namespace calspike
