//! Lifecycle checks: was the missing image expired by a lifecycle rule, or archived?
//!
//! "Expired" is a claim that needs evidence. A lifecycle rule that merely *selects* the missing
//! tag proves nothing: a typo'd tag in a repository with an ordinary "keep the last 30" rule is
//! selected too. The check says `ECR_IMAGE_EXPIRED` only when the image demonstrably existed (ECS
//! resolved the tag to a digest that is now gone, or another task of the same service runs a
//! digest that is now gone) and the rule's count/age arithmetic against the repository's current
//! images shows the rule removes such an image. Otherwise the rule is shown as something to rule
//! out (`warn`) and the missing image is `ECR_IMAGE_NOT_FOUND`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::console;
use super::wording::task_definition_suffix;
use super::wording::words;
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts, ImageFacts};
use crate::model::image_ref::ImageRef;
use crate::model::message::{Category, Phase};
use crate::policy::glob;

/// The missing image, when the archive lookup found it archived or being restored.
fn archived(facts: &Facts) -> Option<&ImageFacts> {
    facts
        .missing_image
        .archived
        .value()
        .filter(|i| matches!(i.status.as_deref(), Some("ARCHIVED" | "ACTIVATING")))
}

pub const ECR_IMAGE_EXPIRED: Rule = Rule {
    code: RootCause::EcrImageExpired,
    name: "ecr_image_expired",
    title: "The image was removed by a lifecycle policy rule",
    stage: Stage::Image,
    explains: &[Category::ImageNotFound],
    phases: Phases::Only(&[Phase::Manifest]),
    scope: EVERYWHERE,
    reads: &[
        &["ecr:DescribeImages", "ecr:GetLifecyclePolicy", "ecs:ListTasks", "ecs:DescribeTasks"],
    ],
    doc: Doc {
        what: "the image existed and a lifecycle policy rule removed it (said only with evidence)",
        why: "A lifecycle policy expires images by count (imageCountMoreThan) or age (sinceImagePushed, \
             sinceImagePulled, sinceImageTransitioned), selected by tag status and tag patterns. A service \
             that still references an expired tag, or the digest its deployment was pinned to, fails to pull \
             with \"not found\". pulldoctor says so only when the image demonstrably existed and the rule's \
             arithmetic removes it.",
        fix: "Push the image again (or point the image URI at one that still exists) and redeploy; change the \
             rule (a higher count, a tag prefix it skips) so images that running services use are kept.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html",
    },
    run: check_image_expired,
};

/// The check of [`ECR_IMAGE_EXPIRED`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_image_expired(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::EcrImageExpired;
    let Some((image, account, region)) = facts.ecr_image() else {
        return vec![];
    };
    if facts.repository.is_not_found() || archived(facts).is_some() {
        return vec![];
    }
    let Some(missing) = Missing::of(facts, image) else {
        return vec![];
    };
    let resource = image.to_string();
    let url = console::ecr_repository(region, account, &image.repository);
    let doc = match lifecycle_policy(facts, image) {
        Ok(doc) => doc,
        Err(finding) => return vec![finding.resource(resource)],
    };
    let rules = sorted_rules(doc);
    let Some(rule) = rules
        .iter()
        .copied()
        .find(|r| action(r) == "expire" && rule_selects(r, &missing))
    else {
        return vec![Finding::pass(
            code,
            format!(
                "No lifecycle rule of {} selects {}",
                image.repository,
                missing.describe()
            ),
        )
        .resource(resource)
        .console_url(url)];
    };
    let priority = rule.get("rulePriority").and_then(Value::as_i64);
    let p = priority
        .map(|p| p.to_string())
        .unwrap_or_else(|| "?".into());
    let description = rule
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    let what = describe_rule(rule);
    let existed = existence(facts, image, &missing);
    let arithmetic = arithmetic(facts, &rules, rule, existed.as_ref());
    let base = |f: Finding| {
        f.resource(resource.clone())
            .console_url(url.clone())
            .evidence("rule_priority", priority)
            .evidence("rule_description", description.clone())
            .evidence("rule", rule.clone())
            .evidence("rule_explained", what.as_str())
            .evidence("image_existed", existed.as_ref().map(|e| e.said.clone()))
            .evidence("rule_arithmetic", arithmetic.said())
    };
    let gone = match &missing {
        Missing::Tagged(t) => format!("Tag {t}"),
        Missing::Untagged => "The pinned image (now untagged)".to_string(),
    };
    match (&existed, &arithmetic) {
        (_, Arithmetic::RulesOut(why)) => vec![base(Finding::pass(
            code,
            format!("Lifecycle rule {p} of {} ({what}) cannot have removed {}: {why}", image.repository, missing.describe()),
        ))],
        (Some(existed), Arithmetic::Confirms(why)) => vec![base(Finding::fail(
            code,
            format!("{gone} is gone and lifecycle rule {p} of {} ({what}) removed it: {why}", image.repository),
        ))
        .evidence("existed_because", existed.said.as_str())
        .remediation(format!(
            "Push the image again (or point the {spec}{td} at an image that still exists) and redeploy. To keep \
             images that deployments use, change lifecycle rule {p} so it does not select them (a higher count or age, a \
             tag prefix that excludes release tags), or deploy by tags the rule never selects.",
            spec = words(facts).task_definition,
            td = task_definition_suffix(facts),
        ))],
        (existed, arithmetic) => {
            let doubt = match (existed, arithmetic) {
                (None, _) => "but nothing shows the image ever existed".to_string(),
                (Some(_), Arithmetic::Undecided(why)) => format!("but whether it removed the image cannot be shown: {why}"),
                (Some(_), _) => "but whether it removed the image cannot be shown".to_string(),
            };
            vec![base(Finding::warn(
                code,
                format!("Lifecycle rule {p} of {} ({what}) selects {}, {doubt}", image.repository, missing.describe()),
            ))
            .remediation(format!(
                "Rule out the lifecycle rule before anything else: check that {} was pushed to {} in account {account} \
                 ({region}) at all (a typo in the tag or a pipeline pushing elsewhere looks the same), for example in \
                 CloudTrail's PutImage events. If it was, ECR's lifecycle PolicyExecutionEvent in CloudTrail shows \
                 whether rule {p} removed it.",
                missing.describe(),
                image.repository
            ))]
        }
    }
}

/// The repository's lifecycle policy, or the finding when there is none to judge.
fn lifecycle_policy<'f>(facts: &'f Facts, image: &ImageRef) -> Result<&'f Value, Box<Finding>> {
    let code = RootCause::EcrImageExpired;
    match &facts.identity.lifecycle_policy {
        Fact::Found { value } => Ok(value),
        Fact::NotFound { .. } => Err(Box::new(
            Finding::pass(
                code,
                format!("Repository {} has no lifecycle policy", image.repository),
            )
            .evidence("note", "the image was deleted by hand or never pushed"),
        )),
        gap => Err(Box::new(Finding::unknown(
            code,
            "Could not read the lifecycle policy",
            gap.gap().unwrap_or_default(),
        ))),
    }
}

enum Missing<'a> {
    Tagged(&'a str),
    Untagged,
}

impl<'a> Missing<'a> {
    /// What is gone: the tag, or the pinned image (`None` when the image exists).
    fn of(facts: &Facts, image: &'a ImageRef) -> Option<Self> {
        match (&image.digest, image.effective_tag()) {
            // The pinned digest is gone but the tag still exists: the old image lost its tag when the
            // tag was pushed again, so only an untagged rule can have removed it.
            (Some(_), Some(_))
                if facts.image_by_digest.is_not_found() && facts.image_by_tag.value().is_some() =>
            {
                Some(Missing::Untagged)
            }
            (Some(_), Some(t)) if facts.image_by_digest.is_not_found() => Some(Missing::Tagged(t)),
            (Some(_), None) if facts.image_by_digest.is_not_found() => Some(Missing::Untagged),
            (None, Some(t)) if facts.image_by_tag.is_not_found() => Some(Missing::Tagged(t)),
            _ => None,
        }
    }
}

impl Missing<'_> {
    fn describe(&self) -> String {
        match self {
            Missing::Tagged(t) => format!("tag {t}"),
            Missing::Untagged => "the untagged image".into(),
        }
    }
}

/// Why the missing image is known to have existed, and since when at the latest.
struct Existed {
    said: String,
    /// The image existed (was pushed) no later than this.
    since: Option<DateTime<Utc>>,
    /// A task created at this time pulled it (latest such task).
    last_pulled: Option<DateTime<Utc>>,
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Evidence that the missing image existed: ECS resolved the tag to the digest that is now gone
/// (version consistency: a service deployment pins the digest), or another task of the same
/// service runs a digest for this image that the repository no longer has.
fn existence(facts: &Facts, image: &ImageRef, missing: &Missing) -> Option<Existed> {
    let container = facts.failure.container.as_deref();
    let failed = facts
        .task
        .containers
        .iter()
        .find(|c| c.name.as_deref() == container || container.is_none());
    // A digest the task definition names itself was typed by someone; only one ECS resolved from
    // a tag shows that the image existed.
    let resolved = match (&image.digest, failed) {
        (Some(d), Some(c))
            if c.image_digest.as_deref() == Some(d.as_str())
                && !c.image.as_deref().unwrap_or("@").contains('@') =>
        {
            Some(d)
        }
        _ => None,
    };
    let tag = image.effective_tag().unwrap_or("latest");
    let tag_pushed = facts
        .image_by_tag
        .value()
        .and_then(|i| parse_time(i.pushed_at.as_deref()));
    let current: Option<Vec<&str>> = facts
        .missing_image
        .repository_images
        .value()
        .filter(|r| !r.truncated)
        .map(|r| {
            r.images
                .iter()
                .filter_map(|i| i.digest.as_deref())
                .collect()
        });
    let gone = |digest: &str| match (&current, Some(digest) == image.digest.as_deref()) {
        (_, true) => facts.image_by_digest.is_not_found(),
        (Some(list), _) => !list.contains(&digest),
        (None, _) => false,
    };
    // The service's other tasks running this image (same container, same image reference).
    let same_image = |s: &crate::model::facts::ServiceTaskImage| {
        s.container.as_deref() == container
            && s.image
                .as_deref()
                .and_then(|i| ImageRef::parse(i).ok())
                .is_some_and(|r| {
                    r.registry == image.registry
                        && r.repository == image.repository
                        && r.effective_tag() == image.effective_tag()
                })
    };
    let siblings: Vec<&crate::model::facts::ServiceTaskImage> = facts
        .missing_image
        .service_tasks
        .value()
        .map(|v| {
            v.iter()
                .filter(|s| same_image(s) && s.image_digest.as_deref().is_some_and(gone))
                .collect()
        })
        .unwrap_or_default();
    let sibling_created: Vec<DateTime<Utc>> = siblings
        .iter()
        .filter_map(|s| parse_time(s.created_at.as_deref()))
        .collect();
    let last_pulled = sibling_created.iter().max().copied();
    let earliest_sibling = sibling_created.iter().min().copied();
    // An untagged (moved-away) image was pushed before the image the tag points to now.
    let before_tag = if matches!(missing, Missing::Untagged) {
        tag_pushed
    } else {
        None
    };
    let since = [earliest_sibling, before_tag].into_iter().flatten().min();
    if let Some(d) = resolved {
        return Some(Existed {
            said: format!(
                "ECS resolved {tag} to {d} when the deployment started, and that digest is gone"
            ),
            since,
            last_pulled,
        });
    }
    let first = siblings.first()?;
    Some(Existed {
        said: format!(
            "task {} of the same service ({}) runs {} as {}, which the repository no longer has",
            first.task_arn.rsplit('/').next().unwrap_or(&first.task_arn),
            first
                .last_status
                .as_deref()
                .unwrap_or("status unknown")
                .to_lowercase(),
            tag,
            first.image_digest.as_deref().unwrap_or_default()
        ),
        since,
        last_pulled,
    })
}

/// What the rule's count or age arithmetic says about the missing image.
enum Arithmetic {
    /// The rule removes such an image.
    Confirms(String),
    /// The rule cannot have removed it.
    RulesOut(String),
    Undecided(String),
}

impl Arithmetic {
    fn said(&self) -> String {
        match self {
            Arithmetic::Confirms(w) => format!("confirms: {w}"),
            Arithmetic::RulesOut(w) => format!("rules it out: {w}"),
            Arithmetic::Undecided(w) => format!("undecided: {w}"),
        }
    }
}

fn arithmetic(
    facts: &Facts,
    rules: &[&Value],
    rule: &Value,
    existed: Option<&Existed>,
) -> Arithmetic {
    let s = rule.get("selection").cloned().unwrap_or(Value::Null);
    let n = s
        .get("countNumber")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let unit = s.get("countUnit").and_then(Value::as_str).unwrap_or("days");
    let now = Utc::now();
    let older_than_n_days = |t: DateTime<Utc>| (now - t).num_days() > n;
    match s.get("countType").and_then(Value::as_str) {
        Some("imageCountMoreThan") => {
            if storage_class(rule) == "archive" {
                return Arithmetic::Undecided("the rule counts archived images, which are not listed".into());
            }
            let listed = match &facts.missing_image.repository_images {
                Fact::Found { value } => value,
                gap => return Arithmetic::Undecided(format!("the repository's images could not be listed: {}", gap.gap().unwrap_or_default())),
            };
            // Each image is governed by the first rule (by priority) that selects it.
            let governed = listed
                .images
                .iter()
                .filter(|i| rules.iter().find(|r| storage_class(r) == "standard" && selects_image(r, i)).is_some_and(|r| std::ptr::eq(*r, rule)))
                .count() as i64;
            if governed >= n {
                Arithmetic::Confirms(format!("{governed} current images match it and it keeps only {n}, so it expires the older ones"))
            } else if listed.truncated {
                Arithmetic::Undecided(format!("at least {governed} images match it (the listing was cut short)"))
            } else {
                Arithmetic::RulesOut(format!("only {governed} images match it and it keeps {n}, so it has had nothing to expire"))
            }
        }
        Some("sinceImagePushed") => match existed.and_then(|e| e.since) {
            Some(t) if older_than_n_days(t) => Arithmetic::Confirms(format!("the image was pushed before {}, more than {n} {unit} ago", t.format("%Y-%m-%d"))),
            Some(t) => Arithmetic::Undecided(format!("the image was pushed before {}, but when exactly is not known", t.format("%Y-%m-%d"))),
            None => Arithmetic::Undecided("when the image was pushed is not known".into()),
        },
        Some("sinceImagePulled") => match existed.and_then(|e| e.last_pulled) {
            Some(t) if !older_than_n_days(t) => Arithmetic::RulesOut(format!(
                "a task of the service pulled the image on {}, less than {n} {unit} ago",
                t.format("%Y-%m-%d")
            )),
            _ => Arithmetic::Undecided("when the image was last pulled is not known".into()),
        },
        Some("sinceImageTransitioned") => Arithmetic::Undecided(format!(
            "the rule removes images archived more than {n} {unit} ago; whether this one was archived is not known"
        )),
        other => Arithmetic::Undecided(format!("count type {} is not one pulldoctor knows", other.unwrap_or("(none)"))),
    }
}

fn sorted_rules(doc: &Value) -> Vec<&Value> {
    let mut rules: Vec<&Value> = doc
        .get("rules")
        .and_then(Value::as_array)
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    rules.sort_by_key(|r| {
        r.get("rulePriority")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX)
    });
    rules
}

fn action(rule: &Value) -> &str {
    rule.pointer("/action/type")
        .and_then(Value::as_str)
        .unwrap_or("expire")
}

/// `standard` (the default) or `archive`: which images the rule looks at.
fn storage_class(rule: &Value) -> &str {
    rule.pointer("/selection/storageClass")
        .and_then(Value::as_str)
        .unwrap_or("standard")
}

fn tag_lists(rule: &Value) -> (Vec<String>, Vec<String>) {
    let list = |k: &str| -> Vec<String> {
        rule.pointer(&format!("/selection/{k}"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    (list("tagPrefixList"), list("tagPatternList"))
}

fn tag_matches(rule: &Value, tag: &str) -> bool {
    let (prefixes, patterns) = tag_lists(rule);
    (prefixes.is_empty() && patterns.is_empty())
        || prefixes.iter().any(|p| tag.starts_with(p.as_str()))
        || patterns.iter().any(|p| glob(p, tag, false))
}

fn rule_selects(rule: &Value, missing: &Missing) -> bool {
    let status = rule
        .pointer("/selection/tagStatus")
        .and_then(Value::as_str)
        .unwrap_or("any");
    match (status, missing) {
        ("any", _) => true,
        ("untagged", Missing::Untagged) => true,
        ("tagged", Missing::Tagged(tag)) => tag_matches(rule, tag),
        _ => false,
    }
}

/// Whether the rule selects a current image (tagged: any of its tags matches).
fn selects_image(rule: &Value, image: &ImageFacts) -> bool {
    let status = rule
        .pointer("/selection/tagStatus")
        .and_then(Value::as_str)
        .unwrap_or("any");
    match status {
        "any" => true,
        "untagged" => image.tags.is_empty(),
        "tagged" => image.tags.iter().any(|t| tag_matches(rule, t)),
        _ => false,
    }
}

/// "keeps the 10 most recent images tagged v*", "expires untagged images pushed more than 14 days ago".
fn describe_rule(rule: &Value) -> String {
    let s = rule.get("selection").cloned().unwrap_or(Value::Null);
    let status = s.get("tagStatus").and_then(Value::as_str).unwrap_or("any");
    let (mut tags, patterns) = tag_lists(rule);
    tags.extend(patterns);
    let prefixed = |list: &[String]| {
        list.iter()
            .map(|p| {
                if p.contains('*') {
                    p.clone()
                } else {
                    format!("{p}*")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut which = match status {
        "tagged" if !tags.is_empty() => format!("images tagged {}", prefixed(&tags)),
        "tagged" => "tagged images".into(),
        "untagged" => "untagged images".into(),
        _ => "all images".into(),
    };
    if storage_class(rule) == "archive" {
        which = format!("archived {which}");
    }
    let verb = if action(rule) == "transition" {
        "archives"
    } else {
        "expires"
    };
    let n = s
        .get("countNumber")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let unit = s.get("countUnit").and_then(Value::as_str).unwrap_or("days");
    match s.get("countType").and_then(Value::as_str) {
        Some("imageCountMoreThan") if verb == "expires" => {
            format!("keeps only the {n} most recent {which}")
        }
        Some("imageCountMoreThan") => format!("{verb} all but the {n} most recent {which}"),
        Some("sinceImagePushed") => format!("{verb} {which} pushed more than {n} {unit} ago"),
        Some("sinceImagePulled") => format!("{verb} {which} not pulled for more than {n} {unit}"),
        Some("sinceImageTransitioned") => {
            format!("{verb} {which} archived more than {n} {unit} ago")
        }
        _ => format!("{verb} {which}"),
    }
}

pub const ECR_IMAGE_ARCHIVED: Rule = Rule {
    code: RootCause::EcrImageArchived,
    name: "ecr_image_archived",
    title: "The image was archived by a lifecycle rule and must be restored before it can be pulled",
    stage: Stage::Image,
    explains: &[Category::ImageNotFound],
    phases: Phases::Only(&[Phase::Manifest]),
    scope: EVERYWHERE,
    reads: &[
        &["ecr:DescribeImages"],
    ],
    doc: Doc {
        what: "a lifecycle rule archived the image; it must be restored (`UpdateImageStorageClass`) before it \
             can be pulled",
        why: "A lifecycle rule with a transition action (or a person) moved the image to the archive storage \
             class. ECR answers a pull of an archived image with 404, exactly as for a missing one, and a \
             plain DescribeImages does not list it.",
        fix: "Restore the image to the standard storage class (aws ecr update-image-storage-class \
             --target-storage-class STANDARD), wait until it is active (restoring takes time), then start the \
             tasks again; adjust the lifecycle rule so images in use are not archived.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_UpdateImageStorageClass.html",
    },
    run: check_image_archived,
};

/// The check of [`ECR_IMAGE_ARCHIVED`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_image_archived(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::EcrImageArchived;
    let Some((image, account, region)) = facts.ecr_image() else {
        return vec![];
    };
    if facts.repository.is_not_found() {
        return vec![];
    }
    let resource = image.to_string();
    let url = console::ecr_repository(region, account, &image.repository);
    let found = match &facts.missing_image.archived {
        Fact::Found { value } => value,
        Fact::NotFound { .. } => {
            return vec![Finding::pass(
                code,
                format!(
                    "The missing image is not archived in {} either",
                    image.repository
                ),
            )
            .resource(resource)]
        }
        Fact::Unreadable { reason, .. } => {
            return vec![Finding::unknown(
                code,
                "Could not check whether the image is archived",
                reason.as_str(),
            )
            .resource(resource)]
        }
        Fact::NotCollected { .. } => return vec![],
    };
    let status = found.status.as_deref().unwrap_or("ACTIVE");
    if !matches!(status, "ARCHIVED" | "ACTIVATING") {
        return vec![];
    }
    let digest = found
        .digest
        .clone()
        .or_else(|| image.digest.clone())
        .unwrap_or_default();
    let what = match (image.effective_tag(), &image.digest) {
        (_, Some(d)) if facts.image_by_digest.is_not_found() => format!("Pinned digest {d}"),
        (Some(t), _) => format!("Tag {t}"),
        _ => "The image".to_string(),
    };
    let transition = transition_rule(facts, image, found);
    let by_rule = transition.map(|r| {
        format!(
            " Lifecycle rule {} ({}) archived it: change it so it does not select images that deployments use.",
            r.get("rulePriority").and_then(Value::as_i64).map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            describe_rule(r)
        )
    });
    let restore = format!(
        "aws ecr update-image-storage-class --registry-id {account} --region {region} --repository-name {} --image-id imageDigest={digest} --target-storage-class STANDARD",
        image.repository
    );
    let finding = if status == "ACTIVATING" {
        Finding::fail(code, format!("{what} of {} was archived and is being restored (ACTIVATING): it cannot be pulled yet", image.repository))
            .remediation(format!(
                "Wait until the image's status is ACTIVE again (aws ecr describe-images --filter imageStatus=ANY shows it), then \
                 start a new deployment or let the service retry.{}",
                by_rule.clone().unwrap_or_default()
            ))
    } else {
        Finding::fail(
            code,
            format!(
                "{what} of {} is archived{}: ECR answers 404 until it is restored",
                image.repository,
                found.last_archived_at.as_deref().map(|t| format!(" (since {t})")).unwrap_or_default()
            ),
        )
        .remediation(format!(
            "Restore the image: {restore}. Restoring takes time (the image is ACTIVATING until it is ACTIVE again); then start \
             a new deployment or let the service retry. Pushing the same image again also makes it active.{}",
            by_rule.clone().unwrap_or_default()
        ))
    };
    vec![finding
        .resource(resource)
        .console_url(url)
        .evidence("image_status", status)
        .evidence("digest", digest.as_str())
        .evidence("last_archived_at", found.last_archived_at.clone())
        .evidence(
            "transition_rule",
            transition.cloned().unwrap_or(Value::Null),
        )
        .evidence("restore_command", json!(restore))]
}

/// The lifecycle rule that selects the archived image for transition to the archive, if any.
fn transition_rule<'f>(
    facts: &'f Facts,
    image: &ImageRef,
    found: &ImageFacts,
) -> Option<&'f Value> {
    facts.identity.lifecycle_policy.value().and_then(|doc| {
        let tag = image.effective_tag();
        sorted_rules(doc).into_iter().find(|r| {
            action(r) == "transition"
                && match (tag, found.tags.is_empty()) {
                    (_, true) => rule_selects(r, &Missing::Untagged),
                    (Some(t), false) => rule_selects(r, &Missing::Tagged(t)),
                    (None, false) => false,
                }
        })
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use serde_json::json;

    use super::*;
    use crate::checks::ecr::fixtures::{not_found, IMAGE, NEW, OLD};
    use crate::checks::iam::identity_fixtures::*;
    use crate::model::diagnosis::Status;
    use crate::model::facts::{ContainerFacts, RepositoryImages, ServiceTaskImage};

    fn lifecycle(rules: Value) -> Fact<Value> {
        Fact::found(json!({"rules": rules}))
    }
    fn days_ago(n: i64) -> String {
        (Utc::now() - Duration::days(n)).to_rfc3339()
    }
    /// Current images `tag` → a digest made from the tag.
    fn listed(tags: &[&str]) -> Fact<RepositoryImages> {
        let images = tags
            .iter()
            .enumerate()
            .map(|(i, t)| ImageFacts {
                digest: Some(format!("sha256:{:064x}", i + 100)),
                tags: if t.is_empty() {
                    vec![]
                } else {
                    vec![t.to_string()]
                },
                ..Default::default()
            })
            .collect();
        Fact::found(RepositoryImages {
            images,
            truncated: false,
        })
    }
    /// ECS resolved the failing task's tag to `digest` (version consistency): the event's
    /// `imageDigest`, appended to the image reference.
    fn resolved(f: &mut Facts, digest: &str) {
        f.failure.image_ref = ImageRef::parse(&format!("{IMAGE}@{digest}")).ok();
        f.task.containers = vec![ContainerFacts {
            name: Some("web".into()),
            image: Some(IMAGE.into()),
            image_digest: Some(digest.into()),
            ..Default::default()
        }];
        f.image_by_digest = not_found();
    }
    fn sibling(digest: &str, created: String) -> ServiceTaskImage {
        ServiceTaskImage {
            task_arn: "arn:aws:ecs:us-east-1:111122223333:task/prod/feedface".into(),
            last_status: Some("RUNNING".into()),
            created_at: Some(created),
            container: Some("web".into()),
            image: Some(IMAGE.into()),
            image_digest: Some(digest.into()),
        }
    }

    /// The rows whose evidence is dated relative to now (pushed or run N days ago); the others
    /// are saved-Facts cases (`tests/fixtures/checks/ECR_IMAGE_EXPIRED`).
    #[test]
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    fn lifecycle_table() {
        let keep5 = json!({"rulePriority": 2, "description": "keep 5 releases", "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}});
        let untagged = json!({"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}});
        let any = json!({"rulePriority": 9, "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 90}, "action": {"type": "expire"}});
        let pulled30 = json!({"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 30}, "action": {"type": "expire"}});
        let five = listed(&["v2", "v3", "v4", "v5", "v6"]);
        let moved = || {
            Fact::found(ImageFacts {
                digest: Some(NEW.into()),
                tags: vec!["v1".into()],
                pushed_at: Some(days_ago(20)),
                ..Default::default()
            })
        };
        type Setup = Box<dyn Fn(&mut Facts)>;
        // (name, lifecycle, setup, status, title contains)
        let cases: Vec<(&str, Fact<Value>, Setup, Option<Status>, &str)> = vec![
            ("pinned digest gone, tag moved 20 days ago, untagged rule 14 days", lifecycle(json!([untagged.clone(), keep5.clone()])), Box::new(move |f| { resolved(f, OLD); f.image_by_tag = moved(); }),
                Some(Status::Fail), "The pinned image (now untagged) is gone and lifecycle rule 1 of team/app (expires untagged images pushed more than 14 days ago) removed it: the image was pushed before"),
            ("pinned digest gone, tag moved 2 days ago", lifecycle(json!([untagged.clone()])), Box::new(|f| {
                    resolved(f, OLD);
                    f.image_by_tag = Fact::found(ImageFacts { digest: Some(NEW.into()), tags: vec!["v1".into()], pushed_at: Some(days_ago(2)), ..Default::default() });
                }),
                Some(Status::Warn), "whether it removed the image cannot be shown"),
            ("another task of the service runs the gone digest", lifecycle(json!([keep5.clone()])), { let l = five.clone(); Box::new(move |f| {
                    f.image_by_tag = not_found();
                    f.missing_image.repository_images = l.clone();
                    f.missing_image.service_tasks = Fact::found(vec![sibling(OLD, days_ago(3))]);
                }) },
                Some(Status::Fail), "removed it: 5 current images match"),
            ("another task runs a digest the repository still has", lifecycle(json!([keep5.clone()])), Box::new(|f| {
                    f.image_by_tag = not_found();
                    f.missing_image.repository_images = listed(&["v2", "v3", "v4", "v5", "v6"]);
                    let kept = f.missing_image.repository_images.value().unwrap().images[0].digest.clone().unwrap();
                    f.missing_image.service_tasks = Fact::found(vec![sibling(&kept, days_ago(3))]);
                }),
                Some(Status::Warn), "nothing shows the image ever existed"),
            ("not pulled for 30 days, but a task pulled it 2 days ago", lifecycle(json!([pulled30.clone()])), { let l = five.clone(); Box::new(move |f| {
                    f.image_by_tag = not_found();
                    f.missing_image.repository_images = l.clone();
                    f.missing_image.service_tasks = Fact::found(vec![sibling(OLD, days_ago(2))]);
                }) },
                Some(Status::Pass), "not pulled for more than 30 days) cannot have removed tag v1: a task of the service pulled the image"),
            ("pushed more than 90 days ago: a task ran it 100 days ago", lifecycle(json!([any.clone()])), { let l = five.clone(); Box::new(move |f| {
                    f.image_by_tag = not_found();
                    f.missing_image.repository_images = l.clone();
                    f.missing_image.service_tasks = Fact::found(vec![sibling(OLD, days_ago(100))]);
                }) },
                Some(Status::Fail), "expires all images pushed more than 90 days ago) removed it"),
        ];
        for (name, lc, setup, status, title) in cases {
            let mut f = world();
            f.image_by_tag = not_found();
            f.identity.lifecycle_policy = lc;
            setup(&mut f);
            let got = check_image_expired(&f);
            assert_eq!(got.first().map(|g| g.status), status, "{name}: {got:#?}");
            if let Some(g) = got.first() {
                assert!(g.title.contains(title), "{name}: {}", g.title);
            }
        }
    }
}
