//! The reliability lab: one service both doors call ([`service`]), the fault policy
//! ([`faults`]), the kept runs ([`registry`]) and where every replica's runs meet ([`board`]),
//! the steps of a run ([`run`]) and the verifier that reads the topic back ([`verifier`]). The
//! fault proxy itself is `server::fault_proxy`.

pub mod board;
pub mod faults;
pub mod registry;
pub mod run;
pub mod service;
pub mod verifier;

pub use crate::server::fault_proxy::{ActiveFault, FaultProxy};
pub use board::{LocalRunBoard, RunBoard};
pub use run::RunContext;
pub use service::{FaultSwitch, LabService, Wait};
