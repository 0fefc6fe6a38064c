//! The reliability lab: one service both doors call ([`service`]), the fault policy
//! ([`faults`]), the kept runs ([`registry`]), the steps of a run ([`run`]), the fault proxy in
//! front of the broker ([`proxy`]) and the verifier that reads the topic back ([`verifier`]).

pub mod faults;
pub mod proxy;
pub mod registry;
pub mod run;
pub mod service;
pub mod verifier;

pub use proxy::{ActiveFault, FaultProxy};
pub use run::RunContext;
pub use service::{FaultSwitch, LabService, Wait};
