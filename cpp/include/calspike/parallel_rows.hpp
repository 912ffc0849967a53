// Rows in parallel, with errors that cannot escape: the one way the core runs an OpenMP
// region. An exception leaving an OpenMP region calls std::terminate (a std::bad_alloc in
// one row ended the whole Python process), so every row runs inside a try block, and the
// error of the lowest failing row (the first in neuron order, whatever the thread count and
// the schedule) is rethrown after the region with its type kept: the bindings still map
// std::bad_alloc to MemoryError and std::invalid_argument to ValueError.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <utility>

#include "calspike/threads.hpp"

namespace calspike {

// How the rows are shared among the threads: in equal static blocks (many short rows of
// equal cost), or one row at a time to whichever thread is free (rows of unequal cost).
enum class RowSchedule { blocks, one_at_a_time };

namespace detail {

// The lowest failing row of one region and its exception, shared by the region's threads.
class LowestRowError {
public:
    // True when a row below `row` has already failed: `row` cannot change the outcome.
    bool beaten(std::int64_t row) const noexcept { return row > lowest_.load(std::memory_order_relaxed); }

    void record(std::int64_t row, std::exception_ptr error) noexcept {
#pragma omp critical(calspike_lowest_row_error)
        if (row < lowest_.load(std::memory_order_relaxed)) {
            error_ = std::move(error);
            lowest_.store(row, std::memory_order_relaxed);
        }
    }

    // Called after the region (its closing barrier makes error_ visible here).
    void rethrow_if_any() const {
        if (error_) std::rethrow_exception(error_);
    }

private:
    std::atomic<std::int64_t> lowest_{std::numeric_limits<std::int64_t>::max()};
    std::exception_ptr error_;
};

// Runs one row, the thread's scratch built first if this is the thread's first row (so
// that an allocation failing there is this row's error too), or records why it failed.
template <class Scratch, class RowFunction>
void run_row(std::int64_t row, std::optional<Scratch>& scratch, RowFunction& row_function,
             LowestRowError& errors) noexcept {
    if (errors.beaten(row)) return;  // rows above a failed one skip cheaply
    try {
        if (!scratch) scratch.emplace();
        row_function(row, *scratch);
    } catch (...) {
        errors.record(row, std::current_exception());
    }
}

}  // namespace detail

// Runs row_function(row, scratch) for every row in 0..rows-1 on resolve_threads(threads)
// threads (serially without OpenMP). Each thread default-constructs one Scratch and reuses
// it for all the rows it runs. When rows throw, rows below the lowest failure seen so far
// still run, the rest are skipped, and the lowest failing row's exception is rethrown once
// the region has ended; the outputs are then partial and the caller must not return them.
template <class Scratch, class RowFunction>
void parallel_rows_with_scratch(std::int64_t rows, [[maybe_unused]] int threads, RowSchedule schedule,
                                RowFunction&& row_function) {
    detail::LowestRowError errors;
#pragma omp parallel num_threads(resolve_threads(threads))
    {
        std::optional<Scratch> scratch;  // built inside the first row's try block
        if (schedule == RowSchedule::blocks) {
#pragma omp for schedule(static)
            for (std::int64_t row = 0; row < rows; ++row) detail::run_row(row, scratch, row_function, errors);
        } else {
#pragma omp for schedule(dynamic, 1)
            for (std::int64_t row = 0; row < rows; ++row) detail::run_row(row, scratch, row_function, errors);
        }
    }
    errors.rethrow_if_any();
}

// parallel_rows_with_scratch for rows that need no scratch: row_function(row).
template <class RowFunction>
void parallel_rows(std::int64_t rows, int threads, RowSchedule schedule, RowFunction&& row_function) {
    struct NoScratch {};
    parallel_rows_with_scratch<NoScratch>(rows, threads, schedule,
                                          [&](std::int64_t row, NoScratch&) { row_function(row); });
}

}  // namespace calspike
