//! The preflight report: findings of every (subnet × image) pair merged into one list, a verdict
//! per subnet, and renderings (text, markdown for a pull-request comment, JSON).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::{Pair, Plan};
use crate::history::deploy::{differences, revision_name};
use crate::model::diagnosis::{Diagnosis, Finding, Status};
use crate::model::facts::{Fact, Facts, ImageChangeFacts, ImageFacts, LaunchType};
use crate::model::history::{DeployDiff, HistoryStatus, Revision};
use crate::model::image_ref::ImageRef;
use crate::report::{clean, escape_markdown};

/// Schema tag of the JSON preflight report.
pub const SCHEMA: &str = "pulldoctor.preflight/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    pub schema: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub cluster: String,
    pub service: Option<String>,
    /// EKS: the node group checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodegroup: Option<String>,
    /// EKS: the Fargate profile checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fargate_profile: Option<String>,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    /// `fail` when any check fails, `warn` when one warns and none fails, else `pass`.
    pub verdict: Verdict,
    pub subnets: Vec<SubnetVerdict>,
    pub containers: Vec<ContainerImage>,
    /// One entry per distinct finding, failures first.
    pub findings: Vec<PreflightFinding>,
    pub aws_calls: u32,
    pub duration_ms: u64,
    /// EC2 bridge/host: the container instances the tasks would pull from, as considered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_instances: Option<super::instances::InstancesConsidered>,
    /// What this deploy changes: the service's running revision (`previous`) against the one
    /// about to be deployed (`failing`). `None` without a service or for the same revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployDiff>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetVerdict {
    pub subnet: String,
    pub availability_zone: Option<String>,
    pub verdict: Verdict,
    /// Codes of the checks that fail for a task in this subnet.
    pub failing: Vec<String>,
    pub warning: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerImage {
    pub container: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightFinding {
    #[serde(flatten)]
    pub finding: Finding,
    /// The subnets where a would-be task meets this finding.
    pub subnets: Vec<String>,
    pub containers: Vec<String>,
}

fn rank(s: Status) -> u8 {
    match s {
        Status::Fail => 0,
        Status::Warn => 1,
        Status::Unknown => 2,
        Status::Pass => 3,
    }
}

/// Merge per-pair diagnoses: a finding with the same code, status, title and resource is reported
/// once, with every subnet and container it was seen for.
pub fn merge(plan: &Plan, results: &[(Pair, Diagnosis, &Facts)]) -> PreflightReport {
    type Key = (u8, String, String, String);
    let mut merged: BTreeMap<Key, (usize, PreflightFinding)> = BTreeMap::new();
    let mut per_subnet: BTreeMap<&str, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut zones: BTreeMap<&str, String> = BTreeMap::new();
    let mut calls = plan.aws_calls;
    for (pair, diagnosis, facts) in results {
        calls += facts.aws_calls;
        if let Some(az) = facts
            .network
            .subnet
            .value()
            .and_then(|s| s.availability_zone.clone())
        {
            zones.insert(pair.subnet.as_str(), az);
        }
        let verdict = per_subnet.entry(pair.subnet.as_str()).or_default();
        for f in &diagnosis.findings {
            match f.status {
                Status::Fail => verdict.0.insert(f.code.code().to_string()),
                Status::Warn => verdict.1.insert(f.code.code().to_string()),
                _ => false,
            };
            let key = (
                rank(f.status),
                f.code.code().to_string(),
                f.title.clone(),
                f.resource.clone().unwrap_or_default(),
            );
            let seen = merged.len();
            let entry = merged.entry(key).or_insert_with(|| {
                (
                    seen,
                    PreflightFinding {
                        finding: f.clone(),
                        subnets: vec![],
                        containers: vec![],
                    },
                )
            });
            if !entry.1.subnets.contains(&pair.subnet) {
                entry.1.subnets.push(pair.subnet.clone());
            }
            if !entry.1.containers.contains(&pair.container) {
                entry.1.containers.push(pair.container.clone());
            }
        }
    }
    // Failures first; within a status, in check order (checks::RULES), then as first seen.
    let check_order = |f: &PreflightFinding| crate::checks::path_position(f.finding.code);
    let mut findings: Vec<_> = merged
        .into_iter()
        .map(|((status, ..), (seen, f))| (status, check_order(&f), seen, f))
        .collect();
    findings.sort_by_key(|(status, check, seen, _)| (*status, *check, *seen));
    let findings: Vec<PreflightFinding> = findings.into_iter().map(|(.., f)| f).collect();

    let subnets = subnet_verdicts(plan, &per_subnet, &zones);
    let verdict = findings
        .iter()
        .map(|f| match f.finding.status {
            Status::Fail => Verdict::Fail,
            Status::Warn => Verdict::Warn,
            _ => Verdict::Pass,
        })
        .max()
        .unwrap_or(Verdict::Pass);
    let task_definition = task_definition_label(plan);
    let mut containers = Vec::new();
    for pair in plan.pairs() {
        let ci = ContainerImage {
            container: pair.container,
            image: pair.image,
        };
        if !containers.contains(&ci) {
            containers.push(ci);
        }
    }
    PreflightReport {
        schema: SCHEMA.into(),
        account: plan.account.clone(),
        region: plan.region.clone(),
        cluster: crate::model::arn::cluster_name(&plan.cluster).to_string(),
        service: plan.service.clone(),
        nodegroup: plan.nodegroup.clone(),
        fargate_profile: plan.fargate_profile.as_ref().map(|p| p.name.clone()),
        task_definition,
        launch_type: plan
            .launch_type
            .as_ref()
            .map(LaunchType::to_string)
            .or_else(|| plan.capacity_provider.clone()),
        platform_version: plan.platform_version.clone(),
        verdict,
        subnets,
        containers,
        findings,
        aws_calls: calls,
        duration_ms: 0,
        container_instances: plan.container_instances.clone(),
        deploy: deploy(
            plan,
            &results.iter().map(|(_, _, f)| *f).collect::<Vec<_>>(),
        ),
    }
}

/// What this deploy changes, from the plan's two revisions; an image's `after_state` comes from
/// the preflight's own image check of that container (the running image is not checked: no state).
pub fn deploy(plan: &Plan, facts: &[&Facts]) -> Option<DeployDiff> {
    let d = plan.deploy.as_ref()?;
    let running = &d.running;
    let previous = Revision {
        task_definition: running.task_definition_arn.as_deref().map(revision_name),
        deployment_id: running.deployment_id.clone(),
        service_revision: None,
        status: running.status.clone(),
        created_at: running.created_at.clone(),
    };
    let mut diff = DeployDiff {
        status: HistoryStatus::Found,
        reason: None,
        source: Some("service_deployments".into()),
        service: plan.service.clone(),
        failing: Revision {
            task_definition: Some(task_definition_label(plan)),
            ..Default::default()
        },
        previous: Some(previous),
        rolled_back: false,
        rollout_reason: None,
        differences: vec![],
        explains_failure: false,
    };
    if let Some(gap) = running.task_definition.gap() {
        diff.status = HistoryStatus::Unknown;
        diff.reason = Some(format!(
            "could not read {}: {gap}",
            diff.previous
                .as_ref()
                .and_then(|p| p.task_definition.as_deref())
                .unwrap_or("the running revision")
        ));
        return Some(diff);
    }
    let images: Vec<ImageChangeFacts> = running
        .image_changes_to(&d.next)
        .into_iter()
        .map(|(container, before, after)| {
            let checked = facts
                .iter()
                .find(|f| f.failure.container.as_deref() == Some(container.as_str()));
            ImageChangeFacts {
                after_image: checked
                    .map(|f| checked_image(f, after.as_deref()))
                    .unwrap_or_default(),
                before_image: Fact::NotCollected {
                    reason: "preflight checks only the images about to be deployed".into(),
                },
                container,
                before,
                after,
            }
        })
        .collect();
    diff.differences = differences(running, &d.next, &images);
    Some(diff)
}

/// The preflight's answer for `image`: by digest when it names one, else by tag.
fn checked_image(facts: &Facts, image: Option<&str>) -> Fact<ImageFacts> {
    match image.map(ImageRef::parse) {
        Some(Ok(r)) if r.digest.is_some() => facts.image_by_digest.clone(),
        Some(Ok(_)) => facts.image_by_tag.clone(),
        _ => Fact::default(),
    }
}

/// "What this deploy changes": plain lines (not yet escaped), `None` without a deploy section.
fn deploy_lines(r: &PreflightReport) -> Option<Vec<String>> {
    let d = r.deploy.as_ref()?;
    let running = d
        .previous
        .as_ref()
        .and_then(|p| p.task_definition.as_deref())
        .unwrap_or("the running revision");
    let next = d
        .failing
        .task_definition
        .as_deref()
        .unwrap_or("the new revision");
    Some(match d.status {
        HistoryStatus::Unknown => vec![format!(
            "Unknown: {}",
            d.reason.as_deref().unwrap_or("not read")
        )],
        HistoryStatus::Found if d.differences.is_empty() => {
            vec![format!(
                "From {running} (running now) to {next}: nothing that matters for a pull changes."
            )]
        }
        HistoryStatus::Found => std::iter::once(format!("From {running} (running now) to {next}:"))
            .chain(
                d.differences
                    .iter()
                    .map(crate::report::history::difference_line),
            )
            .collect(),
    })
}

pub const WHAT_THIS_DEPLOY_CHANGES: &str = "What this deploy changes";

/// Each planned subnet's verdict: fail when a check failed there, else warn, else pass.
fn subnet_verdicts(
    plan: &Plan,
    per_subnet: &BTreeMap<&str, (BTreeSet<String>, BTreeSet<String>)>,
    zones: &BTreeMap<&str, String>,
) -> Vec<SubnetVerdict> {
    plan.network
        .subnets
        .iter()
        .map(|s| {
            let (failing, warning) = per_subnet.get(s.as_str()).cloned().unwrap_or_default();
            SubnetVerdict {
                subnet: s.clone(),
                availability_zone: zones.get(s.as_str()).cloned(),
                verdict: if !failing.is_empty() {
                    Verdict::Fail
                } else if !warning.is_empty() {
                    Verdict::Warn
                } else {
                    Verdict::Pass
                },
                failing: failing.into_iter().collect(),
                warning: warning.into_iter().collect(),
            }
        })
        .collect()
}

/// The task definition as the report names it: family:revision, else its ARN's name, else where it came from.
fn task_definition_label(plan: &Plan) -> String {
    let td = &plan.task_definition;
    match (&td.family, td.revision, &td.arn) {
        _ if plan.nodegroup.is_some() || plan.fargate_profile.is_some() => {
            plan.task_definition_source.clone()
        }
        (Some(f), Some(r), _) => format!("{f}:{r}"),
        (_, _, Some(arn)) => arn.rsplit('/').next().unwrap_or(arn).to_string(),
        (Some(f), None, None) => format!("{f} (not registered: {})", plan.task_definition_source),
        (None, _, None) => plan.task_definition_source.clone(),
    }
}

impl PreflightReport {
    /// Should a pipeline stop? `fail` always; `warn` only when strict.
    pub fn blocks(&self, strict: bool) -> bool {
        self.verdict == Verdict::Fail || (strict && self.verdict == Verdict::Warn)
    }

    fn subject(&self) -> String {
        let name = match (&self.service, &self.nodegroup, &self.fargate_profile) {
            (Some(s), _, _) => s.clone(),
            (None, Some(n), _) => format!("node group {n}"),
            (None, None, Some(p)) => format!("Fargate profile {p}"),
            (None, None, None) => self.task_definition.clone(),
        };
        let place: Vec<&str> = [Some(self.cluster.as_str()), self.region.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        format!("{} ({})", name, place.join(", "))
    }

    fn failing_subnets(&self) -> Vec<&SubnetVerdict> {
        self.subnets
            .iter()
            .filter(|s| s.verdict == Verdict::Fail)
            .collect()
    }
}

pub fn json(r: &PreflightReport) -> String {
    serde_json::to_string(r).expect("a preflight report always serializes")
}

pub fn text(r: &PreflightReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "pulldoctor preflight: {}", clean(&r.subject()));
    if r.nodegroup.is_some() {
        let _ = writeln!(
            out,
            "Kubelet pulls on the node group's nodes: {}",
            clean(&r.task_definition)
        );
    } else if r.fargate_profile.is_some() {
        let _ = writeln!(
            out,
            "Pods on the Fargate profile pull with its pod execution role: {}",
            clean(&r.task_definition)
        );
    } else {
        let _ = writeln!(
            out,
            "Task definition {} on {} {}",
            clean(&r.task_definition),
            clean(r.launch_type.as_deref().unwrap_or("?")),
            clean(r.platform_version.as_deref().unwrap_or("LATEST"))
        );
    }
    if let Some(ci) = &r.container_instances {
        let _ = writeln!(
            out,
            "Pulled by the container instance a task lands on: {}",
            clean(&ci.summary())
        );
    }
    let fails = r
        .findings
        .iter()
        .filter(|f| f.finding.status == Status::Fail)
        .count();
    let _ = writeln!(
        out,
        "Verdict: {} ({fails} failing finding(s))",
        r.verdict.as_str().to_uppercase()
    );
    let failing = r.failing_subnets();
    if !failing.is_empty() && failing.len() < r.subnets.len() {
        let names: Vec<String> = failing.iter().map(|s| clean(&s.subnet)).collect();
        let placed = if r.nodegroup.is_some() {
            "nodes"
        } else if r.fargate_profile.is_some() {
            "pods"
        } else {
            "tasks"
        };
        let _ = writeln!(
            out,
            "Would fail only in {}: {placed} placed there cannot pull, the others can.",
            names.join(", ")
        );
    }
    let _ = writeln!(out, "\nSubnets:");
    for s in &r.subnets {
        let _ = writeln!(
            out,
            "  {:7} {} ({}){}",
            s.verdict.as_str().to_uppercase(),
            clean(&s.subnet),
            clean(s.availability_zone.as_deref().unwrap_or("?")),
            if s.failing.is_empty() {
                String::new()
            } else {
                format!(": {}", s.failing.join(", "))
            }
        );
    }
    let _ = writeln!(out, "\nImages:");
    for c in &r.containers {
        if c.container == c.image {
            let _ = writeln!(out, "  {}", clean(&c.image));
        } else {
            let _ = writeln!(out, "  {}  {}", clean(&c.container), clean(&c.image));
        }
    }
    if let Some(lines) = deploy_lines(r) {
        let _ = writeln!(out, "\n{WHAT_THIS_DEPLOY_CHANGES}:");
        for line in lines {
            let _ = writeln!(out, "  {}", clean(&line));
        }
    }
    let _ = writeln!(out, "\nChecks:");
    for f in &r.findings {
        let _ = writeln!(
            out,
            "  {:7}  {:30} {}{}",
            f.finding.status.as_str().to_uppercase(),
            f.finding.code.code(),
            clean(&f.finding.title),
            scope(r, f)
        );
        if matches!(f.finding.status, Status::Fail | Status::Warn) {
            if let Some(fix) = &f.finding.remediation {
                let _ = writeln!(out, "           Fix: {}", clean(fix));
            }
        }
    }
    let _ = writeln!(out, "\n{} AWS calls, {} ms", r.aws_calls, r.duration_ms);
    out
}

/// `[subnet-a; web]` when the finding does not hold for every subnet / container.
fn scope(r: &PreflightReport, f: &PreflightFinding) -> String {
    let mut parts = Vec::new();
    if r.subnets.len() > 1 && f.subnets.len() < r.subnets.len() {
        parts.push(
            f.subnets
                .iter()
                .map(|s| clean(s))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if r.containers.len() > 1 && f.containers.len() < r.containers.len() {
        parts.push(
            f.containers
                .iter()
                .map(|s| clean(s))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  [{}]", parts.join("; "))
    }
}

pub fn markdown(r: &PreflightReport) -> String {
    let mut out = String::new();
    let mark = |v: Verdict| match v {
        Verdict::Fail => "❌ fail",
        Verdict::Warn => "⚠️ warn",
        Verdict::Pass => "✅ pass",
    };
    let _ = writeln!(
        out,
        "### pulldoctor preflight: {} — {}\n",
        escape_markdown(&r.subject()),
        mark(r.verdict)
    );
    let _ = writeln!(
        out,
        "Task definition `{}` on {} {}\n",
        clean(&r.task_definition).replace('`', "'"),
        escape_markdown(r.launch_type.as_deref().unwrap_or("?")),
        escape_markdown(r.platform_version.as_deref().unwrap_or("LATEST"))
    );
    if let Some(ci) = &r.container_instances {
        let _ = writeln!(
            out,
            "Pulled by the container instance a task lands on: {}\n",
            escape_markdown(&ci.summary())
        );
    }
    let _ = writeln!(
        out,
        "| Subnet | Zone | Result | Failing checks |\n|---|---|---|---|"
    );
    for s in &r.subnets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            escape_markdown(&s.subnet),
            escape_markdown(s.availability_zone.as_deref().unwrap_or("?")),
            mark(s.verdict),
            escape_markdown(&s.failing.join(", "))
        );
    }
    out.push('\n');
    if let Some(lines) = deploy_lines(r) {
        let _ = writeln!(out, "**{WHAT_THIS_DEPLOY_CHANGES}**\n");
        for line in lines {
            match line.strip_prefix("  - ") {
                Some(item) => {
                    let _ = writeln!(out, "- {}", escape_markdown(item));
                }
                None => {
                    let _ = writeln!(out, "{}\n", escape_markdown(&line));
                }
            }
        }
        out.push('\n');
    }
    let problems: Vec<_> = r
        .findings
        .iter()
        .filter(|f| matches!(f.finding.status, Status::Fail | Status::Warn))
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out, "**To fix before deploying**\n");
        for f in problems {
            let _ = writeln!(
                out,
                "- **{}** `{}` {}{}",
                f.finding.status.as_str(),
                f.finding.code.code(),
                escape_markdown(&f.finding.title),
                escape_markdown(&scope(r, f))
            );
            if let Some(fix) = &f.finding.remediation {
                let _ = writeln!(out, "  - Fix: {}", escape_markdown(fix));
            }
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "<details><summary>All checks ({})</summary>\n",
        r.findings.len()
    );
    let _ = writeln!(out, "| Status | Check | Finding |\n|---|---|---|");
    for f in &r.findings {
        let _ = writeln!(
            out,
            "| {} | `{}` | {}{} |",
            f.finding.status.as_str(),
            f.finding.code.code(),
            escape_markdown(&f.finding.title),
            escape_markdown(&scope(r, f))
        );
    }
    let _ = writeln!(out, "\n</details>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::diagnosis::RootCause;
    use crate::model::facts::{Fact, ServiceNetworkFacts, SubnetFacts, TaskDefinitionFacts};

    fn plan(subnets: &[&str]) -> Plan {
        Plan {
            region: Some("us-east-1".into()),
            account: Some("111122223333".into()),
            cluster: "arn:aws:ecs:us-east-1:111122223333:cluster/prod".into(),
            service: Some("web".into()),
            nodegroup: None,
            fargate_profile: None,
            launch_type: Some("FARGATE".into()),
            capacity_provider: None,
            platform_version: Some("1.4.0".into()),
            task_definition: TaskDefinitionFacts {
                family: Some("web".into()),
                revision: Some(2),
                containers: vec![crate::model::facts::ContainerDefinitionFacts {
                    name: Some("web".into()),
                    image: Some("repo/web:v2".into()),
                    ..Default::default()
                }],
                ..Default::default()
            },
            task_definition_source: "ecs:DescribeTaskDefinition web:2".into(),
            network: ServiceNetworkFacts {
                subnets: subnets.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            instance_role_arn: None,
            aws_calls: 2,
            container_instances: None,
            deploy: None,
        }
    }

    fn diagnosis(findings: Vec<Finding>) -> Diagnosis {
        let mut d = crate::engine::judge(&Facts::default());
        d.findings = findings;
        d
    }

    fn facts(az: &str) -> Facts {
        let mut f = Facts {
            aws_calls: 10,
            ..Default::default()
        };
        f.network.subnet = Fact::found(SubnetFacts {
            id: "x".into(),
            availability_zone: Some(az.into()),
            ..Default::default()
        });
        f
    }

    #[test]
    fn one_line_per_distinct_finding_and_the_failing_subnet_is_named() {
        let p = plan(&["subnet-a", "subnet-b", "subnet-c"]);
        let image_ok = || Finding::pass(RootCause::EcrImageNotFound, "Tag v2 exists in repo/web");
        let route = |s: &str, ok: bool| {
            if ok {
                Finding::pass(
                    RootCause::NetNoRoute,
                    format!("Subnet {s} routes to a NAT gateway"),
                )
            } else {
                Finding::fail(
                    RootCause::NetNoRoute,
                    format!("Subnet {s} has no way to ECR"),
                )
                .remediation("Add a route.")
            }
        };
        let (fa, fb, fc) = (
            facts("us-east-1a"),
            facts("us-east-1b"),
            facts("us-east-1c"),
        );
        let pair = |s: &str| Pair {
            subnet: s.into(),
            container: "web".into(),
            image: "repo/web:v2".into(),
            container_instance: None,
        };
        let results = vec![
            (
                pair("subnet-a"),
                diagnosis(vec![route("subnet-a", true), image_ok()]),
                &fa,
            ),
            (
                pair("subnet-b"),
                diagnosis(vec![route("subnet-b", true), image_ok()]),
                &fb,
            ),
            (
                pair("subnet-c"),
                diagnosis(vec![route("subnet-c", false), image_ok()]),
                &fc,
            ),
        ];
        let r = merge(&p, &results);
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.aws_calls, 32);
        // The image finding is the same everywhere: once. Route findings differ per subnet.
        assert_eq!(
            r.findings
                .iter()
                .filter(|f| f.finding.code == RootCause::EcrImageNotFound)
                .count(),
            1
        );
        assert_eq!(r.findings[0].finding.status, Status::Fail, "failures first");
        assert_eq!(r.findings[0].subnets, vec!["subnet-c"]);
        let verdicts: Vec<_> = r
            .subnets
            .iter()
            .map(|s| (s.subnet.as_str(), s.verdict, s.availability_zone.as_deref()))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                ("subnet-a", Verdict::Pass, Some("us-east-1a")),
                ("subnet-b", Verdict::Pass, Some("us-east-1b")),
                ("subnet-c", Verdict::Fail, Some("us-east-1c"))
            ]
        );
        let t = text(&r);
        assert!(t.contains("Would fail only in subnet-c"), "{t}");
        assert!(t.contains("Fix: Add a route."), "{t}");
        let md = markdown(&r);
        assert!(
            md.contains("| subnet-c | us-east-1c | ❌ fail | NET\\_NO\\_ROUTE |"),
            "{md}"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["findings"][0]["code"], "NET_NO_ROUTE");
        assert_eq!(v["findings"][0]["subnets"], serde_json::json!(["subnet-c"]));
        assert!(r.blocks(false));
    }

    /// The running revision against the one about to be deployed: what changed, the new image's
    /// state from the preflight's own image check, and no section for the same revision.
    #[test]
    fn what_this_deploy_changes() {
        use crate::model::facts::{ContainerDefinitionFacts, LaunchFacts, RevisionFacts};
        let td = |arn: Option<&str>, role: &str, image: &str| TaskDefinitionFacts {
            arn: arn.map(str::to_string),
            family: Some("web".into()),
            execution_role_arn: Some(role.into()),
            containers: vec![ContainerDefinitionFacts {
                name: Some("web".into()),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let launch = LaunchFacts {
            launch_type: Some("FARGATE".into()),
            subnets: Some(vec!["subnet-a".into()]),
            security_groups: Some(vec!["sg-1".into()]),
            assign_public_ip: Some(false),
            ..Default::default()
        };
        let running = RevisionFacts {
            task_definition_arn: Some(
                "arn:aws:ecs:us-east-1:111122223333:task-definition/web:1".into(),
            ),
            deployment_id: Some("ecs-svc/1".into()),
            status: Some("PRIMARY".into()),
            launch: launch.clone(),
            task_definition: Fact::found(td(
                Some("arn:aws:ecs:us-east-1:111122223333:task-definition/web:1"),
                "role/a",
                "repo/web:2.4.1",
            )),
            ..Default::default()
        };
        let mut p = plan(&["subnet-a"]);
        p.task_definition = td(None, "role/b", "repo/web:2.4.2");
        p.task_definition_source = "file td.json".into();
        let next = RevisionFacts {
            launch,
            task_definition: Fact::found(p.task_definition.clone()),
            ..Default::default()
        };
        p.deploy = Some(super::super::DeployPlan {
            running: running.clone(),
            next,
        });
        let mut checked = facts("us-east-1a");
        checked.failure.container = Some("web".into());
        checked.image_by_tag = Fact::NotFound {
            detail: "ImageNotFoundException".into(),
        };

        let d = deploy(&p, &[&checked]).expect("a deploy section");
        assert_eq!(d.source.as_deref(), Some("service_deployments"));
        assert_eq!(
            d.failing.task_definition.as_deref(),
            Some("web (not registered: file td.json)")
        );
        let previous = d.previous.as_ref().unwrap();
        assert_eq!(
            (
                previous.task_definition.as_deref(),
                previous.status.as_deref()
            ),
            (Some("web:1"), Some("PRIMARY"))
        );
        let got: Vec<_> = d
            .differences
            .iter()
            .map(|x| (x.setting.as_str(), x.before.as_deref(), x.after.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("image", Some("repo/web:2.4.1"), Some("repo/web:2.4.2")),
                ("execution_role", Some("role/a"), Some("role/b"))
            ]
        );
        assert_eq!(
            (
                d.differences[0].before_state.as_deref(),
                d.differences[0].after_state.as_deref()
            ),
            (None, Some("not_found"))
        );
        assert!(!d.explains_failure && !d.rolled_back);

        let pair = Pair {
            subnet: "subnet-a".into(),
            container: "web".into(),
            image: "repo/web:2.4.2".into(),
            container_instance: None,
        };
        let r = merge(&p, &[(pair, diagnosis(vec![]), &checked)]);
        let t = text(&r);
        assert!(t.contains("What this deploy changes:\n  From web:1 (running now) to web (not registered: file td.json):\n    - image of container web: repo/web:2.4.1 → repo/web:2.4.2 (not found)\n"), "{t}");
        let md = markdown(&r);
        assert!(
            md.contains("**What this deploy changes**")
                && md.contains("- execution role: role/a → role/b"),
            "{md}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json(&r)).unwrap()["deploy"]["differences"]
                [1]["setting"],
            "execution_role"
        );

        // The running task definition could not be read: said, not "nothing changed".
        let mut unread = p.clone();
        let gap = Fact::Unreadable {
            reason: "AccessDenied: ecs:DescribeTaskDefinition".into(),
            kind: Default::default(),
        };
        unread.deploy = Some(super::super::DeployPlan {
            running: RevisionFacts {
                task_definition: gap,
                ..running
            },
            ..p.deploy.clone().unwrap()
        });
        let d = deploy(&unread, &[&checked]).unwrap();
        assert_eq!(d.status, crate::model::history::HistoryStatus::Unknown);
        assert_eq!(
            d.reason.as_deref(),
            Some("could not read web:1: AccessDenied: ecs:DescribeTaskDefinition")
        );
        // No deploy planned (no service, or the same revision): no section, nothing printed.
        let none = plan(&["subnet-a"]);
        assert_eq!(deploy(&none, &[&checked]), None);
        assert!(!text(&merge(&none, &[])).contains("What this deploy changes"));
    }

    #[test]
    fn warn_blocks_only_when_strict() {
        let p = plan(&["subnet-a"]);
        let f = facts("us-east-1a");
        let pair = Pair {
            subnet: "subnet-a".into(),
            container: "web".into(),
            image: "repo/web:v2".into(),
            container_instance: None,
        };
        let r = merge(
            &p,
            &[(
                pair,
                diagnosis(vec![Finding::warn(RootCause::NetDns, "custom DNS servers")]),
                &f,
            )],
        );
        assert_eq!(r.verdict, Verdict::Warn);
        assert!(!r.blocks(false));
        assert!(r.blocks(true));
        let pass = merge(&p, &[]);
        assert_eq!(pass.verdict, Verdict::Pass);
        assert!(!pass.blocks(true));
    }
}
