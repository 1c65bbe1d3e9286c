//! The deploy behind the failure: the failing revision against the one the service ran before.
//! [`differences`] is shared with preflight (the running revision against the one about to be
//! deployed).

use crate::model::arn::last_name;
use crate::model::diagnosis::{Diagnosis, RootCause};
use crate::model::facts::{
    Fact, Facts, ImageChangeFacts, ImageFacts, LaunchFacts, RevisionFacts, TaskDefinitionFacts,
};
use crate::model::history::{DeployDiff, Difference, HistoryStatus, Revision};

/// `None` for a standalone task or with history off.
pub fn diff(facts: &Facts, diagnosis: &Diagnosis) -> Option<DeployDiff> {
    let service = crate::model::facts::service_name(&facts.task).map(str::to_string);
    let history = match &facts.deploy.history {
        Fact::NotCollected { .. } => return None,
        Fact::Found { value } => value,
        gap => {
            let failing = Revision {
                task_definition: facts.task.task_definition_arn.as_deref().map(revision_name),
                ..Default::default()
            };
            return Some(unknown(
                service,
                failing,
                None,
                gap.gap().unwrap_or("not read"),
            ));
        }
    };
    let failing = revision(&history.failing);
    let Some(previous) = &history.previous else {
        return Some(DeployDiff {
            status: HistoryStatus::Found,
            reason: unread(&history.unread),
            source: None,
            service: Some(history.service.clone()),
            failing,
            previous: None,
            rolled_back: history.rolled_back,
            rollout_reason: history.rollout_reason.clone(),
            differences: vec![],
            explains_failure: false,
        });
    };
    let before = revision(previous);
    if let Some(gap) = previous
        .task_definition
        .gap()
        .or(history.failing.task_definition.gap())
    {
        let which = if previous.task_definition.value().is_none() {
            &before
        } else {
            &failing
        };
        let reason = format!(
            "could not read {}: {gap}",
            which.task_definition.as_deref().unwrap_or("the revision")
        );
        let mut d = unknown(
            Some(history.service.clone()),
            failing,
            Some(before),
            &reason,
        );
        d.source = history.source.clone();
        d.rolled_back = history.rolled_back;
        d.rollout_reason = history.rollout_reason.clone();
        return Some(d);
    }
    let mut differences = differences(previous, &history.failing, &history.images);
    let root = diagnosis.root_cause.code;
    differences.sort_by_key(|d| !explains(root, d));
    let explains_failure = differences.iter().any(|d| explains(root, d));
    Some(DeployDiff {
        status: HistoryStatus::Found,
        reason: unread(&history.unread),
        source: history.source.clone(),
        service: Some(history.service.clone()),
        failing,
        previous: Some(before),
        rolled_back: history.rolled_back,
        rollout_reason: history.rollout_reason.clone(),
        differences,
        explains_failure,
    })
}

fn unknown(
    service: Option<String>,
    failing: Revision,
    previous: Option<Revision>,
    reason: &str,
) -> DeployDiff {
    DeployDiff {
        status: HistoryStatus::Unknown,
        reason: Some(reason.to_string()),
        source: None,
        service,
        failing,
        previous,
        rolled_back: false,
        rollout_reason: None,
        differences: vec![],
        explains_failure: false,
    }
}

/// Sources that could not be read, when another answered: said, never silent.
fn unread(unread: &[String]) -> Option<String> {
    (!unread.is_empty()).then(|| format!("not every source was readable: {}", unread.join("; ")))
}

/// `family:revision` of a task definition ARN (or the name as given).
pub fn revision_name(arn: &str) -> String {
    last_name(arn).to_string()
}

fn revision(r: &RevisionFacts) -> Revision {
    Revision {
        task_definition: r.task_definition_arn.as_deref().map(revision_name),
        deployment_id: r.deployment_id.clone(),
        service_revision: r.service_revision.clone(),
        status: r.status.clone(),
        created_at: r.created_at.clone(),
    }
}

/// Whether `d` can explain a failure whose root cause is `root`.
pub fn explains(root: RootCause, d: &Difference) -> bool {
    use RootCause::*;
    let setting = d.setting.as_str();
    match root {
        EcrImageNotFound | EcrRepositoryNotFound | EcrImageExpired | EcrImageArchived => {
            setting == "image" && d.after_state.as_deref() == Some("not_found")
        }
        IamRegistrySecret | RegistryAuth => {
            matches!(setting, "execution_role" | "repository_credentials")
        }
        IamExecutionRoleMissing | IamExecutionRoleTrust | IamExecutionRolePermissions => {
            setting == "execution_role"
        }
        SecretNotFound | SecretAccessDenied => {
            matches!(setting, "secrets" | "repository_credentials")
        }
        ImagePlatformMismatch => matches!(
            setting,
            "runtime_platform" | "image" | "launch_type" | "capacity_provider"
        ),
        r if r.code().starts_with("NET_") => {
            matches!(setting, "subnets" | "security_groups" | "assign_public_ip")
        }
        _ => false,
    }
}

/// A container image as compared: with the digest ECS resolved, when the source gave it.
fn state(image: &Fact<ImageFacts>) -> Option<String> {
    match image {
        Fact::Found { .. } => Some("present".into()),
        Fact::NotFound { .. } => Some("not_found".into()),
        Fact::Unreadable { .. } => Some("unknown".into()),
        Fact::NotCollected { .. } => None,
    }
}

/// What changed from `before` to `after` that matters for a pull, in a fixed order (image first).
/// `images` gives whether each changed image exists (by container); without it the states are absent.
pub fn differences(
    before: &RevisionFacts,
    after: &RevisionFacts,
    images: &[ImageChangeFacts],
) -> Vec<Difference> {
    let mut out = vec![];
    let tds = (
        before.task_definition.value(),
        after.task_definition.value(),
    );
    let mut push =
        |setting: &str, container: Option<&str>, b: Option<String>, a: Option<String>| {
            if b != a {
                out.push(Difference {
                    setting: setting.into(),
                    container: container.map(str::to_string),
                    before: b,
                    after: a,
                    before_state: None,
                    after_state: None,
                });
            }
        };
    for (container, b, a) in before.image_changes_to(after) {
        push("image", Some(&container), b, a);
    }
    if let (Some(btd), Some(atd)) = tds {
        push(
            "execution_role",
            None,
            btd.execution_role_arn.clone(),
            atd.execution_role_arn.clone(),
        );
        push(
            "runtime_platform",
            None,
            Some(platform(btd)),
            Some(platform(atd)),
        );
    }
    let (bl, al) = (&before.launch, &after.launch);
    // A side launched by a capacity provider strategy has no launch type: compare both only
    // when each side says how it launched.
    let known = |l: &LaunchFacts| l.launch_type.is_some() || !l.capacity_providers.is_empty();
    let providers = |l: &LaunchFacts| {
        (!l.capacity_providers.is_empty()).then(|| l.capacity_providers.join(", "))
    };
    if known(bl) && known(al) {
        push(
            "launch_type",
            None,
            bl.launch_type.clone(),
            al.launch_type.clone(),
        );
        push("capacity_provider", None, providers(bl), providers(al));
    }
    if bl.platform_version.is_some() && al.platform_version.is_some() {
        push(
            "platform_version",
            None,
            bl.platform_version.clone(),
            al.platform_version.clone(),
        );
    }
    let list = |l: &Option<Vec<String>>| {
        l.as_ref().map(|v| {
            let mut v = v.clone();
            v.sort();
            v.join(", ")
        })
    };
    if bl.subnets.is_some() && al.subnets.is_some() {
        push("subnets", None, list(&bl.subnets), list(&al.subnets));
        push(
            "security_groups",
            None,
            list(&bl.security_groups),
            list(&al.security_groups),
        );
    }
    if bl.assign_public_ip.is_some() && al.assign_public_ip.is_some() {
        let word = |b: Option<bool>| b.map(|b| if b { "ENABLED" } else { "DISABLED" }.to_string());
        push(
            "assign_public_ip",
            None,
            word(bl.assign_public_ip),
            word(al.assign_public_ip),
        );
    }
    let containers: Vec<(_, _)> = match tds {
        (Some(btd), Some(atd)) => atd
            .containers
            .iter()
            .filter_map(|c| Some((c, btd.container(c.name.as_deref())?)))
            .collect(),
        _ => vec![],
    };
    for (c, old) in containers {
        let name = c.name.as_deref();
        push(
            "repository_credentials",
            name,
            old.registry_credentials_secret.clone(),
            c.registry_credentials_secret.clone(),
        );
        let secrets = |s: &[String]| {
            let mut s = s.to_vec();
            s.sort();
            (!s.is_empty()).then(|| s.join(", "))
        };
        push("secrets", name, secrets(&old.secrets), secrets(&c.secrets));
    }
    for d in out.iter_mut().filter(|d| d.setting == "image") {
        if let Some(i) = images
            .iter()
            .find(|i| Some(&i.container) == d.container.as_ref())
        {
            d.before_state = state(&i.before_image);
            d.after_state = state(&i.after_image);
        }
    }
    out
}

/// `ARM64 / LINUX`; ECS's defaults (X86_64, LINUX) when the task definition names none.
fn platform(td: &TaskDefinitionFacts) -> String {
    format!(
        "{} / {}",
        td.cpu_architecture.as_deref().unwrap_or("X86_64"),
        td.operating_system_family.as_deref().unwrap_or("LINUX")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::facts::{ContainerDefinitionFacts, DeployHistoryFacts};

    fn td(
        role: &str,
        image: &str,
        secrets: &[&str],
        arch: Option<&str>,
    ) -> Fact<TaskDefinitionFacts> {
        Fact::found(TaskDefinitionFacts {
            execution_role_arn: Some(role.into()),
            cpu_architecture: arch.map(str::to_string),
            containers: vec![ContainerDefinitionFacts {
                name: Some("web".into()),
                image: Some(image.into()),
                secrets: secrets.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn side(
        arn: &str,
        td: Fact<TaskDefinitionFacts>,
        subnets: &[&str],
        public: bool,
    ) -> RevisionFacts {
        RevisionFacts {
            task_definition_arn: Some(arn.into()),
            launch: LaunchFacts {
                launch_type: Some("FARGATE".into()),
                subnets: Some(subnets.iter().map(|s| s.to_string()).collect()),
                security_groups: Some(vec!["sg-1".into()]),
                assign_public_ip: Some(public),
                ..Default::default()
            },
            task_definition: td,
            ..Default::default()
        }
    }

    const OLD: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:41";
    const NEW: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:42";

    fn facts(before: RevisionFacts, after: RevisionFacts, images: Vec<ImageChangeFacts>) -> Facts {
        let mut f = Facts::default();
        f.task.group = Some("service:web".into());
        f.task.task_definition_arn = after.task_definition_arn.clone();
        f.deploy.history = Fact::found(DeployHistoryFacts {
            service: "web".into(),
            source: Some("service_deployments".into()),
            failing: after,
            previous: Some(before),
            images,
            ..Default::default()
        });
        f
    }

    fn judged(root: RootCause) -> Diagnosis {
        let mut d = crate::judge::judge(&Facts::default());
        d.root_cause.code = root;
        d
    }

    /// Which differences each deploy shows, and whether they explain each root cause.
    #[test]
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    fn differences_and_what_they_explain() {
        use RootCause::*;
        let base = || td("role/a", "r/app:1", &["arn:secret:db"], None);
        let missing = vec![ImageChangeFacts {
            container: "web".into(),
            before: Some("r/app:1".into()),
            after: Some("r/app:2".into()),
            before_image: Fact::found(ImageFacts::default()),
            after_image: Fact::NotFound {
                detail: "ImageNotFoundException".into(),
            },
        }];
        // (case, before, after, images, root cause, settings, explains)
        let cases: Vec<(
            &str,
            RevisionFacts,
            RevisionFacts,
            Vec<ImageChangeFacts>,
            RootCause,
            Vec<&str>,
            bool,
        )> = vec![
            (
                "nothing that matters",
                side(OLD, base(), &["s-a"], false),
                side(NEW, base(), &["s-a"], false),
                vec![],
                EcrImageNotFound,
                vec![],
                false,
            ),
            (
                "image to a missing tag",
                side(OLD, base(), &["s-a"], false),
                side(
                    NEW,
                    td("role/a", "r/app:2", &["arn:secret:db"], None),
                    &["s-a"],
                    false,
                ),
                missing.clone(),
                EcrImageNotFound,
                vec!["image"],
                true,
            ),
            (
                "image changed, but it exists",
                side(OLD, base(), &["s-a"], false),
                side(
                    NEW,
                    td("role/a", "r/app:2", &["arn:secret:db"], None),
                    &["s-a"],
                    false,
                ),
                vec![],
                EcrImageNotFound,
                vec!["image"],
                false,
            ),
            (
                "role changed, IAM root cause",
                side(OLD, base(), &["s-a"], false),
                side(
                    NEW,
                    td("role/b", "r/app:1", &["arn:secret:db"], None),
                    &["s-a"],
                    false,
                ),
                vec![],
                IamExecutionRolePermissions,
                vec!["execution_role"],
                true,
            ),
            (
                "role changed, network root cause",
                side(OLD, base(), &["s-a"], false),
                side(
                    NEW,
                    td("role/b", "r/app:1", &["arn:secret:db"], None),
                    &["s-a"],
                    false,
                ),
                vec![],
                NetNoRoute,
                vec!["execution_role"],
                false,
            ),
            (
                "subnets and public IP, network root cause",
                side(OLD, base(), &["s-b", "s-a"], true),
                side(NEW, base(), &["s-c"], false),
                vec![],
                NetNoPublicIp,
                vec!["subnets", "assign_public_ip"],
                true,
            ),
            (
                "secrets, secret root cause",
                side(OLD, base(), &["s-a"], false),
                side(
                    NEW,
                    td("role/a", "r/app:1", &["arn:secret:db2"], None),
                    &["s-a"],
                    false,
                ),
                vec![],
                SecretNotFound,
                vec!["secrets"],
                true,
            ),
            (
                "platform, mismatch",
                side(OLD, base(), &["s-a"], false),
                side(
                    NEW,
                    td("role/a", "r/app:1", &["arn:secret:db"], Some("ARM64")),
                    &["s-a"],
                    false,
                ),
                vec![],
                ImagePlatformMismatch,
                vec!["runtime_platform"],
                true,
            ),
            (
                "X86_64 named is the default",
                side(OLD, base(), &["s-a"], false),
                side(
                    NEW,
                    td("role/a", "r/app:1", &["arn:secret:db"], Some("X86_64")),
                    &["s-a"],
                    false,
                ),
                vec![],
                ImagePlatformMismatch,
                vec![],
                false,
            ),
        ];
        for (case, before, after, images, root, settings, explains) in cases {
            let d = diff(&facts(before, after, images), &judged(root)).expect(case);
            let got: Vec<_> = d.differences.iter().map(|x| x.setting.as_str()).collect();
            assert_eq!(got, settings, "{case}: {d:#?}");
            assert_eq!(d.explains_failure, explains, "{case}");
            assert_eq!(d.status, HistoryStatus::Found, "{case}");
        }
    }

    #[test]
    fn lists_are_sorted_and_image_states_named() {
        let missing = vec![ImageChangeFacts {
            container: "web".into(),
            before_image: Fact::found(ImageFacts::default()),
            after_image: Fact::Unreadable {
                reason: "AccessDenied: ecr:DescribeImages".into(),
                kind: Default::default(),
            },
            ..Default::default()
        }];
        let before = side(OLD, td("r", "r/app:1", &[], None), &["s-b", "s-a"], false);
        let after = side(NEW, td("r", "r/app:2", &[], None), &["s-c"], false);
        let d = diff(
            &facts(before, after, missing),
            &judged(RootCause::EcrImageNotFound),
        )
        .unwrap();
        assert_eq!(d.differences[0].before_state.as_deref(), Some("present"));
        assert_eq!(d.differences[0].after_state.as_deref(), Some("unknown"));
        assert_eq!(d.differences[1].before.as_deref(), Some("s-a, s-b"));
        assert_eq!(
            (
                d.failing.task_definition.as_deref(),
                d.previous.unwrap().task_definition.as_deref()
            ),
            (Some("web:42"), Some("web:41"))
        );
    }

    #[test]
    fn unknown_sources_say_why() {
        let mut f = Facts::default();
        f.task.group = Some("service:web".into());
        f.task.task_definition_arn = Some(NEW.into());
        assert_eq!(
            diff(&f, &judged(RootCause::Unknown)),
            None,
            "history off: no section"
        );
        f.deploy.history = Fact::Unreadable { reason: "AccessDenied: ecs:DescribeServices (grant ecs:DescribeServices to pulldoctor's role)".into(), kind: Default::default() };
        let d = diff(&f, &judged(RootCause::Unknown)).unwrap();
        assert_eq!(d.status, HistoryStatus::Unknown);
        assert!(d.reason.unwrap().contains("grant ecs:DescribeServices"));
        // The previous revision could not be read: unknown, naming it.
        let before = side(
            OLD,
            Fact::Unreadable {
                reason: "AccessDenied: ecs:DescribeTaskDefinition".into(),
                kind: Default::default(),
            },
            &[],
            false,
        );
        let after = side(NEW, td("r", "i:1", &[], None), &[], false);
        let d = diff(&facts(before, after, vec![]), &judged(RootCause::Unknown)).unwrap();
        assert_eq!(d.status, HistoryStatus::Unknown);
        assert_eq!(
            d.reason.as_deref(),
            Some("could not read web:41: AccessDenied: ecs:DescribeTaskDefinition")
        );
    }
}
