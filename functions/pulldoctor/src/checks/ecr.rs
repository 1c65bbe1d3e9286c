//! Registry checks: does the repository exist, and does the tag or pinned digest exist in it.

use serde_json::json;

use super::console;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts};
use crate::model::image_ref::ImageRef;

/// The ECR image under diagnosis with its account and region, or `None` when not ECR.
/// ECR_REPOSITORY_NOT_FOUND — the image URI names a repository that does not exist in that
/// account and region (typo, wrong region or account, or the repository was deleted). ECR then
/// answers every pull with "repository does not exist" or an access-denied shaped error.
pub fn check_repository_exists(facts: &Facts) -> Vec<Finding> {
    let Some((image, account, region)) = facts.ecr_image() else { return vec![] };
    let code = RootCause::EcrRepositoryNotFound;
    let resource = format!("{}/{}", image.registry, image.repository);
    let url = console::ecr_repository(region, account, &image.repository);
    let cache = super::pull_through::serving_rule(facts).cloned();
    let finding = match &facts.repository {
        Fact::Found { value } => Finding::pass(code, format!("Repository {} exists in account {account}, {region}", value.name))
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
                "Create the repository {repo} in account {account} ({region}) and push the image, or correct the \
                 image URI in the task definition{td} if it names the wrong repository, account or region.",
                repo = image.repository,
                td = task_definition_suffix(facts),
            );
            // A name that looks like a cache repository, with the rules unreadable: say so.
            if let (Some(upstream), Some(gap)) = (image.pull_through_upstream(), facts.missing_image.pull_through_rules.gap()) {
                if !facts.missing_image.pull_through_rules.is_not_found() {
                    remediation.push_str(&format!(
                        " If {} is meant to be a pull-through cache of {upstream}, check the registry's pull-through cache \
                         rules instead (they could not be read: {gap}).",
                        image.repository
                    ));
                }
            }
            Finding::fail(code, format!("Repository {} does not exist in account {account}, region {region}", image.repository))
                .evidence("registry_id", account)
                .evidence("region", region)
                .evidence("ecr_answer", detail.as_str())
                .remediation(remediation)
        }
        gap => return vec![Finding::unknown(code, "Could not check that the repository exists", gap.gap().unwrap_or_default())
            .resource(resource)],
    };
    vec![finding.resource(resource).console_url(url)]
}

/// ECR_IMAGE_NOT_FOUND — the tag or the pinned digest is not in the repository. Since 2024 ECS
/// pins a service deployment to the digest the tag resolved to at deploy time, so a tag that was
/// pushed again (mutable tags) or an image that was deleted breaks new tasks even though the tag
/// still exists: that case is reported distinctly, with both digests.
pub fn check_image_exists(facts: &Facts) -> Vec<Finding> {
    let Some((image, account, region)) = facts.ecr_image() else { return vec![] };
    // A missing repository is reported by its own check; the image check would only repeat it.
    // Under a pull-through cache rule the repository legitimately does not exist yet.
    let cache = super::pull_through::serving_rule(facts);
    if facts.repository.is_not_found() && cache.is_none() {
        return vec![];
    }
    if let Some(rule) = cache {
        if let Some(f) = not_cached(facts, image, rule) {
            return vec![f.console_url(console::ecr_repository(region, account, &image.repository))];
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
                     the image tag in the task definition{td} to one that exists.",
                    td = task_definition_suffix(facts)
                )),
            gap => {
                return vec![Finding::unknown(code, "Could not check that the image exists", gap.gap().unwrap_or_default())
                    .resource(resource)]
            }
        },
        (None, None) => return vec![],
    };
    vec![finding.resource(resource).console_url(url).evidence("registry", json!(image.registry))]
}

/// The pinned digest: there, gone (and what the tag points to now), or unknown (`Err`).
fn by_digest(facts: &Facts, repo: &str, digest: &str, tag: Option<&str>) -> Result<Finding, Finding> {
    let code = RootCause::EcrImageNotFound;
    match (&facts.image_by_digest, tag.map(|_| &facts.image_by_tag)) {
        (Fact::Found { .. }, _) => Ok(Finding::pass(code, format!("Pinned digest {} exists in {repo}", short(digest)))),
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
                (Some(t), Some(Fact::NotFound { .. })) => format!(" and tag {t} does not exist either"),
                _ => String::new(),
            };
            Ok(Finding::fail(code, format!("Digest {} does not exist in {repo}{tag_note}", short(digest)))
                .evidence("pinned_digest", digest)
                .evidence("tag", tag)
                .remediation(format!(
                    "Push the image again or point the task definition{td} at an image that exists in {repo}, \
                     then start a new deployment.",
                    td = task_definition_suffix(facts)
                )))
        }
        (gap, _) => Err(Finding::unknown(code, "Could not check that the image exists", gap.gap().unwrap_or_default())),
    }
}

/// An image under a pull-through cache rule that the cache does not hold: it is imported from
/// the upstream registry on the first pull, so it must exist *there*; pushing to ECR is wrong.
fn not_cached(facts: &Facts, image: &ImageRef, rule: &crate::model::facts::PullThroughRuleFacts) -> Option<Finding> {
    let missing = facts.repository.is_not_found() || facts.image_by_tag.is_not_found() || facts.image_by_digest.is_not_found();
    if !missing {
        return None;
    }
    let upstream = rule.upstream_registry_url.as_deref().unwrap_or("the upstream registry");
    let rest = if rule.ecr_repository_prefix == "ROOT" {
        image.repository.as_str()
    } else {
        image.repository.strip_prefix(&format!("{}/", rule.ecr_repository_prefix)).unwrap_or(&image.repository)
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
             {upstream}/{upstream_name}{reference} exists (and that the task definition{td} names it correctly). Do not \
             push it to ECR by hand. If it exists upstream, the pull-through cache finding says what stops the import.",
            td = task_definition_suffix(facts)
        )),
    )
}

/// ` family:revision` when the task definition is known, for remediation text.
pub(crate) fn task_definition_suffix(facts: &Facts) -> String {
    match facts.task_definition.value() {
        Some(td) => match (&td.family, td.revision) {
            (Some(f), Some(r)) => format!(" {f}:{r}"),
            _ => String::new(),
        },
        None => String::new(),
    }
}

fn short(digest: &str) -> &str {
    // sha256: + 12 hex digits is what the console shows; enough to tell digests apart.
    digest.get(..19).unwrap_or(digest)
}

/// Shared by the other check modules' tests: a Facts snapshot for an ECR image.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::model::facts::{ImageFacts, RepositoryFacts, TaskDefinitionFacts};

    pub const IMAGE: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1";
    pub const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    pub const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    pub fn facts(image: &str) -> Facts {
        let mut f = Facts::default();
        f.failure.image = Some(image.to_string());
        f.failure.image_ref = ImageRef::parse(image).ok();
        f.repository = Fact::found(RepositoryFacts { name: "team/app".into(), ..Default::default() });
        f.task_definition = Fact::found(TaskDefinitionFacts {
            family: Some("web".into()),
            revision: Some(7),
            ..Default::default()
        });
        f
    }
    pub fn image(digest: &str, tag: &str) -> Fact<ImageFacts> {
        Fact::found(ImageFacts { digest: Some(digest.into()), tags: vec![tag.into()], ..Default::default() })
    }
    pub fn not_found() -> Fact<ImageFacts> {
        Fact::NotFound { detail: "ImageNotFoundException".into() }
    }
    pub fn denied<T>() -> Fact<T> {
        Fact::Unreadable { reason: "AccessDenied: ecr:DescribeImages".into() }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use crate::model::facts::ImageFacts;
    use super::*;
    use crate::model::diagnosis::Status;

    fn statuses(findings: &[Finding]) -> Vec<(RootCause, Status)> {
        findings.iter().map(|f| (f.code, f.status)).collect()
    }

    #[test]
    fn repository_check_table() {
        let cases: Vec<(&str, Fact<crate::model::facts::RepositoryFacts>, Option<Status>)> = vec![
            ("found", facts(IMAGE).repository, Some(Status::Pass)),
            ("not found", Fact::NotFound { detail: "RepositoryNotFoundException".into() }, Some(Status::Fail)),
            ("denied", denied(), Some(Status::Unknown)),
            ("not collected", Fact::default(), Some(Status::Unknown)),
        ];
        for (name, repo, expected) in cases {
            let mut f = facts(IMAGE);
            f.repository = repo;
            let got = check_repository_exists(&f);
            assert_eq!(got.first().map(|f| f.status), expected, "{name}");
            if expected == Some(Status::Fail) {
                let rem = got[0].remediation.as_deref().unwrap();
                assert!(rem.contains("team/app") && rem.contains("111122223333") && rem.contains("web:7"), "{rem}");
            }
        }
        // Not an ECR image: the check does not apply.
        assert!(check_repository_exists(&facts("nginx:1.25")).is_empty());
    }

    #[test]
    fn image_check_table() {
        let pinned = format!("{IMAGE}@{OLD}");
        let untagged = format!("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app@{OLD}");
        // (name, image, by_digest, by_tag, expected status, title must contain)
        let cases: Vec<(&str, &str, Fact<ImageFacts>, Fact<ImageFacts>, Status, &str)> = vec![
            ("tag exists", IMAGE, Fact::default(), image(NEW, "v1"), Status::Pass, "Tag v1 exists"),
            ("tag missing", IMAGE, Fact::default(), not_found(), Status::Fail, "Tag v1 does not exist"),
            ("tag unreadable", IMAGE, Fact::default(), denied(), Status::Unknown, "Could not check"),
            ("digest exists", &pinned, image(OLD, "v1"), image(OLD, "v1"), Status::Pass, "Pinned digest"),
            ("digest moved", &pinned, not_found(), image(NEW, "v1"), Status::Fail, "tag v1 now points to sha256:222222222222"),
            ("both missing", &pinned, not_found(), not_found(), Status::Fail, "tag v1 does not exist either"),
            ("digest only missing", &untagged, not_found(), Fact::default(), Status::Fail, "Digest sha256:111111111111 does not exist"),
            ("digest unreadable", &pinned, denied(), image(NEW, "v1"), Status::Unknown, "Could not check"),
        ];
        for (name, img, by_digest, by_tag, status, title) in cases {
            let mut f = facts(img);
            f.image_by_digest = by_digest;
            f.image_by_tag = by_tag;
            let got = check_image_exists(&f);
            assert_eq!(statuses(&got), vec![(RootCause::EcrImageNotFound, status)], "{name}");
            assert!(got[0].title.contains(title), "{name}: {}", got[0].title);
            if status == Status::Unknown {
                assert!(got[0].evidence["reason"].as_str().unwrap().contains("AccessDenied"), "{name}");
            }
        }
    }

    #[test]
    fn moved_digest_explains_both_digests_and_the_fix() {
        let mut f = facts(&format!("{IMAGE}@{OLD}"));
        f.image_by_digest = not_found();
        f.image_by_tag = image(NEW, "v1");
        let finding = &check_image_exists(&f)[0];
        assert_eq!(finding.evidence["pinned_digest"], OLD);
        assert_eq!(finding.evidence["tag_digest_now"], NEW);
        assert!(finding.remediation.as_deref().unwrap().contains("force-new-deployment"));
    }

    #[test]
    fn missing_repository_is_not_reported_twice() {
        let mut f = facts(IMAGE);
        f.repository = Fact::NotFound { detail: "RepositoryNotFoundException".into() };
        f.image_by_tag = not_found();
        assert!(check_image_exists(&f).is_empty());
    }
}
