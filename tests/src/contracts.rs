//! The JSON contracts in `docs/schemas/`, as validators. The harness runs every diagnosis read
//! back from SNS, every audit line and every preflight report through them, so a schema cannot
//! drift from what the code really emits. The unit tests below add what no moto world shows: each
//! code in the schema's list is a real code, the code table in `docs/` is complete, and offline
//! outputs (saved Facts re-judged, audit records of every decision) validate too.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

/// A documented JSON contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    /// `pulldoctor.diagnosis/v1`
    Diagnosis,
    /// `pulldoctor.preflight/v1`
    Preflight,
    /// `pulldoctor.audit/v1`
    Audit,
    /// `classify --format json`
    Classify,
    /// `pulldoctor.checks/v1`: `checks --format json`
    Checks,
    /// `pulldoctor.incident/v1`: SNS messages of resolved incidents and failed deployments
    Incident,
}

impl Contract {
    pub const ALL: [Contract; 6] = [
        Contract::Diagnosis,
        Contract::Preflight,
        Contract::Audit,
        Contract::Classify,
        Contract::Checks,
        Contract::Incident,
    ];

    fn file(self) -> &'static str {
        match self {
            Contract::Diagnosis => "diagnosis.v1.json",
            Contract::Preflight => "preflight.v1.json",
            Contract::Audit => "audit.v1.json",
            Contract::Classify => "classify.v1.json",
            Contract::Checks => "checks.v1.json",
            Contract::Incident => "incident.v1.json",
        }
    }
}

/// `docs/` at the workspace root.
pub fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("docs")
}

/// A schema file of `docs/schemas/`, parsed.
pub fn schema(file: &str) -> Value {
    let path = docs_dir().join("schemas").join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Serves the schemas' `$ref`s from `docs/schemas/` by file name: nothing is fetched (the crate
/// is built without its remote resolvers), and a reference to a file that is not there fails.
struct SchemaFolder;

impl Retrieve for SchemaFolder {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or_default();
        let path = docs_dir().join("schemas").join(name);
        Ok(serde_json::from_str(
            &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        )?)
    }
}

fn validator(contract: Contract) -> &'static Validator {
    static VALIDATORS: OnceLock<Vec<Validator>> = OnceLock::new();
    let all = VALIDATORS.get_or_init(|| {
        Contract::ALL
            .iter()
            .map(|c| {
                jsonschema::options()
                    .with_retriever(SchemaFolder)
                    .build(&schema(c.file()))
                    .unwrap_or_else(|e| panic!("docs/schemas/{} does not compile: {e}", c.file()))
            })
            .collect()
    });
    &all[Contract::ALL
        .iter()
        .position(|c| *c == contract)
        .expect("listed")]
}

/// Panics, naming every violation, unless `value` follows the contract.
pub fn assert_valid(contract: Contract, value: &Value) {
    let errors: Vec<String> = validator(contract)
        .iter_errors(value)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "output does not follow docs/schemas/{}:\n{}\n{}",
        contract.file(),
        errors.join("\n"),
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use pulldoctor::classify::classify;
    use pulldoctor::engine::judge;
    use pulldoctor::model::audit::{AuditRecord, Decision, Delivery};
    use pulldoctor::model::diagnosis::RootCause;
    use pulldoctor::model::facts::Facts;
    use pulldoctor::report::audit::emf;
    use serde_json::json;

    use super::*;

    fn saved_facts() -> Vec<(PathBuf, Facts)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../functions/pulldoctor-core/tests/fixtures/facts");
        let mut out = vec![];
        for entry in std::fs::read_dir(&dir).expect("saved facts folder") {
            let path = entry.unwrap().path();
            let facts: Facts = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path, facts));
        }
        assert!(out.len() >= 5, "the saved Facts fixtures are there");
        out
    }

    #[test]
    fn the_code_list_in_the_schema_is_exactly_the_codes() {
        let listed: BTreeSet<String> = schema("common.defs.json")["$defs"]["root_cause_code"]
            ["enum"]
            .as_array()
            .expect("enum")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let codes: BTreeSet<String> = RootCause::ALL
            .iter()
            .map(|c| c.code().to_string())
            .collect();
        assert_eq!(listed, codes);
    }

    #[test]
    fn the_code_table_in_docs_names_every_code_once() {
        let table = std::fs::read_to_string(docs_dir().join("root-causes.md")).unwrap();
        for code in RootCause::ALL {
            let row = format!("| `{}` |", code.code());
            assert_eq!(
                table.matches(&row).count(),
                1,
                "docs/root-causes.md: one row for {code}"
            );
        }
    }

    #[test]
    fn judged_saved_facts_follow_the_diagnosis_schema() {
        for (path, facts) in saved_facts() {
            let d = serde_json::to_value(judge(&facts)).unwrap();
            assert_valid(Contract::Diagnosis, &d);
            // A schema that accepted anything would pass too: it must reject a renamed code.
            let mut broken = d.clone();
            broken["root_cause"]["code"] = json!("NET_NO_ROUTES");
            assert!(
                validator(Contract::Diagnosis)
                    .iter_errors(&broken)
                    .next()
                    .is_some(),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn classifications_follow_the_classify_schema() {
        for message in [
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/web:v9: not found",
            "CannotPullContainerError: ref pull has been retried 5 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: Get \"https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/x\": dial tcp 52.216.1.1:443: i/o timeout",
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed",
            "something else entirely",
        ] {
            assert_valid(Contract::Classify, &serde_json::to_value(classify(message)).unwrap());
        }
    }

    #[test]
    fn the_check_list_follows_the_checks_schema() {
        let list = pulldoctor::checks::catalog::list_json();
        assert_valid(Contract::Checks, &list);
        let mut broken = list.clone();
        broken["checks"][0]["scope"] = serde_json::json!(["kubernetes"]);
        assert!(validator(Contract::Checks)
            .iter_errors(&broken)
            .next()
            .is_some());
    }

    #[test]
    fn audit_records_of_every_decision_follow_the_audit_schema() {
        let (_, facts) = saved_facts().remove(0);
        let d = judge(&facts);
        let decisions = [
            Decision::Notified,
            Decision::Suppressed,
            Decision::DuplicateEvent,
            Decision::Diagnosed,
            Decision::Ignored,
            Decision::PublishFailed,
        ];
        for decision in decisions {
            let mut record = AuditRecord::new(decision);
            if decision != Decision::Ignored {
                record = record.with_diagnosis(&d);
            }
            record.deliveries.sns = Some(Delivery::Sent { id: "m-1".into() });
            record.deliveries.slack = Some(Delivery::Failed {
                error: "HTTP 500".into(),
            });
            assert_valid(Contract::Audit, &emf(&record, 1_700_000_000_000));
        }
        let mut record = AuditRecord::new(Decision::Ignored);
        record.deliveries.sns = Some(Delivery::Skipped {
            reason: "ignored".into(),
        });
        record.deliveries.slack = Some(Delivery::NotConfigured);
        assert_valid(Contract::Audit, &emf(&record, 0));
    }
}
