//! The rules as documentation: `pulldoctor explain CODE` (one rule's doc) and `pulldoctor checks`
//! (every code, as text, markdown or the `pulldoctor.checks/v1` JSON). The markdown table is the
//! one in docs/root-causes.md; a test keeps them equal.

use serde_json::{json, Value};

use super::rule::{Doc, Phases, Rule, Stage};
use super::{RULES, UNKNOWN_DOC, UNKNOWN_TITLE};
use crate::model::audience::Scope;
use crate::model::diagnosis::RootCause;

/// Schema tag of `pulldoctor checks --format json`.
pub const SCHEMA: &str = "pulldoctor.checks/v1";

/// What is said about one code: its rule's metadata, or `UNKNOWN`'s doc (no rule).
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub code: RootCause,
    pub rule: Option<&'static Rule>,
    pub title: &'static str,
    pub doc: &'static Doc,
}

impl Entry {
    fn of(rule: &'static Rule) -> Entry {
        Entry {
            code: rule.code,
            rule: Some(rule),
            title: rule.title,
            doc: &rule.doc,
        }
    }
    fn unknown() -> Entry {
        Entry {
            code: RootCause::Unknown,
            rule: None,
            title: UNKNOWN_TITLE,
            doc: &UNKNOWN_DOC,
        }
    }
    fn scope(&self) -> &'static [Scope] {
        self.rule.map_or(&[], |r| r.scope)
    }
    fn reads(&self) -> Vec<&'static str> {
        self.rule.map_or(vec![], |r| r.all_reads())
    }
}

/// Every code: the rules in registry order, then `UNKNOWN`.
pub fn entries() -> Vec<Entry> {
    RULES
        .iter()
        .copied()
        .map(Entry::of)
        .chain([Entry::unknown()])
        .collect()
}

/// The entry for a code (`NET_NO_ROUTE`, any case) or a rule name (`subnet_route`).
pub fn find(given: &str) -> Option<Entry> {
    let given = given.trim();
    entries().into_iter().find(|e| {
        e.code.code().eq_ignore_ascii_case(given) || e.rule.is_some_and(|r| r.name == given)
    })
}

fn scope_text(scope: &[Scope]) -> String {
    if scope.is_empty() {
        return "—".into();
    }
    scope
        .iter()
        .map(|s| s.label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn reads_text(reads: &[&str]) -> String {
    if reads.is_empty() {
        return "—".into();
    }
    reads.join(", ")
}

/// `text` wrapped to `width` columns, each line starting with `indent`.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty()
            && indent.chars().count() + line.chars().count() + 1 + word.chars().count() > width
        {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

const WIDTH: usize = 100;

/// `pulldoctor explain CODE`.
pub fn explain(entry: &Entry) -> String {
    let mut out = match entry.rule {
        Some(rule) => format!("{} ({})\n", entry.code.code(), rule.name),
        None => format!(
            "{} (no check: the diagnosis when none explains the failure)\n",
            entry.code.code()
        ),
    };
    out.push_str(&wrap(entry.title, "", WIDTH));
    for (heading, text) in [
        ("What breaks", entry.doc.what),
        ("Why", entry.doc.why),
        ("Fix", entry.doc.fix),
    ] {
        out.push('\n');
        out.push_str(heading);
        out.push('\n');
        out.push_str(&wrap(text, "  ", WIDTH));
    }
    out.push('\n');
    out.push_str(&format!("Reference: {}\n", entry.doc.reference));
    out.push_str(&format!("Runs on:   {}\n", scope_text(entry.scope())));
    out.push_str(&hanging("Reads:     ", &reads_text(&entry.reads())));
    out
}

/// `text` wrapped after `label`, continuation lines aligned under its first word.
fn hanging(label: &str, text: &str) -> String {
    let indent = " ".repeat(label.chars().count());
    let wrapped = wrap(text, &indent, WIDTH);
    format!("{label}{}", &wrapped[indent.len()..])
}

/// `pulldoctor checks`: every code, its title, where it runs and what it reads.
pub fn list_text() -> String {
    let mut out = String::new();
    for e in entries() {
        out.push_str(&format!("{:<31} {}\n", e.code.code(), e.title));
        let name = e.rule.map_or("—", |r| r.name);
        out.push_str(&format!(
            "{:<31} check {name}; runs on {}\n",
            "",
            scope_text(e.scope())
        ));
        out.push_str(&hanging(
            &format!("{:<32}reads ", ""),
            &reads_text(&e.reads()),
        ));
    }
    out
}

/// `pulldoctor checks --format markdown`: the code table of docs/root-causes.md.
pub fn list_markdown() -> String {
    let mut out =
        String::from("| code | check | meaning | runs on | AWS reads |\n|---|---|---|---|---|\n");
    for e in entries() {
        let name = e.rule.map_or("—".to_string(), |r| format!("`{}`", r.name));
        let reads = if e.reads().is_empty() {
            "—".to_string()
        } else {
            e.reads()
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {name} | {} | {} | {reads} |\n",
            e.code.code(),
            e.doc.what,
            scope_text(e.scope())
        ));
    }
    out
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reach => "reach",
            Stage::Filter => "filter",
            Stage::Identity => "identity",
            Stage::Repository => "repository",
            Stage::Image => "image",
        }
    }
}

/// `pulldoctor checks --format json` (docs/schemas/checks.v1.json).
pub fn list_json() -> Value {
    let checks: Vec<Value> = entries()
        .iter()
        .map(|e| {
            let r = e.rule;
            json!({
                "code": e.code,
                "name": r.map(|r| r.name),
                "title": e.title,
                "stage": r.map(|r| r.stage.as_str()),
                "scope": e.scope().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "reads": e.reads(),
                "explains": r.map_or(vec![], |r| r.explains.iter().map(|c| c.as_str()).collect()),
                "phases": match r.map(|r| r.phases) {
                    Some(Phases::Only(list)) => json!(list),
                    _ => Value::Null,
                },
                "doc": {
                    "what": e.doc.what,
                    "why": e.doc.why,
                    "fix": e.doc.fix,
                    "reference": e.doc.reference,
                },
            })
        })
        .collect();
    json!({"schema": SCHEMA, "checks": checks})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_prints_the_rules_doc() {
        let text = explain(&find("NET_NO_ROUTE").unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NET_NO_ROUTE (subnet_route)");
        assert_eq!(
            lines[1],
            "The subnet has no route to ECR: no internet route and no VPC endpoints"
        );
        for heading in ["What breaks", "Why", "Fix"] {
            assert!(lines.contains(&heading), "{heading}:\n{text}");
        }
        // Each section is its doc text, wrapped and indented.
        let doc = &crate::checks::network::route::SUBNET_ROUTE.doc;
        for (heading, want) in [
            ("What breaks", doc.what),
            ("Why", doc.why),
            ("Fix", doc.fix),
        ] {
            let at = lines.iter().position(|l| *l == heading).unwrap();
            let body: Vec<&str> = lines[at + 1..]
                .iter()
                .take_while(|l| !l.is_empty())
                .map(|l| l.strip_prefix("  ").unwrap())
                .collect();
            assert_eq!(body.join(" "), want, "{heading}");
        }
        assert!(text.contains("Reference: https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html\n"), "{text}");
        assert!(
            text.contains("Runs on:   ECS, EKS nodes, EKS Fargate\n"),
            "{text}"
        );
        assert!(
            text.contains("Reads:     ec2:DescribeNetworkInterfaces, ec2:DescribeSubnets,"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        // Every continuation line of the reads is aligned under the first.
        let reads_at = lines.iter().position(|l| l.starts_with("Reads:")).unwrap();
        assert!(
            lines[reads_at + 1..]
                .iter()
                .all(|l| l.starts_with("           ") && !l.trim().is_empty()),
            "{text}"
        );
    }

    #[test]
    fn codes_and_rule_names_are_found_in_any_case() {
        assert_eq!(find("net_no_route").unwrap().code, RootCause::NetNoRoute);
        assert_eq!(find("subnet_route").unwrap().code, RootCause::NetNoRoute);
        assert_eq!(find("UNKNOWN").unwrap().code, RootCause::Unknown);
        assert!(find("NET_NO_ROUT").is_none());
        let unknown = explain(&find("UNKNOWN").unwrap());
        assert!(unknown.starts_with("UNKNOWN (no check"), "{unknown}");
        assert!(
            unknown.contains("Runs on:   —\nReads:     —\n"),
            "{unknown}"
        );
    }

    #[test]
    fn the_list_names_every_code_with_its_scope_and_reads() {
        let text = list_text();
        for code in RootCause::ALL {
            assert_eq!(
                text.lines()
                    .filter(|l| l.starts_with(&format!("{} ", code.code())))
                    .count(),
                1,
                "{code}\n{text}"
            );
        }
        assert!(text.contains("IAM_EXECUTION_ROLE_MISSING      The task definition has no execution role to pull from ECR\n"), "{text}");
        assert!(
            text.contains("check execution_role_present; runs on ECS\n"),
            "{text}"
        );
        assert!(
            text.contains("check instance_role_permissions; runs on ECS, EKS nodes\n"),
            "{text}"
        );
        assert!(text.contains("reads ec2:DescribeVpcEndpoints\n"), "{text}");
        let json = list_json();
        assert_eq!(json["schema"], SCHEMA);
        let checks = json["checks"].as_array().unwrap();
        assert_eq!(checks.len(), RootCause::ALL.len());
        assert_eq!(checks[0]["code"], "NET_DNS");
        assert_eq!(
            checks[0]["scope"],
            json!(["ecs", "eks_nodes", "eks_fargate"])
        );
        let s3 = checks
            .iter()
            .find(|c| c["code"] == "NET_S3_ENDPOINT_POLICY")
            .unwrap();
        assert_eq!(
            (&s3["explains"], &s3["phases"], &s3["stage"]),
            (
                &json!(["access_denied"]),
                &json!(["layer"]),
                &json!("filter")
            )
        );
        let unknown = checks.last().unwrap();
        assert_eq!(
            (&unknown["code"], &unknown["name"], &unknown["reads"]),
            (&json!("UNKNOWN"), &Value::Null, &json!([]))
        );
    }

    /// docs/root-causes.md holds `pulldoctor checks --format markdown` verbatim: regenerate it with
    /// that command when a rule changes.
    #[test]
    fn the_code_table_in_docs_is_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/root-causes.md");
        let doc = std::fs::read_to_string(path).expect("docs/root-causes.md");
        let table: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("| code |"))
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            table,
            list_markdown(),
            "docs/root-causes.md's table differs from the rules: run `cargo xtask docs` (it writes the output of `pulldoctor checks --format markdown` there)"
        );
    }
}
