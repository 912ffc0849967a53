#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "calspike/threads.hpp"
#include "calspike/windows.hpp"
#include "numpy.hpp"

namespace calspike::bindings {

namespace {

Normalization parse_normalization(const std::string& name) {
    if (name == "window") return Normalization::window;
    if (name == "neuron") return Normalization::neuron;
    if (name == "none") return Normalization::none;
    throw std::invalid_argument("normalize must be 'window', 'neuron' or 'none', got '" + name + "'");
}

std::vector<std::int64_t> lengths_of(const py::array& calcium, FloatKind kind) {
    // Reads only each row's NaN tail; no Python object is touched.
    py::gil_scoped_release release;
    return kind == FloatKind::f32 ? valid_lengths(matrix_view<float>(calcium, "calcium"))
                                  : valid_lengths(matrix_view<double>(calcium, "calcium"));
}

template <class C, class S>
Partition run_partition(const py::array& calcium, const std::optional<py::array>& spikes,
                        const std::vector<std::int64_t>& lengths, const WindowSpec& spec,
                        int threads) {
    const MatrixView<C> calcium_view = matrix_view<C>(calcium, "calcium");
    MatrixView<S> spikes_view;
    if (spikes) spikes_view = matrix_view<S>(*spikes, "spikes");
    // Safe without the GIL: the caller's references keep both arrays alive, and
    // the kernel reads raw memory only.
    py::gil_scoped_release release;
    return partition<C, S>(calcium_view, spikes ? &spikes_view : nullptr, lengths, spec, threads);
}

py::tuple partition_py(const py::array& calcium, const std::optional<py::array>& spikes,
                       const std::optional<std::vector<std::int64_t>>& lengths,
                       std::int64_t len_pre, std::int64_t len_post, std::int64_t skip,
                       std::int64_t spike_n, const std::string& normalize, int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    const FloatKind calcium_kind = float_matrix_kind(calcium, "calcium");
    FloatKind spikes_kind = FloatKind::f32;
    if (spikes) {
        spikes_kind = float_matrix_kind(*spikes, "spikes");
        if (spikes->shape(0) != calcium.shape(0) || spikes->shape(1) != calcium.shape(1)) {
            throw std::invalid_argument(
                "spikes must have the shape of calcium (" + std::to_string(calcium.shape(0)) +
                ", " + std::to_string(calcium.shape(1)) + "), got (" +
                std::to_string(spikes->shape(0)) + ", " + std::to_string(spikes->shape(1)) + ")");
        }
    }
    WindowSpec spec{len_pre, len_post, skip, spike_n, parse_normalization(normalize)};
    check_spec(spec);
    const std::vector<std::int64_t> valid = lengths ? *lengths : lengths_of(calcium, calcium_kind);

    Partition result;
    const bool c32 = calcium_kind == FloatKind::f32, s32 = spikes_kind == FloatKind::f32;
    if (c32 && s32) result = run_partition<float, float>(calcium, spikes, valid, spec, threads);
    if (c32 && !s32) result = run_partition<float, double>(calcium, spikes, valid, spec, threads);
    if (!c32 && s32) result = run_partition<double, float>(calcium, spikes, valid, spec, threads);
    if (!c32 && !s32) result = run_partition<double, double>(calcium, spikes, valid, spec, threads);

    const py::ssize_t count = result.count;
    py::object did_spike = py::none();
    if (spikes) did_spike = hand_over(result.did_spike, {count}, py::dtype::of<bool>());
    return py::make_tuple(hand_over(result.windows, {count, result.length}), did_spike,
                          hand_over(result.neuron, {count}), hand_over(result.frame, {count}),
                          py::array(py::cast(result.skipped)), py::array(py::cast(valid)));
}

}  // namespace

void bind_windows(py::module_& m) {
    m.def("partition", &partition_py, py::arg("calcium"), py::arg("spikes") = py::none(),
          py::arg("lengths") = py::none(), py::arg("len_pre") = 10, py::arg("len_post") = 10,
          py::arg("skip") = 10, py::arg("spike_n") = 2, py::arg("normalize") = "window",
          py::arg("threads") = 0,
          "Cut (neurons, frames) calcium into windows; returns (windows, did_spike, neuron,\n"
          "frame, skipped, lengths). Private: use calspike.partition.");
    m.def(
        "valid_lengths",
        [](const py::array& matrix) {
            return py::array(py::cast(lengths_of(matrix, float_matrix_kind(matrix, "calcium"))));
        },
        py::arg("calcium"), "Frames before each row's trailing NaN run, as int64.");
    m.def(
        "window_count",
        [](std::int64_t valid_length, std::int64_t len_pre, std::int64_t len_post,
           std::int64_t skip, std::int64_t spike_n) {
            const WindowSpec spec{len_pre, len_post, skip, spike_n, Normalization::window};
            check_spec(spec);
            return window_count(valid_length, spec);
        },
        py::arg("valid_length"), py::arg("len_pre"), py::arg("len_post"), py::arg("skip"),
        py::arg("spike_n"), "Number of windows a trace of valid_length frames yields.");
}

}  // namespace calspike::bindings
