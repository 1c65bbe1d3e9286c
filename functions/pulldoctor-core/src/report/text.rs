//! Plain-text rendering: what an engineer reads in a terminal or an SNS e-mail.

use std::fmt::Write;

use super::{clean, evidence_value, headline_subject};
use crate::model::diagnosis::{Diagnosis, Status};

pub fn render(d: &Diagnosis) -> String {
    let mut out = String::new();
    let history = super::history::placement(d);
    write_cause(&mut out, d, history.lead.as_ref());
    if !d.other_failures.is_empty() {
        write_other_failures(&mut out, d);
    }
    write_section(&mut out, history.after_cause.as_ref());
    write_section(&mut out, history.who_else.as_ref());
    out.push('\n');
    write_task(&mut out, d);
    write_checks(&mut out, d);
    let _ = writeln!(out, "\n{} AWS calls, {} ms.", d.aws_calls, d.duration_ms);
    out
}

/// The headline, the root cause, its fix, what to verify by hand and what else is wrong.
fn write_cause(out: &mut String, d: &Diagnosis, what_changed: Option<&super::history::Section>) {
    let rc = &d.root_cause;
    let _ = writeln!(out, "{}: {}", clean(&headline_subject(d)), clean(&rc.title));
    write_section(out, what_changed);
    let _ = writeln!(
        out,
        "Root cause: {} ({} confidence)",
        rc.code,
        super::confidence_word(rc)
    );
    if let Some(fix) = &rc.remediation {
        let _ = writeln!(out, "Fix: {}", clean(fix));
    }
    if !rc.to_verify.is_empty() {
        let _ = writeln!(out, "{} Verify by hand:", super::no_cause_lead(d));
        for hint in &rc.to_verify {
            let _ = writeln!(out, "  - {}", clean(hint));
        }
    }
    if !rc.also_wrong.is_empty() {
        let _ = writeln!(out, "{}:", super::ALSO_WRONG);
        for other in &rc.also_wrong {
            let _ = write!(out, "  - {} {}", other.code, clean(&other.title));
            if let Some(r) = &other.resource {
                let _ = write!(out, " [{}]", clean(r));
            }
            out.push('\n');
            if let Some(fix) = &other.remediation {
                let _ = writeln!(out, "    fix: {}", clean(fix));
            }
        }
    }
}

/// A history section: its title and lines.
fn write_section(out: &mut String, section: Option<&super::history::Section>) {
    if let Some(section) = section {
        let _ = writeln!(out, "{}:", section.title);
        for line in section.items() {
            let _ = match line {
                super::history::Line::Text(text) => writeln!(out, "  {}", clean(text)),
                super::history::Line::Item(item) => writeln!(out, "  - {}", clean(item)),
            };
        }
    }
}

/// The task's other containers that failed on other images, each with its own root cause.
fn write_other_failures(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "{}:", super::OTHER_FAILURES);
    for o in &d.other_failures {
        let rc = &o.root_cause;
        let _ = writeln!(
            out,
            "  - {}: {}",
            super::other_failure_name(o),
            clean(&rc.title)
        );
        let _ = writeln!(
            out,
            "    Root cause: {} ({} confidence)",
            rc.code,
            super::confidence_word(rc)
        );
        if let Some(fix) = &rc.remediation {
            let _ = writeln!(out, "    Fix: {}", clean(fix));
        }
        for hint in &rc.to_verify {
            let _ = writeln!(out, "    Verify: {}", clean(hint));
        }
        for other in &rc.also_wrong {
            let _ = writeln!(
                out,
                "    Also wrong: {} {}",
                other.code,
                clean(&other.title)
            );
        }
        let _ = writeln!(out, "    Message: {}", clean(&o.failure.message));
    }
}

/// The task, the failing container and image, the message, and the deciding finding's evidence.
fn write_task(out: &mut String, d: &Diagnosis) {
    let t = &d.task;
    let platform = [
        t.launch_type.as_deref(),
        t.platform_version.as_deref().map(|p| p.trim()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let source = match t.source {
        crate::model::facts::TaskSource::DescribeTasks => "read with DescribeTasks",
        crate::model::facts::TaskSource::Event => "facts from the EventBridge event",
    };
    let _ = writeln!(
        out,
        "Task:      {} ({platform}; {source})",
        clean(t.arn.as_deref().unwrap_or("unknown"))
    );
    let f = &d.failure;
    let _ = writeln!(
        out,
        "Container: {}",
        clean(f.container.as_deref().unwrap_or("unknown"))
    );
    let _ = writeln!(
        out,
        "Image:     {}",
        clean(f.image.as_deref().unwrap_or("unknown"))
    );
    let _ = writeln!(out, "Message:   {}", clean(&f.message));
    let _ = writeln!(out, "Category:  {}", f.category.as_str());
    if let Some(decider) = d.deciding_finding() {
        if let Some(obj) = decider.evidence.as_object().filter(|o| !o.is_empty()) {
            let _ = writeln!(out, "\nEvidence:");
            for (k, v) in obj {
                let _ = writeln!(out, "  {k}: {}", evidence_value(v));
            }
        }
        if let Some(url) = &decider.console_url {
            let _ = writeln!(out, "Console:   {url}");
        }
    }
}

/// Every finding, with the fix of those not passing (the deciding one's is above).
fn write_checks(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "\nChecks:");
    for finding in &d.findings {
        let _ = write!(
            out,
            "  {:<8} {:<31} {}",
            finding.status.as_str().to_uppercase(),
            finding.code,
            clean(&finding.title)
        );
        if let Some(r) = &finding.resource {
            let _ = write!(out, " [{}]", clean(r));
        }
        if finding.status == Status::Unknown {
            if let Some(reason) = finding.evidence.get("reason") {
                let _ = write!(out, " — {}", evidence_value(reason));
            }
        }
        out.push('\n');
        if finding.status != Status::Pass && Some(finding) != d.deciding_finding() {
            if let Some(rem) = &finding.remediation {
                let _ = writeln!(out, "           fix: {}", clean(rem));
            }
        }
    }
    if d.findings.is_empty() {
        let _ = writeln!(out, "  (no check applied)");
    }
}

#[cfg(test)]
mod tests {
    use crate::report::tests::sample;

    #[test]
    fn text_leads_with_the_cause_and_the_fix() {
        let out = super::render(&sample());
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap(),
            "web-api (prod, us-east-1): Tag v9 does not exist in team/app"
        );
        assert_eq!(
            lines.next().unwrap(),
            "Root cause: ECR_IMAGE_NOT_FOUND (high confidence)"
        );
        assert_eq!(lines.next().unwrap(), "Fix: Push team/app:v9.");
        assert!(out.contains("  tag: v9"));
        assert!(out.contains("UNKNOWN  IAM_EXECUTION_ROLE_MISSING"));
        assert!(out.contains("— AccessDenied: ecs:DescribeTaskDefinition"));
        assert!(
            !out.contains('\u{1b}'),
            "control characters must not reach a terminal"
        );
    }
}
