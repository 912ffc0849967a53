#include <pybind11/pybind11.h>

#include <string>

#include "calspike/threads.hpp"

#ifndef CALSPIKE_VERSION
#define CALSPIKE_VERSION "unknown"
#endif

namespace calspike::bindings {

namespace py = pybind11;

void bind_info(py::module_& m) {
    m.attr("MAX_THREADS") = kMaxThreads;
    m.def("build_info", []() {
        py::dict info;
        info["version"] = CALSPIKE_VERSION;
        info["openmp"] = has_openmp();
#ifdef _OPENMP
        info["openmp_version"] = _OPENMP;
#else
        info["openmp_version"] = py::none();
#endif
        info["max_threads"] = resolve_threads(0);
        info["compiler"] = std::string(__VERSION__);
        info["cplusplus"] = static_cast<long>(__cplusplus);
#ifdef NDEBUG
        info["assertions"] = false;
#else
        info["assertions"] = true;
#endif
        return info;
    });
}

}  // namespace calspike::bindings
