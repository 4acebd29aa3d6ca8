//! The scenarios. Each runs against real servers (or, for [`hostile`], a scripted fake), checks
//! every promise it is about, and returns a report with its figures and the list of promises
//! that did not hold; set-up failures are errors.

pub mod data_loss;
pub mod ensemble;
pub mod expiry;
pub mod faults;
pub mod hostile;
pub mod load;
pub mod stalls;
