#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "calspike/oasis.hpp"
#include "calspike/threads.hpp"
#include "numpy.hpp"

namespace calspike::bindings {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Per-neuron parameters: one float64 value per neuron, checked against `low`/`high`.
std::vector<double> per_neuron(const py::array_t<double, py::array::c_style | py::array::forcecast>& values,
                               py::ssize_t neurons, const char* name, double low, double high,
                               bool high_inclusive) {
    if (values.ndim() != 1 || values.shape(0) != neurons) {
        throw std::invalid_argument(std::string(name) + " must have one value per neuron (" +
                                    std::to_string(neurons) + ")");
    }
    std::vector<double> out(values.data(), values.data() + neurons);
    for (py::ssize_t i = 0; i < neurons; ++i) {
        const double v = out[static_cast<std::size_t>(i)];
        if (!(v >= low && (high_inclusive ? v <= high : v < high))) {
            throw std::invalid_argument(std::string(name) + "[" + std::to_string(i) + "] must be in [" +
                                        std::to_string(low) + ", " + std::to_string(high) +
                                        (high_inclusive ? "]" : ")") + ", got " + std::to_string(v));
        }
    }
    return out;
}

// Views of the input built while the GIL is held; the kernels then read raw memory only.
// Per-neuron AR(2) coefficients; the roots d > r of z^2 = g1 z + g2 must be real, distinct
// and inside (-1, 1).
std::pair<std::vector<double>, std::vector<double>> ar2_parameters(const py::array_t<double>& first,
                                                                   const py::array_t<double>& second,
                                                                   py::ssize_t neurons) {
    std::vector<double> g1 = per_neuron(first, neurons, "g1", -2.0, 2.0, true);
    std::vector<double> g2 = per_neuron(second, neurons, "g2", -1.0, 1.0, true);
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
    return {std::move(g1), std::move(g2)};
}

struct Traces {
    FloatKind kind;
    MatrixView<float> f32;
    MatrixView<double> f64;
    py::ssize_t neurons, frames;
    std::vector<std::int64_t> lengths;
};

Traces traces_of(const py::array& calcium, const std::vector<std::int64_t>& lengths) {
    Traces traces{float_matrix_kind(calcium, "calcium"), {}, {}, calcium.shape(0), calcium.shape(1), lengths};
    if (traces.kind == FloatKind::f32) traces.f32 = matrix_view<float>(calcium, "calcium");
    else traces.f64 = matrix_view<double>(calcium, "calcium");
    if (static_cast<py::ssize_t>(lengths.size()) != traces.neurons)
        throw std::invalid_argument("lengths must have one entry per neuron");
    for (std::int64_t length : lengths)
        if (length < 0 || length > traces.frames) throw std::invalid_argument("lengths must lie in [0, frames]");
    return traces;
}

// Copies neuron `row`'s valid frames, minus `baseline`, into `out` as doubles.
void load_trace(const Traces& traces, std::int64_t row, double baseline, std::vector<double>& out) {
    const std::int64_t n = traces.lengths[static_cast<std::size_t>(row)];
    out.resize(static_cast<std::size_t>(n));
    if (traces.kind == FloatKind::f32) {
        for (std::int64_t t = 0; t < n; ++t) out[t] = static_cast<double>(traces.f32(row, t)) - baseline;
    } else {
        for (std::int64_t t = 0; t < n; ++t) out[t] = traces.f64(row, t) - baseline;
    }
}

// Runs `solve(row, y, c, s)` for every neuron in parallel and returns float32 (c, s)
// arrays with NaN beyond each neuron's length.
template <class Solve>
py::tuple solve_all(const Traces& traces, const std::vector<double>& baseline, [[maybe_unused]] int threads,
                    Solve solve) {
    const std::int64_t neurons = traces.neurons, frames = traces.frames;
    Buffer<float> calcium(static_cast<std::size_t>(neurons * frames)), spikes(calcium.size());
    std::exception_ptr failure;
    {
        // Safe without the GIL: the caller's references keep the input alive, and the
        // views were built beforehand, so only raw memory is read.
        py::gil_scoped_release release;
#pragma omp parallel num_threads(resolve_threads(threads))
        {
            std::vector<double> y, c, s;
#pragma omp for schedule(dynamic, 1)
            for (std::int64_t row = 0; row < neurons; ++row) {
                try {
                    const std::int64_t n = traces.lengths[static_cast<std::size_t>(row)];
                    float* c_out = calcium.data() + row * frames;
                    float* s_out = spikes.data() + row * frames;
                    if (n > 0) {
                        load_trace(traces, row, baseline[static_cast<std::size_t>(row)], y);
                        c.resize(static_cast<std::size_t>(n));
                        s.resize(static_cast<std::size_t>(n));
                        solve(row, y, c, s);
                        for (std::int64_t t = 0; t < n; ++t) {
                            c_out[t] = static_cast<float>(c[t]);
                            s_out[t] = static_cast<float>(s[t]);
                        }
                    }
                    for (std::int64_t t = n; t < frames; ++t) c_out[t] = s_out[t] = static_cast<float>(kNaN);
                } catch (...) {
#pragma omp critical(calspike_oasis_failure)
                    if (!failure) failure = std::current_exception();
                }
            }
        }
    }
    if (failure) std::rethrow_exception(failure);
    return py::make_tuple(hand_over(calcium, {neurons, frames}), hand_over(spikes, {neurons, frames}));
}

}  // namespace

void bind_oasis(py::module_& m) {
    m.def(
        "oasis_ar1",
        [](const py::array& calcium, const std::vector<std::int64_t>& lengths, const py::array_t<double>& baseline,
           const py::array_t<double>& g, const py::array_t<double>& lam, double s_min, int threads) {
            check_threads(threads);  // before any work, so a bad count never reaches OpenMP
            const Traces traces = traces_of(calcium, lengths);
            const auto b = per_neuron(baseline, traces.neurons, "baseline", -HUGE_VAL, HUGE_VAL, true);
            const auto gs = per_neuron(g, traces.neurons, "g", 0.0, 1.0, false);
            const auto lams = per_neuron(lam, traces.neurons, "lam", 0.0, HUGE_VAL, false);
            if (!(s_min >= 0.0 && std::isfinite(s_min))) throw std::invalid_argument("s_min must be finite and >= 0");
            return solve_all(traces, b, threads, [&](std::int64_t row, const std::vector<double>& y,
                                                     std::vector<double>& c, std::vector<double>& s) {
                thread_local std::vector<OasisPool> pools;
                oasis_ar1(y.data(), static_cast<std::int64_t>(y.size()), gs[row], lams[row], s_min, c.data(),
                          s.data(), pools);
            });
        },
        py::arg("calcium"), py::arg("lengths"), py::arg("baseline"), py::arg("g"), py::arg("lam"),
        py::arg("s_min") = 0.0, py::arg("threads") = 0,
        "OASIS AR(1) with a fixed penalty per neuron; returns float32 (calcium, spikes).");
    m.def(
        "oasis_ar1_constrained",
        [](const py::array& calcium, const std::vector<std::int64_t>& lengths, const py::array_t<double>& baseline,
           const py::array_t<double>& g, const py::array_t<double>& sn, int threads) {
            check_threads(threads);  // before any work, so a bad count never reaches OpenMP
            const Traces traces = traces_of(calcium, lengths);
            const auto b = per_neuron(baseline, traces.neurons, "baseline", -HUGE_VAL, HUGE_VAL, true);
            const auto gs = per_neuron(g, traces.neurons, "g", 0.0, 1.0, false);
            const auto sns = per_neuron(sn, traces.neurons, "sn", 0.0, HUGE_VAL, false);
            std::vector<double> lam(static_cast<std::size_t>(traces.neurons), kNaN);
            py::tuple result = solve_all(traces, b, threads, [&](std::int64_t row, const std::vector<double>& y,
                                                                 std::vector<double>& c, std::vector<double>& s) {
                thread_local std::vector<OasisPool> pools;
                thread_local std::vector<double> scratch;
                lam[row] = oasis_ar1_constrained(y.data(), static_cast<std::int64_t>(y.size()), gs[row], sns[row],
                                                 c.data(), s.data(), pools, scratch);
            });
            return py::make_tuple(result[0], result[1], py::array(py::cast(lam)));
        },
        py::arg("calcium"), py::arg("lengths"), py::arg("baseline"), py::arg("g"), py::arg("sn"),
        py::arg("threads") = 0,
        "Noise-constrained OASIS AR(1); returns float32 (calcium, spikes) and float64 lambda per neuron.");
    m.def(
        "oasis_ar2",
        [](const py::array& calcium, const std::vector<std::int64_t>& lengths, const py::array_t<double>& baseline,
           const py::array_t<double>& g1, const py::array_t<double>& g2, const py::array_t<double>& lam,
           double s_min, bool exact, int threads) {
            check_threads(threads);  // before any work, so a bad count never reaches OpenMP
            const Traces traces = traces_of(calcium, lengths);
            const auto b = per_neuron(baseline, traces.neurons, "baseline", -HUGE_VAL, HUGE_VAL, true);
            const auto [first, second] = ar2_parameters(g1, g2, traces.neurons);
            const auto lams = per_neuron(lam, traces.neurons, "lam", 0.0, HUGE_VAL, false);
            if (!(s_min >= 0.0 && std::isfinite(s_min))) throw std::invalid_argument("s_min must be finite and >= 0");
            if (exact && s_min > 0.0) throw std::invalid_argument("exact AR(2) needs s_min = 0 (s_min > 0 is not convex)");
            return solve_all(traces, b, threads, [&](std::int64_t row, const std::vector<double>& y,
                                                     std::vector<double>& c, std::vector<double>& s) {
                thread_local std::vector<Ar2Pool> pools;
                thread_local std::vector<double> scratch;
                const auto n = static_cast<std::int64_t>(y.size());
                if (!exact) {
                    oasis_ar2(y.data(), n, first[row], second[row], lams[row], s_min, c.data(), s.data(), pools, scratch);
                } else if (oasis_ar2_exact(y.data(), n, first[row], second[row], lams[row], c.data(), s.data(), pools,
                                           scratch) < 0) {
                    throw std::runtime_error("exact AR(2) deconvolution did not converge for neuron " +
                                             std::to_string(row) + "; use exact=False");
                }
            });
        },
        py::arg("calcium"), py::arg("lengths"), py::arg("baseline"), py::arg("g1"), py::arg("g2"), py::arg("lam"),
        py::arg("s_min") = 0.0, py::arg("exact") = true, py::arg("threads") = 0,
        "OASIS AR(2) with a fixed penalty per neuron, exact or greedy; returns float32 (calcium, spikes).");
    m.def(
        "oasis_ar2_constrained",
        [](const py::array& calcium, const std::vector<std::int64_t>& lengths, const py::array_t<double>& baseline,
           const py::array_t<double>& g1, const py::array_t<double>& g2, const py::array_t<double>& sn, bool exact,
           int threads) {
            check_threads(threads);  // before any work, so a bad count never reaches OpenMP
            const Traces traces = traces_of(calcium, lengths);
            const auto b = per_neuron(baseline, traces.neurons, "baseline", -HUGE_VAL, HUGE_VAL, true);
            const auto [first, second] = ar2_parameters(g1, g2, traces.neurons);
            const auto sns = per_neuron(sn, traces.neurons, "sn", 0.0, HUGE_VAL, false);
            std::vector<double> lam(static_cast<std::size_t>(traces.neurons), kNaN);
            py::tuple result = solve_all(traces, b, threads, [&](std::int64_t row, const std::vector<double>& y,
                                                                 std::vector<double>& c, std::vector<double>& s) {
                thread_local std::vector<Ar2Pool> pools;
                thread_local std::vector<double> scratch;
                lam[row] = oasis_ar2_constrained(y.data(), static_cast<std::int64_t>(y.size()), first[row],
                                                 second[row], sns[row], exact, c.data(), s.data(), pools, scratch);
            });
            return py::make_tuple(result[0], result[1], py::array(py::cast(lam)));
        },
        py::arg("calcium"), py::arg("lengths"), py::arg("baseline"), py::arg("g1"), py::arg("g2"), py::arg("sn"),
        py::arg("exact") = true, py::arg("threads") = 0,
        "Noise-constrained OASIS AR(2), exact or greedy; returns float32 (calcium, spikes), float64 lambda.");
    m.def(
        "estimate_oasis_parameters",
        [](const py::array& calcium, const std::vector<std::int64_t>& lengths, int p, double baseline_percentile,
           double fudge, [[maybe_unused]] int threads) {
            check_threads(threads);  // before any work, so a bad count never reaches OpenMP
            if (p != 1 && p != 2) throw std::invalid_argument("p must be 1 or 2");
            const Traces traces = traces_of(calcium, lengths);
            if (!(baseline_percentile >= 0.0 && baseline_percentile <= 100.0))
                throw std::invalid_argument("baseline_percentile must be in [0, 100]");
            if (!(fudge > 0.0 && fudge <= 1.0)) throw std::invalid_argument("fudge must be in (0, 1]");
            const auto neurons = static_cast<std::size_t>(traces.neurons);
            std::vector<double> baseline(neurons, kNaN), sn(neurons, kNaN), g(neurons * p, kNaN);
            {
                // Safe without the GIL: raw reads of an array the caller keeps alive.
                py::gil_scoped_release release;
#pragma omp parallel num_threads(resolve_threads(threads))
                {
                    std::vector<double> y, scratch;
#pragma omp for schedule(dynamic, 1)
                    for (std::int64_t row = 0; row < traces.neurons; ++row) {
                        const std::int64_t n = traces.lengths[static_cast<std::size_t>(row)];
                        if (n == 0) continue;
                        load_trace(traces, row, 0.0, y);
                        baseline[row] = percentile(y.data(), n, baseline_percentile, scratch);
                        sn[row] = noise_level(y.data(), n, scratch);
                        if (p == 1) g[row] = ar1_coefficient(y.data(), n, sn[row], fudge);
                        else ar2_coefficients(y.data(), n, sn[row], fudge, g[2 * row], g[2 * row + 1]);
                    }
                }
            }
            py::array coefficients = py::array(py::cast(g)).attr("reshape")(traces.neurons, p);
            return py::make_tuple(py::array(py::cast(baseline)), py::array(py::cast(sn)), coefficients);
        },
        py::arg("calcium"), py::arg("lengths"), py::arg("p") = 1, py::arg("baseline_percentile") = 15.0,
        py::arg("fudge") = 0.98, py::arg("threads") = 0,
        "Per-neuron (baseline, noise sn, AR coefficients (neurons, p)) estimates, float64.");
}

}  // namespace calspike::bindings
