// The bindings' NumPy helpers: input checks, strided views, ownership hand-over.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "calspike/buffer.hpp"
#include "calspike/matrix.hpp"

namespace calspike::bindings {

namespace py = pybind11;

enum class FloatKind { f32, f64 };

// The float kind of a 2-D float32/float64 array; ValueError naming `name` otherwise.
inline FloatKind float_matrix_kind(const py::array& array, const char* name) {
    if (array.ndim() != 2) {
        throw std::invalid_argument(std::string(name) + " must be 2-D (neurons, frames), got " +
                                    std::to_string(array.ndim()) + "-D");
    }
    if (array.dtype().is(py::dtype::of<float>())) return FloatKind::f32;
    if (array.dtype().is(py::dtype::of<double>())) return FloatKind::f64;
    throw std::invalid_argument(std::string(name) + " must be float32 or float64, got " +
                                std::string(py::str(array.dtype())));
}

// A strided view of a 2-D array whose dtype is T (checked by the caller).
template <class T>
MatrixView<T> matrix_view(const py::array& array, const char* name) {
    const auto item = static_cast<py::ssize_t>(sizeof(T));
    if (array.strides(0) % item != 0 || array.strides(1) % item != 0) {
        throw std::invalid_argument(std::string(name) +
                                    " has strides that are not a multiple of its item size");
    }
    MatrixView<T> view;
    view.data = static_cast<const T*>(array.data());
    view.rows = array.shape(0);
    view.cols = array.shape(1);
    view.row_stride = array.strides(0) / item;
    view.col_stride = array.strides(1) / item;
    return view;
}

// Wraps a C++ buffer as a C-ordered NumPy array without copying: the array's
// base is a capsule that frees the memory when the last reference goes.
template <class T>
py::array hand_over(Buffer<T>& buffer, const std::vector<py::ssize_t>& shape,
                    const py::dtype& dtype = py::dtype::of<T>()) {
    T* data = buffer.data();
    py::capsule owner(data, &Buffer<T>::deleter);  // if this throws, buffer still owns data
    buffer.release();
    return py::array(dtype, shape, {}, data, owner);
}

// `lengths` checked against a (rows, cols) input: one entry per row, each in [0, cols];
// every row's full length when not given.
inline std::vector<std::int64_t> checked_lengths(const std::optional<std::vector<std::int64_t>>& lengths,
                                                 py::ssize_t rows, py::ssize_t cols, const char* name) {
    if (!lengths) return std::vector<std::int64_t>(static_cast<std::size_t>(rows), cols);
    if (static_cast<py::ssize_t>(lengths->size()) != rows)
        throw std::invalid_argument(std::string(name) + " must have one entry per row (" + std::to_string(rows) + ")");
    for (std::int64_t v : *lengths)
        if (v < 0 || v > cols)
            throw std::invalid_argument(std::string(name) + " must lie in [0, " + std::to_string(cols) + "], got " +
                                        std::to_string(v));
    return *lengths;
}

// Runs `kernel(view)` on a float32 or float64 (rows, frames) array, read in place, without
// the GIL; returns what the kernel returns (which must hold no Python objects).
template <class Kernel>
auto on_matrix(const py::array& values, const char* name, Kernel kernel) {
    if (float_matrix_kind(values, name) == FloatKind::f32) {
        const MatrixView<float> view = matrix_view<float>(values, name);
        // Safe without the GIL: the caller holds `values`, and the view reads raw memory only.
        py::gil_scoped_release release;
        return kernel(view);
    }
    const MatrixView<double> view = matrix_view<double>(values, name);
    py::gil_scoped_release release;  // as above
    return kernel(view);
}

}  // namespace calspike::bindings
