//! Turns AWS SDK errors into the short, actionable reasons recorded in [`Fact`](crate::model::facts::Fact)s.

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::result::SdkError;

pub use crate::model::facts::ErrorKind;

/// Outcome of a failed read: the resource is absent, or the read itself failed (`kind` says
/// how; `reason` says it to people and names the action).
#[derive(Clone, PartialEq, Eq)]
pub enum ReadFailure {
    NotFound(String),
    Failed { kind: ErrorKind, reason: String },
}

impl ReadFailure {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReadFailure::NotFound(_) => ErrorKind::NotFound,
            ReadFailure::Failed { kind, .. } => *kind,
        }
    }
}

/// `NotFound("…")` / `Failed("…")`: delivery errors in audit lines print it, and the reason
/// already starts with the kind.
impl std::fmt::Debug for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFailure::NotFound(detail) => f.debug_tuple("NotFound").field(detail).finish(),
            ReadFailure::Failed { reason, .. } => f.debug_tuple("Failed").field(reason).finish(),
        }
    }
}

fn failed(kind: ErrorKind, reason: String) -> ReadFailure {
    ReadFailure::Failed { kind, reason }
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
                return failed(ErrorKind::AccessDenied, access_denied(action));
            }
            if THROTTLED_CODES.contains(&code) {
                return failed(ErrorKind::Throttled, format!("Throttled: {action} (retries exhausted)"));
            }
            failed(ErrorKind::Other, format!("{}: {action}", join(code, message)))
        }
        SdkError::TimeoutError(_) => failed(ErrorKind::Timeout, format!("Timeout: {action}")),
        SdkError::DispatchFailure(d) => {
            let (kind, word) = if d.is_timeout() {
                (ErrorKind::Timeout, "Timeout")
            } else if d.is_io() {
                (ErrorKind::Other, "Unreachable")
            } else {
                (ErrorKind::Other, "DispatchFailure")
            };
            failed(kind, format!("{word}: {action}: {}", DisplayErrorContext(err)))
        }
        // The raw response (an HTML error page, say) is no use in a report: say what it means.
        SdkError::ResponseError(_) => failed(
            ErrorKind::Other,
            format!("{action} failed: its answer could not be parsed (an error page, or an endpoint that does not offer this API)"),
        ),
        other => failed(ErrorKind::Other, format!("{action} failed: {}", DisplayErrorContext(other))),
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
        let Some(response) = context.response() else {
            return Ok(());
        };
        let status = response.status().as_u16();
        let throttled = status == 429
            || (status >= 400
                && (response
                    .headers()
                    .get("x-amzn-errortype")
                    .is_some_and(|t| THROTTLED_CODES.iter().any(|c| t.starts_with(c)))
                    || response.body().bytes().is_some_and(|b| {
                        let text = String::from_utf8_lossy(b);
                        THROTTLED_CODES.iter().any(|c| {
                            text.contains(&format!(">{c}<")) || text.contains(&format!("\"{c}\""))
                        })
                    })));
        if throttled {
            let _ =
                THROTTLED.try_with(|flag| flag.store(true, std::sync::atomic::Ordering::Relaxed));
        }
        Ok(())
    }
}

/// A delivery-side SDK error in a few words (the service's code and message, or how the call failed).
pub(crate) fn short_error<E>(
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> String
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(e) => format!(
            "{}: {}",
            e.err().code().unwrap_or("ServiceError"),
            e.err().message().unwrap_or_default()
        ),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(e) => format!(
            "dispatch failure (connector: {:?})",
            e.as_connector_error().map(|c| c.to_string())
        ),
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn service(code: &str) -> SdkError<DescribeTasksError, Response> {
        let err =
            DescribeTasksError::generic(ErrorMetadata::builder().code(code).message("m").build());
        SdkError::service_error(
            err,
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn a_failure_carries_its_kind_beside_the_reason() {
        let cases = [
            (
                service("AccessDeniedException"),
                ErrorKind::AccessDenied,
                "AccessDenied: ecs:DescribeTasks (grant",
            ),
            (
                service("ThrottlingException"),
                ErrorKind::Throttled,
                "Throttled: ecs:DescribeTasks (retries exhausted)",
            ),
            (
                service("ClusterNotFoundException"),
                ErrorKind::NotFound,
                "ClusterNotFoundException (m)",
            ),
            (
                service("ServerException"),
                ErrorKind::Other,
                "ServerException (m): ecs:DescribeTasks",
            ),
            (
                SdkError::timeout_error("slow"),
                ErrorKind::Timeout,
                "Timeout: ecs:DescribeTasks",
            ),
        ];
        for (err, kind, reason) in cases {
            let failure = read_failure("ecs:DescribeTasks", &["ClusterNotFoundException"], &err);
            assert_eq!(failure.kind(), kind, "{failure:?}");
            let (ReadFailure::NotFound(said) | ReadFailure::Failed { reason: said, .. }) = &failure;
            assert!(said.starts_with(reason), "{failure:?}");
        }
        // Delivery errors in audit lines print the failure's Debug form: it stays as it was.
        let denied = read_failure("sns:Publish", &[], &service("AuthorizationError"));
        assert_eq!(
            format!("{denied:?}"),
            r#"Failed("AuthorizationError (m): sns:Publish")"#
        );
    }
}
