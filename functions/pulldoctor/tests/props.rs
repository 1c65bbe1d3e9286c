//! Property tests: what reaches pulldoctor from outside (events, image references, error
//! messages, policy documents) is untrusted. For arbitrary input and for structured mutations
//! of real events — missing fields, wrong types, huge strings, unicode, 10,000 containers —
//! the parsers, the classifier, the policy evaluator and the judge must not panic, must give a
//! clear answer (a failure to diagnose or an "ignored" with a reason), and must finish (inputs
//! are sized so that a super-linear algorithm would show as a hung test; nothing is timed).
//!
//! `PROPTEST_CASES` raises the number of cases (CI runs the default, 256 per property).

use proptest::prelude::*;
use pulldoctor::classify::classify;
use pulldoctor::engine::judge;
use pulldoctor::intake::{intake, IgnoreKind, Intake, PullFailure};
use pulldoctor::model::facts::{Facts, FailureFacts};
use pulldoctor::model::image_ref::ImageRef;
use pulldoctor::model::message::Category;
use pulldoctor::policy::{evaluate_identity, glob, Context, Decision, Labeled, Request};
use pulldoctor::report::{render, Format};
use serde_json::{json, Value};

const FIXTURES: [&str; 3] = [
    include_str!("../../../tests/fixtures/events/cannot-pull-image-tag-not-found.json"),
    include_str!("../../../tests/fixtures/events/cannot-pull-network-timeout.json"),
    include_str!("../../../tests/fixtures/events/registry-auth-resource-initialization.json"),
];

fn fixture(i: usize) -> Value {
    serde_json::from_str(FIXTURES[i % FIXTURES.len()]).expect("fixture JSON")
}

/// Any JSON value, a few levels deep, with unicode strings.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer of `v` (objects and arrays), for picking a field to mutate.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
    Huge(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Remove),
        any_json().prop_map(Mutation::Replace),
        (1usize..200_000).prop_map(Mutation::Huge),
    ]
}

fn mutate(event: &mut Value, pick: usize, m: &Mutation) {
    let mut all = vec![];
    pointers(event, String::new(), &mut all);
    let Some(p) = all.get(pick % all.len().max(1)).cloned() else {
        return;
    };
    let (parent, key) = p.rsplit_once('/').unwrap();
    let Some(parent) = event.pointer_mut(parent) else {
        return;
    };
    let key = key.replace("~1", "/").replace("~0", "~");
    let new = match m {
        Mutation::Remove => None,
        Mutation::Replace(v) => Some(v.clone()),
        Mutation::Huge(n) => Some(Value::String("é∂ 😀 <b>*_`".repeat(*n / 10 + 1))),
    };
    match (parent, new) {
        (Value::Object(o), None) => {
            o.remove(&key);
        }
        (Value::Object(o), Some(v)) => {
            o.insert(key, v);
        }
        (Value::Array(a), None) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        (Value::Array(a), Some(v)) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < a.len() {
                    a[i] = v;
                }
            }
        }
        _ => {}
    }
}

/// The snapshot of a failure with nothing read from AWS.
fn offline_facts(failure: &PullFailure) -> Facts {
    Facts {
        event_id: failure.event_id.clone(),
        account: failure.account.clone(),
        region: failure.region.clone(),
        task: failure.task.clone(),
        failure: FailureFacts {
            container: failure.container.clone(),
            image: failure.image.clone(),
            image_ref: failure
                .image
                .as_deref()
                .and_then(|i| ImageRef::parse(i).ok()),
            classification: classify(&failure.message),
            message: failure.message.clone(),
            time: failure.time,
        },
        ..Default::default()
    }
}

/// The whole pure pipeline on what intake produced: judge a snapshot with nothing read from
/// AWS, render every format. Returns the JSON report.
fn judge_offline(failure: &PullFailure) -> String {
    let d = judge(&offline_facts(failure));
    for format in [Format::Text, Format::Markdown] {
        let _ = render(&d, format);
    }
    render(&d, Format::Json)
}

fn check_intake(event: &Value) {
    match intake(event) {
        Intake::PullFailure(f) => {
            assert!(!f.message.is_empty(), "a pull failure has its message");
            let report = judge_offline(&f);
            assert!(report.contains("pulldoctor.diagnosis/v1"));
        }
        Intake::Ignored { kind, reason } => {
            assert!(!reason.is_empty(), "an ignored event says why ({kind:?})");
        }
        Intake::Service(e) => {
            assert!(
                !e.service.is_empty() && !e.cluster.is_empty(),
                "a service event names its service: {e:?}"
            );
        }
    }
}

proptest! {
    #[test]
    fn intake_any_json(v in any_json()) {
        check_intake(&v);
    }

    #[test]
    fn intake_mutated_real_events(which in 0usize..3, edits in prop::collection::vec((any::<usize>(), mutation()), 1..4)) {
        let mut event = fixture(which);
        for (pick, m) in &edits {
            mutate(&mut event, *pick, m);
        }
        check_intake(&event);
    }

    #[test]
    fn image_ref_any_string(s in ".{0,300}") {
        if let Ok(r) = ImageRef::parse(&s) {
            prop_assert!(!r.repository.is_empty());
            let _ = (r.reference(), r.effective_tag(), r.ecr(), r.name(), r.pull_through_upstream());
        }
    }

    #[test]
    fn image_ref_well_formed(
        account in "[0-9]{12}",
        region in "(us|eu|ap)-(east|west|south)-[1-3]",
        repo in "[a-z][a-z0-9]{0,10}(/[a-z][a-z0-9]{0,4}([._-][a-z0-9]{1,4}){0,2}){0,2}",
        tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
        digest in proptest::option::of("[0-9a-f]{64}"),
    ) {
        let mut s = format!("{account}.dkr.ecr.{region}.amazonaws.com/{repo}:{tag}");
        if let Some(d) = &digest {
            s.push_str(&format!("@sha256:{d}"));
        }
        let r = ImageRef::parse(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e:?}")))?;
        prop_assert_eq!(&r.repository, &repo);
        prop_assert_eq!(r.ecr(), Some((account.as_str(), region.as_str())));
        prop_assert_eq!(r.effective_tag(), Some(tag.as_str()));
        prop_assert_eq!(r.digest.clone(), digest.map(|d| format!("sha256:{d}")));
    }

    #[test]
    fn classify_any_string(s in ".{0,400}") {
        let c = classify(&s);
        prop_assert!(!c.category.as_str().is_empty());
    }

    /// Noise around a real message does not hide a network failure.
    #[test]
    fn classify_network_message_with_noise(pre in "[ -~]{0,200}", post in "[ -~]{0,200}") {
        let message = format!("{pre} CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 1.dkr.ecr.us-east-1.amazonaws.com/a:b: failed to do request: Head \"https://1.dkr.ecr.us-east-1.amazonaws.com/v2/a/manifests/b\": dial tcp 52.46.134.71:443: i/o timeout {post}");
        let c = classify(&message);
        prop_assert!(matches!(c.category, Category::Network | Category::Unknown), "{:?}", c.category);
    }

    /// Arbitrary documents never panic the evaluator; a matching explicit Deny always wins.
    #[test]
    fn policy_any_document(doc in any_json(), action in "[a-z]{1,8}:[A-Za-z*?]{1,12}", resource in "(\\*|arn:aws:ecr:us-east-1:1:repository/[a-z*?]{1,10})") {
        let ctx = Context::new();
        let req = Request { action: &action, resource: &resource, principal: None, context: &ctx };
        let _ = evaluate_identity(&[Labeled { label: "fuzz", document: &doc }], None, &req);
        let deny = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]});
        let both = [Labeled { label: "fuzz", document: &doc }, Labeled { label: "deny", document: &deny }];
        let e = evaluate_identity(&both, None, &req);
        prop_assert_eq!(e.decision, Decision::ExplicitDeny);
    }

    /// Policy-shaped documents with random elements of the wrong type.
    #[test]
    fn policy_shaped_documents(
        effect in prop_oneof![Just(json!("Allow")), Just(json!("Deny")), any_json()],
        action in prop_oneof![Just(json!("ecr:*")), Just(json!(["ecr:BatchGetImage", "s3:*"])), any_json()],
        resource in prop_oneof![Just(json!("*")), Just(json!(["arn:aws:ecr:*:*:repository/*"])), any_json()],
        condition in proptest::option::of(any_json()),
        not in any::<bool>(),
    ) {
        let mut st = json!({"Effect": effect, "Resource": resource});
        st[if not { "NotAction" } else { "Action" }] = action;
        if let Some(c) = condition {
            st["Condition"] = c;
        }
        let doc = json!({"Version": "2012-10-17", "Statement": [st]});
        let ctx = Context::new().set("aws:SourceVpc", "vpc-1");
        let req = Request { action: "ecr:BatchGetImage", resource: "arn:aws:ecr:us-east-1:1:repository/a", principal: None, context: &ctx };
        let _ = evaluate_identity(&[Labeled { label: "p", document: &doc }], Some(&Labeled { label: "b", document: &doc }), &req);
    }

    #[test]
    fn glob_literal_and_star(s in "[^*?]{0,60}") {
        prop_assert!(glob(&s, &s, false));
        prop_assert!(glob("*", &s, false));
        let prefixed = format!("{}*", s);
        let text = format!("{}tail", s);
        prop_assert!(glob(&prefixed, &text, false));
    }
}

/// 10,000 containers in one event: intake picks the failing one and the pipeline finishes.
#[test]
fn ten_thousand_containers() {
    let mut event = fixture(1);
    let template = event["detail"]["containers"][0].clone();
    let mut containers = vec![];
    for i in 0..10_000 {
        let mut c = template.clone();
        c["name"] = json!(format!("sidecar-{i}"));
        if i != 9_999 {
            c.as_object_mut().unwrap().remove("reason");
        }
        containers.push(c);
    }
    event["detail"]["containers"] = Value::Array(containers);
    match intake(&event) {
        Intake::PullFailure(f) => {
            assert_eq!(f.container.as_deref(), Some("sidecar-9999"));
            judge_offline(&f);
        }
        other => panic!("{other:?}"),
    }
}

/// A 4 MB stopped reason and a 2 MB image name: classified (from its head and tail), parsed,
/// rendered.
#[test]
fn huge_strings() {
    let mut event = fixture(1);
    let huge = format!(
        "CannotPullContainerError: {} dial tcp 1.2.3.4:443: i/o timeout",
        "ø".repeat(2_000_000)
    );
    event["detail"]["stoppedReason"] = json!(huge);
    event["detail"]["containers"][0]["reason"] = json!(huge);
    event["detail"]["containers"][0]["image"] = json!(format!(
        "{}:{}",
        "a".repeat(1_000_000),
        "b".repeat(1_000_000)
    ));
    // Before classify bounded its input, this took minutes in a debug build.
    let c = classify(&huge);
    check_intake(&event);
    assert_eq!(c.category, Category::Network);
}

/// Not an object, empty object, wrong detail type: ignored as malformed or unrelated, with why.
#[test]
fn malformed_events_are_ignored_with_a_reason() {
    for (event, kind) in [
        (json!([]), IgnoreKind::Malformed),
        (json!("x"), IgnoreKind::Malformed),
        (
            json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": 7}),
            IgnoreKind::Malformed,
        ),
        (
            json!({"source": "aws.ec2", "detail-type": "x", "detail": {}}),
            IgnoreKind::Unrelated,
        ),
    ] {
        match intake(&event) {
            Intake::Ignored { kind: got, reason } => {
                assert_eq!(got, kind, "{event}: {reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{event}: {other:?}"),
        }
    }
}

/// Every string value in a rendered Slack message whose key is `text` (what Slack parses).
fn slack_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("text", Value::String(s)) => out.push(s.clone()),
                    _ => slack_texts(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| slack_texts(v, out)),
        _ => {}
    }
}

/// Hostile pieces an attacker can put in an image name, a tag or a registry's error text.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<!channel>".to_string()),
        Just("<!here|here>".to_string()),
        Just("<@U012AB3CD>".to_string()),
        Just("<https://evil.example/x|click me>".to_string()),
        Just("@channel".to_string()),
        Just("@here".to_string()),
        Just("@everyone".to_string()),
        Just("\u{1b}[31m".to_string()),
        Just("\r\n".to_string()),
        Just("`".to_string()),
        Just("*bold* _it_ ~s~ [x](https://evil.example) |".to_string()),
        "[ -~]{0,12}",
    ];
    prop::collection::vec(piece, 1..6).prop_map(|v| v.concat())
}

proptest! {
    /// A crafted image name or registry message cannot ping a channel, mention a user, make a
    /// link in Slack, or send escape sequences to a terminal: whatever AWS hands us is inert in
    /// every format.
    #[test]
    fn untrusted_text_is_inert_in_every_format(name in hostile(), reason in hostile()) {
        let mut event = fixture(0);
        event["detail"]["containers"][0]["image"] = json!(format!("111122223333.dkr.ecr.us-east-1.amazonaws.com/{name}:v1"));
        let message = format!("CannotPullContainerError: {reason}: manifest unknown");
        event["detail"]["stoppedReason"] = json!(message);
        event["detail"]["containers"][0]["reason"] = json!(message);
        let Intake::PullFailure(failure) = intake(&event) else { return Ok(()) };
        let d = judge(&offline_facts(&failure));

        let slack: Value = serde_json::from_str(&render(&d, Format::Slack)).expect("Slack output is JSON");
        let mut texts = Vec::new();
        slack_texts(&slack, &mut texts);
        prop_assert!(!texts.is_empty());
        for t in &texts {
            for bad in ["<!", "<@", "<#", "<http", "<mailto", "@channel", "@here", "@everyone", "\u{1b}"] {
                prop_assert!(!t.contains(bad), "Slack text contains {:?}: {}", bad, t);
            }
        }
        for format in [Format::Text, Format::Markdown, Format::Sns] {
            let out = render(&d, format);
            prop_assert!(!out.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{:?} output has a control character", format);
        }
        // Markdown: outside code spans (backticks in values become quotes, so spans are single
        // backticks), a `]` that could start a link from untrusted text is escaped.
        let md = render(&d, Format::Markdown);
        for (i, outside) in md.split('`').enumerate().filter(|(i, _)| i % 2 == 0) {
            for (at, _) in outside.match_indices("](https://evil.example") {
                prop_assert!(at > 0 && outside.as_bytes()[at - 1] == b'\\', "markdown made a link from untrusted text (segment {}):\n{}", i, md);
            }
        }
    }
}
