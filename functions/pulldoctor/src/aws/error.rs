//! Turns AWS SDK errors into the short, actionable reasons recorded in [`Fact`](crate::model::facts::Fact)s.

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
const THROTTLED_CODES: &[&str] = &[
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
            if THROTTLED_CODES.contains(&code) {
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

tokio::task_local! {
    /// Set by [`ThrottleSpy`] when an attempt of the read running in this scope was throttled.
    pub(crate) static THROTTLED: std::sync::Arc<std::sync::atomic::AtomicBool>;
}

/// Notes throttled attempts. The adaptive retry mode answers throttling by waiting before the
/// next attempt; when that wait runs past the time budget the SDK reports a timeout, and the
/// reason would wrongly say the service did not answer. [`CallLog`](super::CallLog) reads the
/// note to say "Throttled" instead.
#[derive(Debug)]
pub(crate) struct ThrottleSpy;

impl aws_smithy_runtime_api::client::interceptors::Intercept for ThrottleSpy {
    fn name(&self) -> &'static str {
        "pulldoctor-throttle-spy"
    }

    fn read_after_attempt(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let Some(response) = context.response() else { return Ok(()) };
        let status = response.status().as_u16();
        let throttled = status == 429
            || (status >= 400
                && (response.headers().get("x-amzn-errortype").is_some_and(|t| THROTTLED_CODES.iter().any(|c| t.starts_with(c)))
                    || response.body().bytes().is_some_and(|b| {
                        let text = String::from_utf8_lossy(b);
                        THROTTLED_CODES.iter().any(|c| text.contains(&format!(">{c}<")) || text.contains(&format!("\"{c}\"")))
                    })));
        if throttled {
            let _ = THROTTLED.try_with(|flag| flag.store(true, std::sync::atomic::Ordering::Relaxed));
        }
        Ok(())
    }
}
