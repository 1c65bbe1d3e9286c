//! Markdown rendering: for pull-request comments, tickets and chat tools that render markdown.

use std::fmt::Write;

use super::{clean, evidence_value, headline_subject};
use crate::model::diagnosis::{Diagnosis, Status};

/// Escape markdown metacharacters in untrusted text (table cells included). Parentheses stay: with
/// `[` and `]` escaped they cannot form a link.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '#' | '|' | '<' | '>' | '!' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn code(s: &str) -> String {
    // Backticks would end the span; GFM splits table cells on `|` even inside code spans.
    format!("`{}`", clean(s).replace('`', "'").replace('|', "\\|"))
}

pub fn render(d: &Diagnosis) -> String {
    let mut out = String::new();
    let history = super::history::placement(d);
    write_cause(&mut out, d, history.lead.as_ref());
    if !d.other_failures.is_empty() {
        write_other_failures(&mut out, d);
    }
    write_section(&mut out, history.after_cause.as_ref());
    write_section(&mut out, history.who_else.as_ref());
    write_task(&mut out, d);
    write_checks(&mut out, d);
    let _ = writeln!(out, "\n_{} AWS calls, {} ms._", d.aws_calls, d.duration_ms);
    out
}

/// The headline, the root cause, its fix, what to verify by hand and what else is wrong.
fn write_cause(out: &mut String, d: &Diagnosis, what_changed: Option<&super::history::Section>) {
    let rc = &d.root_cause;
    let _ = writeln!(
        out,
        "### {}: {}\n",
        escape(&headline_subject(d)),
        escape(&rc.title)
    );
    write_section(out, what_changed);
    let _ = writeln!(
        out,
        "**Root cause:** `{}` ({:?} confidence)\n",
        rc.code, rc.confidence
    );
    if let Some(fix) = &rc.remediation {
        let _ = writeln!(out, "**Fix:** {}\n", escape(fix));
    }
    if !rc.to_verify.is_empty() {
        let _ = writeln!(out, "{} Verify by hand:\n", super::no_cause_lead(d));
        for hint in &rc.to_verify {
            let _ = writeln!(out, "- {}", escape(hint));
        }
        out.push('\n');
    }
    if !rc.also_wrong.is_empty() {
        let _ = writeln!(out, "**{}:**\n", super::ALSO_WRONG);
        for other in &rc.also_wrong {
            let _ = write!(out, "- `{}` {}", other.code, escape(&other.title));
            if let Some(r) = &other.resource {
                let _ = write!(out, " ({})", code(r));
            }
            if let Some(fix) = &other.remediation {
                let _ = write!(out, " — fix: {}", escape(fix));
            }
            out.push('\n');
        }
        out.push('\n');
    }
}

/// The task's other containers that failed on other images, one line each.
fn write_other_failures(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "**{}:**\n", super::OTHER_FAILURES);
    for o in &d.other_failures {
        let rc = &o.root_cause;
        let _ = write!(
            out,
            "- {} {}: `{}` ({:?} confidence) {}",
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
        );
        if let Some(fix) = &rc.remediation {
            let _ = write!(out, " — **Fix:** {}", escape(fix));
        }
        for hint in &rc.to_verify {
            let _ = write!(out, " — verify: {}", escape(hint));
        }
        for other in &rc.also_wrong {
            let _ = write!(
                out,
                " — also wrong: `{}` {}",
                other.code,
                escape(&other.title)
            );
        }
        let _ = writeln!(out, " — message: {}", code(&o.failure.message));
    }
    out.push('\n');
}

/// A history section as a bold title and a list.
fn write_section(out: &mut String, section: Option<&super::history::Section>) {
    if let Some(section) = section {
        let _ = writeln!(out, "**{}**\n", section.title);
        for line in section.items() {
            let _ = match line {
                super::history::Line::Text(text) => writeln!(out, "- {}", escape(text)),
                super::history::Line::Item(item) => writeln!(out, "  - {}", escape(item)),
            };
        }
        out.push('\n');
    }
}

/// The task table, and the deciding finding's evidence.
fn write_task(out: &mut String, d: &Diagnosis) {
    let f = &d.failure;
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| Task | {} |",
        code(d.task.arn.as_deref().unwrap_or("unknown"))
    );
    let _ = writeln!(
        out,
        "| Launch type | {} {} |",
        escape(d.task.launch_type.as_deref().unwrap_or("")),
        escape(d.task.platform_version.as_deref().unwrap_or(""))
    );
    let _ = writeln!(
        out,
        "| Container | {} |",
        code(f.container.as_deref().unwrap_or("unknown"))
    );
    let _ = writeln!(
        out,
        "| Image | {} |",
        code(f.image.as_deref().unwrap_or("unknown"))
    );
    let _ = writeln!(out, "| Message | {} |", code(&f.message));
    let _ = writeln!(out, "| Category | {} |\n", f.category.as_str());
    if let Some(decider) = d.deciding_finding() {
        if let Some(obj) = decider.evidence.as_object().filter(|o| !o.is_empty()) {
            let _ = writeln!(out, "**Evidence**\n");
            for (k, v) in obj {
                let _ = writeln!(out, "- {}: {}", escape(k), code(&evidence_value(v)));
            }
            out.push('\n');
        }
    }
}

/// The table of findings, with links to their resources.
fn write_checks(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(
        out,
        "| Status | Check | Finding | Resource |\n|---|---|---|---|"
    );
    for finding in &d.findings {
        let mark = match finding.status {
            Status::Fail => "❌ fail",
            Status::Warn => "⚠️ warn",
            Status::Unknown => "❔ unknown",
            Status::Pass => "✅ pass",
        };
        let mut title = escape(&finding.title);
        if finding.status == Status::Unknown {
            if let Some(reason) = finding.evidence.get("reason") {
                title.push_str(&format!(" — {}", escape(&evidence_value(reason))));
            }
        }
        let resource = match (&finding.resource, &finding.console_url) {
            (Some(r), Some(url)) => format!("[{}]({})", escape(r), url.replace(')', "%29")),
            (Some(r), None) => code(r),
            (None, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "| {mark} | `{}` | {title} | {resource} |",
            finding.code
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::report::tests::sample;

    #[test]
    fn markdown_escapes_untrusted_text_and_links_resources() {
        let out = super::render(&sample());
        assert!(out.starts_with("### web-api (prod, us-east-1): Tag v9 does not exist in team/app"));
        assert!(out.contains("**Root cause:** `ECR_IMAGE_NOT_FOUND`"));
        // `*` is inert inside a code span; `|` must still be escaped or it splits the table cell.
        assert!(out
            .contains("| Message | `CannotPullContainerError: manifest unknown[31m \\| *boom*` |"));
        assert!(out.contains("❌ fail"));
        assert!(out.contains("](https://us-east-1.console.aws.amazon.com/ecr/repositories/private/111122223333/team/app?region=us-east-1)"));
        assert_eq!(
            super::escape("[x](y) *z* @here|"),
            "\\[x\\](y) \\*z\\* @here\\|"
        );
    }
}
