//! Placeholder; see ARCHITECTURE.md.
#![forbid(unsafe_code)]
