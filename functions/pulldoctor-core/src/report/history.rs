//! The history sections of a report, format-neutral: "What changed" (the deploy behind the
//! failure and the CloudTrail writes to the broken resource) and "Who else is hit" (services
//! sharing it). Each format escapes the lines its own way.

use crate::model::diagnosis::Diagnosis;
use crate::model::history::{BlastRadius, Changes, DeployDiff, Difference, HistoryStatus};

pub const WHAT_CHANGED: &str = "What changed";
pub const WHO_ELSE: &str = "Who else is hit";

/// One titled block of plain lines (untrusted text not yet escaped).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: &'static str,
    pub lines: Vec<String>,
}

/// One line of a [`Section`]: a sentence, or an item of the list that follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Line<'a> {
    Text(&'a str),
    Item(&'a str),
}

/// How list items are written in [`Section::lines`].
const ITEM: &str = "  - ";

impl Section {
    /// The lines, with list items told apart, for formats that mark them their own way.
    pub fn items(&self) -> impl Iterator<Item = Line<'_>> {
        self.lines.iter().map(|l| match l.strip_prefix(ITEM) {
            Some(item) => Line::Item(item),
            None => Line::Text(l),
        })
    }
}

/// Where each history section goes in a report: "What changed" right under the headline when it
/// explains the failure (the first question of an incident call), after the root cause
/// otherwise; "Who else is hit" after that. One rule for every format.
pub struct Placement {
    pub lead: Option<Section>,
    pub after_cause: Option<Section>,
    pub who_else: Option<Section>,
}

pub fn placement(d: &Diagnosis) -> Placement {
    let what_changed = what_changed(d);
    let (lead, after_cause) = if what_changed_first(d) {
        (what_changed, None)
    } else {
        (None, what_changed)
    };
    Placement {
        lead,
        after_cause,
        who_else: who_else(d),
    }
}

/// Whether "What changed" explains the failure, so reports show it before the root cause: a
/// deploy that introduced it, or a likely breaking change in CloudTrail.
pub fn what_changed_first(d: &Diagnosis) -> bool {
    d.deploy.as_ref().is_some_and(|x| x.explains_failure)
        || d.changes
            .as_ref()
            .is_some_and(|c| c.events.iter().any(|e| e.likely_cause))
}

/// "What changed", if the diagnosis has a deploy or changes section.
pub fn what_changed(d: &Diagnosis) -> Option<Section> {
    let mut lines = vec![];
    if let Some(deploy) = &d.deploy {
        lines.extend(deploy_lines(deploy));
    }
    if let Some(changes) = &d.changes {
        lines.extend(change_lines(changes));
    }
    (!lines.is_empty()).then_some(Section {
        title: WHAT_CHANGED,
        lines,
    })
}

/// "Who else is hit", if the diagnosis has a blast radius section.
pub fn who_else(d: &Diagnosis) -> Option<Section> {
    d.blast_radius.as_ref().map(|b| Section {
        title: WHO_ELSE,
        lines: blast_radius_lines(b),
    })
}

fn or_unknown(name: Option<&str>) -> &str {
    name.unwrap_or("an unknown revision")
}

pub fn deploy_lines(deploy: &DeployDiff) -> Vec<String> {
    if deploy.status == HistoryStatus::Unknown {
        return vec![format!(
            "Deploy history unknown: {}",
            deploy.reason.as_deref().unwrap_or("not read")
        )];
    }
    let failing = or_unknown(deploy.failing.task_definition.as_deref());
    let Some(previous) = &deploy.previous else {
        return vec![format!("{failing} is the only revision on record for this service; nothing to compare it with.")];
    };
    let previous_td = or_unknown(previous.task_definition.as_deref());
    let source = match deploy.source.as_deref() {
        Some("service_revisions") => " (service deployment history)",
        Some("previous_family_revision") => {
            " (the family's previous revision; the service may never have run it)"
        }
        _ => "",
    };
    let mut lines = vec![];
    if deploy.differences.is_empty() {
        lines.push(format!("The deploy from {previous_td} to {failing}{source} changed nothing that matters for a pull."));
    } else {
        lines.push(format!(
            "The deploy from {previous_td} to {failing}{source} changed:"
        ));
        lines.extend(deploy.differences.iter().map(difference_line));
    }
    if deploy.rolled_back {
        let reason = deploy
            .rollout_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        lines.push(format!(
            "The deployment circuit breaker rolled the service back to {previous_td}{reason}."
        ));
    }
    lines
}

pub fn difference_line(diff: &Difference) -> String {
    let side = |value: Option<&str>, state: Option<&str>| {
        let value = value.unwrap_or("(none)");
        match state {
            Some(state) => format!("{value} ({})", state.replace('_', " ")),
            None => value.to_string(),
        }
    };
    let what = match &diff.container {
        Some(c) => format!("{} of container {c}", diff.setting.replace('_', " ")),
        None => diff.setting.replace('_', " "),
    };
    format!(
        "  - {what}: {} → {}",
        side(diff.before.as_deref(), diff.before_state.as_deref()),
        side(diff.after.as_deref(), diff.after_state.as_deref())
    )
}

pub fn change_lines(changes: &Changes) -> Vec<String> {
    let resources = changes.resources.join(", ");
    if changes.status == HistoryStatus::Unknown {
        return vec![format!(
            "CloudTrail unknown for {resources}: {}",
            changes.reason.as_deref().unwrap_or("not read")
        )];
    }
    // Found, but part of the look failed or was cut at its bound: say what is unknown.
    let gap = changes
        .reason
        .as_ref()
        .map(|r| format!("  Not complete: {r}"));
    if changes.events.is_empty() {
        let none = format!(
            "CloudTrail shows no write to {resources} in the {} h before the failure.",
            changes.window_hours
        );
        return std::iter::once(none).chain(gap).collect();
    }
    let mut lines = vec![format!(
        "CloudTrail, {resources}, {} h before the failure:",
        changes.window_hours
    )];
    for e in &changes.events {
        let mut line = format!("  - {} {} on {}", e.time, e.event_name, e.resource);
        if let Some(actor) = &e.actor {
            line.push_str(&format!(" by {actor}"));
        }
        if let Some(via) = &e.invoked_by {
            line.push_str(&format!(" via {via}"));
        }
        if let Some(ip) = &e.source_ip {
            line.push_str(&format!(" from {ip}"));
        }
        if let Some(stack) = &e.stack {
            line.push_str(&format!(" (stack {stack})"));
        }
        if e.likely_cause {
            line.push_str(" — likely cause");
        }
        lines.push(line);
    }
    lines.extend(gap);
    lines
}

pub fn blast_radius_lines(b: &BlastRadius) -> Vec<String> {
    let shared = b.shared.join(", ");
    if b.status == HistoryStatus::Unknown {
        return vec![format!(
            "Other services sharing {shared}: unknown ({})",
            b.reason.as_deref().unwrap_or("not read")
        )];
    }
    let scope = if b.complete {
        ""
    } else {
        " (bounded look: more may be at risk)"
    };
    if b.total == 0 {
        return vec![format!("No other service shares {shared}{scope}.")];
    }
    let mut lines = vec![format!(
        "{} other service(s) share {shared} and will fail on their next task start or deploy{scope}:",
        b.total
    )];
    lines.extend(
        b.services
            .iter()
            .map(|s| format!("  - {} (cluster {}): {}", s.service, s.cluster, s.why)),
    );
    if (b.services.len() as u32) < b.total {
        lines.push(format!(
            "  - and {} more",
            b.total as usize - b.services.len()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::history::{AtRisk, ChangeEvent, Revision};

    fn image_deploy() -> DeployDiff {
        DeployDiff {
            status: HistoryStatus::Found,
            reason: None,
            source: Some("service_deployments".into()),
            service: Some("web".into()),
            failing: Revision {
                task_definition: Some("web:42".into()),
                ..Default::default()
            },
            previous: Some(Revision {
                task_definition: Some("web:41".into()),
                ..Default::default()
            }),
            rolled_back: true,
            rollout_reason: Some("ECS deployment circuit breaker: rolling back".into()),
            differences: vec![Difference {
                setting: "image".into(),
                container: Some("app".into()),
                before: Some("repo:2.4.1".into()),
                after: Some("repo:2.4.2".into()),
                before_state: Some("present".into()),
                after_state: Some("not_found".into()),
            }],
            explains_failure: true,
        }
    }

    #[test]
    fn deploy_names_both_images_their_state_and_the_rollback() {
        let lines = deploy_lines(&image_deploy());
        assert_eq!(lines[0], "The deploy from web:41 to web:42 changed:");
        assert_eq!(
            lines[1],
            "  - image of container app: repo:2.4.1 (present) → repo:2.4.2 (not found)"
        );
        assert!(lines[2]
            .starts_with("The deployment circuit breaker rolled the service back to web:41"));
    }

    #[test]
    fn unknown_sections_say_why_instead_of_nothing() {
        let changes = Changes {
            status: HistoryStatus::Unknown,
            reason: Some("AccessDenied: grant cloudtrail:LookupEvents".into()),
            resources: vec!["rtb-1".into()],
            window_hours: 24,
            events: vec![],
        };
        assert_eq!(
            change_lines(&changes),
            vec!["CloudTrail unknown for rtb-1: AccessDenied: grant cloudtrail:LookupEvents"]
        );
        let empty = Changes {
            status: HistoryStatus::Found,
            reason: None,
            ..changes
        };
        assert!(change_lines(&empty)[0].contains("no write to rtb-1 in the 24 h"));
    }

    #[test]
    fn changes_name_the_actor_and_the_likely_cause() {
        let changes = Changes {
            status: HistoryStatus::Found,
            reason: None,
            resources: vec!["rtb-1".into()],
            window_hours: 24,
            events: vec![ChangeEvent {
                event_id: "e-1".into(),
                event_name: "DeleteRoute".into(),
                time: "2026-11-30T14:02:00Z".into(),
                actor: Some("platform-deployer/ci-7".into()),
                invoked_by: None,
                source_ip: Some("10.1.2.3".into()),
                resource: "rtb-1".into(),
                stack: None,
                likely_cause: true,
            }],
        };
        assert_eq!(
            change_lines(&changes)[1],
            "  - 2026-11-30T14:02:00Z DeleteRoute on rtb-1 by platform-deployer/ci-7 from 10.1.2.3 — likely cause"
        );
    }

    #[test]
    fn blast_radius_lists_ten_and_counts_the_rest() {
        let b = BlastRadius {
            status: HistoryStatus::Found,
            reason: None,
            shared: vec!["subnet subnet-a".into()],
            total: 12,
            services: (0..10)
                .map(|i| AtRisk {
                    service: format!("svc{i}"),
                    cluster: "prod".into(),
                    why: "runs in subnet-a".into(),
                })
                .collect(),
            complete: true,
            clusters_examined: 1,
        };
        let lines = blast_radius_lines(&b);
        assert!(lines[0].starts_with("12 other service(s) share subnet subnet-a"));
        assert_eq!(lines.len(), 12);
        assert_eq!(lines[11], "  - and 2 more");
    }
}
