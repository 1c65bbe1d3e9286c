//! What on-call reads, compared as snapshots: three saved cases (a network cause, a permission
//! cause with the daemon's ambiguous refusal, a missing tag) rendered as text, markdown and the
//! Slack payload. A change to any rendering shows here as a diff to review
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test -p pulldoctor-core` to accept it).

use crate::checks::fixture_tests::saved;
use crate::classify::classify;
use crate::judge::judge;
use crate::message_matrix::DAEMON_REFUSAL;
use crate::report::{render, Format};

fn diagnosis(case: &str, message: Option<&str>) -> crate::model::diagnosis::Diagnosis {
    let mut facts = saved(case);
    if let Some(m) = message {
        facts.failure.message = m.into();
        facts.failure.classification = classify(m);
    }
    judge(&facts)
}

#[test]
fn reports_of_three_causes() {
    let cases = [
        (
            "nat_gateway_deleted",
            "NET_NO_ROUTE/world-nat-gateway-deleted",
            None,
        ),
        (
            "explicit_deny_with_the_daemon_refusal",
            "IAM_EXECUTION_ROLE_PERMISSIONS/world-role-with-explicit-deny",
            Some(DAEMON_REFUSAL),
        ),
        (
            "tag_and_digest_missing",
            "ECR_IMAGE_NOT_FOUND/both-missing",
            None,
        ),
    ];
    for (name, case, message) in cases {
        let d = diagnosis(case, message);
        insta::assert_snapshot!(format!("{name}_text"), render(&d, Format::Text));
        insta::assert_snapshot!(format!("{name}_markdown"), render(&d, Format::Markdown));
        insta::assert_snapshot!(format!("{name}_slack"), render(&d, Format::Slack));
    }
}
