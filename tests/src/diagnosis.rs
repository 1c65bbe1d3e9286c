//! What pulldoctor delivered: the human-readable summary and the `pulldoctor.diagnosis/v1` JSON
//! of an SNS message body.

use serde_json::Value;

use crate::contracts;

/// Splits a pulldoctor SNS message body into its human-readable summary and the diagnosis JSON
/// (from the first line that starts with `{"schema"` to the end). Panics with the body when the
/// body does not follow the contract (summary, blank line, JSON).
pub fn split_sns_body(body: &str) -> (&str, Value) {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if line.starts_with("{\"schema\"") {
            let (summary, json_text) = body.split_at(offset);
            let json: Value = serde_json::from_str(json_text.trim_end()).unwrap_or_else(|e| {
                panic!("diagnosis JSON in the SNS body does not parse ({e}):\n{body}")
            });
            assert!(
                !summary.trim().is_empty(),
                "SNS body has no summary before the JSON:\n{body}"
            );
            assert!(
                summary.ends_with("\n\n") || summary.ends_with("\r\n\r\n"),
                "SNS body: the summary must be followed by a blank line before the JSON:\n{body}"
            );
            return (summary.trim_end(), json);
        }
        offset += line.len();
    }
    panic!("SNS body has no line starting with {{\"schema\":\n{body}");
}

/// The diagnosis JSON of a pulldoctor SNS message body.
pub fn diagnosis_from_sns_body(body: &str) -> Value {
    sns_diagnosis(body).1
}

/// [`split_sns_body`] of a message pulldoctor delivered: its JSON must also follow
/// `docs/schemas/diagnosis.v1.json`.
pub fn sns_diagnosis(body: &str) -> (&str, Value) {
    let (summary, json) = split_sns_body(body);
    contracts::assert_valid(contracts::Contract::Diagnosis, &json);
    (summary, json)
}

/// The finding that decided the root cause: same code, status `fail`.
pub fn deciding_finding(diagnosis: &Value) -> Option<&Value> {
    let code = diagnosis["root_cause"]["code"].as_str()?;
    diagnosis["findings"]
        .as_array()?
        .iter()
        .find(|f| f["code"] == code && f["status"] == "fail")
}
