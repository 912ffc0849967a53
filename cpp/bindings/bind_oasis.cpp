// OASIS: argument checks and hand-over only; the work is calspike::deconvolve_rows.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "calspike/oasis_driver.hpp"
#include "calspike/threads.hpp"
#include "numpy.hpp"

namespace calspike::bindings {

namespace {

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// One value per neuron, each in [low, high] (or [low, high) when not high_inclusive).
std::vector<double> per_neuron(const DoubleArray& values, py::ssize_t neurons, const std::string& name, double low,
                               double high, bool high_inclusive) {
    if (values.ndim() != 1 || values.shape(0) != neurons) {
        throw std::invalid_argument(name + " must have one value per neuron (" + std::to_string(neurons) + ")");
    }
    std::vector<double> out(values.data(), values.data() + neurons);
    for (py::ssize_t i = 0; i < neurons; ++i) {
        const double v = out[static_cast<std::size_t>(i)];
        if (!(v >= low && (high_inclusive ? v <= high : v < high))) {
            throw std::invalid_argument(name + "[" + std::to_string(i) + "] must be in [" + std::to_string(low) +
                                        ", " + std::to_string(high) + (high_inclusive ? "]" : ")") + ", got " +
                                        std::to_string(v));
        }
    }
    return out;
}

// Column `column` of a (neurons, p) array of AR coefficients.
DoubleArray coefficient_column(const DoubleArray& g, py::ssize_t column) {
    return DoubleArray(py::array(g).attr("__getitem__")(py::make_tuple(py::slice(0, g.shape(0), 1), column)));
}

// The AR(2) roots d > r of z^2 = g1 z + g2 must be real, distinct and inside (-1, 1).
void check_ar2_roots(const std::vector<double>& g1, const std::vector<double>& g2) {
    for (std::size_t i = 0; i < g1.size(); ++i) {
        const double discriminant = g1[i] * g1[i] + 4.0 * g2[i];
        const double root = discriminant > 0.0 ? std::sqrt(discriminant) : 0.0;
        const double d = (g1[i] + root) / 2.0, r = (g1[i] - root) / 2.0;
        if (!(root >= 2e-6 && d < 1.0 && r > -1.0)) {
            throw std::invalid_argument("AR(2) coefficients (g1, g2) = (" + std::to_string(g1[i]) + ", " +
                                        std::to_string(g2[i]) + ") of neuron " + std::to_string(i) +
                                        " need real, distinct roots inside (-1, 1)");
        }
    }
}

// The variants, one row each: (AR order, noise-constrained, exact) -> the problem solved.
struct VariantRow {
    int p;
    bool constrained, exact;
    OasisVariant variant;
};
constexpr VariantRow kVariants[] = {
    {1, false, false, OasisVariant::ar1},
    {1, false, true, OasisVariant::ar1},  // AR(1) pools are exact either way
    {1, true, false, OasisVariant::ar1_constrained},
    {1, true, true, OasisVariant::ar1_constrained},
    {2, false, false, OasisVariant::ar2_greedy},
    {2, false, true, OasisVariant::ar2_exact},
    {2, true, false, OasisVariant::ar2_greedy_constrained},
    {2, true, true, OasisVariant::ar2_exact_constrained},
};

OasisVariant variant_of(int p, bool constrained, bool exact) {
    for (const VariantRow& row : kVariants)
        if (row.p == p && row.constrained == constrained && row.exact == exact) return row.variant;
    throw std::invalid_argument("g must have 1 (AR(1)) or 2 (AR(2)) columns, got " + std::to_string(p));
}

py::tuple oasis_py(const py::array& calcium, const std::optional<std::vector<std::int64_t>>& lengths,
                   const DoubleArray& baseline, const DoubleArray& g, const DoubleArray& penalty, bool constrained,
                   double s_min, bool exact, int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    float_matrix_kind(calcium, "calcium");
    const py::ssize_t neurons = calcium.shape(0);
    const std::vector<std::int64_t> valid = checked_lengths(lengths, neurons, calcium.shape(1), "lengths");
    if (g.ndim() != 2 || g.shape(0) != neurons)
        throw std::invalid_argument("g must be (neurons, p) with one row per neuron (" + std::to_string(neurons) + ")");
    const int p = static_cast<int>(g.shape(1));
    OasisParameters parameters;
    parameters.variant = variant_of(p, constrained, exact);
    parameters.baseline = per_neuron(baseline, neurons, "baseline", -HUGE_VAL, HUGE_VAL, true);
    if (p == 1) {
        parameters.g1 = per_neuron(coefficient_column(g, 0), neurons, "g", 0.0, 1.0, false);
    } else {
        parameters.g1 = per_neuron(coefficient_column(g, 0), neurons, "g1", -2.0, 2.0, true);
        parameters.g2 = per_neuron(coefficient_column(g, 1), neurons, "g2", -1.0, 1.0, true);
        check_ar2_roots(parameters.g1, parameters.g2);
    }
    parameters.penalty = per_neuron(penalty, neurons, constrained ? "sn" : "lam", 0.0, HUGE_VAL, false);
    if (!(s_min >= 0.0 && std::isfinite(s_min))) throw std::invalid_argument("s_min must be finite and >= 0");
    if (s_min > 0.0 && (constrained || parameters.variant == OasisVariant::ar2_exact))
        throw std::invalid_argument("s_min > 0 needs a fixed lam, and for AR(2) exact=False (it is not convex)");
    parameters.s_min = s_min;
    OasisResult result = on_matrix(calcium, "calcium", [&](const auto& view) {
        return deconvolve_rows(view, valid, parameters, threads);
    });
    return py::make_tuple(hand_over(result.calcium, {neurons, calcium.shape(1)}),
                          hand_over(result.spikes, {neurons, calcium.shape(1)}), py::array(py::cast(result.lambda)));
}

py::tuple estimates_py(const py::array& calcium, const std::optional<std::vector<std::int64_t>>& lengths, int p,
                       double baseline_percentile, double fudge, int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    if (p != 1 && p != 2) throw std::invalid_argument("p must be 1 or 2");
    float_matrix_kind(calcium, "calcium");
    const std::vector<std::int64_t> valid = checked_lengths(lengths, calcium.shape(0), calcium.shape(1), "lengths");
    if (!(baseline_percentile >= 0.0 && baseline_percentile <= 100.0))
        throw std::invalid_argument("baseline_percentile must be in [0, 100]");
    if (!(fudge > 0.0 && fudge <= 1.0)) throw std::invalid_argument("fudge must be in (0, 1]");
    OasisEstimates estimates = on_matrix(calcium, "calcium", [&](const auto& view) {
        return estimate_rows(view, valid, p, baseline_percentile, fudge, threads);
    });
    py::array coefficients = py::array(py::cast(estimates.g)).attr("reshape")(calcium.shape(0), p);
    return py::make_tuple(py::array(py::cast(estimates.baseline)), py::array(py::cast(estimates.sn)), coefficients);
}

}  // namespace

void bind_oasis(py::module_& m) {
    m.def("oasis", &oasis_py, py::arg("calcium"), py::arg("lengths"), py::arg("baseline"), py::arg("g"),
          py::arg("penalty"), py::arg("constrained") = false, py::arg("s_min") = 0.0, py::arg("exact") = true,
          py::arg("threads") = 0,
          "OASIS on every row: AR(p) for g of shape (neurons, p); penalty is lam, or with constrained=True\n"
          "the noise sn. Returns float32 (calcium, spikes) and float64 lambda. Private: use calspike.deconvolve.");
    m.def("oasis_estimates", &estimates_py, py::arg("calcium"), py::arg("lengths"), py::arg("p") = 1,
          py::arg("baseline_percentile") = 15.0, py::arg("fudge") = 0.98, py::arg("threads") = 0,
          "Per-neuron (baseline, sn, g (neurons, p)) for OASIS. Private: use calspike.deconvolve.");
}

}  // namespace calspike::bindings
