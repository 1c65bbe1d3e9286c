//! Saved-Facts cases, one folder per root-cause code: `tests/fixtures/checks/<CODE>/<case>.facts.json`
//! is a Facts snapshot written as what is special about the case — `{"$base": …}` plus an RFC 7386
//! merge patch on a shared base (`tests/fixtures/bases/`) or on a sibling case, the classification
//! taken from the message unless the case gives one ([`crate::snapshot`]) — and `<case>.expect.json`
//! what judging it must give for that code. One test judges them all and reports every mismatch at
//! once, so a new code without a failing and a healthy case, or a stray folder, fails here. What an
//! expectation may say is [`Expectation`]; `pulldoctor judge --facts <case>.facts.json` shows a
//! case's whole diagnosis.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::judge::judge;
use crate::model::diagnosis::{Confidence, Diagnosis, Finding, RootCause, Status};
use crate::model::facts::Facts;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/checks");

/// `path` as the repository names it (`tests/fixtures/checks/…`), for messages.
fn shown(path: &Path) -> String {
    let rel = path.strip_prefix(DIR).unwrap_or(path);
    Path::new("tests/fixtures/checks")
        .join(rel)
        .display()
        .to_string()
}

/// The status of a code in a diagnosis: the worst of its findings' (`fail` > `warn` > `unknown` >
/// `pass`), or `absent` when the check does not apply.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expected {
    Fail,
    Warn,
    Unknown,
    Pass,
    Absent,
}

impl std::fmt::Debug for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expected::Fail => "fail",
            Expected::Warn => "warn",
            Expected::Unknown => "unknown",
            Expected::Pass => "pass",
            Expected::Absent => "absent",
        })
    }
}

impl Expected {
    fn of(status: Status) -> Expected {
        match status {
            Status::Fail => Expected::Fail,
            Status::Warn => Expected::Warn,
            Status::Unknown => Expected::Unknown,
            Status::Pass => Expected::Pass,
        }
    }
}

/// One needle or several.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Needles {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Needles {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let list: Vec<&str> = match self {
            Needles::None => vec![],
            Needles::One(n) => vec![n.as_str()],
            Needles::Many(v) => v.iter().map(String::as_str).collect(),
        };
        list.into_iter()
    }
}

/// `<case>.expect.json`. The needles, `evidence` and `resource` are checked on the first finding
/// of the folder's code that has the expected status.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    /// What the case shows, for the reader.
    #[allow(dead_code)]
    why: String,
    status: Expected,
    /// The whole title, when a needle would not do.
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    title_contains: Needles,
    #[serde(default)]
    remediation_contains: Needles,
    /// Needles in the evidence as JSON text.
    #[serde(default)]
    evidence_contains: Needles,
    /// Evidence entries that must be exactly these values.
    #[serde(default)]
    evidence: BTreeMap<String, Value>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    console_url: Option<String>,
    /// How many findings the code has.
    #[serde(default)]
    count: Option<usize>,
    /// The ranked root cause of the whole diagnosis.
    #[serde(default)]
    root_cause: Option<RootCause>,
    #[serde(default)]
    confidence: Option<Confidence>,
    /// The codes listed as also wrong beside the root cause, in order.
    #[serde(default)]
    also_wrong: Option<Vec<RootCause>>,
    /// Other codes' statuses in the same diagnosis.
    #[serde(default)]
    others: BTreeMap<RootCause, Expected>,
    /// A healthy world: no finding of any code fails.
    #[serde(default)]
    no_fail: bool,
}

fn worst(findings: &[&Finding]) -> Expected {
    let rank = |s: Status| match s {
        Status::Fail => 0,
        Status::Warn => 1,
        Status::Unknown => 2,
        Status::Pass => 3,
    };
    findings
        .iter()
        .map(|f| f.status)
        .min_by_key(|s| rank(*s))
        .map_or(Expected::Absent, Expected::of)
}

fn of_code(d: &Diagnosis, code: RootCause) -> Vec<&Finding> {
    d.findings.iter().filter(|f| f.code == code).collect()
}

/// What is wrong with judging `facts` against `expect` for `code`; empty when it holds.
fn mismatches(code: RootCause, facts: &Facts, expect: &Expectation) -> Vec<String> {
    let d = judge(facts);
    let mut out = vec![];
    let findings = of_code(&d, code);
    let got = worst(&findings);
    let listed = || {
        findings
            .iter()
            .map(|f| format!("{} {:?}", f.status.as_str(), f.title))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if got != expect.status {
        out.push(format!(
            "status: expected {:?}, got {got:?} [{}]",
            expect.status,
            listed()
        ));
    } else if let Some(f) = findings
        .iter()
        .find(|f| Expected::of(f.status) == expect.status)
    {
        let remediation = f.remediation.as_deref().unwrap_or_default();
        let evidence = f.evidence.to_string();
        for (place, text, needles) in [
            ("title", f.title.as_str(), &expect.title_contains),
            ("remediation", remediation, &expect.remediation_contains),
            ("evidence", evidence.as_str(), &expect.evidence_contains),
        ] {
            for needle in needles.iter().filter(|n| !text.contains(n)) {
                out.push(format!("{place} lacks {needle:?}: {text:?}"));
            }
        }
        if expect.title.as_ref().is_some_and(|t| *t != f.title) {
            out.push(format!(
                "title: expected {:?}, got {:?}",
                expect.title.as_deref().unwrap_or_default(),
                f.title
            ));
        }
        for (key, want) in &expect.evidence {
            if f.evidence.get(key) != Some(want) {
                out.push(format!(
                    "evidence.{key}: expected {want}, got {}",
                    f.evidence.get(key).unwrap_or(&Value::Null)
                ));
            }
        }
        if expect.resource.is_some() && f.resource != expect.resource {
            out.push(format!(
                "resource: expected {:?}, got {:?}",
                expect.resource, f.resource
            ));
        }
        if expect.console_url.is_some() && f.console_url != expect.console_url {
            out.push(format!(
                "console_url: expected {:?}, got {:?}",
                expect.console_url, f.console_url
            ));
        }
    }
    if let Some(n) = expect.count.filter(|n| *n != findings.len()) {
        out.push(format!(
            "count: expected {n} findings, got {} [{}]",
            findings.len(),
            listed()
        ));
    }
    if let Some(rc) = expect.root_cause.filter(|rc| *rc != d.root_cause.code) {
        out.push(format!(
            "root_cause: expected {rc}, got {} ({})",
            d.root_cause.code, d.root_cause.title
        ));
    }
    if let Some(c) = expect.confidence.filter(|c| *c != d.root_cause.confidence) {
        out.push(format!(
            "confidence: expected {c:?}, got {:?}",
            d.root_cause.confidence
        ));
    }
    if let Some(also) = &expect.also_wrong {
        let listed: Vec<RootCause> = d.root_cause.also_wrong.iter().map(|a| a.code).collect();
        if &listed != also {
            out.push(format!("also_wrong: expected {also:?}, got {listed:?}"));
        }
    }
    for (other, want) in &expect.others {
        let got = worst(&of_code(&d, *other));
        if got != *want {
            out.push(format!("{other}: expected {want:?}, got {got:?}"));
        }
    }
    if expect.no_fail {
        for f in d.findings.iter().filter(|f| f.status == Status::Fail) {
            out.push(format!("no_fail: {} fails: {}", f.code, f.title));
        }
    }
    out
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("not valid: {e}"))
}

/// The Facts of a saved case, e.g. `saved("NET_NACL/world-nacl-deny-90-before-allow-100")`, for a
/// test that asserts more than an expectation file says.
pub(crate) fn saved(case: &str) -> Facts {
    let path = Path::new(DIR).join(format!("{case}.facts.json"));
    read_facts(&path).unwrap_or_else(|e| panic!("{}: {e}", shown(&path)))
}

/// A saved case's whole Facts: its base with its patch (`crate::snapshot`).
pub(crate) fn read_facts(path: &Path) -> Result<Facts, String> {
    let value = crate::snapshot::load_file(path)?;
    serde_json::from_value(value).map_err(|e| format!("not valid Facts: {e}"))
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", shown(dir)))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

/// Every problem in one code folder: stray files, cases missing a half, a missing failing or
/// healthy case, and each case whose judgement differs from its expectation.
fn check_folder(code: RootCause, dir: &Path, cases: &mut usize) -> Vec<String> {
    let mut problems = vec![];
    let mut statuses = vec![];
    let files = sorted_entries(dir);
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    for path in &files {
        let file = name(path);
        if let Some(case) = file.strip_suffix(".expect.json") {
            if !dir.join(format!("{case}.facts.json")).is_file() {
                problems.push(format!("{}: no {case}.facts.json beside it", shown(path)));
            }
        } else if let Some(case) = file.strip_suffix(".facts.json") {
            let expect_path = dir.join(format!("{case}.expect.json"));
            let loaded = read_facts(path).and_then(|f| {
                Ok((
                    f,
                    read::<Expectation>(&expect_path)
                        .map_err(|e| format!("{}: {e}", shown(&expect_path)))?,
                ))
            });
            match loaded {
                Err(e) => problems.push(format!("{}: {e}", shown(path))),
                Ok((facts, expect)) => {
                    *cases += 1;
                    statuses.push(expect.status);
                    let again = serde_json::to_value(&facts)
                        .ok()
                        .and_then(|v| serde_json::from_value::<Facts>(v).ok());
                    if again.as_ref() != Some(&facts) {
                        problems.push(format!(
                            "{}: does not survive a JSON round trip",
                            shown(path)
                        ));
                    }
                    problems.extend(
                        mismatches(code, &facts, &expect)
                            .into_iter()
                            .map(|m| format!("{}: {m}", shown(&expect_path))),
                    );
                }
            }
        } else {
            problems.push(format!(
                "{}: neither <case>.facts.json nor <case>.expect.json",
                shown(path)
            ));
        }
    }
    if statuses.is_empty() {
        problems.push(format!("{}: no cases", shown(dir)));
    }
    // A context check (never the root cause, such as ECS_DEPLOY_CHANGE) warns instead of failing.
    if !statuses
        .iter()
        .any(|s| matches!(s, Expected::Fail | Expected::Warn))
    {
        problems.push(format!("{}: no failing (or warning) case", shown(dir)));
    }
    // Some checks never pass (rate limits, registry auth, disk): not applying is their healthy case.
    if !statuses
        .iter()
        .any(|s| matches!(s, Expected::Pass | Expected::Absent))
    {
        problems.push(format!(
            "{}: no healthy case (pass, or absent where the check never passes)",
            shown(dir)
        ));
    }
    problems
}

#[test]
fn saved_facts_cases_per_code() {
    let root = Path::new(DIR);
    let mut problems = vec![];
    let mut cases = 0;
    let codes: Vec<RootCause> = RootCause::ALL
        .into_iter()
        .filter(|c| *c != RootCause::Unknown)
        .collect();
    for code in &codes {
        if !root.join(code.code()).is_dir() {
            problems.push(format!(
                "{}: no folder for {code}",
                shown(&root.join(code.code()))
            ));
        }
    }
    for path in sorted_entries(root) {
        let folder = path.file_name().unwrap().to_string_lossy().into_owned();
        match codes.iter().find(|c| c.code() == folder) {
            Some(code) if path.is_dir() => problems.extend(check_folder(*code, &path, &mut cases)),
            _ => problems.push(format!(
                "{}: not a folder named after a root-cause code (UNKNOWN has none)",
                shown(&path)
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) in {cases} saved-Facts cases:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
