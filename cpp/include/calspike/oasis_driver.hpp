// OASIS over every neuron of a matrix, in parallel: the driver the bindings call. It owns
// the thread team, the per-thread scratch (explicit, no thread_local state), the dtype
// dispatch (float32 or float64 input, read in place) and the NaN padding of the outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "calspike/buffer.hpp"
#include "calspike/matrix.hpp"
#include "calspike/oasis.hpp"

namespace calspike {

// The problem every neuron solves (see oasis.hpp).
enum class OasisVariant { ar1, ar1_constrained, ar2_greedy, ar2_exact, ar2_greedy_constrained, ar2_exact_constrained };

// Per-neuron parameters: one value per neuron in each vector the variant uses. `penalty` is
// lambda, or for the constrained variants the noise level sn. g2 is unused for AR(1).
struct OasisParameters {
    OasisVariant variant = OasisVariant::ar1;
    std::vector<double> baseline, g1, g2, penalty;
    double s_min = 0.0;  // minimal spike size (fixed-penalty AR(1) and greedy AR(2) only)
};

// Float32 (neurons, frames) calcium and spikes, NaN beyond each neuron's length, and the
// lambda each neuron used (the given one, or the one the noise constraint found).
struct OasisResult {
    Buffer<float> calcium, spikes;
    std::vector<double> lambda;
};

// Solves every row's first lengths[r] frames, minus baseline[r]. Rows of length 0 give NaN.
// Throws the lowest failing neuron's error (std::runtime_error naming a neuron whose exact
// AR(2) did not converge), whatever the thread count. Parameters must have been checked by
// the caller.
template <class T>
OasisResult deconvolve_rows(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths,
                            const OasisParameters& parameters, int threads);

// Per-neuron estimates for OASIS: the baseline (a percentile), the noise sn (PSD) and the
// AR coefficients (p per neuron, row-major). NaN for rows of length 0.
struct OasisEstimates {
    std::vector<double> baseline, sn, g;
};

template <class T>
OasisEstimates estimate_rows(const MatrixView<T>& traces, const std::vector<std::int64_t>& lengths, int p,
                             double baseline_percentile, double fudge, int threads);

}  // namespace calspike
