//! What checks share to judge a role's permissions: the principal making a request and its
//! context, and the verdict on each action — from IAM's simulator where it answers, else from the
//! role's own policy documents through [`crate::policy`]. Below every rule that judges a role
//! (execution role, instance role, registry secret, task secrets, pull-through cache), so none of
//! them takes it from another.

use crate::model::facts::{Fact, PolicyFacts, PolicyKind, RoleFacts, SimulationResult};
use crate::policy::{
    evaluate_identity, Context, Decision, Labeled, Principal, Request, StatementRef, Truth,
};

/// What is known about the principal making the pull, as a policy request context.
pub fn principal_context(role_arn: &str, role: Option<&RoleFacts>) -> (Principal, Context) {
    let account = crate::model::arn::account(role_arn).map(str::to_string);
    let mut ctx = Context::new()
        .set("aws:PrincipalArn", role_arn)
        .set("aws:PrincipalType", "AssumedRole")
        .set("aws:SecureTransport", "true");
    if let Some(a) = &account {
        ctx = ctx.set("aws:PrincipalAccount", a.clone());
    }
    if let Some(role) = role {
        for (k, v) in &role.tags {
            ctx = ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
        }
    }
    let principal = Principal {
        arn: Some(role_arn.to_string()),
        id: role.and_then(|r| r.role_id.clone()),
        account,
        ..Default::default()
    };
    (principal, ctx)
}

pub(crate) use crate::policy::names;

pub(crate) fn unresolved_text<'a>(statements: impl Iterator<Item = &'a StatementRef>) -> String {
    let parts = crate::policy::unresolved_parts(statements);
    if parts.is_empty() {
        "conditions could not be evaluated".into()
    } else {
        format!("cannot evaluate {}", parts.join("; "))
    }
}

/// The verdict on one action, from the simulator or the local evaluator.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionVerdict {
    pub action: String,
    pub resource: String,
    pub decision: Decision,
    /// Why, in words: the statement, boundary or SCP that decided, or the unresolved condition.
    pub why: String,
}

/// How permissions were judged (named in every finding).
pub const VIA_SIMULATOR: &str = "iam:SimulatePrincipalPolicy";
pub const VIA_LOCAL: &str =
    "local evaluation of the role's policies (SCPs and session policies not visible)";

/// Verdicts from simulator results.
pub fn verdicts_from_simulation(results: &[SimulationResult]) -> Vec<ActionVerdict> {
    results
        .iter()
        .map(|r| {
            let mut reasons = vec![];
            if r.allowed_by_organizations == Some(false) {
                reasons.push("an organization SCP does not allow it".to_string());
            }
            if r.allowed_by_boundary == Some(false) {
                reasons.push("the permission boundary does not allow it".to_string());
            }
            let policies = r.matched_policies.join(", ");
            let decision = if !r.missing_context.is_empty() {
                reasons.push(format!(
                    "the answer depends on condition keys {}",
                    r.missing_context.join(", ")
                ));
                Decision::Unknown
            } else {
                match r.decision.as_str() {
                    "allowed" => Decision::Allowed,
                    "explicitDeny" => Decision::ExplicitDeny,
                    "implicitDeny" => Decision::ImplicitDeny,
                    _ => Decision::Unknown,
                }
            };
            match decision {
                Decision::ExplicitDeny if !policies.is_empty() => {
                    reasons.insert(0, format!("explicitly denied by {policies}"))
                }
                Decision::ExplicitDeny if reasons.is_empty() => {
                    reasons.push("explicitly denied".into())
                }
                Decision::ImplicitDeny if reasons.is_empty() => {
                    reasons.push("no policy of the role allows it".into())
                }
                Decision::Allowed if !policies.is_empty() => {
                    reasons.push(format!("allowed by {policies}"))
                }
                _ => {}
            }
            ActionVerdict {
                action: r.action.clone(),
                resource: r.resource.clone(),
                decision,
                why: reasons.join("; "),
            }
        })
        .collect()
}

/// Verdicts from the role's policy documents, for (action, resource) requests.
pub fn verdicts_from_policies(
    role: &RoleFacts,
    requests: &[(&str, &str)],
    ctx: &Context,
) -> Result<Vec<ActionVerdict>, String> {
    let policies = match &role.policies {
        Fact::Found { value } => value,
        gap => {
            return Err(format!(
                "the role's policies could not be read: {}",
                gap.gap().unwrap_or_default()
            ))
        }
    };
    let labels: Vec<String> = policies.iter().map(policy_label).collect();
    let unreadable: Vec<String> = policies
        .iter()
        .zip(&labels)
        .filter_map(|(p, l)| p.document.gap().map(|g| format!("{l} ({g})")))
        .collect();
    let docs: Vec<Labeled> = policies
        .iter()
        .zip(&labels)
        .filter_map(|(p, l)| {
            p.document.value().map(|d| Labeled {
                label: l,
                document: d,
            })
        })
        .collect();
    let boundary_label;
    let boundary = match (&role.permissions_boundary_arn, &role.boundary) {
        (None, _) => None,
        (Some(_), Fact::Found { value }) => match value.document.value() {
            Some(d) => {
                boundary_label = format!("permission boundary {}", value.name);
                Some(Labeled {
                    label: &boundary_label,
                    document: d,
                })
            }
            None => {
                return Err(format!(
                    "the permission boundary {} could not be read",
                    value.name
                ))
            }
        },
        (Some(arn), gap) => {
            return Err(format!(
                "the permission boundary {arn} could not be read: {}",
                gap.gap().unwrap_or_default()
            ))
        }
    };
    Ok(requests
        .iter()
        .map(|(action, resource)| {
            let req = Request {
                action,
                resource,
                principal: None,
                context: ctx,
            };
            let e = evaluate_identity(&docs, boundary.as_ref(), &req);
            let (mut decision, mut why) = match e.decision {
                Decision::ExplicitDeny => {
                    let certain: Vec<&StatementRef> = e
                        .denies
                        .iter()
                        .filter(|s| s.unresolved.is_empty())
                        .collect();
                    (
                        Decision::ExplicitDeny,
                        format!(
                            "explicitly denied by {}",
                            certain
                                .iter()
                                .map(|s| s.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                }
                Decision::ImplicitDeny
                    if e.boundary_allows == Some(Truth::No) && !e.allows.is_empty() =>
                {
                    (
                        Decision::ImplicitDeny,
                        "the permission boundary does not allow it".to_string(),
                    )
                }
                Decision::ImplicitDeny => (
                    Decision::ImplicitDeny,
                    "no policy of the role allows it".to_string(),
                ),
                Decision::Unknown => (
                    Decision::Unknown,
                    unresolved_text(e.denies.iter().chain(&e.allows)),
                ),
                Decision::Allowed => (
                    Decision::Allowed,
                    format!("allowed by {}", names(&e.allows)),
                ),
            };
            if !unreadable.is_empty() && decision != Decision::ExplicitDeny {
                decision = Decision::Unknown;
                why = format!("{why}; but {} could not be read", unreadable.join(", "));
            }
            ActionVerdict {
                action: action.to_string(),
                resource: resource.to_string(),
                decision,
                why,
            }
        })
        .collect())
}

fn policy_label(p: &PolicyFacts) -> String {
    match p.kind {
        PolicyKind::Inline => format!("inline policy {}", p.name),
        PolicyKind::Managed => format!("managed policy {}", p.name),
        PolicyKind::Boundary => format!("permission boundary {}", p.name),
    }
}
