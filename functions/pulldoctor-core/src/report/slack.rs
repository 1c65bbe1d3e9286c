//! Slack Block Kit rendering: the message an incoming webhook posts.
//!
//! Everything from AWS is untrusted. Slack's mrkdwn has three control characters (`&`, `<`, `>`):
//! `<!channel>` pings a channel and `<https://evil|click>` makes a link, so they are escaped as
//! entities. Mentions written as plain `@channel`/`@here` are broken with a word joiner, and every
//! text object is `verbatim` (no automatic linking of URLs or channel names).

use serde_json::{json, Value};

pub(crate) use super::truncate;
use super::{clean, evidence_value, headline_subject};
use crate::model::diagnosis::{Diagnosis, Status};

/// Slack's limits: header text 150, section text 3000, a field 2000, 10 fields, 50 blocks,
/// button text 75, button URL 3000 (kept by [`super::console_links`]).
pub(crate) const HEADER_MAX: usize = 150;
pub(crate) const SECTION_MAX: usize = 3000;
pub(crate) const FIELD_MAX: usize = 2000;
pub(crate) const BLOCKS_MAX: usize = 50;
const BUTTON_TEXT_MAX: usize = 75;
const BUTTONS_MAX: usize = 5;

/// Escape Slack mrkdwn control characters and neutralise mentions in untrusted text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push_str("@\u{2060}"),
            c => out.push(c),
        }
    }
    out
}

/// An untrusted value as inline code: no formatting, mention or link can happen inside it.
pub(crate) fn code(s: &str) -> String {
    format!("`{}`", escape(s).replace('`', "'"))
}

pub(crate) fn mrkdwn(text: String, max: usize) -> Value {
    json!({"type": "mrkdwn", "text": truncate(&text, max), "verbatim": true})
}

/// Marker for a finding's status, readable without colour.
pub fn marker(status: Status) -> &'static str {
    match status {
        Status::Fail => ":x: FAIL",
        Status::Warn => ":warning: WARN",
        Status::Unknown => ":grey_question: UNKNOWN",
        Status::Pass => ":white_check_mark: PASS",
    }
}

/// The task's subnet, if a finding names it (evidence `subnet`, or a `subnet-…` resource).
pub fn subnet(d: &Diagnosis) -> Option<String> {
    d.subnet()
}

/// The fallback text notifications and screen readers show.
pub fn fallback_text(d: &Diagnosis) -> String {
    escape(&format!(
        "{}: {} ({})",
        headline_subject(d),
        d.root_cause.title,
        d.root_cause.code
    ))
}

/// `{"text": …, "blocks": […]}` for an incoming webhook. `suppressed_before` is the number of
/// notifications of the same failure held back during the previous deduplication window.
pub fn render(d: &Diagnosis, suppressed_before: u64) -> Value {
    let rc = &d.root_cause;
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&clean(&format!("{}: {}", super::subject_name(d), rc.title)), HEADER_MAX), "emoji": false}
    })];
    let history = super::history::placement(d);
    let section = |s: &super::history::Section| json!({"type": "section", "text": mrkdwn(section_text(s), SECTION_MAX)});
    blocks.extend(history.lead.as_ref().map(section));
    blocks.push(json!({"type": "section", "text": mrkdwn(cause_text(d), SECTION_MAX)}));
    if !d.other_failures.is_empty() {
        blocks
            .push(json!({"type": "section", "text": mrkdwn(other_failures_text(d), SECTION_MAX)}));
    }
    blocks.extend(
        [history.after_cause.as_ref(), history.who_else.as_ref()]
            .into_iter()
            .flatten()
            .map(section),
    );
    let fields = task_fields(d);
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks.push(json!({"type": "section", "text": mrkdwn(format!("*Message*\n{}", code(&d.failure.message)), SECTION_MAX)}));
    if let Some(decider) = d.deciding_finding() {
        if let Some(obj) = decider.evidence.as_object().filter(|o| !o.is_empty()) {
            let lines: Vec<String> = obj
                .iter()
                .map(|(k, v)| format!("• {}: {}", escape(k), code(&evidence_value(v))))
                .collect();
            blocks.push(json!({"type": "section", "text": mrkdwn(format!("*Evidence*\n{}", lines.join("\n")), SECTION_MAX)}));
        }
    }
    push_check_sections(d, &mut blocks);
    let buttons = console_buttons(d);
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    let mut context = format!("{} AWS calls, {} ms", d.aws_calls, d.duration_ms);
    if suppressed_before > 0 {
        context.push_str(&format!(
            " · {suppressed_before} more failure(s) like this one were not posted during the previous window"
        ));
    }
    if let Some(id) = &d.event_id {
        context.push_str(&format!(" · event {}", code(id)));
    }
    blocks.push(json!({"type": "context", "elements": [mrkdwn(context, SECTION_MAX)]}));
    blocks.truncate(BLOCKS_MAX);
    json!({"text": fallback_text(d), "blocks": blocks})
}

/// A history section: bold title, then its lines escaped (list items as bullets).
fn section_text(section: &super::history::Section) -> String {
    let mut text = format!("*{}*", section.title);
    for line in section.items() {
        match line {
            super::history::Line::Text(line) => text.push_str(&format!("\n{}", escape(line))),
            super::history::Line::Item(item) => text.push_str(&format!("\n• {}", escape(item))),
        }
    }
    text
}

/// The root cause, its fix, what to verify by hand, and what else is wrong.
fn cause_text(d: &Diagnosis) -> String {
    let rc = &d.root_cause;
    let mut cause = format!(
        "*Root cause:* `{}` ({:?} confidence)\n{}",
        rc.code,
        rc.confidence,
        escape(&rc.title)
    );
    if let Some(fix) = &rc.remediation {
        cause.push_str(&format!("\n*Fix:* {}", escape(fix)));
    }
    if !rc.to_verify.is_empty() {
        cause.push_str(&format!("\n*{} Verify by hand:*", super::no_cause_lead(d)));
        for hint in &rc.to_verify {
            cause.push_str(&format!("\n• {}", escape(hint)));
        }
    }
    if !rc.also_wrong.is_empty() {
        cause.push_str(&format!("\n*{}:*", super::ALSO_WRONG));
        for other in &rc.also_wrong {
            cause.push_str(&format!("\n• `{}` {}", other.code, escape(&other.title)));
            if let Some(r) = &other.resource {
                cause.push_str(&format!(" {}", code(r)));
            }
            if let Some(fix) = &other.remediation {
                cause.push_str(&format!(" — fix: {}", escape(fix)));
            }
        }
    }
    cause
}

/// The task's other containers that failed on other images, each with its own root cause.
fn other_failures_text(d: &Diagnosis) -> String {
    let mut others = format!("*{}:*", super::OTHER_FAILURES);
    for o in &d.other_failures {
        let rc = &o.root_cause;
        others.push_str(&format!(
            "\n• {} {}: `{}` ({:?} confidence) {}",
            code(
                o.failure
                    .container
                    .as_deref()
                    .unwrap_or("unknown container")
            ),
            code(o.failure.image.as_deref().unwrap_or("unknown image")),
            rc.code,
            rc.confidence,
            escape(&rc.title)
        ));
        if let Some(fix) = &rc.remediation {
            others.push_str(&format!("\n   *Fix:* {}", escape(fix)));
        }
        for hint in &rc.to_verify {
            others.push_str(&format!("\n   verify: {}", escape(hint)));
        }
    }
    others
}

/// Cluster, service, task, image, launch type, subnet, account and region, those known.
fn task_fields(d: &Diagnosis) -> Vec<Value> {
    let t = &d.task;
    let task_id = t.arn.as_deref().and_then(|a| a.rsplit('/').next());
    [
        ("Cluster", t.cluster.clone()),
        ("Service", d.service_name().map(str::to_string)),
        ("Task", task_id.map(str::to_string)),
        ("Image", d.failure.image.clone()),
        ("Launch type", t.launch_type.clone()),
        ("Subnet", subnet(d)),
        ("Account", d.account.clone()),
        ("Region", d.region.clone()),
    ]
    .into_iter()
    .filter_map(|(label, value)| {
        value.map(|v| mrkdwn(format!("*{label}*\n{}", code(&v)), FIELD_MAX))
    })
    .collect()
}

/// Findings, worst first, several per section so that long lists stay under the block limit.
fn push_check_sections(d: &Diagnosis, blocks: &mut Vec<Value>) {
    let mut findings: Vec<_> = d.findings.iter().collect();
    findings.sort_by_key(|f| match f.status {
        Status::Fail => 0,
        Status::Warn => 1,
        Status::Unknown => 2,
        Status::Pass => 3,
    });
    let mut chunk = String::from("*Checks*");
    for f in findings {
        let mut line = format!("\n{} `{}` {}", marker(f.status), f.code, escape(&f.title));
        if f.status == Status::Unknown {
            if let Some(reason) = f.evidence.get("reason") {
                line.push_str(&format!(" — {}", escape(&evidence_value(reason))));
            }
        }
        let line = truncate(&line, 500);
        if chunk.len() + line.len() > SECTION_MAX - 100 {
            blocks.push(
                json!({"type": "section", "text": mrkdwn(std::mem::take(&mut chunk), SECTION_MAX)}),
            );
        }
        chunk.push_str(&line);
    }
    if !chunk.is_empty() {
        blocks.push(json!({"type": "section", "text": mrkdwn(chunk, SECTION_MAX)}));
    }
}

/// The console links as buttons.
fn console_buttons(d: &Diagnosis) -> Vec<Value> {
    super::console_links(d, BUTTONS_MAX)
        .into_iter()
        .map(|link| {
            json!({
                "type": "button",
                "text": {"type": "plain_text", "text": truncate(&link.label, BUTTON_TEXT_MAX), "emoji": false},
                "url": link.url,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    fn all_text(v: &Value) -> String {
        v.to_string()
    }

    #[test]
    fn escape_defuses_mentions_and_links() {
        assert_eq!(
            escape("<!channel> & <https://evil|x>"),
            "&lt;!channel&gt; &amp; &lt;https://evil|x&gt;"
        );
        assert_eq!(escape("@here"), "@\u{2060}here");
        assert_eq!(escape("a\u{1b}[31mb\n"), "a[31mb ");
    }

    #[test]
    fn crafted_image_tag_cannot_ping_or_link() {
        let mut d = sample();
        d.failure.image = Some("repo:<!channel>`*@here*".into());
        d.failure.message = "pull <https://evil.example|click me> failed @channel".into();
        d.root_cause.title = "Tag <!here> missing".into();
        let v = render(&d, 0);
        // The header is plain_text, which Slack never parses for mentions or links; every other
        // text (the fallback included) is mrkdwn and must be escaped.
        assert_eq!(v["blocks"][0]["text"]["type"], "plain_text");
        let mut parsed = v.clone();
        parsed["blocks"].as_array_mut().unwrap().remove(0);
        let out = all_text(&parsed);
        for bad in [
            "<!channel>",
            "<!here>",
            "<https://evil",
            "@here",
            "@channel",
        ] {
            assert!(!out.contains(bad), "{bad} survived: {out}");
        }
        assert!(out.contains("&lt;!channel&gt;"));
    }

    /// "What changed" is the first section when it explains the failure, after the root cause
    /// otherwise; "Who else is hit" follows; crafted names in them are escaped like the rest.
    #[test]
    fn what_changed_leads_only_when_it_explains_the_failure() {
        use crate::model::history::{
            AtRisk, BlastRadius, DeployDiff, Difference, HistoryStatus, Revision,
        };
        let mut d = sample();
        let deploy = |explains: bool| DeployDiff {
            status: HistoryStatus::Found,
            reason: None,
            source: Some("service_deployments".into()),
            service: Some("web-api".into()),
            failing: Revision {
                task_definition: Some("web-api:8".into()),
                ..Default::default()
            },
            previous: Some(Revision {
                task_definition: Some("web-api:7".into()),
                ..Default::default()
            }),
            rolled_back: false,
            rollout_reason: None,
            differences: vec![Difference {
                setting: "image".into(),
                container: Some("app".into()),
                before: Some("team/app:v8".into()),
                after: Some("team/app:v9 <!channel>".into()),
                before_state: Some("present".into()),
                after_state: Some("not_found".into()),
            }],
            explains_failure: explains,
        };
        d.blast_radius = Some(BlastRadius {
            status: HistoryStatus::Found,
            reason: None,
            shared: vec!["repository team/app".into()],
            total: 1,
            services: vec![AtRisk {
                service: "worker".into(),
                cluster: "prod".into(),
                why: "pulls team/app:v9".into(),
            }],
            complete: true,
            clusters_examined: 1,
        });
        let section_texts = |d: &Diagnosis| -> Vec<String> {
            render(d, 0)["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| b["text"]["text"].as_str().map(str::to_string))
                .collect()
        };
        d.deploy = Some(deploy(true));
        let texts = section_texts(&d);
        assert!(texts[1].starts_with("*What changed*"), "{texts:#?}");
        assert!(texts[2].starts_with("*Root cause:*"), "{texts:#?}");
        assert!(
            texts[1].contains("&lt;!channel&gt;") && !texts[1].contains("<!channel>"),
            "{}",
            texts[1]
        );
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("*Who else is hit*") && t.contains("worker")),
            "{texts:#?}"
        );
        d.deploy = Some(deploy(false));
        let texts = section_texts(&d);
        assert!(texts[1].starts_with("*Root cause:*"), "{texts:#?}");
        assert!(
            texts.iter().position(|t| t.starts_with("*What changed*")) > Some(1),
            "{texts:#?}"
        );
    }

    #[test]
    fn blocks_have_header_fields_markers_and_buttons() {
        let v = render(&sample(), 3);
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"],
            "web-api: Tag v9 does not exist in team/app"
        );
        let fields =
            blocks.iter().find(|b| b.get("fields").is_some()).unwrap()["fields"].to_string();
        for f in [
            "*Cluster*",
            "`prod`",
            "*Service*",
            "`web-api`",
            "*Task*",
            "`0abc`",
            "*Launch type*",
            "`FARGATE`",
        ] {
            assert!(fields.contains(f), "{f} missing from {fields}");
        }
        let text = v.to_string();
        assert!(text.contains(":x: FAIL `ECR_IMAGE_NOT_FOUND`"));
        assert!(text.contains(":white_check_mark: PASS `ECR_REPOSITORY_NOT_FOUND`"));
        assert!(text.contains(":grey_question: UNKNOWN `IAM_EXECUTION_ROLE_MISSING`"));
        assert!(text.contains("3 more failure(s)"));
        let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
        assert!(actions["elements"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://us-east-1.console.aws.amazon.com/ecr/"));
        // The failing finding comes before the passing one.
        assert!(text.find(":x: FAIL").unwrap() < text.find(":white_check_mark:").unwrap());
    }

    #[test]
    fn many_findings_stay_within_slack_limits() {
        let mut d = sample();
        let f = d.findings[0].clone();
        d.findings = (0..400)
            .map(|i| {
                let mut f = f.clone();
                f.title = format!("{i} {}", "x".repeat(300));
                f
            })
            .collect();
        let v = render(&d, 0);
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= BLOCKS_MAX);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= SECTION_MAX);
            }
        }
    }
}
