#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "calspike/threads.hpp"
#include "calspike/resample.hpp"
#include "numpy.hpp"

namespace calspike::bindings {

namespace {

py::tuple resample_py(const py::array& traces, double rate_in, double rate_out,
                      const std::optional<std::vector<std::int64_t>>& lengths, int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    float_matrix_kind(traces, "traces");
    const std::vector<std::int64_t> valid = checked_lengths(lengths, traces.shape(0), traces.shape(1), "lengths");
    std::vector<std::int64_t> out_lengths;
    Buffer<float> out = on_matrix(traces, "traces", [&](const auto& view) {
        return resample_traces(view, valid, rate_in, rate_out, out_lengths, threads);
    });
    std::int64_t width = 0;
    for (std::int64_t v : out_lengths) width = std::max(width, v);
    return py::make_tuple(hand_over(out, {traces.shape(0), static_cast<py::ssize_t>(width)}),
                          py::array_t<std::int64_t>(static_cast<py::ssize_t>(out_lengths.size()), out_lengths.data()));
}

py::array rebin_py(const py::array& counts, double rate_in, double rate_out, const std::vector<std::int64_t>& out_lengths,
                   const std::optional<std::vector<std::int64_t>>& lengths, int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    float_matrix_kind(counts, "counts");
    const std::vector<std::int64_t> valid = checked_lengths(lengths, counts.shape(0), counts.shape(1), "lengths");
    if (static_cast<py::ssize_t>(out_lengths.size()) != counts.shape(0))
        throw std::invalid_argument("out_lengths must have one entry per row (" + std::to_string(counts.shape(0)) + ")");
    Buffer<float> out = on_matrix(counts, "counts", [&](const auto& view) {
        return rebin_counts(view, valid, rate_in, rate_out, out_lengths, threads);
    });
    std::int64_t width = 0;
    for (std::int64_t v : out_lengths) width = std::max(width, v);
    return hand_over(out, {counts.shape(0), static_cast<py::ssize_t>(width)});
}

}  // namespace

void bind_resample(py::module_& m) {
    m.def("resampled_length", &resampled_length, py::arg("frames"), py::arg("rate_in"), py::arg("rate_out"),
          "Frames at rate_out that cover `frames` frames at rate_in.");
    m.def("resample", &resample_py, py::arg("traces"), py::arg("rate_in"), py::arg("rate_out"),
          py::arg("lengths") = py::none(), py::arg("threads") = 0,
          "Anti-aliased resampling of (rows, frames) traces: (float32 (rows, frames'), int64 lengths).\n"
          "Private: use calspike.resample.");
    m.def("rebin_counts", &rebin_py, py::arg("counts"), py::arg("rate_in"), py::arg("rate_out"),
          py::arg("out_lengths"), py::arg("lengths") = py::none(), py::arg("threads") = 0,
          "Count-conserving mapping of (rows, frames) counts to another frame rate. Private: use\n"
          "calspike.resample.");
}

}  // namespace calspike::bindings
