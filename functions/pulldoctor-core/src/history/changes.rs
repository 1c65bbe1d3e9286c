//! The CloudTrail writes to the resources the root cause names, most likely breaking change first.
//!
//! An event can explain the root cause (`likely_cause`) when it is one of the writes that break
//! what that root cause says is broken (a `DeleteRoute` for a missing route, a
//! `RevokeSecurityGroupEgress` for a closed security group, an ECR lifecycle expiry for a
//! missing image…) on a resource the root cause names, before the failure. Those come first,
//! nearest the failure first; the other writes follow, newest first.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::model::diagnosis::{Diagnosis, RootCause};
use crate::model::facts::{ErrorKind, Fact, Facts, ResourceLookup, TrailEvent};
use crate::model::history::{ChangeEvent, Changes, HistoryStatus};

const ACTION: &str = "cloudtrail:LookupEvents";
const STACK_TAG: &str = "aws:cloudformation:stack-name";
/// Events listed at most (the likely causes come first, so none is cut before another write).
const MAX_EVENTS: usize = 10;

/// `None` when nothing was looked up (history off, or the root cause names no resource).
pub fn summarize(facts: &Facts, diagnosis: &Diagnosis) -> Option<Changes> {
    if !facts.history.looked_up {
        return None;
    }
    let changes = match &facts.history.changes {
        Fact::Found { value } => value,
        Fact::Unreadable { reason, kind } => {
            return Some(unknown(vec![], 24, &unreadable(reason, *kind)))
        }
        Fact::NotCollected { .. } | Fact::NotFound { .. } => return None,
    };
    let resources: Vec<String> = changes.lookups.iter().map(|l| l.resource.clone()).collect();
    let read: Vec<&ResourceLookup> = changes
        .lookups
        .iter()
        .filter(|l| l.events.value().is_some())
        .collect();
    if read.is_empty() {
        let reason = changes.lookups.iter().find_map(|l| match &l.events {
            Fact::Unreadable { reason, kind } => Some(unreadable(reason, *kind)),
            _ => None,
        });
        return Some(unknown(
            resources,
            changes.window_hours,
            reason.as_deref().unwrap_or("CloudTrail was not read"),
        ));
    }
    let until = changes.until.unwrap_or_else(Utc::now);
    let since = until - Duration::hours(changes.window_hours.into());
    let breaking = breaking_events(diagnosis.root_cause.code);
    let mut events: Vec<(bool, DateTime<Utc>, ChangeEvent)> = vec![];
    for lookup in &read {
        for e in lookup.events.value().into_iter().flatten() {
            let Some(time) = e.event_time else { continue };
            let lifecycle = e.event_name == "PolicyExecutionEvent";
            if (e.read_only && !lifecycle)
                || time < since
                || time > until
                || events.iter().any(|(_, _, c)| c.event_id == e.event_id)
            {
                continue;
            }
            let likely = breaking.contains(&e.event_name.as_str());
            events.push((
                likely,
                time,
                change_event(facts, e, &lookup.resource, time, likely),
            ));
        }
    }
    // Likely causes first, then newest (nearest before the failure) first.
    events.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let total = events.len();
    let mut gaps: Vec<String> = changes
        .lookups
        .iter()
        .filter_map(|l| match &l.events {
            Fact::Unreadable { reason, kind } => Some(format!("{}: {}", l.resource, unreadable(reason, *kind))),
            Fact::Found { .. } if !l.complete => {
                Some(format!("{}: more events than the bounded look read (at most 5 LookupEvents calls); older writes are unknown", l.resource))
            }
            _ => None,
        })
        .collect();
    if total > MAX_EVENTS {
        gaps.push(format!("{} more writes not listed", total - MAX_EVENTS));
    }
    Some(Changes {
        status: HistoryStatus::Found,
        reason: (!gaps.is_empty()).then(|| gaps.join("; ")),
        resources,
        window_hours: changes.window_hours,
        events: events
            .into_iter()
            .take(MAX_EVENTS)
            .map(|(_, _, e)| e)
            .collect(),
    })
}

fn unknown(resources: Vec<String>, window_hours: u32, reason: &str) -> Changes {
    Changes {
        status: HistoryStatus::Unknown,
        reason: Some(reason.to_string()),
        resources,
        window_hours,
        events: vec![],
    }
}

/// The read's gap, with what to do about it: every failed lookup names the action to grant.
fn unreadable(reason: &str, kind: ErrorKind) -> String {
    match kind {
        ErrorKind::AccessDenied if reason.contains(ACTION) => reason.to_string(),
        ErrorKind::AccessDenied => format!("{reason} (grant {ACTION} to pulldoctor's role)"),
        ErrorKind::Throttled => format!(
            "{reason}: CloudTrail allows 2 LookupEvents per second per account and region, shared with every caller; \
             what changed is unknown for this failure (the next one asks again; pulldoctor's role must be granted {ACTION} on \"*\")"
        ),
        _ => format!("{reason} (pulldoctor's role must be granted {ACTION} on \"*\")"),
    }
}

/// The writes that break what `code` says is broken.
fn breaking_events(code: RootCause) -> &'static [&'static str] {
    use RootCause::*;
    match code {
        NetNoRoute => &[
            "DeleteRoute",
            "ReplaceRoute",
            "DeleteNatGateway",
            "DisassociateRouteTable",
            "ReplaceRouteTableAssociation",
            "DeleteRouteTable",
        ],
        NetTaskSgEgress => &[
            "RevokeSecurityGroupEgress",
            "ModifySecurityGroupRules",
            "DeleteSecurityGroup",
        ],
        NetEndpointSg => &[
            "RevokeSecurityGroupIngress",
            "ModifySecurityGroupRules",
            "DeleteSecurityGroup",
        ],
        NetNacl => &[
            "ReplaceNetworkAclEntry",
            "CreateNetworkAclEntry",
            "DeleteNetworkAclEntry",
            "ReplaceNetworkAclAssociation",
        ],
        NetEndpointMissing | NetEndpointDns | NetEndpointPolicy | NetS3EndpointPolicy => {
            &["DeleteVpcEndpoints", "ModifyVpcEndpoint"]
        }
        IamExecutionRoleMissing
        | IamExecutionRoleTrust
        | IamExecutionRolePermissions
        | IamInstanceRolePermissions
        | IamRegistrySecret => &[
            "DetachRolePolicy",
            "DeleteRolePolicy",
            "PutRolePolicy",
            "UpdateAssumeRolePolicy",
            "DeleteRole",
            "PutRolePermissionsBoundary",
        ],
        EcrRepositoryPolicy => &["SetRepositoryPolicy", "DeleteRepositoryPolicy"],
        EcrRepositoryNotFound => &["DeleteRepository"],
        EcrImageNotFound | EcrImageExpired => &[
            "BatchDeleteImage",
            "PolicyExecutionEvent",
            "PutLifecyclePolicy",
            "DeleteRepository",
        ],
        SecretNotFound | SecretAccessDenied => &[
            "DeleteSecret",
            "PutResourcePolicy",
            "DeleteResourcePolicy",
            "UpdateSecret",
        ],
        _ => &[],
    }
}

fn change_event(
    facts: &Facts,
    e: &TrailEvent,
    resource: &str,
    time: DateTime<Utc>,
    likely_cause: bool,
) -> ChangeEvent {
    let identity = e.user_identity.as_ref();
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let invoked_by = text(identity.and_then(|i| i.get("invokedBy")));
    ChangeEvent {
        event_id: e.event_id.clone(),
        event_name: e.event_name.clone(),
        time: time.to_rfc3339_opts(SecondsFormat::Secs, true),
        actor: actor(e).or_else(|| invoked_by.clone()),
        invoked_by,
        source_ip: e.source_ip.clone(),
        resource: resource.to_string(),
        stack: stack(facts, resource),
        likely_cause,
    }
}

/// The role session (`platform-deployer/ci-1234`), the user, `root`, or the service.
fn actor(e: &TrailEvent) -> Option<String> {
    let identity = e.user_identity.as_ref();
    let field = |name: &str| identity.and_then(|i| i.get(name)).and_then(|v| v.as_str());
    match field("type") {
        Some("AssumedRole") => {
            // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
            let arn = field("arn")?;
            let mut parts = arn.rsplit('/');
            let (session, role) = (parts.next()?, parts.next()?);
            Some(format!("{role}/{session}"))
        }
        Some("IAMUser") => field("userName")
            .or_else(|| field("arn").map(crate::model::arn::last_name))
            .map(str::to_string),
        Some("Root") => Some("root".into()),
        Some("AWSService") => field("invokedBy").map(str::to_string),
        _ => e.username.clone().or_else(|| e.event_source.clone()),
    }
}

/// The CloudFormation stack of `resource`, from its `aws:cloudformation:stack-name` tag when the
/// facts hold the resource's tags (the roles do).
fn stack(facts: &Facts, resource: &str) -> Option<String> {
    [
        &facts.identity.execution_role,
        &facts.identity.instance_role,
    ]
    .into_iter()
    .filter_map(|r| r.value())
    .find(|r| r.name == resource)
    .and_then(|r| r.tags.get(STACK_TAG).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::facts::{ChangeFacts, RoleFacts};
    use serde_json::json;

    const FAILED_AT: &str = "2026-11-30T14:14:00Z";

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn role_session(role: &str, session: &str) -> serde_json::Value {
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::123456789012:assumed-role/{role}/{session}"),
               "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role}}})
    }

    fn event(id: &str, name: &str, time: &str, identity: serde_json::Value) -> TrailEvent {
        TrailEvent {
            event_id: id.into(),
            event_name: name.into(),
            event_time: Some(at(time)),
            read_only: name == "PolicyExecutionEvent",
            user_identity: Some(identity),
            source_ip: Some("203.0.113.7".into()),
            ..Default::default()
        }
    }

    /// A diagnosis with root cause `code`, judged from Facts whose CloudTrail look found `lookups`.
    fn summarized(
        code: RootCause,
        lookups: Vec<ResourceLookup>,
        facts: impl FnOnce(&mut Facts),
    ) -> Changes {
        let mut f = Facts::default();
        f.history.looked_up = true;
        f.history.changes = Fact::found(ChangeFacts {
            until: Some(at(FAILED_AT)),
            window_hours: 24,
            lookups,
        });
        facts(&mut f);
        let mut d = crate::judge::judge(&Facts::default());
        d.root_cause.code = code;
        summarize(&f, &d).expect("a section")
    }

    fn found(resource: &str, events: Vec<TrailEvent>) -> ResourceLookup {
        ResourceLookup {
            resource: resource.into(),
            events: Fact::found(events),
            complete: true,
        }
    }

    #[test]
    fn the_breaking_change_comes_first_with_its_actor() {
        let deployer = role_session("platform-deployer", "ci-1234");
        let cfn = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/cfn-exec/AWSCloudFormation", "invokedBy": "cloudformation.amazonaws.com"});
        // (case, root cause, lookups, expected (event id, actor, invoked_by, likely) in order)
        type Want = (
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            bool,
        );
        let cases: Vec<(&str, RootCause, Vec<ResourceLookup>, Vec<Want>)> = vec![
            (
                "route deleted, then an unrelated tag: the delete first",
                RootCause::NetNoRoute,
                vec![
                    found(
                        "rtb-0abc",
                        vec![
                            event(
                                "tag",
                                "CreateTags",
                                "2026-11-30T14:10:00Z",
                                json!({"type": "IAMUser", "userName": "alice"}),
                            ),
                            event(
                                "del",
                                "DeleteRoute",
                                "2026-11-30T14:02:00Z",
                                deployer.clone(),
                            ),
                            event(
                                "after",
                                "DeleteRoute",
                                "2026-11-30T14:20:00Z",
                                deployer.clone(),
                            ),
                            event(
                                "old",
                                "DeleteRoute",
                                "2026-11-28T14:02:00Z",
                                deployer.clone(),
                            ),
                        ],
                    ),
                    found("nat-0def", vec![]),
                ],
                vec![
                    ("del", Some("platform-deployer/ci-1234"), None, true),
                    ("tag", Some("alice"), None, false),
                ],
            ),
            (
                "two breaking writes: the nearest before the failure first",
                RootCause::NetTaskSgEgress,
                vec![found(
                    "sg-01",
                    vec![
                        event(
                            "early",
                            "RevokeSecurityGroupEgress",
                            "2026-11-30T09:00:00Z",
                            json!({"type": "Root", "arn": "arn:aws:iam::123456789012:root"}),
                        ),
                        event(
                            "late",
                            "RevokeSecurityGroupEgress",
                            "2026-11-30T13:00:00Z",
                            cfn.clone(),
                        ),
                    ],
                )],
                vec![
                    (
                        "late",
                        Some("cfn-exec/AWSCloudFormation"),
                        Some("cloudformation.amazonaws.com"),
                        true,
                    ),
                    ("early", Some("root"), None, true),
                ],
            ),
            (
                "a lifecycle expiry is read-only but kept; reads are dropped",
                RootCause::EcrImageExpired,
                vec![
                    found(
                        "team/web",
                        vec![event(
                            "get",
                            "GetRepositoryPolicy",
                            "2026-11-30T14:00:00Z",
                            deployer.clone(),
                        )]
                        .into_iter()
                        .map(|mut e| {
                            e.read_only = true;
                            e
                        })
                        .collect(),
                    ),
                    found(
                        "arn:aws:ecr:us-east-1:123456789012:repository/team/web",
                        vec![TrailEvent {
                            event_source: Some("ecr.amazonaws.com".into()),
                            ..event(
                                "expiry",
                                "PolicyExecutionEvent",
                                "2026-11-30T03:00:00Z",
                                json!({"accountId": "123456789012", "invokedBy": "AWS Internal"}),
                            )
                        }],
                    ),
                ],
                vec![(
                    "expiry",
                    Some("ecr.amazonaws.com"),
                    Some("AWS Internal"),
                    true,
                )],
            ),
            (
                "a write that cannot explain the root cause is listed, not likely",
                RootCause::EcrRepositoryPolicy,
                vec![found(
                    "team/web",
                    vec![event(
                        "push",
                        "PutImage",
                        "2026-11-30T14:00:00Z",
                        deployer.clone(),
                    )],
                )],
                vec![("push", Some("platform-deployer/ci-1234"), None, false)],
            ),
        ];
        for (case, code, lookups, want) in cases {
            let changes = summarized(code, lookups, |_| {});
            assert_eq!(changes.status, HistoryStatus::Found, "{case}");
            assert_eq!(changes.reason, None, "{case}");
            let got: Vec<(&str, Option<&str>, Option<&str>, bool)> = changes
                .events
                .iter()
                .map(|e| {
                    (
                        e.event_id.as_str(),
                        e.actor.as_deref(),
                        e.invoked_by.as_deref(),
                        e.likely_cause,
                    )
                })
                .collect();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn the_event_names_time_resource_source_and_stack() {
        let changes = summarized(
            RootCause::IamExecutionRolePermissions,
            vec![found(
                "ecsTaskExecutionRole",
                vec![event(
                    "e1",
                    "DetachRolePolicy",
                    "2026-11-30T14:02:00Z",
                    role_session("platform-deployer", "ci-1234"),
                )],
            )],
            |f| {
                let mut role = RoleFacts {
                    name: "ecsTaskExecutionRole".into(),
                    ..Default::default()
                };
                role.tags.insert(STACK_TAG.into(), "web-platform".into());
                f.identity.execution_role = Fact::found(role);
            },
        );
        let e = &changes.events[0];
        assert_eq!(
            (
                e.event_name.as_str(),
                e.time.as_str(),
                e.resource.as_str(),
                e.source_ip.as_deref(),
                e.stack.as_deref()
            ),
            (
                "DetachRolePolicy",
                "2026-11-30T14:02:00Z",
                "ecsTaskExecutionRole",
                Some("203.0.113.7"),
                Some("web-platform")
            )
        );
        let no_tags = summarized(
            RootCause::NetNoRoute,
            vec![found(
                "rtb-1",
                vec![event(
                    "e2",
                    "DeleteRoute",
                    "2026-11-30T14:02:00Z",
                    json!({}),
                )],
            )],
            |_| {},
        );
        assert_eq!(
            no_tags.events[0].stack, None,
            "no tags in the facts: no stack"
        );
    }

    #[test]
    fn a_failed_or_bounded_look_says_unknown_and_what_to_grant() {
        let denied = ResourceLookup {
            resource: "rtb-1".into(),
            events: Fact::Unreadable { reason: "AccessDenied: cloudtrail:LookupEvents (grant cloudtrail:LookupEvents to pulldoctor's role)".into(), kind: ErrorKind::AccessDenied },
            complete: false,
        };
        let throttled = ResourceLookup {
            resource: "rtb-1".into(),
            events: Fact::Unreadable {
                reason: "Throttled: cloudtrail:LookupEvents (retries exhausted)".into(),
                kind: ErrorKind::Throttled,
            },
            complete: false,
        };
        for (case, lookup) in [("denied", denied.clone()), ("throttled", throttled)] {
            let changes = summarized(RootCause::NetNoRoute, vec![lookup], |_| {});
            assert_eq!(changes.status, HistoryStatus::Unknown, "{case}");
            assert_eq!(changes.resources, ["rtb-1"], "{case}");
            let reason = changes.reason.as_deref().unwrap_or_default();
            assert!(
                reason.contains("grant") && reason.contains("cloudtrail:LookupEvents"),
                "{case}: {reason}"
            );
        }
        // One resource read, one denied: what was read is shown, the gap is said.
        let partial = summarized(
            RootCause::NetNoRoute,
            vec![
                found(
                    "rtb-1",
                    vec![event("e", "DeleteRoute", "2026-11-30T14:02:00Z", json!({}))],
                ),
                ResourceLookup {
                    resource: "nat-1".into(),
                    ..denied
                },
            ],
            |_| {},
        );
        assert_eq!(
            (partial.status, partial.events.len()),
            (HistoryStatus::Found, 1)
        );
        assert!(
            partial
                .reason
                .as_deref()
                .unwrap()
                .starts_with("nat-1: AccessDenied"),
            "{:?}",
            partial.reason
        );
        let bounded = summarized(
            RootCause::NetNoRoute,
            vec![ResourceLookup {
                complete: false,
                ..found("rtb-1", vec![])
            }],
            |_| {},
        );
        assert!(
            bounded
                .reason
                .as_deref()
                .unwrap()
                .contains("older writes are unknown"),
            "{:?}",
            bounded.reason
        );
    }

    #[test]
    fn nothing_looked_up_is_no_section() {
        let mut f = Facts::default();
        let d = crate::judge::judge(&f);
        assert_eq!(summarize(&f, &d), None, "history off");
        f.history.looked_up = true;
        f.history.changes = Fact::NotCollected {
            reason: "UNKNOWN names no resource CloudTrail records".into(),
        };
        assert_eq!(summarize(&f, &d), None);
    }
}
