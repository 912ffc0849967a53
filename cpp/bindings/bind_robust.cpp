// Robust statistics of traces: argument checks and hand-over only (calspike/robust.hpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <vector>

#include "calspike/robust.hpp"
#include "calspike/threads.hpp"
#include "numpy.hpp"

namespace calspike::bindings {

namespace {

py::array robust_normalise_py(const py::array& traces, const std::optional<std::vector<std::int64_t>>& lengths,
                              int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    float_matrix_kind(traces, "traces");
    const std::vector<std::int64_t> valid = checked_lengths(lengths, traces.shape(0), traces.shape(1), "lengths");
    Buffer<float> out = on_matrix(traces, "traces", [&](const auto& view) {
        return robust_normalise_rows(view, valid, threads);
    });
    return hand_over(out, {traces.shape(0), traces.shape(1)});
}

py::array robust_scales_py(const py::array& traces, const std::optional<std::vector<std::int64_t>>& lengths,
                           int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    float_matrix_kind(traces, "traces");
    const std::vector<std::int64_t> valid = checked_lengths(lengths, traces.shape(0), traces.shape(1), "lengths");
    const std::vector<double> scales = on_matrix(traces, "traces", [&](const auto& view) {
        return robust_scales(view, valid, threads);
    });
    return py::array(py::cast(scales));
}

py::array noise_levels_py(const py::array& traces, double rate,
                          const std::optional<std::vector<std::int64_t>>& lengths, int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    float_matrix_kind(traces, "traces");
    if (!(rate > 0.0 && std::isfinite(rate))) throw std::invalid_argument("rate must be a positive frame rate in Hz");
    const std::vector<std::int64_t> valid = checked_lengths(lengths, traces.shape(0), traces.shape(1), "lengths");
    const std::vector<double> levels = on_matrix(traces, "traces", [&](const auto& view) {
        return standard_noise_levels(view, valid, rate, threads);
    });
    return py::array(py::cast(levels));
}

}  // namespace

void bind_robust(py::module_& m) {
    m.attr("MAD_TO_SIGMA") = kMadToSigma;
    m.def("robust_normalise", &robust_normalise_py, py::arg("traces"), py::arg("lengths") = py::none(),
          py::arg("threads") = 0,
          "(x - median) / (MAD_TO_SIGMA * MAD) per row over its valid frames, float32. Private: use\n"
          "calspike.preprocess.robust_normalise.");
    m.def("robust_scales", &robust_scales_py, py::arg("traces"), py::arg("lengths") = py::none(),
          py::arg("threads") = 0,
          "MAD_TO_SIGMA * MAD per row over its valid frames (robust_normalise's divisor), float64.\n"
          "Private: use calspike.preprocess.robust_scales.");
    m.def("noise_levels", &noise_levels_py, py::arg("traces"), py::arg("rate"), py::arg("lengths") = py::none(),
          py::arg("threads") = 0,
          "median |x[t+1] - x[t]| / sqrt(rate) per row, float64. Private: use calspike.preprocess.noise_levels.");
}

}  // namespace calspike::bindings
