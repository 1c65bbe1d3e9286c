//! The SNS message: subject, body (summary + diagnosis JSON, or the Chatbot schema), and message
//! attributes for subscription filter policies. Pure: [`crate::notify::sns`] publishes it.

use serde_json::{json, Value};

use crate::model::diagnosis::{Confidence, Diagnosis, RootCause, Status};
use crate::report;

/// SNS subjects are limited to 100 ASCII characters, no newlines.
pub const SUBJECT_MAX: usize = 100;
/// SNS refuses a publish whose message, subject and attributes together exceed 256 KiB.
pub const PUBLISH_MAX: usize = 256 * 1024;
/// Headroom for the request's own encoding.
const MARGIN: usize = 2 * 1024;

/// What the topic receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnsFormat {
    /// Plain-text summary, a blank line, then the `pulldoctor.diagnosis/v1` JSON.
    Text,
    /// AWS Chatbot custom notification JSON.
    Chatbot,
}

impl std::str::FromStr for SnsFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" | "text" => Ok(SnsFormat::Text),
            "chatbot" => Ok(SnsFormat::Chatbot),
            other => Err(format!(
                "unknown SNS output format {other:?} (text, chatbot)"
            )),
        }
    }
}

/// One message ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsMessage {
    pub subject: String,
    pub body: String,
    /// Name → string value; absent values are left out (SNS refuses empty attribute values).
    pub attributes: Vec<(&'static str, String)>,
    /// Evidence had to be trimmed to fit [`PUBLISH_MAX`].
    pub trimmed: bool,
}

impl SnsMessage {
    /// Bytes SNS counts against [`PUBLISH_MAX`].
    pub fn size(&self) -> usize {
        self.subject.len()
            + self.body.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + "String".len() + v.len())
                .sum::<usize>()
    }
}

/// `[pulldoctor] <service or family>: <root cause title>`, ASCII-safe and at most 100 characters.
pub fn subject(d: &Diagnosis) -> String {
    let raw = format!(
        "[pulldoctor] {}: {}",
        report::subject_name(d),
        d.root_cause.title
    );
    let ascii: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= SUBJECT_MAX {
        return ascii;
    }
    format!("{}...", &ascii[..SUBJECT_MAX - 3])
}

/// `high`, `medium` or `low`: the diagnosis' confidence; `UNKNOWN` is always `low`.
pub fn severity(d: &Diagnosis) -> &'static str {
    match (d.root_cause.code, d.root_cause.confidence) {
        (RootCause::Unknown, _) | (_, Confidence::Low) => "low",
        (_, Confidence::Medium) => "medium",
        (_, Confidence::High) => "high",
    }
}

/// Attributes for subscription filter policies, e.g. `{"root_cause": [{"prefix": "NET_"}]}`.
pub fn attributes(d: &Diagnosis) -> Vec<(&'static str, String)> {
    let ascii = |s: &str| report::clean(s).chars().take(256).collect::<String>();
    [
        ("root_cause", Some(d.root_cause.code.code().to_string())),
        ("category", Some(d.failure.category.as_str().to_string())),
        ("cluster", d.task.cluster.as_deref().map(ascii)),
        ("service", d.service_name().map(ascii)),
        ("severity", Some(severity(d).to_string())),
        ("account", d.account.as_deref().map(ascii)),
        ("region", d.region.as_deref().map(ascii)),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (k, v)))
    .collect()
}

fn body(d: &Diagnosis, format: SnsFormat, suppressed_before: u64, trimmed: bool) -> String {
    match format {
        SnsFormat::Chatbot => {
            report::json_value_line(&report::chatbot::render(d, suppressed_before))
        }
        SnsFormat::Text => {
            let mut out = String::new();
            if suppressed_before > 0 {
                out.push_str(&format!(
                    "({suppressed_before} more failure(s) like this one were not notified during the previous window.)\n"
                ));
            }
            if trimmed {
                out.push_str("(Evidence was shortened to fit the SNS 256 KB message limit; the CLI shows all of it.)\n");
            }
            out.push_str(&report::text(d));
            out.push('\n');
            out.push_str(&report::json(d));
            out.push('\n');
            out
        }
    }
}

/// The message for `d`, shortened (evidence first, never the JSON mid-way) to fit [`PUBLISH_MAX`].
pub fn message(d: &Diagnosis, format: SnsFormat, suppressed_before: u64) -> SnsMessage {
    let subject = subject(d);
    let attributes = attributes(d);
    let mut msg = SnsMessage {
        body: body(d, format, suppressed_before, false),
        subject,
        attributes,
        trimmed: false,
    };
    let mut shorter = d.clone();
    for step in 0.. {
        if msg.size() + MARGIN <= PUBLISH_MAX || !trim(&mut shorter, step) {
            break;
        }
        msg.body = body(&shorter, format, suppressed_before, true);
        msg.trimmed = true;
    }
    msg
}

/// One trimming step; `false` when there is nothing left to trim.
fn trim(d: &mut Diagnosis, step: usize) -> bool {
    let deciding = d.deciding_finding().cloned();
    let is_decider = |f: &crate::model::diagnosis::Finding| Some(f) == deciding.as_ref();
    match step {
        // Evidence of every finding but the deciding one (an unknown keeps a short reason).
        0 => {
            // The other failing images keep their root cause; their findings' evidence goes.
            for f in d
                .other_failures
                .iter_mut()
                .flat_map(|o| o.findings.iter_mut())
            {
                f.evidence = json!({"trimmed": true});
            }
            for f in d.findings.iter_mut().filter(|f| !is_decider(f)) {
                let reason = f.evidence.get("reason").map(|r| shorten_value(r, 300));
                f.evidence = json!({"trimmed": true});
                if let Some(r) = reason {
                    f.evidence["reason"] = r;
                }
            }
        }
        // Long strings anywhere: evidence values, titles, remediation, the message.
        1..=3 => {
            let max = [4096, 512, 128][step - 1];
            d.failure.message = shorten(&d.failure.message, max.max(1024));
            for f in &mut d.findings {
                f.evidence = shorten_value(&f.evidence, max);
                f.title = shorten(&f.title, max.max(200));
                f.remediation = f.remediation.as_deref().map(|r| shorten(r, max.max(500)));
            }
        }
        // Passing findings go (the failing, warning and unknown ones stay).
        4 => d
            .findings
            .retain(|f| f.status != Status::Pass || is_decider(f)),
        // Only the deciding finding stays.
        5 => d.findings.retain(|f| is_decider(f)),
        _ => return false,
    }
    true
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn shorten_value(v: &Value, max: usize) -> Value {
    match v {
        Value::String(s) => Value::String(shorten(s, max)),
        Value::Array(items) if items.len() > 20 => {
            let mut kept: Vec<Value> = items
                .iter()
                .take(20)
                .map(|i| shorten_value(i, max))
                .collect();
            kept.push(Value::String(format!("… {} more", items.len() - 20)));
            Value::Array(kept)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| shorten_value(i, max)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shorten_value(v, max)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn subject_is_ascii_and_bounded() {
        let mut d = sample();
        assert_eq!(
            subject(&d),
            "[pulldoctor] web-api: Tag v9 does not exist in team/app"
        );
        d.root_cause.title = format!("Tag “ünïcode” {}\n", "x".repeat(200));
        let s = subject(&d);
        assert!(
            s.len() <= SUBJECT_MAX && s.is_ascii() && !s.contains('\n'),
            "{s}"
        );
        assert!(s.ends_with("..."));
    }

    #[test]
    fn body_ends_with_the_json_document() {
        let m = message(&sample(), SnsFormat::Text, 0);
        let last = m.body.lines().last().unwrap();
        assert!(last.starts_with("{\"schema\":\"pulldoctor.diagnosis/v1\""));
        let parsed: Diagnosis = serde_json::from_str(last).unwrap();
        assert_eq!(parsed, sample());
        assert!(m.body.starts_with("web-api (prod, us-east-1): "));
        assert!(!m.trimmed);
    }

    #[test]
    fn attributes_for_filter_policies() {
        let attrs: std::collections::BTreeMap<_, _> = attributes(&sample()).into_iter().collect();
        assert_eq!(attrs["root_cause"], "ECR_IMAGE_NOT_FOUND");
        assert_eq!(attrs["category"], "image_not_found");
        assert_eq!(attrs["cluster"], "prod");
        assert_eq!(attrs["service"], "web-api");
        assert_eq!(attrs["severity"], "high");
        assert_eq!(attrs["account"], "111122223333");
        assert_eq!(attrs["region"], "us-east-1");
        let mut d = sample();
        d.task.group = Some("family:batch".into());
        d.account = None;
        let names: Vec<_> = attributes(&d).into_iter().map(|(k, _)| k).collect();
        assert!(
            !names.contains(&"service") && !names.contains(&"account"),
            "absent values are left out"
        );
    }

    /// Evidence big enough to blow the limit (a security group with thousands of rules, say).
    fn huge(findings: usize, per_finding: usize) -> Diagnosis {
        let mut d = sample();
        let template = d.findings[0].clone();
        for i in 0..findings {
            let mut f = template.clone();
            f.status = if i % 2 == 0 {
                Status::Pass
            } else {
                Status::Warn
            };
            f.evidence = json!({"rules": (0..per_finding).map(|r| format!("sg-{i}-rule-{r} tcp 443 0.0.0.0/0")).collect::<Vec<_>>()});
            d.findings.push(f);
        }
        d.findings[0].evidence["blob"] = Value::String("y".repeat(300_000));
        d
    }

    #[test]
    fn oversized_diagnosis_is_trimmed_to_fit_with_whole_json() {
        for (findings, per) in [(10, 5_000), (200, 100), (2, 40_000)] {
            let d = huge(findings, per);
            assert!(
                report::json(&d).len() > PUBLISH_MAX,
                "the test input must be too large"
            );
            let m = message(&d, SnsFormat::Text, 0);
            assert!(m.trimmed);
            assert!(m.size() <= PUBLISH_MAX, "{} bytes", m.size());
            let json = m.body.lines().last().unwrap();
            let parsed: Diagnosis = serde_json::from_str(json).expect("the JSON is whole");
            assert_eq!(
                parsed.root_cause, d.root_cause,
                "the root cause survives trimming"
            );
            assert!(
                parsed.deciding_finding().is_some(),
                "the deciding finding survives trimming"
            );
            assert!(m.body.contains("shortened to fit"));
        }
    }

    #[test]
    fn chatbot_body_is_one_json_document() {
        let m = message(&sample(), SnsFormat::Chatbot, 2);
        let v: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(v["source"], "custom");
        assert!(v["content"]["description"]
            .as_str()
            .unwrap()
            .contains("2 more failure(s)"));
        let m = message(&huge(10, 5_000), SnsFormat::Chatbot, 0);
        assert!(m.size() <= PUBLISH_MAX);
        let _: Value = serde_json::from_str(&m.body).unwrap();
    }
}
