//! The reliability suite's shared pieces (see RELIABILITY.md).
