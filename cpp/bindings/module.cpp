// calspike._core: one bind_<concern>() per file.
#include <pybind11/pybind11.h>

namespace calspike::bindings {
void bind_info(pybind11::module_& m);
void bind_windows(pybind11::module_& m);
void bind_features(pybind11::module_& m);
void bind_oasis(pybind11::module_& m);
void bind_resample(pybind11::module_& m);
void bind_robust(pybind11::module_& m);
}  // namespace calspike::bindings

PYBIND11_MODULE(_core, m) {
    m.doc() = "calspike's compiled core (private: use the calspike package instead).";
    calspike::bindings::bind_info(m);
    calspike::bindings::bind_windows(m);
    calspike::bindings::bind_features(m);
    calspike::bindings::bind_oasis(m);
    calspike::bindings::bind_resample(m);
    calspike::bindings::bind_robust(m);
}
