//! Registry checks: does the repository exist, and does the tag or pinned digest exist in it.

use serde_json::json;

use super::console;
use super::wording::{task_definition_suffix, words};
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts};
use crate::model::image_ref::ImageRef;
use crate::model::message::{Category, Phase};

/// The ECR image under diagnosis with its account and region, or `None` when not ECR.
pub const ECR_REPOSITORY_EXISTS: Rule = Rule {
    code: RootCause::EcrRepositoryNotFound,
    name: "ecr_repository_exists",
    title: "The ECR repository does not exist",
    stage: Stage::Repository,
    explains: &[Category::ImageNotFound, Category::AccessDenied],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ecr:DescribeImages"],
    ],
    doc: Doc {
        what: "the repository does not exist in that account/region",
        why: "The image URI names a repository that does not exist in that account and region: a typo, the \
             wrong region or account, or a deleted repository. ECR answers every pull with \"repository does \
             not exist\" or an access-denied shaped error.",
        fix: "Create the repository and push the image, or correct the image URI if it names the wrong \
             repository, account or region.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-create.html",
    },
    run: check_repository_exists,
};

/// The check of [`ECR_REPOSITORY_EXISTS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_repository_exists(facts: &Facts) -> Vec<Finding> {
    let Some((image, account, region)) = facts.ecr_image() else {
        return vec![];
    };
    let code = RootCause::EcrRepositoryNotFound;
    let resource = format!("{}/{}", image.registry, image.repository);
    let url = console::ecr_repository(region, account, &image.repository);
    let cache = facts.pull_through_rule_serving_image().cloned();
    let finding = match &facts.repository {
        Fact::Found { value } => Finding::pass(
            code,
            format!(
                "Repository {} exists in account {account}, {region}",
                value.name
            ),
        )
        .evidence("repository_arn", value.arn.clone()),
        // A pull-through cache creates its repositories on the first pull: not having one yet is
        // normal (ECR_PULL_THROUGH_CACHE says whether that first pull can succeed).
        Fact::NotFound { .. } if cache.is_some() => {
            let rule = cache.unwrap_or_default();
            Finding::pass(
                code,
                format!(
                    "Repository {} does not exist yet: pull-through cache rule {} creates it on the first pull",
                    image.repository, rule.ecr_repository_prefix
                ),
            )
            .evidence("pull_through_prefix", rule.ecr_repository_prefix.as_str())
            .evidence("upstream_registry", rule.upstream_registry_url.clone())
        }
        Fact::NotFound { detail } => {
            let mut remediation = format!(
                "Create the repository {repo} in account {account} ({region}) and push the image, or correct \
                 {setting} if it names the wrong repository, account or region.",
                repo = image.repository,
                setting = words(facts).image_setting(&task_definition_suffix(facts)),
            );
            // A name that looks like a cache repository, with the rules unreadable: say so.
            if let (Some(upstream), Some(gap)) = (
                image.pull_through_upstream(),
                facts.missing_image.pull_through_rules.gap(),
            ) {
                if !facts.missing_image.pull_through_rules.is_not_found() {
                    remediation.push_str(&format!(
                        " If {} is meant to be a pull-through cache of {upstream}, check the registry's pull-through cache \
                         rules instead (they could not be read: {gap}).",
                        image.repository
                    ));
                }
            }
            Finding::fail(
                code,
                format!(
                    "Repository {} does not exist in account {account}, region {region}",
                    image.repository
                ),
            )
            .evidence("registry_id", account)
            .evidence("region", region)
            .evidence("ecr_answer", detail.as_str())
            .remediation(remediation)
        }
        gap => {
            return vec![Finding::unknown(
                code,
                "Could not check that the repository exists",
                gap.gap().unwrap_or_default(),
            )
            .resource(resource)]
        }
    };
    vec![finding.resource(resource).console_url(url)]
}

pub const ECR_IMAGE_EXISTS: Rule = Rule {
    code: RootCause::EcrImageNotFound,
    name: "ecr_image_exists",
    title: "The image tag or digest does not exist in the repository",
    stage: Stage::Image,
    explains: &[Category::ImageNotFound],
    phases: Phases::Only(&[Phase::Manifest]),
    scope: EVERYWHERE,
    reads: &[
        &["ecr:DescribeImages"],
    ],
    doc: Doc {
        what: "the tag or digest does not exist in the repository",
        why: "The tag or the pinned digest is not in the repository: never pushed, a typo, or deleted. ECS \
             pins a service deployment to the digest the tag resolved to when it started, so a tag pushed \
             again (mutable tags) or an image deleted since breaks new tasks even though the tag still \
             exists; that case is reported with both digests.",
        fix: "Push the image, or point the image URI at a tag or digest that exists; after re-pushing a \
             mutable tag, start a new deployment so it resolves the tag again.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/docker-pull-ecr-image.html",
    },
    run: check_image_exists,
};

/// The check of [`ECR_IMAGE_EXISTS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_image_exists(facts: &Facts) -> Vec<Finding> {
    let Some((image, account, region)) = facts.ecr_image() else {
        return vec![];
    };
    // A missing repository is reported by its own check; the image check would only repeat it.
    // Under a pull-through cache rule the repository legitimately does not exist yet.
    let cache = facts.pull_through_rule_serving_image();
    if facts.repository.is_not_found() && cache.is_none() {
        return vec![];
    }
    if let Some(rule) = cache {
        if let Some(f) = not_cached(facts, image, rule) {
            return vec![f.console_url(console::ecr_repository(
                region,
                account,
                &image.repository,
            ))];
        }
    }
    let code = RootCause::EcrImageNotFound;
    let resource = image.to_string();
    let url = console::ecr_repository(region, account, &image.repository);
    let repo = &image.repository;
    let finding = match (&image.digest, image.effective_tag()) {
        (Some(digest), tag) => match by_digest(facts, repo, digest, tag) {
            Ok(f) => f,
            Err(unknown) => return vec![unknown.resource(resource)],
        },
        (None, Some(tag)) => match &facts.image_by_tag {
            Fact::Found { value } => Finding::pass(code, format!("Tag {tag} exists in {repo}"))
                .evidence("digest", value.digest.clone()),
            Fact::NotFound { detail } => Finding::fail(code, format!("Tag {tag} does not exist in {repo}"))
                .evidence("tag", tag)
                .evidence("ecr_answer", detail.as_str())
                .remediation(format!(
                    "Push {repo}:{tag} (check the build pipeline pushed to account {account}, {region}), or change \
                     the image tag in the {spec}{td} to one that exists.",
                    spec = words(facts).task_definition,
                    td = task_definition_suffix(facts)
                )),
            gap => {
                return vec![Finding::unknown(code, "Could not check that the image exists", gap.gap().unwrap_or_default())
                    .resource(resource)]
            }
        },
        (None, None) => return vec![],
    };
    vec![finding
        .resource(resource)
        .console_url(url)
        .evidence("registry", json!(image.registry))]
}

/// The pinned digest: there, gone (and what the tag points to now), or unknown (`Err`).
fn by_digest(
    facts: &Facts,
    repo: &str,
    digest: &str,
    tag: Option<&str>,
) -> Result<Finding, Box<Finding>> {
    let code = RootCause::EcrImageNotFound;
    match (&facts.image_by_digest, tag.map(|_| &facts.image_by_tag)) {
        (Fact::Found { .. }, _) => Ok(Finding::pass(
            code,
            format!("Pinned digest {} exists in {repo}", short(digest)),
        )),
        (Fact::NotFound { .. }, Some(Fact::Found { value: now })) => {
            let tag = tag.unwrap_or_default();
            Ok(Finding::fail(
                code,
                format!(
                    "Pinned digest {} is gone from {repo}; tag {tag} now points to {}",
                    short(digest),
                    now.digest.as_deref().map(short).unwrap_or("another image")
                ),
            )
            .evidence("pinned_digest", digest)
            .evidence("tag", tag)
            .evidence("tag_digest_now", now.digest.clone())
            .evidence("tag_pushed_at", now.pushed_at.clone())
            .remediation(format!(
                "The deployment is pinned to digest {digest}, which was deleted or replaced after the \
                 deployment started (tag {tag} was pushed again). Start a new deployment so ECS resolves \
                 the tag again (aws ecs update-service --force-new-deployment), or restore the old image. \
                 Consider immutable tags on {repo} to prevent this."
            )))
        }
        (Fact::NotFound { .. }, tag_fact) => {
            let tag_note = match (tag, tag_fact) {
                (Some(t), Some(Fact::NotFound { .. })) => {
                    format!(" and tag {t} does not exist either")
                }
                _ => String::new(),
            };
            Ok(Finding::fail(
                code,
                format!(
                    "Digest {} does not exist in {repo}{tag_note}",
                    short(digest)
                ),
            )
            .evidence("pinned_digest", digest)
            .evidence("tag", tag)
            .remediation(format!(
                "Push the image again or point the {spec}{td} at an image that exists in {repo}, \
                     then start a new deployment.",
                spec = words(facts).task_definition,
                td = task_definition_suffix(facts)
            )))
        }
        (gap, _) => Err(Box::new(Finding::unknown(
            code,
            "Could not check that the image exists",
            gap.gap().unwrap_or_default(),
        ))),
    }
}

/// An image under a pull-through cache rule that the cache does not hold: it is imported from
/// the upstream registry on the first pull, so it must exist *there*; pushing to ECR is wrong.
fn not_cached(
    facts: &Facts,
    image: &ImageRef,
    rule: &crate::model::facts::PullThroughRuleFacts,
) -> Option<Finding> {
    let missing = facts.repository.is_not_found()
        || facts.image_by_tag.is_not_found()
        || facts.image_by_digest.is_not_found();
    if !missing {
        return None;
    }
    let upstream = rule
        .upstream_registry_url
        .as_deref()
        .unwrap_or("the upstream registry");
    let rest = if rule.ecr_repository_prefix == "ROOT" {
        image.repository.as_str()
    } else {
        image
            .repository
            .strip_prefix(&format!("{}/", rule.ecr_repository_prefix))
            .unwrap_or(&image.repository)
    };
    let upstream_name = match &rule.upstream_repository_prefix {
        Some(p) if p != "ROOT" => format!("{p}/{rest}"),
        _ => rest.to_string(),
    };
    let reference = match (&image.digest, image.effective_tag()) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        _ => String::new(),
    };
    Some(
        Finding::fail(
            RootCause::EcrImageNotFound,
            format!("{}{reference} is not in the pull-through cache of {upstream} yet", image.repository),
        )
        .resource(image.to_string())
        .evidence("pull_through_prefix", rule.ecr_repository_prefix.as_str())
        .evidence("upstream_registry", upstream)
        .evidence("upstream_image", format!("{upstream}/{upstream_name}{reference}"))
        .remediation(format!(
            "ECR imports the image from {upstream} on its first pull, so it must exist there: check that \
             {upstream}/{upstream_name}{reference} exists (and that the {spec}{td} names it correctly). Do not \
             push it to ECR by hand. If it exists upstream, the pull-through cache finding says what stops the import.",
            spec = words(facts).task_definition,
            td = task_definition_suffix(facts)
        )),
    )
}

fn short(digest: &str) -> &str {
    // sha256: + 12 hex digits is what the console shows; enough to tell digests apart.
    digest.get(..19).unwrap_or(digest)
}

/// Shared by the other check modules' tests: a Facts snapshot for an ECR image.
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use super::*;
    use crate::model::facts::{ImageFacts, RepositoryFacts, TaskDefinitionFacts};

    pub const IMAGE: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1";
    pub const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    pub const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    pub fn facts(image: &str) -> Facts {
        let mut f = Facts::default();
        f.failure.image = Some(image.to_string());
        f.failure.image_ref = ImageRef::parse(image).ok();
        f.repository = Fact::found(RepositoryFacts {
            name: "team/app".into(),
            ..Default::default()
        });
        f.task_definition = Fact::found(TaskDefinitionFacts {
            family: Some("web".into()),
            revision: Some(7),
            ..Default::default()
        });
        f
    }
    pub fn image(digest: &str, tag: &str) -> Fact<ImageFacts> {
        Fact::found(ImageFacts {
            digest: Some(digest.into()),
            tags: vec![tag.into()],
            ..Default::default()
        })
    }
    pub fn not_found() -> Fact<ImageFacts> {
        Fact::NotFound {
            detail: "ImageNotFoundException".into(),
        }
    }
}
