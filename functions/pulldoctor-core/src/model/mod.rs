//! The domain model every stage shares, and which depends on none of them: the Facts a diagnosis
//! is judged from, the Diagnosis it produces, what a failure message says, images, ARNs, secrets,
//! who pulls, and the audit record of what an invocation did with a diagnosis. Pure data and pure
//! helpers; no AWS calls, no rendering.

pub mod arn;
pub mod audience;
pub mod audit;
pub mod diagnosis;
pub mod facts;
pub mod history;
pub mod image_ref;
pub mod incident;
pub mod message;
pub mod platform;
pub mod pull;
pub mod root_cause;
pub mod secret_ref;
