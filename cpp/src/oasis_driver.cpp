#include "calspike/oasis_driver.hpp"

#include <limits>
#include <stdexcept>
#include <string>

#include "calspike/parallel_rows.hpp"
#include "calspike/robust.hpp"

namespace calspike {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One thread's memory, reused from neuron to neuron.
struct Scratch {
    std::vector<double> y, c, s, work;
    std::vector<OasisPool> ar1_pools;
    std::vector<Ar2Pool> ar2_pools;
    ActiveSetWork active_set;  // exact AR(2) only
};

// One thread's memory for the estimates.
struct EstimateScratch {
    std::vector<double> y, work;
};

template <class T>
void load_trace(const MatrixView<T>& traces, std::int64_t row, std::int64_t n, double baseline,
                std::vector<double>& out) {
    out.resize(static_cast<std::size_t>(n));
    for (std::int64_t t = 0; t < n; ++t) out[t] = static_cast<double>(traces(row, t)) - baseline;
}

// Solves one neuron's trace (in scratch.y) into scratch.c and scratch.s; returns its lambda.
double solve(const OasisParameters& p, std::size_t row, Scratch& scratch) {
    const auto n = static_cast<std::int64_t>(scratch.y.size());
    const double* y = scratch.y.data();
    double* c = scratch.c.data();
    double* s = scratch.s.data();
    const double penalty = p.penalty[row];
    switch (p.variant) {
        case OasisVariant::ar1:
            oasis_ar1(y, n, p.g1[row], penalty, p.s_min, c, s, scratch.ar1_pools);
            return penalty;
        case OasisVariant::ar1_constrained:
            return oasis_ar1_constrained(y, n, p.g1[row], penalty, c, s, scratch.ar1_pools, scratch.work);
        case OasisVariant::ar2_greedy:
            oasis_ar2(y, n, p.g1[row], p.g2[row], penalty, p.s_min, c, s, scratch.ar2_pools, scratch.work);
            return penalty;
        case OasisVariant::ar2_exact:
            if (oasis_ar2_exact(y, n, p.g1[row], p.g2[row], penalty, c, s, scratch.ar2_pools, scratch.work,
                                scratch.active_set) < 0) {
                throw std::runtime_error("exact AR(2) deconvolution did not converge for neuron " +
                                         std::to_string(row) + "; use exact=False");
            }
            return penalty;
        case OasisVariant::ar2_greedy_constrained:
        case OasisVariant::ar2_exact_constrained:
            return oasis_ar2_constrained(y, n, p.g1[row], p.g2[row], penalty,
                                         p.variant == OasisVariant::ar2_exact_constrained, c, s, scratch.ar2_pools,
                                         scratch.work, scratch.active_set);
    }
    return kNaN;  // unreachable: every variant returns above
}

}  // namespace

template <class T>
OasisResult deconvolve_rows(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                            const OasisParameters& parameters, int threads) {
    const std::int64_t neurons = traces.rows, frames = traces.cols;
    OasisResult result{Buffer<float>(static_cast<std::size_t>(neurons * frames)),
                       Buffer<float>(static_cast<std::size_t>(neurons * frames)),
                       std::vector<double>(static_cast<std::size_t>(neurons), kNaN)};
    parallel_rows_with_scratch<Scratch>(
        neurons, threads, RowSchedule::one_at_a_time, [&](std::int64_t row, Scratch& scratch) {
            const auto r = static_cast<std::size_t>(row);
            const std::int64_t n = lengths[r];
            float* c_out = result.calcium.data() + row * frames;
            float* s_out = result.spikes.data() + row * frames;
            if (n > 0) {
                load_trace(traces, row, n, parameters.baseline[r], scratch.y);
                scratch.c.resize(static_cast<std::size_t>(n));
                scratch.s.resize(static_cast<std::size_t>(n));
                result.lambda[r] = solve(parameters, r, scratch);
                for (std::int64_t t = 0; t < n; ++t) {
                    c_out[t] = static_cast<float>(scratch.c[t]);
                    s_out[t] = static_cast<float>(scratch.s[t]);
                }
            }
            for (std::int64_t t = n; t < frames; ++t) c_out[t] = s_out[t] = static_cast<float>(kNaN);
        });
    return result;
}

template <class T>
OasisEstimates estimate_rows(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths, int p,
                             double baseline_percentile, double fudge, int threads) {
    const auto neurons = static_cast<std::size_t>(traces.rows);
    OasisEstimates out{std::vector<double>(neurons, kNaN), std::vector<double>(neurons, kNaN),
                       std::vector<double>(neurons * static_cast<std::size_t>(p), kNaN)};
    parallel_rows_with_scratch<EstimateScratch>(
        traces.rows, threads, RowSchedule::one_at_a_time, [&](std::int64_t row, EstimateScratch& scratch) {
            const auto r = static_cast<std::size_t>(row);
            const std::int64_t n = lengths[r];
            if (n == 0) return;
            load_trace(traces, row, n, 0.0, scratch.y);
            const double* y = scratch.y.data();
            out.baseline[r] = percentile(y, n, baseline_percentile, scratch.work);
            out.sn[r] = noise_level(y, n, scratch.work);
            if (p == 1) out.g[r] = ar1_coefficient(y, n, out.sn[r], fudge);
            else ar2_coefficients(y, n, out.sn[r], fudge, out.g[2 * r], out.g[2 * r + 1]);
        });
    return out;
}

template OasisResult deconvolve_rows(const MatrixView<float>&, const std::vector<std::int64_t>&,
                                     const OasisParameters&, int);
template OasisResult deconvolve_rows(const MatrixView<double>&, const std::vector<std::int64_t>&,
                                     const OasisParameters&, int);
template OasisEstimates estimate_rows(const MatrixView<float>&, const std::vector<std::int64_t>&, int, double,
                                      double, int);
template OasisEstimates estimate_rows(const MatrixView<double>&, const std::vector<std::int64_t>&, int, double,
                                      double, int);

}  // namespace calspike
