//! Benchmarks: see PERFORMANCE.md.
