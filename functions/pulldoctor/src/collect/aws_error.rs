//! Turns AWS SDK errors into the short, actionable reasons recorded in [`Fact`](crate::facts::Fact)s.

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::result::SdkError;

/// Outcome of a failed read: the resource is absent, or the read itself failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFailure {
    NotFound(String),
    Failed(String),
}

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "ClientException:AccessDenied",
];
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "SlowDown",
];

/// Describe `err` from calling `action` (an IAM action name such as `ecr:DescribeImages`).
/// `not_found` lists the error codes that mean "the thing does not exist".
pub fn read_failure<E, R>(action: &str, not_found: &[&str], err: &SdkError<E, R>) -> ReadFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("UnknownError");
            let message = e.message().unwrap_or("").trim();
            if not_found.contains(&code) {
                return ReadFailure::NotFound(join(code, message));
            }
            if ACCESS_DENIED.contains(&code) || message.contains("not authorized to perform") {
                return ReadFailure::Failed(access_denied(action));
            }
            if THROTTLED.contains(&code) {
                return ReadFailure::Failed(format!("Throttled: {action} (retries exhausted)"));
            }
            ReadFailure::Failed(format!("{}: {action}", join(code, message)))
        }
        SdkError::TimeoutError(_) => ReadFailure::Failed(format!("Timeout: {action}")),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                "Timeout"
            } else if d.is_io() {
                "Unreachable"
            } else {
                "DispatchFailure"
            };
            ReadFailure::Failed(format!("{kind}: {action}: {}", DisplayErrorContext(err)))
        }
        other => ReadFailure::Failed(format!("{action} failed: {}", DisplayErrorContext(other))),
    }
}

fn access_denied(action: &str) -> String {
    if action == "secretsmanager:GetSecretValue" {
        // Not granted by default: reading secrets is opt-in at deploy time.
        return format!(
            "AccessDenied: {action} (opt-in: deploy pulldoctor with RegistrySecretArns naming this secret to check its keys)"
        );
    }
    format!("AccessDenied: {action} (grant {action} to pulldoctor's role)")
}

fn join(code: &str, message: &str) -> String {
    if message.is_empty() {
        code.to_string()
    } else {
        format!("{code} ({message})")
    }
}
