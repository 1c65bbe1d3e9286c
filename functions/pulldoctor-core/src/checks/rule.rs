//! A rule is one check and everything said about it, like a lint in clippy or a rule in ruff: its
//! stable code, its name and title, which failure messages and pull steps it can explain, where it
//! runs, the AWS reads its facts come from, its documentation, and the function that judges. Each
//! rule is a constant next to its function; the registry ([`super::RULES`]) lists them all, in the
//! order the pull meets them, which is the order ranking prefers.

use crate::model::audience::Scope;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::Facts;
use crate::model::message::{Category, Phase};

#[derive(Debug)]
pub struct Rule {
    pub code: RootCause,
    /// Short snake_case name, e.g. `ecr_image_exists`.
    pub name: &'static str,
    /// One-line generic title, used when no finding supplies a more specific one.
    pub title: &'static str,
    /// Where on the pull's path the cause blocks. The registry lists the rules stage by stage
    /// (a test keeps it so), and within a stage in the order a pull meets them.
    pub stage: Stage,
    /// The message categories this cause can produce. A failed check whose cause matches the
    /// message's category outranks one that does not; one that matches none is ruled out. Empty
    /// for a context rule (such as the deploy behind a missing image), which never decides.
    pub explains: &'static [Category],
    /// The pull steps this cause can fail: among causes consistent with the category, one that
    /// fits the step the message names wins.
    pub phases: Phases,
    /// Where the rule runs.
    pub scope: &'static [Scope],
    /// The AWS reads (IAM action names) its facts come from, in groups (a shared group such as
    /// [`ROLE_POLICY_READS`] is named once), besides the task and its task
    /// definition. Without them the rule says `unknown` and names the read.
    pub reads: &'static [&'static [&'static str]],
    pub doc: Doc,
    pub run: fn(&Facts) -> Vec<Finding>,
}

/// Where on the pull's path a cause blocks, first to last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Name resolution and routing: whether any packet leaves.
    Reach,
    /// Filters along the path, in the order a packet meets them.
    Filter,
    /// Who pulls (roles, credentials, the task's secrets) and whether they may.
    Identity,
    /// The repository: does it exist, does its policy (or its cache rule) let the pull through.
    Repository,
    /// What is pulled: the image, its platform, room for it, the registry's answer.
    Image,
}

/// The pull steps a cause can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phases {
    Any,
    Only(&'static [Phase]),
}

impl Phases {
    /// Whether a failure in `phase` fits; a message that names no step fits every cause.
    pub fn fits(self, phase: Option<Phase>) -> bool {
        match (self, phase) {
            (_, None) | (Phases::Any, _) => true,
            (Phases::Only(list), Some(p)) => list.contains(&p),
        }
    }
}

/// What `pulldoctor explain CODE` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doc {
    /// What is wrong, in one line (the meaning column of docs/root-causes.md).
    pub what: &'static str,
    /// Why that breaks the pull, and how it shows.
    pub why: &'static str,
    /// How to fix it.
    pub fix: &'static str,
    /// The AWS documentation page that explains the setting.
    pub reference: &'static str,
}

/// Every scope.
/// What judging a role's permissions reads: the role, the IAM simulator, and (where the simulator
/// is not allowed or not available) the role's policy documents.
pub const ROLE_POLICY_READS: &[&str] = &[
    "iam:GetRole",
    "iam:SimulatePrincipalPolicy",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
];

impl Rule {
    /// Every read, in order, each once.
    pub fn all_reads(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = vec![];
        for action in self.reads.iter().flat_map(|g| g.iter().copied()) {
            if !out.contains(&action) {
                out.push(action);
            }
        }
        out
    }
}

pub const EVERYWHERE: &[Scope] = &Scope::ALL;
/// ECS tasks only (task definition settings EKS has no counterpart for).
pub const ECS_ONLY: &[Scope] = &[Scope::Ecs];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::{rule, RULES, UNKNOWN_DOC};
    use super::*;

    #[test]
    fn every_code_but_unknown_has_exactly_one_rule() {
        for code in RootCause::ALL {
            let n = RULES.iter().filter(|r| r.code == code).count();
            assert_eq!(
                n,
                usize::from(code != RootCause::Unknown),
                "{code}: {n} rules"
            );
        }
        assert!(rule(RootCause::Unknown).is_none());
    }

    #[test]
    fn every_rule_is_documented_and_named_once() {
        let mut names = BTreeSet::new();
        for r in RULES {
            assert!(names.insert(r.name), "{}: name used twice", r.name);
            assert!(
                r.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}: not snake_case",
                r.name
            );
            assert!(!r.title.is_empty() && !r.scope.is_empty(), "{}", r.name);
            // A rule that explains no message is context beside the root cause: it says so.
            assert!(
                !r.explains.is_empty() || r.doc.what.starts_with("context, never the root cause"),
                "{}: explains nothing",
                r.name
            );
            if let Phases::Only(list) = r.phases {
                assert!(!list.is_empty(), "{}: Phases::Only needs a phase", r.name);
            }
        }
        for (what, doc) in RULES
            .iter()
            .map(|r| (r.code.code(), &r.doc))
            .chain([("UNKNOWN", &UNKNOWN_DOC)])
        {
            for (field, text) in [("what", doc.what), ("why", doc.why), ("fix", doc.fix)] {
                assert!(text.trim().len() > 20, "{what}: doc.{field} is empty");
                assert!(
                    !text.contains("  "),
                    "{what}: doc.{field} has a double space (a broken line continuation?)"
                );
            }
            assert!(
                doc.reference.starts_with("https://docs.aws.amazon.com/"),
                "{what}: {}",
                doc.reference
            );
        }
    }

    #[test]
    fn the_registry_lists_the_rules_stage_by_stage() {
        for pair in RULES.windows(2) {
            assert!(
                pair[0].stage <= pair[1].stage,
                "{} ({:?}) is listed before {} ({:?}): move it to its stage's section",
                pair[1].name,
                pair[1].stage,
                pair[0].name,
                pair[0].stage
            );
        }
        // Network before identity before the repository before the image, each stage present.
        let stages: Vec<Stage> = RULES
            .iter()
            .map(|r| r.stage)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            stages,
            vec![
                Stage::Reach,
                Stage::Filter,
                Stage::Identity,
                Stage::Repository,
                Stage::Image
            ]
        );
        assert!(
            RULES
                .iter()
                .all(|r| r.code.code().starts_with("NET_") == (r.stage <= Stage::Filter)),
            "network codes are the first two stages"
        );
    }
}
