//! Pull-through cache: an image under a pull-through cache rule's prefix legitimately has no
//! repository or tag until its first pull, when ECR imports it from the upstream registry on the
//! puller's behalf. What that first pull needs differs from a plain pull, and "repository not
//! found, push it" is the wrong advice for it.

use serde_json::json;

use super::console;
use super::permissions::{
    principal_context, verdicts_from_policies, verdicts_from_simulation, ActionVerdict, VIA_LOCAL,
    VIA_SIMULATOR,
};
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE, ROLE_POLICY_READS};
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts, PullThroughRuleFacts};
use crate::model::image_ref::ImageRef;
use crate::model::message::Category;
use crate::model::pull::pull_role;
use crate::model::pull::{CREATE_REPOSITORY_ACTION, IMPORT_ACTION};
use crate::policy::{matching, Decision, Effect, Labeled, Request, Truth};

/// The pull-through cache rule serving the image, when its repository or tag is missing.
pub fn serving_rule(facts: &Facts) -> Option<&PullThroughRuleFacts> {
    facts.pull_through_rule_serving_image()
}

pub const ECR_PULL_THROUGH_CACHE: Rule = Rule {
    code: RootCause::EcrPullThroughCache,
    name: "ecr_pull_through_cache",
    title: "The ECR pull-through cache could not fetch the image from its upstream registry",
    stage: Stage::Repository,
    explains: &[Category::ImageNotFound, Category::AccessDenied, Category::RegistryCredentials, Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ecr:DescribePullThroughCacheRules", "ecr:GetRegistryPolicy", "ecr:GetRepositoryPolicy", "secretsmanager:DescribeSecret"],
        ROLE_POLICY_READS,
    ],
    doc: Doc {
        what: "the image is under an ECR pull-through cache rule and the cache cannot fetch it (import \
             permission, upstream credentials, the first pull's path to the upstream)",
        why: "The first pull of an image under a pull-through cache rule makes ECR import it from the upstream \
             registry. The pulling role then needs ecr:BatchImportUpstreamImage (from its own policies, the \
             registry policy or the repository policy) and, while the cache repository does not exist yet, \
             ecr:CreateRepository; the rule's upstream credentials secret must exist; and a VPC that reaches \
             ECR only through PrivateLink needs a NAT path for that first pull. The pull then fails as not \
             found or access denied, never because the image was not pushed.",
        fix: "Grant the pulling role ecr:BatchImportUpstreamImage (and ecr:CreateRepository for new \
             repositories), fix or create the rule's ecr-pullthroughcache/ secret, and give the subnet a NAT \
             route for the first pull. Do not push the image to the cache repository by hand.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html",
    },
    run: check_pull_through_cache,
};

/// The check of [`ECR_PULL_THROUGH_CACHE`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_pull_through_cache(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::EcrPullThroughCache;
    let Some((image, account, region)) = facts.ecr_image() else {
        return vec![];
    };
    let repository_missing = facts.repository.is_not_found();
    if !repository_missing
        && !facts.image_by_tag.is_not_found()
        && !facts.image_by_digest.is_not_found()
    {
        return vec![];
    }
    let resource = format!("{}/{}", image.registry, image.repository);
    match &facts.missing_image.pull_through_rules {
        Fact::Found { .. } => {}
        Fact::NotCollected { .. } => return vec![],
        // Only worth saying for a name that looks like a cache repository.
        gap if image.pull_through_upstream().is_some() => {
            return vec![Finding::unknown(
                code,
                format!(
                    "Could not read the pull-through cache rules that may serve {}",
                    image.repository
                ),
                gap.gap().unwrap_or_default(),
            )
            .resource(resource)]
        }
        _ => return vec![],
    }
    let Some(rule) = serving_rule(facts) else {
        return vec![];
    };
    let upstream = rule
        .upstream_registry_url
        .clone()
        .unwrap_or_else(|| "the upstream registry".into());
    let url = console::ecr_repository(region, account, &image.repository);
    let mut judged = CacheJudgement {
        failures: vec![],
        unknowns: vec![],
        evidence: json!({
            "rule_prefix": rule.ecr_repository_prefix,
            "upstream_registry": upstream,
            "repository_exists": !repository_missing,
        }),
    };
    judged.import_permissions(facts, (image, account, region), rule, &upstream);
    judged.upstream_secret(facts, rule, &upstream);
    judged.nat_path(facts);
    vec![judged
        .finding(image, rule, &upstream)
        .resource(resource)
        .console_url(url)]
}

/// What stands in the way of the first pull through the cache (title, remediation), what could
/// not be judged, and the evidence.
struct CacheJudgement {
    failures: Vec<(String, String)>,
    unknowns: Vec<String>,
    evidence: serde_json::Value,
}

impl CacheJudgement {
    /// 1. Permissions of the pulling role (or the registry/repository policy) for the import.
    fn import_permissions(
        &mut self,
        facts: &Facts,
        (image, account, region): (&ImageRef, &str, &str),
        rule: &PullThroughRuleFacts,
        upstream: &str,
    ) {
        let mut actions = vec![IMPORT_ACTION];
        if facts.repository.is_not_found() {
            actions.push(CREATE_REPOSITORY_ACTION);
        }
        let verdicts = match import_permissions(facts, image, account, region, &actions) {
            Err(why) => return self.unknowns.push(why),
            Ok(verdicts) => verdicts,
        };
        self.evidence["permissions"] = json!(verdicts
            .iter()
            .map(|(a, d, w)| json!({"action": a, "decision": format!("{d:?}"), "why": w}))
            .collect::<Vec<_>>());
        for (action, decision, why) in verdicts {
            match decision {
                Decision::Allowed => {}
                Decision::Unknown => self.unknowns.push(format!("{action}: {why}")),
                _ => {
                    let role = pull_role(facts).and_then(|r| r.arn).unwrap_or_default();
                    let via = if action == IMPORT_ACTION {
                        "its own policies, the registry permissions policy or the repository policy"
                    } else {
                        "its own policies or the registry permissions policy"
                    };
                    self.failures.push((
                        format!("The pulling role {} may not {action}, which the first pull through the cache needs: {why}", crate::model::arn::role_name(&role)),
                        format!(
                            "Grant {role} {action} on arn:aws:ecr:{region}:{account}:repository/{}/* through {via} (ECR \
                             creates the cache repository and imports the image from {upstream} on the first pull).",
                            rule.ecr_repository_prefix
                        ),
                    ));
                }
            }
        }
    }

    /// 2. The upstream credentials secret.
    fn upstream_secret(&mut self, facts: &Facts, rule: &PullThroughRuleFacts, upstream: &str) {
        let Some(secret) = &rule.credential_arn else {
            return;
        };
        self.evidence["credential_arn"] = json!(secret);
        match &facts.missing_image.upstream_secret {
            Fact::Found { .. } => {}
            Fact::NotFound { .. } => self.failures.push((
                format!("The upstream credentials secret of pull-through cache rule {} does not exist", rule.ecr_repository_prefix),
                format!(
                    "Create the secret {secret} (its name must start with ecr-pullthroughcache/) holding the {upstream} \
                     username and access token, or update the rule (aws ecr update-pull-through-cache-rule) to name an \
                     existing one."
                ),
            )),
            gap => self.unknowns.push(format!("the upstream credentials secret: {}", gap.gap().unwrap_or_default())),
        }
    }

    /// 3. The first pull needs a NAT path from the task's subnet, even with ECR endpoints.
    fn nat_path(&mut self, facts: &Facts) {
        let Some(rt) = facts.network.route_table.value() else {
            return;
        };
        let nat = rt.routes.iter().any(|r| {
            r.destination.as_deref() == Some("0.0.0.0/0")
                && (r.target.starts_with("nat-") || r.target.starts_with("igw-"))
                && r.state.as_deref() != Some("blackhole")
        });
        self.evidence["route_table"] = json!(rt.id);
        if !nat {
            self.failures.push((
                format!("Subnet route table {} has no NAT path, which the first pull through the pull-through cache needs", rt.id),
                format!(
                    "AWS documents that a VPC reaching ECR only through PrivateLink needs a NAT gateway route (0.0.0.0/0) in \
                     the private subnets' route table for the first pull of a pull-through cache image. Add one to {}, or \
                     pull the image once from a network that has it so the cache is filled.",
                    rt.id
                ),
            ));
        }
    }

    fn finding(&self, image: &ImageRef, rule: &PullThroughRuleFacts, upstream: &str) -> Finding {
        let code = RootCause::EcrPullThroughCache;
        let mut f = match (self.failures.first(), self.unknowns.is_empty()) {
            (Some((title, remediation)), _) => Finding::fail(code, title.clone())
                .remediation(remediation.clone())
                .evidence("problems", json!(self.failures.iter().map(|(t, _)| t).collect::<Vec<_>>())),
            (None, false) => Finding::unknown(
                code,
                format!("Could not confirm that the first pull of {} through the pull-through cache can import it", image.repository),
                self.unknowns.join("; "),
            ),
            (None, true) => Finding::pass(
                code,
                format!(
                    "{} is served by pull-through cache rule {} (upstream {upstream}) and the pulling role may import it",
                    image.repository, rule.ecr_repository_prefix
                ),
            ),
        };
        for (k, v) in self.evidence.as_object().into_iter().flatten() {
            f = f.evidence(k, v.clone());
        }
        f
    }
}

/// (action, decision, why) for each action: the role's own verdict, else a grant in the registry
/// policy (or, for the import, the repository policy).
fn import_permissions(
    facts: &Facts,
    image: &ImageRef,
    account: &str,
    region: &str,
    actions: &[&str],
) -> Result<Vec<(String, Decision, String)>, String> {
    let who = pull_role(facts).ok_or("no role pulls the image")?;
    let role_arn = who.arn.clone().ok_or("the pulling role is not known")?;
    let repo_arn = facts.repository_arn(&role_arn, image, account, region);
    let (principal, ctx) = principal_context(&role_arn, who.fact.value());
    let own: Vec<ActionVerdict> = match &facts.missing_image.pull_through_simulation {
        Fact::Found { value } => verdicts_from_simulation(value),
        gap => match who.fact.value() {
            Some(role) => {
                let requests: Vec<(&str, &str)> =
                    actions.iter().map(|a| (*a, repo_arn.as_str())).collect();
                verdicts_from_policies(role, &requests, &ctx).map_err(|e| {
                    format!(
                        "{VIA_SIMULATOR}: {}; {VIA_LOCAL}: {e}",
                        gap.gap().unwrap_or_default()
                    )
                })?
            }
            None => {
                return Err(format!(
                    "the pulling role could not be read: {}",
                    who.fact.gap().unwrap_or_default()
                ))
            }
        },
    };
    let granted_by = |label: &str, doc: &Fact<serde_json::Value>, action: &str| -> Truth {
        match doc {
            Fact::Found { value } => {
                let req = Request {
                    action,
                    resource: &repo_arn,
                    principal: Some(&principal),
                    context: &ctx,
                };
                let policy = Labeled {
                    label,
                    document: value,
                };
                if matching(&policy, &req, Effect::Deny).truth == Truth::Yes {
                    return Truth::No;
                }
                matching(&policy, &req, Effect::Allow).truth
            }
            Fact::NotFound { .. } | Fact::NotCollected { .. } => Truth::No,
            Fact::Unreadable { .. } => Truth::Maybe,
        }
    };
    Ok(actions
        .iter()
        .map(|action| {
            let verdict = own.iter().find(|v| v.action == *action);
            let (decision, why) = verdict.map(|v| (v.decision, v.why.clone())).unwrap_or((Decision::Unknown, "not evaluated".into()));
            if decision == Decision::Allowed || decision == Decision::ExplicitDeny {
                return (action.to_string(), decision, why);
            }
            let mut grant = granted_by("registry policy", &facts.missing_image.registry_policy, action);
            if *action == IMPORT_ACTION {
                grant = grant.or(granted_by("repository policy", &facts.identity.repository_policy, action));
            }
            match (decision, grant) {
                (_, Truth::Yes) => (action.to_string(), Decision::Allowed, format!("{why}; granted by the registry or repository policy")),
                (Decision::ImplicitDeny, Truth::No) => {
                    (action.to_string(), Decision::ImplicitDeny, format!("{why}, and neither the registry policy nor the repository policy grants it"))
                }
                (_, _) => (action.to_string(), Decision::Unknown, format!("{why}; the registry policy could not be fully evaluated")),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::checks::fixture_tests::saved;

    /// Never "create the repository" or "push it" for an image under a pull-through cache rule:
    /// the cache creates the repository and imports the image on the first pull. (The cases
    /// themselves, moto having no pull-through cache rules, are in
    /// `tests/fixtures/checks/ECR_PULL_THROUGH_CACHE`.)
    #[test]
    fn a_cache_pull_is_never_told_to_push() {
        let d = crate::judge::judge(&saved(
            "ECR_IMAGE_NOT_FOUND/not-in-the-pull-through-cache-yet",
        ));
        for x in &d.findings {
            let text = x.remediation.as_deref().unwrap_or_default();
            assert!(
                !text.contains("Create the repository") && !text.starts_with("Push"),
                "{:?}: {text}",
                x.code
            );
        }
    }
}
