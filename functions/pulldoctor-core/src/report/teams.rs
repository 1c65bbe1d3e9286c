//! Microsoft Teams: the message a Workflows webhook ("Post to a channel when a webhook request
//! is received") turns into an Adaptive Card in the channel. Pure: [`crate::notify::teams`]
//! posts it. Teams is post-only here: a card when the incident opens, one when it resolves.
//!
//! Everything from AWS is untrusted. `TextBlock` text and `Fact` titles and values are read as
//! a subset of CommonMark (bold, italic, lists, links; HTML is not rendered, `<at>` mentions
//! are). [`escape`] puts a backslash before every character that could start one of those
//! (CommonMark renders `\*` as `*`), so a crafted tag cannot bold, link, list or mention.

use serde_json::{json, Value};

use super::{clean, console_links, truncate};
use crate::model::diagnosis::Diagnosis;
use crate::model::incident::{Incident, IncidentKey, Notice, Resolution};

pub const CARD_VERSION: &str = "1.4";
/// Teams refuses a webhook message over 28 KB.
pub const MESSAGE_MAX: usize = 28 * 1024;
/// Action.OpenUrl buttons (Teams shows up to six).
const ACTIONS_MAX: usize = 5;
const EVIDENCE_FACTS_MAX: usize = 10;

/// Characters with a meaning anywhere in a line: emphasis, links, code, strikethrough, HTML and
/// autolinks, entities, and the backslash itself.
const INLINE: &[char] = &['\\', '*', '_', '[', ']', '(', ')', '`', '~', '<', '>', '&'];
/// Characters that start a block (list, heading, quote, setext underline) at the start of a line.
const LINE_START: &[char] = &['-', '+', '#', '=', '>'];

/// Untrusted text as literal Adaptive Card markdown, on one line.
pub fn escape(s: &str) -> String {
    let cleaned = clean(s);
    let line = cleaned.trim_start();
    let mut out = String::with_capacity(line.len() + 8);
    // A numbered-list prefix (`1.`, `2)`): `)` is escaped below, `.` here.
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let numbered = digits > 0 && line[digits..].starts_with('.');
    for (i, c) in line.char_indices() {
        let at_start = i == 0 && LINE_START.contains(&c);
        if at_start || INLINE.contains(&c) || (numbered && i == digits) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Untrusted text cut to `max` characters, then escaped.
fn md(s: &str, max: usize) -> String {
    escape(&truncate(&clean(s), max))
}

/// How much of the diagnosis a card shows: everything, or less when that is over 28 KB.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    Full,
    Short,
    Least,
}

impl Detail {
    /// The longest text of one value, and of one list.
    fn text_max(self) -> usize {
        match self {
            Detail::Full => 1000,
            Detail::Short => 300,
            Detail::Least => 120,
        }
    }
    fn items_max(self) -> usize {
        match self {
            Detail::Full => 5,
            Detail::Short => 3,
            Detail::Least => 0,
        }
    }
}

/// The webhook's request body for `notice`; `None` for the notices Teams does not get
/// (`Updated`, `DeploymentFailed`: post-only, the opening card stands).
pub fn render(notice: &Notice<'_>) -> Option<Value> {
    let card = match *notice {
        Notice::Opened {
            incident,
            diagnosis,
        } => [Detail::Full, Detail::Short, Detail::Least]
            .into_iter()
            .map(|detail| opened_card(incident, diagnosis, detail))
            .find(|card| message(card.clone()).to_string().len() <= MESSAGE_MAX)
            .unwrap_or_else(|| opened_card(incident, diagnosis, Detail::Least)),
        Notice::Resolved {
            incident,
            resolution,
        } => resolved_card(incident, resolution),
        Notice::Updated { .. } | Notice::DeploymentFailed { .. } => return None,
    };
    Some(message(card))
}

/// `{"type": "message", "attachments": [the card]}`: what the Workflows webhook expects.
fn message(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}],
    })
}

fn card(body: Vec<Value>, actions: Vec<Value>) -> Value {
    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    card
}

fn text_block(text: String) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

fn heading(text: String, color: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true, "size": "Large", "weight": "Bolder", "color": color})
}

fn subtle(text: String) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true, "isSubtle": true, "spacing": "None"})
}

/// A bold title, then its items as a list, each on its own line (both already escaped).
fn list(title: String, items: Vec<String>) -> Vec<Value> {
    if items.is_empty() {
        return vec![];
    }
    let lines: Vec<String> = items.into_iter().map(|i| format!("- {i}")).collect();
    vec![
        text_block(format!("**{title}**")),
        json!({"type": "TextBlock", "text": lines.join("\n"), "wrap": true, "spacing": "None"}),
    ]
}

/// `(title, value)` pairs, the known ones, escaped.
fn facts(pairs: Vec<(&str, Option<String>)>, max: usize) -> Value {
    let facts: Vec<Value> = pairs
        .into_iter()
        .filter_map(|(title, value)| {
            value.map(|v| json!({"title": md(title, 80), "value": md(&v, max)}))
        })
        .collect();
    json!({"type": "FactSet", "facts": facts})
}

/// `prod, us-east-1 · incident 0123…`.
fn place_line(key: &IncidentKey, incident_id: &str) -> String {
    let mut parts: Vec<String> = [
        key.cluster.as_deref(),
        key.region.as_deref(),
        key.account.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| md(p, 100))
    .collect();
    parts.push(format!("incident {}", md(incident_id, 64)));
    parts.join(" · ")
}

fn when(unix_seconds: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix_seconds, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn service_action(key: &IncidentKey) -> Option<Value> {
    let (region, cluster, service) = (
        key.region.as_deref()?,
        key.cluster.as_deref()?,
        key.service.as_deref()?,
    );
    Some(json!({
        "type": "Action.OpenUrl",
        "title": truncate(&clean(&format!("Open service {service}")), 75),
        "url": crate::checks::console::ecs_service(region, cluster, service),
    }))
}

fn opened_card(incident: &Incident, d: &Diagnosis, detail: Detail) -> Value {
    let rc = &d.root_cause;
    let max = detail.text_max();
    let items = detail.items_max();
    let mut body = vec![
        heading(
            md(&format!("{}: {}", incident.subject, rc.title), 300),
            "Attention",
        ),
        subtle(place_line(&incident.key, &incident.id)),
        text_block(format!(
            "**Root cause:** {}",
            escape(&format!(
                "{} ({} confidence)",
                rc.code.code(),
                super::confidence_word(rc)
            ))
        )),
    ];
    if let Some(fix) = &rc.remediation {
        body.push(text_block(format!("**Fix:** {}", md(fix, max))));
    }
    body.extend(list(
        format!("{} Verify by hand:", md(&super::no_cause_lead(d), 300)),
        rc.to_verify
            .iter()
            .take(items.max(1))
            .map(|h| md(h, max))
            .collect(),
    ));
    body.extend(list(
        escape(super::ALSO_WRONG),
        rc.also_wrong
            .iter()
            .take(items)
            .map(|o| {
                let fix = o
                    .remediation
                    .as_deref()
                    .map(|f| format!(" — fix: {}", md(f, max)))
                    .unwrap_or_default();
                format!("{} {}{fix}", escape(o.code.code()), md(&o.title, max))
            })
            .collect(),
    ));
    body.extend(list(
        escape(super::OTHER_FAILURES),
        d.other_failures
            .iter()
            .take(items)
            .map(|o| {
                format!(
                    "{}: {} {}",
                    md(&super::other_failure_name(o), max),
                    escape(o.root_cause.code.code()),
                    md(&o.root_cause.title, max)
                )
            })
            .collect(),
    ));
    let t = &d.task;
    body.push(facts(
        vec![
            ("Cluster", t.cluster.clone()),
            ("Service", d.service_name().map(str::to_string)),
            ("Task definition", incident.task_definition.clone()),
            (
                "Task",
                t.arn
                    .as_deref()
                    .and_then(|a| a.rsplit('/').next())
                    .map(str::to_string),
            ),
            ("Image", d.failure.image.clone()),
            ("Subnet", super::slack::subnet(d)),
            ("Failed tasks", Some(incident.failures.to_string())),
            ("Account", d.account.clone()),
            ("Region", d.region.clone()),
        ],
        max.min(300),
    ));
    body.push(text_block("**Message**".into()));
    body.push(json!({"type": "TextBlock", "text": md(&d.failure.message, max), "wrap": true, "fontType": "Monospace", "spacing": "None"}));
    if detail < Detail::Least {
        if let Some(obj) = d
            .deciding_finding()
            .and_then(|f| f.evidence.as_object())
            .filter(|o| !o.is_empty())
        {
            body.push(text_block("**Evidence**".into()));
            let pairs = obj
                .iter()
                .take(EVIDENCE_FACTS_MAX)
                .map(|(k, v)| (k.as_str(), Some(super::evidence_value(v))))
                .collect();
            body.push(facts(pairs, max.min(300)));
        }
    }
    if detail > Detail::Full {
        body.push(subtle("Shortened to fit Teams' 28 KB message limit; the SNS message and the CLI show all of it.".into()));
    }
    let mut actions: Vec<Value> = console_links(d, ACTIONS_MAX)
        .into_iter()
        .map(|l| json!({"type": "Action.OpenUrl", "title": truncate(&l.label, 75), "url": l.url}))
        .collect();
    actions.extend(service_action(&incident.key).filter(|_| actions.len() < ACTIONS_MAX));
    card(body, actions)
}

fn resolved_card(incident: &Incident, resolution: &Resolution) -> Value {
    let failed_revision = incident
        .deployment
        .as_ref()
        .and_then(|d| d.failed_revision.clone())
        .or_else(|| incident.task_definition.clone());
    let (headline, sentence, at, steady_on) = match resolution {
        Resolution::SteadyState { at, steady_on, rolled_back: false } => {
            ("Resolved", "The service reached steady state: its tasks start again.".to_string(), *at, steady_on.clone())
        }
        Resolution::SteadyState { at, steady_on, rolled_back: true } => {
            let to = steady_on.as_deref().map(|s| format!(" to {}", truncate(s, 200))).unwrap_or_default();
            let revision = failed_revision.as_deref().map(|r| format!(" ({})", truncate(r, 200))).unwrap_or_default();
            (
                "Resolved by rollback",
                format!("The service is steady again after rolling back{to}. The failed revision's image{revision} still cannot be pulled: fix it before deploying it again."),
                *at,
                steady_on.clone(),
            )
        }
        Resolution::Expired { at } => (
            "Expired",
            "A standalone task family sends no recovery signal: this incident expired with its window. Check that the task runs now.".to_string(),
            *at,
            None,
        ),
    };
    let body = vec![
        heading(
            format!(
                "{headline}: {}",
                md(&format!("{}: {}", incident.subject, incident.title), 300)
            ),
            "Good",
        ),
        subtle(place_line(&incident.key, &incident.id)),
        text_block(md(&sentence, 1000)),
        facts(
            vec![
                ("Root cause", Some(incident.root_cause.clone())),
                ("Failed tasks", Some(incident.failures.to_string())),
                ("Opened", when(incident.opened_at)),
                ("Last failure", when(incident.last_failure_at)),
                (
                    if matches!(resolution, Resolution::Expired { .. }) {
                        "Expired"
                    } else {
                        "Resolved"
                    },
                    when(at),
                ),
                ("Failed revision", failed_revision),
                ("Steady on", steady_on),
            ],
            300,
        ),
    ];
    card(body, service_action(&incident.key).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::diagnosis::{Finding, RootCause};
    use crate::report::tests::{ruled_out, sample};

    /// An incident of `d` that counted three failures.
    fn incident_of(d: &Diagnosis) -> Incident {
        Incident {
            failures: 3,
            ..crate::report::tests::incident_of(d)
        }
    }

    fn content(message: &Value) -> &Value {
        assert_eq!(message["type"], "message");
        let a = &message["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(a["content"]["version"], CARD_VERSION);
        &a["content"]
    }

    /// Every `text`, fact title and fact value of a card.
    fn texts(card: &Value) -> Vec<String> {
        let mut out = vec![];
        for block in card["body"].as_array().unwrap() {
            out.extend(block["text"].as_str().map(str::to_string));
            for f in block["facts"].as_array().into_iter().flatten() {
                out.push(f["title"].as_str().unwrap().to_string());
                out.push(f["value"].as_str().unwrap().to_string());
            }
        }
        out
    }

    #[test]
    fn escape_makes_markdown_literal() {
        let table = [
            ("plain text: team/app v9", "plain text: team/app v9"),
            ("**bold** _it_", r"\*\*bold\*\* \_it\_"),
            (
                "[click](https://evil.example)",
                r"\[click\]\(https://evil.example\)",
            ),
            (
                "<at>Adele</at> <https://x>",
                r"\<at\>Adele\</at\> \<https://x\>",
            ),
            (
                "a\\b `code` ~~gone~~ &amp;",
                r"a\\b \`code\` \~\~gone\~\~ \&amp;",
            ),
            ("- not a list", r"\- not a list"),
            ("+ nor this", r"\+ nor this"),
            ("# not a heading", r"\# not a heading"),
            ("> not a quote", r"\> not a quote"),
            ("1. not numbered", r"1\. not numbered"),
            ("12) nor this", r"12\) nor this"),
            ("   - indented", r"\- indented"),
            ("v1.2 - x # y 3.", "v1.2 - x # y 3."),
            ("line\none\r\u{1b}[31m", r"line one \[31m"),
        ];
        for (input, want) in table {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn opened_card_says_cause_fix_facts_and_links() {
        let d = sample();
        let incident = incident_of(&d);
        let message = render(&Notice::Opened {
            incident: &incident,
            diagnosis: &d,
        })
        .unwrap();
        let card = content(&message);
        let texts = texts(card);
        assert_eq!(
            texts[0], "web-api: Tag v9 does not exist in team/app",
            "{texts:?}"
        );
        assert_eq!(card["body"][0]["color"], "Attention");
        assert!(
            texts
                .iter()
                .any(|t| t == r"**Root cause:** ECR\_IMAGE\_NOT\_FOUND \(high confidence\)"),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t == "**Fix:** Push team/app:v9."),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t == "CannotPullContainerError: manifest unknown\\[31m | \\*boom\\*"),
            "{texts:?}"
        );
        for fact in [
            "Cluster",
            "prod",
            "Task definition",
            "web-api:42",
            "Failed tasks",
            "3",
            "tag",
            "v9",
        ] {
            assert!(texts.iter().any(|t| t == fact), "{fact} missing: {texts:?}");
        }
        let actions = card["actions"].as_array().unwrap();
        assert_eq!(actions[0]["type"], "Action.OpenUrl");
        assert!(actions[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://us-east-1.console.aws.amazon.com/ecr/"));
        assert!(actions.iter().any(
            |a| a["url"] == crate::checks::console::ecs_service("us-east-1", "prod", "web-api")
        ));
    }

    #[test]
    fn crafted_values_cannot_format_link_or_mention() {
        let mut d = ruled_out();
        d.failure.image = Some("repo:[x](https://evil)".into());
        d.failure.message = "<at>Everyone</at> **click** [here](https://evil.example)".into();
        d.root_cause.to_verify = vec!["- [ ] *check* the route".into()];
        d.findings
            .push(Finding::fail(RootCause::NetNoRoute, "_route_").evidence("note", "# big <b>"));
        let incident = incident_of(&d);
        let card = render(&Notice::Opened {
            incident: &incident,
            diagnosis: &d,
        })
        .unwrap();
        for t in texts(content(&card)) {
            // Our own markup: a bold label at the start.
            let rest = match t.strip_prefix("**") {
                Some(r) => &r[r.find("**").unwrap() + 2..],
                None => t.as_str(),
            };
            for (i, c) in rest.char_indices() {
                if INLINE.contains(&c) && c != '\\' {
                    let escaped =
                        rest[..i].chars().rev().take_while(|p| *p == '\\').count() % 2 == 1;
                    assert!(escaped, "unescaped {c:?} in {t:?}");
                }
            }
        }
        let all = card.to_string();
        assert!(all.contains(r"\\<at\\>Everyone\\</at\\>"), "{all}");
        assert!(
            all.contains(r"- \\- \\[ \\] \\*check\\* the route"),
            "{all}"
        );
    }

    #[test]
    fn resolved_cards_say_how_it_ended() {
        let d = sample();
        let incident = incident_of(&d);
        let table = [
            (
                Resolution::SteadyState {
                    at: 1_700_001_000,
                    steady_on: Some("web-api:42".into()),
                    rolled_back: false,
                },
                "Resolved: ",
                "reached steady state",
            ),
            (
                Resolution::SteadyState {
                    at: 1_700_001_000,
                    steady_on: Some("web-api:41".into()),
                    rolled_back: true,
                },
                "Resolved by rollback: ",
                r"rolling back to web-api:41. The failed revision's image \(web-api:42\) still cannot be pulled",
            ),
            (
                Resolution::Expired { at: 1_700_001_000 },
                "Expired: ",
                "no recovery signal",
            ),
        ];
        for (resolution, head, says) in table {
            let message = render(&Notice::Resolved {
                incident: &incident,
                resolution: &resolution,
            })
            .unwrap();
            let card = content(&message);
            let texts = texts(card);
            assert!(texts[0].starts_with(head), "{texts:?}");
            assert_eq!(card["body"][0]["color"], "Good");
            assert!(texts.iter().any(|t| t.contains(says)), "{says}: {texts:?}");
            assert!(
                texts.iter().any(|t| t == "2023-11-14 22:30 UTC"),
                "{texts:?}"
            );
        }
    }

    #[test]
    fn updates_and_deployments_are_not_posted() {
        let d = sample();
        let incident = incident_of(&d);
        assert!(render(&Notice::Updated {
            incident: &incident,
            diagnosis: &d,
            news: &[],
            cause_changed: false
        })
        .is_none());
        let deployment = crate::model::incident::FailedDeployment {
            deployment_id: "ecs-svc/1".into(),
            reason: None,
            rollback_deployment_id: None,
            rolled_back_to: None,
            failed_revision: None,
            at: 0,
        };
        let incidents = [incident.clone()];
        assert!(render(&Notice::DeploymentFailed {
            deployment: &deployment,
            service: "web-api",
            incidents: &incidents
        })
        .is_none());
    }

    #[test]
    fn a_huge_diagnosis_fits_teams_28_kb() {
        let mut d = ruled_out();
        let noisy = "*_[]()<>".repeat(400);
        d.root_cause.to_verify = vec![noisy.clone(); 20];
        d.failure.message = noisy.clone();
        d.root_cause.also_wrong = (0..20)
            .map(|_| {
                crate::model::diagnosis::AlsoWrong::of(
                    &Finding::fail(RootCause::NetNoRoute, noisy.clone()).remediation(noisy.clone()),
                )
            })
            .collect();
        d.findings[1].evidence =
            json!({"a": noisy.clone(), "b": noisy.clone(), "c": noisy.clone()});
        let incident = incident_of(&d);
        let message = render(&Notice::Opened {
            incident: &incident,
            diagnosis: &d,
        })
        .unwrap();
        assert!(
            message.to_string().len() <= MESSAGE_MAX,
            "{} bytes",
            message.to_string().len()
        );
        assert!(message.to_string().contains("Shortened to fit Teams"));
        let small = render(&Notice::Opened {
            incident: &incident,
            diagnosis: &sample(),
        })
        .unwrap();
        assert!(!small.to_string().contains("Shortened to fit"));
    }
}
