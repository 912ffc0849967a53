// OASIS for AR(2): the greedy pool algorithm of the reference implementation, and the
// exact solution of the convex problem by active-set iterations on its dual.
#include "calspike/oasis.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace calspike {

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
                             double* s, std::vector<Ar2Pool>& pools, std::vector<double>& scratch,
                             ActiveSetWork& work) {
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
                             double* c, double* s, std::vector<Ar2Pool>& pools, std::vector<double>& scratch,
                             ActiveSetWork& work) {
    const double target = sn * sn * static_cast<double>(n);
    auto excess = [&](double lambda) {  // RSS(lambda) - target; leaves that solution in c, s
        if (!exact) {
            oasis_ar2(y, n, g1, g2, lambda, 0.0, c, s, pools, scratch);
        } else if (oasis_ar2_exact(y, n, g1, g2, lambda, c, s, pools, scratch, work) < 0) {
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

}  // namespace calspike
