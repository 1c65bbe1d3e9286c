//! The domain model every stage shares, and which depends on none of them: the Facts a diagnosis
//! is judged from, the Diagnosis it produces, what a failure message says, images, ARNs, secrets,
//! and who pulls. Pure data and pure helpers; no AWS calls, no rendering.

pub mod arn;
pub mod audience;
pub mod diagnosis;
pub mod facts;
pub mod image_ref;
pub mod message;
pub mod platform;
pub mod pull;
pub mod secret_ref;
