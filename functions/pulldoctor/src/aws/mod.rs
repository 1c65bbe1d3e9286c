//! AWS access shared by the stages that do I/O (collect, notify, preflight): the SDK clients and
//! their limits, the action catalogue the IAM policies grant, the call executor that counts and
//! times reads, and what an AWS error means for a check.

pub mod actions;
pub(crate) mod cache;
pub mod calls;
pub mod clients;
pub mod error;
pub mod pace;

pub use actions::{PREFLIGHT_ONLY_ACTIONS, READ_ACTIONS};
pub(crate) use calls::CallLog;
pub use calls::{dependent_rounds, CallOutcome, CallRecord, CallStats};
pub use clients::{config_loader, https_client, Clients, Limits, LAMBDA_CACHE_TTL};
pub use error::{read_failure, ErrorKind, ReadFailure};
