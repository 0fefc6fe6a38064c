//! The reliability lab: a fault proxy in front of the embedded broker, lab runs that send under
//! a fault, and a verifier that reads the topic back.

pub mod proxy;
pub mod runner;
pub mod verifier;

pub use proxy::{ActiveFault, FaultProxy};
pub use runner::LabRunner;
