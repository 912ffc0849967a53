// Owned, uninitialised output buffers that are handed to NumPy without a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace calspike {

namespace detail {
void* allocate_bytes(std::size_t bytes);  // aligned; huge pages advised for large sizes
void free_bytes(void* ptr) noexcept;
struct FreeDeleter {
    void operator()(void* ptr) const noexcept { free_bytes(ptr); }
};
}  // namespace detail

// A heap array of `size` elements, left uninitialised so that the threads that
// fill it are the first to touch its pages. `release()` passes ownership on; the
// receiver must free the pointer with `Buffer<T>::deleter()`.
template <class T>
class Buffer {
public:
    Buffer() = default;
    explicit Buffer(std::size_t size)
        : data_(static_cast<T*>(detail::allocate_bytes(size * sizeof(T)))), size_(size) {}

    T* data() noexcept { return data_.get(); }
    const T* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    T* release() noexcept { size_ = 0; return data_.release(); }
    static void deleter(void* ptr) noexcept { detail::free_bytes(ptr); }

private:
    std::unique_ptr<T, detail::FreeDeleter> data_;
    std::size_t size_ = 0;
};

}  // namespace calspike
