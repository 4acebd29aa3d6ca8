//! The reliability suite's shared pieces (see RELIABILITY.md at the repository root): the
//! [`scenarios`], run briefly by `cargo test -p zk-reliability` and at length by the `soak`
//! binary; the scripted [`hostile`] server; the [`fuzz`]-style session driver; and the
//! [`figures`] they report.
#![forbid(unsafe_code)]

pub mod figures;
pub mod fixture;
pub mod fuzz;
pub mod hostile;
pub mod scenarios;
