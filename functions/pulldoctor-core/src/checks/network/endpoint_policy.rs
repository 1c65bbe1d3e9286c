//! A small, pure evaluator for VPC endpoint policies (IAM policy grammar): does a policy let one
//! request through?
//!
//! Covers what endpoint policies use: `Effect` Allow/Deny, `Principal`/`NotPrincipal` (`*` or AWS
//! principals), `Action`/`NotAction` and `Resource`/`NotResource` with `*` and `?` wildcards, and
//! the common string/ARN/Bool/Null condition operators (with `IfExists`, `ForAnyValue:`,
//! `ForAllValues:`) for keys whose value the caller supplies. A condition it cannot evaluate (an
//! unsupported operator, or a key whose value is not known) never becomes a guess: a statement it
//! would decide makes the answer [`Decision::Unknown`] naming the condition.
//!
//! Evaluation follows IAM: an explicit deny wins, then any allow, else the request is implicitly
//! denied.

use std::collections::BTreeMap;

use serde_json::Value;

/// The outcome of evaluating one request against one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// An explicit `Deny` statement matched (its `Sid`, if any).
    Deny {
        sid: Option<String>,
    },
    /// No statement allows the request.
    ImplicitDeny,
    /// The answer depends on something this evaluator cannot determine.
    Unknown {
        condition: String,
    },
}

/// Who makes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// An IAM principal: role ARN (`arn:aws:iam::111122223333:role/x`), user ARN or account root.
    Arn(&'a str),
    /// A principal owned by AWS, not by the policy's account (e.g. the credentials in a presigned
    /// URL that ECR hands out for layer downloads): only `*` principals match it.
    AwsOwned,
    /// Not known: statements naming specific principals cannot be decided.
    Unknown,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub caller: Caller<'a>,
    /// Known condition keys (lowercase) → values. An empty list means the key is known to be absent.
    /// Keys not listed are unknown.
    pub context: BTreeMap<String, Vec<String>>,
}

impl<'a> Request<'a> {
    pub fn new(action: &'a str, resource: &'a str, caller: Caller<'a>) -> Self {
        Request {
            action,
            resource,
            caller,
            context: BTreeMap::new(),
        }
    }
    pub fn with(mut self, key: &str, values: &[&str]) -> Self {
        self.context.insert(
            key.to_ascii_lowercase(),
            values.iter().map(|v| v.to_string()).collect(),
        );
        self
    }
}

/// Evaluate `action` on `resource` by `principal_arn` (`None`: unknown principal) against the policy.
pub fn evaluate(
    policy_json: &str,
    action: &str,
    resource: &str,
    principal_arn: Option<&str>,
) -> Decision {
    let caller = principal_arn.map(Caller::Arn).unwrap_or(Caller::Unknown);
    evaluate_request(policy_json, &Request::new(action, resource, caller))
}

/// Evaluate a full request (with condition context) against the policy.
pub fn evaluate_request(policy_json: &str, request: &Request) -> Decision {
    let policy: Value = match serde_json::from_str(policy_json) {
        Ok(v) => v,
        Err(e) => {
            return Decision::Unknown {
                condition: format!("the policy is not valid JSON ({e})"),
            }
        }
    };
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(obj @ Value::Object(_)) => vec![obj],
        _ => {
            return Decision::Unknown {
                condition: "the policy has no Statement".into(),
            }
        }
    };
    let mut allow_maybe: Option<String> = None;
    let mut deny_maybe: Option<String> = None;
    let mut allowed = false;
    for st in statements {
        let effect = st.get("Effect").and_then(Value::as_str).unwrap_or("");
        let applies = statement_applies(st, request);
        let sid = st.get("Sid").and_then(Value::as_str).map(str::to_string);
        match (effect, applies) {
            ("Deny", Match::Yes) => return Decision::Deny { sid },
            ("Deny", Match::Maybe(why)) => {
                deny_maybe.get_or_insert(describe(sid.as_deref(), "Deny", &why));
            }
            ("Allow", Match::Yes) => allowed = true,
            ("Allow", Match::Maybe(why)) => {
                allow_maybe.get_or_insert(describe(sid.as_deref(), "Allow", &why));
            }
            _ => {}
        }
    }
    match (allowed, allow_maybe, deny_maybe) {
        // Nothing could allow it: denied whatever the uncertain deny does.
        (false, None, _) => Decision::ImplicitDeny,
        (_, _, Some(condition)) => Decision::Unknown { condition },
        (true, _, None) => Decision::Allow,
        (false, Some(condition), None) => Decision::Unknown { condition },
    }
}

fn describe(sid: Option<&str>, effect: &str, why: &str) -> String {
    match sid {
        Some(s) => format!("{effect} statement {s:?}: {why}"),
        None => format!("{effect} statement: {why}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Maybe(String),
}

impl Match {
    fn and(self, other: impl FnOnce() -> Match) -> Match {
        match self {
            Match::No => Match::No,
            Match::Yes => other(),
            Match::Maybe(why) => match other() {
                Match::No => Match::No,
                _ => Match::Maybe(why),
            },
        }
    }
    fn not(self) -> Match {
        match self {
            Match::Yes => Match::No,
            Match::No => Match::Yes,
            m => m,
        }
    }
    fn from_bool(b: bool) -> Match {
        if b {
            Match::Yes
        } else {
            Match::No
        }
    }
}

fn statement_applies(st: &Value, req: &Request) -> Match {
    let action = match (st.get("Action"), st.get("NotAction")) {
        (Some(a), _) => Match::from_bool(
            strings(a)
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &req.action.to_ascii_lowercase())),
        ),
        (None, Some(na)) => Match::from_bool(
            !strings(na)
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &req.action.to_ascii_lowercase())),
        ),
        (None, None) => Match::No,
    };
    action
        .and(|| match (st.get("Resource"), st.get("NotResource")) {
            (Some(r), _) => Match::from_bool(strings(r).iter().any(|p| glob(p, req.resource))),
            (None, Some(nr)) => {
                Match::from_bool(!strings(nr).iter().any(|p| glob(p, req.resource)))
            }
            // Endpoint policies may omit Resource: it then means every resource.
            (None, None) => Match::Yes,
        })
        .and(|| match (st.get("Principal"), st.get("NotPrincipal")) {
            (Some(p), _) => principal_matches(p, req.caller),
            (None, Some(np)) => principal_matches(np, req.caller).not(),
            (None, None) => Match::Yes,
        })
        .and(|| match st.get("Condition") {
            Some(Value::Object(ops)) => {
                let mut result = Match::Yes;
                for (op, keys) in ops {
                    let Value::Object(keys) = keys else {
                        return Match::Maybe(format!("condition {op} is malformed"));
                    };
                    for (key, values) in keys {
                        let m = condition_matches(op, key, values, req);
                        result = result.and(|| m);
                        if result == Match::No {
                            return Match::No;
                        }
                    }
                }
                result
            }
            Some(_) => Match::Maybe("Condition is malformed".into()),
            None => Match::Yes,
        })
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => vec![],
    }
}

fn principal_matches(p: &Value, caller: Caller) -> Match {
    match p {
        Value::String(s) if s == "*" => Match::Yes,
        Value::Object(map) => {
            let mut result = Match::No;
            for (kind, ids) in map {
                for id in strings(ids) {
                    let m = if id == "*" && kind == "AWS" {
                        Match::Yes
                    } else if kind == "AWS" {
                        match caller {
                            Caller::Arn(arn) => Match::from_bool(aws_principal_is(&id, arn)),
                            Caller::AwsOwned => Match::No,
                            Caller::Unknown => {
                                Match::Maybe(format!("Principal {id} (the caller is not known)"))
                            }
                        }
                    } else {
                        match caller {
                            Caller::Arn(_) => Match::No,
                            _ => Match::Maybe(format!("Principal {kind}: {id}")),
                        }
                    };
                    match m {
                        Match::Yes => return Match::Yes,
                        Match::Maybe(w) => result = Match::Maybe(w),
                        Match::No => {}
                    }
                }
            }
            result
        }
        _ => Match::Maybe(format!("Principal {p} is malformed")),
    }
}

/// Does the policy principal `id` (ARN or account id) name `arn`?
fn aws_principal_is(id: &str, arn: &str) -> bool {
    let caller_account = arn.split(':').nth(4).unwrap_or("");
    if id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) {
        return id == caller_account;
    }
    if let Some(rest) = id.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() == 5 && parts[1] == "iam" && parts[4] == "root" {
            return parts[3] == caller_account;
        }
    }
    if id == arn {
        return true;
    }
    // A role ARN names the sessions of that role too: arn:aws:sts::acct:assumed-role/NAME/session.
    let role_name = |a: &str| -> Option<(String, String)> {
        let acct = a.split(':').nth(4)?.to_string();
        let res = a.splitn(6, ':').nth(5)?;
        if let Some(r) = res.strip_prefix("role/") {
            return Some((acct, r.rsplit('/').next()?.to_string()));
        }
        if let Some(r) = res.strip_prefix("assumed-role/") {
            return Some((acct, r.split('/').next()?.to_string()));
        }
        None
    };
    matches!((role_name(id), role_name(arn)), (Some(a), Some(b)) if a == b)
}

fn condition_matches(op: &str, key: &str, values: &Value, req: &Request) -> Match {
    let shown = format!("{op} {{{key}: {values}}}");
    let (set_op, rest) = if let Some(r) = op.strip_prefix("ForAnyValue:") {
        (Some(false), r)
    } else if let Some(r) = op.strip_prefix("ForAllValues:") {
        (Some(true), r)
    } else {
        (None, op)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let policy_values = strings(values);
    let Some(actual) = req.context.get(&key.to_ascii_lowercase()) else {
        return Match::Maybe(format!(
            "condition {shown} (the value of {key} is not known)"
        ));
    };
    if base == "Null" {
        let want_absent = policy_values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return Match::from_bool(actual.is_empty() == want_absent);
    }
    let (negated, test): (bool, fn(&str, &str) -> bool) = match base {
        "StringEquals" | "ArnEquals" => (false, |p, a| p == a),
        "StringNotEquals" | "ArnNotEquals" => (true, |p, a| p == a),
        "StringEqualsIgnoreCase" => (false, |p, a| p.eq_ignore_ascii_case(a)),
        "StringNotEqualsIgnoreCase" => (true, |p, a| p.eq_ignore_ascii_case(a)),
        "StringLike" | "ArnLike" => (false, |p, a| glob(p, a)),
        "StringNotLike" | "ArnNotLike" => (true, |p, a| glob(p, a)),
        "Bool" => (false, |p, a| p.eq_ignore_ascii_case(a)),
        _ => return Match::Maybe(format!("condition {shown} (operator not evaluated)")),
    };
    if actual.is_empty() {
        // Key absent: IfExists and negated operators are satisfied, the rest are not.
        return Match::from_bool(if_exists || negated || set_op == Some(true));
    }
    let hit = |a: &String| policy_values.iter().any(|p| test(p, a));
    let positive = match set_op {
        Some(true) => actual.iter().all(hit),
        _ => actual.iter().any(hit),
    };
    Match::from_bool(if negated { !positive } else { positive })
}

/// IAM wildcard match: `*` any run of characters, `?` exactly one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYER: &str = "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/sha256/abc";
    const ROLE: &str = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole";
    const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";

    #[test]
    fn glob_table() {
        let cases = [
            ("*", "anything", true),
            ("s3:Get*", "s3:GetObject", true),
            ("s3:Get*", "s3:PutObject", false),
            ("arn:aws:s3:::prod-*-starport-layer-bucket/*", LAYER, true),
            (
                "arn:aws:s3:::prod-us-east-1-starport-layer-bucket",
                LAYER,
                false,
            ),
            ("ecr:Batch?etImage", "ecr:BatchGetImage", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("", "", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn evaluation_table() {
        let full =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
        let layer_only = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Layers","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":["arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"]}]}"#;
        let other_bucket = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::my-bucket/*"}]}"#;
        let deny_get = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"NoGet","Effect":"Deny","Principal":"*","Action":"s3:Get*","Resource":"*"}]}"#;
        let not_action = r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"s3:Delete*","Resource":"*"}]}"#;
        let not_resource_deny = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"OnlyMine","Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::mine/*"}]}"#;
        let role_only = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"ecr:*","Resource":"*"}}]}}"#
        );
        let account_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}]}"#;
        let org_condition = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}]}"#;
        let vpce_condition = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}]}"#;
        let ip_condition = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.4/32"}}}]}"#;
        let single_statement = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}}"#;

        let anyone = Request::new("s3:GetObject", LAYER, Caller::AwsOwned);
        let cases: Vec<(&str, &str, Request, Decision)> = vec![
            ("full access", full, anyone.clone(), Decision::Allow),
            (
                "layer bucket allowed",
                layer_only,
                anyone.clone(),
                Decision::Allow,
            ),
            (
                "other bucket only",
                other_bucket,
                anyone.clone(),
                Decision::ImplicitDeny,
            ),
            (
                "explicit deny",
                deny_get,
                anyone.clone(),
                Decision::Deny {
                    sid: Some("NoGet".into()),
                },
            ),
            (
                "NotAction allows",
                not_action,
                anyone.clone(),
                Decision::Allow,
            ),
            (
                "NotResource deny",
                not_resource_deny,
                anyone.clone(),
                Decision::Deny {
                    sid: Some("OnlyMine".into()),
                },
            ),
            (
                "single statement object",
                single_statement,
                anyone.clone(),
                Decision::Allow,
            ),
            (
                "role principal, role caller",
                &role_only,
                Request::new("ecr:BatchGetImage", REPO, Caller::Arn(ROLE)),
                Decision::Allow,
            ),
            (
                "role principal, session caller",
                &role_only,
                Request::new(
                    "ecr:BatchGetImage",
                    REPO,
                    Caller::Arn("arn:aws:sts::111122223333:assumed-role/ecsTaskExecutionRole/abc"),
                ),
                Decision::Allow,
            ),
            (
                "role principal, other role",
                &role_only,
                Request::new(
                    "ecr:BatchGetImage",
                    REPO,
                    Caller::Arn("arn:aws:iam::111122223333:role/other"),
                ),
                Decision::ImplicitDeny,
            ),
            (
                "role principal, AWS-owned caller",
                &role_only,
                Request::new("ecr:BatchGetImage", REPO, Caller::AwsOwned),
                Decision::ImplicitDeny,
            ),
            (
                "account principal",
                account_only,
                Request::new("ecr:BatchGetImage", REPO, Caller::Arn(ROLE)),
                Decision::Allow,
            ),
            (
                "account principal, token action missing",
                account_only,
                Request::new("ecr:GetAuthorizationToken", "*", Caller::Arn(ROLE)),
                Decision::ImplicitDeny,
            ),
            (
                "org condition unknown",
                org_condition,
                anyone.clone(),
                Decision::Unknown {
                    condition: String::new(),
                },
            ),
            (
                "vpce condition known true",
                vpce_condition,
                anyone.clone().with("aws:SourceVpce", &["vpce-1"]),
                Decision::Allow,
            ),
            (
                "vpce condition known false",
                vpce_condition,
                anyone.clone().with("aws:SourceVpce", &["vpce-2"]),
                Decision::ImplicitDeny,
            ),
            (
                "unsupported operator on deny",
                ip_condition,
                anyone.clone(),
                Decision::Unknown {
                    condition: String::new(),
                },
            ),
            (
                "not json",
                "{nope",
                anyone.clone(),
                Decision::Unknown {
                    condition: String::new(),
                },
            ),
        ];
        for (name, policy, req, want) in cases {
            let got = evaluate_request(policy, &req);
            match (&got, &want) {
                (Decision::Unknown { condition }, Decision::Unknown { .. }) => {
                    assert!(!condition.is_empty(), "{name}")
                }
                _ => assert_eq!(got, want, "{name}"),
            }
        }
        // The unknown condition is shown.
        let Decision::Unknown { condition } = evaluate_request(org_condition, &anyone) else {
            panic!()
        };
        assert!(
            condition.contains("aws:PrincipalOrgID") && condition.contains("o-abc"),
            "{condition}"
        );
        // The plain interface: unknown principal vs a role-only policy.
        assert!(matches!(
            evaluate(&role_only, "ecr:BatchGetImage", REPO, None),
            Decision::Unknown { .. }
        ));
        assert_eq!(
            evaluate(&role_only, "ecr:BatchGetImage", REPO, Some(ROLE)),
            Decision::Allow
        );
    }

    #[test]
    fn condition_operators() {
        let req = Request::new("s3:GetObject", LAYER, Caller::AwsOwned)
            .with("aws:SourceVpce", &["vpce-1"])
            .with("aws:SourceVpc", &[]);
        let policy = |cond: &str| {
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{cond}}}]}}"#
            )
        };
        let cases = [
            (
                r#"{"StringNotEquals":{"aws:SourceVpce":"vpce-2"}}"#,
                Decision::Allow,
            ),
            (
                r#"{"StringLike":{"aws:sourcevpce":"vpce-*"}}"#,
                Decision::Allow,
            ),
            (
                r#"{"StringEquals":{"aws:SourceVpc":"vpc-1"}}"#,
                Decision::ImplicitDeny,
            ),
            (
                r#"{"StringEqualsIfExists":{"aws:SourceVpc":"vpc-1"}}"#,
                Decision::Allow,
            ),
            (r#"{"Null":{"aws:SourceVpc":"true"}}"#, Decision::Allow),
            (
                r#"{"Null":{"aws:SourceVpce":"true"}}"#,
                Decision::ImplicitDeny,
            ),
            (
                r#"{"ForAnyValue:StringEquals":{"aws:SourceVpce":["vpce-9","vpce-1"]}}"#,
                Decision::Allow,
            ),
        ];
        for (cond, want) in cases {
            assert_eq!(evaluate_request(&policy(cond), &req), want, "{cond}");
        }
    }
}
