//! Notify: deliver a diagnosis (SNS, Slack) after deduplication, and print every invocation's
//! audit line on stdout (Lambda ships it to CloudWatch Logs). Sending only: the messages and the
//! audit line are rendered by [`crate::report`]. Each sink is independent: one failing never
//! stops another.

pub mod dedup;
pub mod http;
pub mod incident;
pub mod pagerduty;
pub mod secret;
pub mod slack;
pub mod slack_app;
pub mod sns;
pub mod teams;

use crate::model::audit::AuditRecord;
use crate::report;

/// Every AWS action the notify side calls (the reads are `collect::READ_ACTIONS`). template.yaml
/// grants exactly these besides the reads (a test below keeps them equal);
/// `secretsmanager:GetSecretValue` is granted on the configured Slack, PagerDuty and Teams secrets
/// only, `sts:AssumeRole` on the member role name only.
pub const NOTIFY_ACTIONS: &[&str] = &[
    "sns:Publish",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "secretsmanager:GetSecretValue",
    "sts:AssumeRole",
];

/// Write the audit record as one JSON line on stdout (`println!` holds the stdout lock for the
/// whole line, so it is never interleaved with other output).
pub fn audit(r: &AuditRecord) {
    let now = chrono::Utc::now().timestamp_millis();
    println!("{}", report::audit::emf(r, now));
    for metric in report::audit::sink_failure_metrics(r, now) {
        println!("{metric}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Actions listed in template.yaml's policies (`- service:Action` lines).
    fn template_actions() -> std::collections::BTreeSet<String> {
        include_str!("../../../../template.yaml")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .filter(|a| {
                a.split_once(':').is_some_and(|(svc, act)| {
                    !svc.is_empty()
                        && svc
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                        && !act.is_empty()
                        && act.chars().all(|c| c.is_ascii_alphanumeric())
                })
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn template_grants_exactly_the_calls_the_code_makes() {
        let granted = template_actions();
        let mut wanted: std::collections::BTreeSet<String> = crate::aws::READ_ACTIONS
            .iter()
            .filter(|a| !crate::aws::PREFLIGHT_ONLY_ACTIONS.contains(a))
            .chain(NOTIFY_ACTIONS)
            .map(|a| a.to_string())
            .collect();
        wanted.insert("kms:Decrypt".into()); // Secrets Manager decrypts on our behalf (kms:ViaService)
        assert_eq!(granted, wanted);
    }
}
