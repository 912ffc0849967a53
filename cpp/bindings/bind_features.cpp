#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "calspike/threads.hpp"
#include "calspike/features.hpp"
#include "numpy.hpp"

namespace calspike::bindings {

namespace {

Feature parse_feature(const std::string& name) {
    if (name == "raw") return Feature::raw;
    if (name == "delta") return Feature::delta;
    if (name == "quad") return Feature::quad;
    if (name == "delta_quad") return Feature::delta_quad;
    if (name == "tutorial_delta") return Feature::tutorial_delta;
    throw std::invalid_argument("unknown feature '" + name +
                                "': choose from 'raw', 'delta', 'quad', 'delta_quad', 'tutorial_delta'");
}

py::array features_py(const py::array_t<float, py::array::c_style>& windows,
                      const std::vector<std::string>& kinds, int threads) {
    check_threads(threads);  // before any work, so a bad count never reaches OpenMP
    if (windows.ndim() != 2) {
        throw std::invalid_argument("windows must be 2-D (count, length), got " +
                                    std::to_string(windows.ndim()) + "-D");
    }
    std::vector<Feature> parsed;
    for (const std::string& kind : kinds) parsed.push_back(parse_feature(kind));
    const std::int64_t count = windows.shape(0), length = windows.shape(1);
    Buffer<float> stack;
    {
        // Safe without the GIL: `windows` is held by the caller and read as raw memory.
        py::gil_scoped_release release;
        stack = feature_stack(windows.data(), count, length, parsed, threads);
    }
    return hand_over(stack, {count, length, static_cast<py::ssize_t>(parsed.size())});
}

}  // namespace

void bind_features(py::module_& m) {
    m.def("features", &features_py, py::arg("windows"), py::arg("kinds"), py::arg("threads") = 0,
          "Stack per-frame features of (count, length) float32 windows into (count, length,\n"
          "channels). Private: use calspike.features.");
}

}  // namespace calspike::bindings
