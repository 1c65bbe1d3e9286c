//! A small, pure evaluator for IAM policy documents: identity policies, permission boundaries,
//! trust policies and resource policies (ECR repository policies).
//!
//! It answers one question — does this policy set allow `action` on `resource` for this principal
//! in this request context? — with three possible truths: yes, no, or *maybe* when the answer
//! hangs on something pulldoctor cannot know (a condition key whose value it does not have, a
//! policy variable, an operator it does not evaluate). A *maybe* always carries the condition
//! text, so a finding can show what to verify instead of guessing.
//!
//! Supported: `Effect`, `Action`/`NotAction` (case-insensitive, `*` and `?` anywhere),
//! `Resource`/`NotResource` (case-sensitive wildcards), `Principal`/`NotPrincipal` (`*`, account
//! ids and root ARNs, role ARNs and role unique ids, service principals), `Condition` with the
//! String, Arn, Bool, Null and Numeric operators, the `ForAnyValue:`/`ForAllValues:` qualifiers
//! and the `IfExists` suffix. Explicit deny wins over any allow; with a permission boundary, both
//! the identity policies and the boundary must allow. SCPs, session policies and resource
//! policies of other services are out of scope (the caller says so in its finding).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Three-valued truth: `Maybe` means "depends on something not known".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    Yes,
    No,
    Maybe,
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b {
            Truth::Yes
        } else {
            Truth::No
        }
    }
    pub fn and(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::No, _) | (_, Truth::No) => Truth::No,
            (Truth::Yes, Truth::Yes) => Truth::Yes,
            _ => Truth::Maybe,
        }
    }
    pub fn or(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::Yes, _) | (_, Truth::Yes) => Truth::Yes,
            (Truth::No, Truth::No) => Truth::No,
            _ => Truth::Maybe,
        }
    }
}

/// What a request context knows about one condition key.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextValue {
    /// The key's values; an empty list means the key is known to be absent from the request.
    Known(Vec<String>),
    /// The key has exactly one of these values, but which one is not known.
    OneOf(Vec<String>),
}

/// The request context: condition keys (case-insensitive) and what is known of them. A key that
/// is not here is unknown, and any condition on it evaluates to `Maybe`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    values: BTreeMap<String, ContextValue>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }
    /// The key has this single value.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.values.insert(
            key.to_ascii_lowercase(),
            ContextValue::Known(vec![value.into()]),
        );
        self
    }
    /// The key is known not to be present in the request.
    pub fn absent(mut self, key: &str) -> Self {
        self.values
            .insert(key.to_ascii_lowercase(), ContextValue::Known(vec![]));
        self
    }
    /// The key holds one of `candidates`, which one is not known.
    pub fn one_of(mut self, key: &str, candidates: Vec<String>) -> Self {
        self.values
            .insert(key.to_ascii_lowercase(), ContextValue::OneOf(candidates));
        self
    }
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.values.get(&key.to_ascii_lowercase())
    }
}

/// Who makes the request, for `Principal`/`NotPrincipal` in trust and resource policies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Principal {
    /// Role ARN (`arn:aws:iam::111122223333:role/path/name`).
    pub arn: Option<String>,
    /// Role unique id (`AROA…`), which policies show after the role was deleted and recreated.
    pub id: Option<String>,
    pub account: Option<String>,
    /// Service principal (`ecs-tasks.amazonaws.com`).
    pub service: Option<String>,
    /// How much is known of the caller: a statement naming a specific principal is `Maybe` for a
    /// caller that is not known.
    pub caller: Caller,
}

/// How much is known of who makes a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Caller {
    /// The fields of [`Principal`] say who it is.
    #[default]
    Known,
    /// A principal AWS owns, not the policy's account (the credentials of the presigned URL ECR
    /// hands out for a layer download): only `*` names it; a service principal may.
    AwsOwned,
    /// Not known (an instance role that could not be read): only `*` certainly names it.
    Unknown,
}

impl Principal {
    /// An IAM role or user, by ARN (its account taken from the ARN).
    pub fn of_arn(arn: &str) -> Principal {
        Principal {
            arn: Some(arn.to_string()),
            account: arn
                .split(':')
                .nth(4)
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            ..Default::default()
        }
    }
    pub fn aws_owned() -> Principal {
        Principal {
            caller: Caller::AwsOwned,
            ..Default::default()
        }
    }
    pub fn unknown() -> Principal {
        Principal {
            caller: Caller::Unknown,
            ..Default::default()
        }
    }
}

/// One request to evaluate.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    /// `None` for identity policies (they have no `Principal` element).
    pub principal: Option<&'a Principal>,
    pub context: &'a Context,
}

/// A policy document with a human label (`inline policy ecr`, `AmazonECSTaskExecutionRolePolicy`).
#[derive(Debug, Clone, Copy)]
pub struct Labeled<'a> {
    pub label: &'a str,
    pub document: &'a Value,
}

/// A statement that took part in a decision, for evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementRef {
    pub policy: String,
    /// `Sid`, else `#N` (1-based position).
    pub statement: String,
    pub effect: String,
    /// Conditions that could not be evaluated, as text; empty when the statement certainly applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<String>,
}

impl std::fmt::Display for StatementRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} statement {}", self.policy, self.statement)
    }
}

/// Which statements of one effect match, and how certainly.
#[derive(Debug, Clone, PartialEq)]
pub struct Matches {
    pub truth: Truth,
    /// Statements that apply (`Yes`) or may apply (`Maybe`, with `unresolved` conditions).
    pub statements: Vec<StatementRef>,
}

impl Matches {
    fn none() -> Matches {
        Matches {
            truth: Truth::No,
            statements: vec![],
        }
    }
    fn merge(mut self, other: Matches) -> Matches {
        self.truth = self.truth.or(other.truth);
        self.statements.extend(other.statements);
        self
    }
}

/// Final decision for one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allowed,
    /// No statement allows it (or the boundary does not).
    ImplicitDeny,
    ExplicitDeny,
    /// Depends on conditions that could not be evaluated.
    Unknown,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::ImplicitDeny => "implicit deny",
            Decision::ExplicitDeny => "explicit deny",
            Decision::Unknown => "unknown",
        }
    }
}

/// The decision with the statements behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub decision: Decision,
    /// Deny statements that apply or may apply.
    pub denies: Vec<StatementRef>,
    /// Allow statements that apply or may apply (identity policies).
    pub allows: Vec<StatementRef>,
    /// Whether the boundary allows (`None` when there is no boundary).
    pub boundary_allows: Option<Truth>,
    /// Boundary allow statements (evidence).
    pub boundary_statements: Vec<StatementRef>,
}

/// Evaluate identity-based policies and an optional permission boundary (same account request).
pub fn evaluate_identity(
    policies: &[Labeled],
    boundary: Option<&Labeled>,
    req: &Request,
) -> Evaluation {
    let mut deny = Matches::none();
    let mut allow = Matches::none();
    for p in policies {
        deny = deny.merge(matching(p, req, Effect::Deny));
        allow = allow.merge(matching(p, req, Effect::Allow));
    }
    let (boundary_allows, boundary_statements) = match boundary {
        Some(b) => {
            deny = deny.merge(matching(b, req, Effect::Deny));
            let m = matching(b, req, Effect::Allow);
            (Some(m.truth), m.statements)
        }
        None => (None, vec![]),
    };
    let allowed = allow.truth.and(boundary_allows.unwrap_or(Truth::Yes));
    let decision = match (deny.truth, allowed) {
        (Truth::Yes, _) => Decision::ExplicitDeny,
        // Not allowed either way: a possible deny does not change the outcome.
        (_, Truth::No) => Decision::ImplicitDeny,
        (Truth::Maybe, _) | (_, Truth::Maybe) => Decision::Unknown,
        (Truth::No, Truth::Yes) => Decision::Allowed,
    };
    Evaluation {
        decision,
        denies: deny.statements,
        allows: allow.statements,
        boundary_allows,
        boundary_statements,
    }
}

/// A VPC endpoint policy on its own: a matching deny wins, else an allow is needed. The request's
/// principal is matched against `Principal`/`NotPrincipal`; a statement that names neither applies
/// to every principal, as endpoint policies read.
pub fn evaluate_endpoint_policy(policy: &Labeled, req: &Request) -> Evaluation {
    let mut document = policy.document.clone();
    for st in statements_mut(&mut document) {
        if let Value::Object(map) = st {
            if !map.contains_key("Principal") && !map.contains_key("NotPrincipal") {
                map.insert("Principal".into(), Value::String("*".into()));
            }
        }
    }
    let policy = Labeled {
        label: policy.label,
        document: &document,
    };
    evaluate_identity(std::slice::from_ref(&policy), None, req)
}

fn statements_mut(document: &mut Value) -> Vec<&mut Value> {
    match document.get_mut("Statement") {
        Some(Value::Array(list)) => list.iter_mut().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => vec![],
    }
}

/// What a resource policy grants a principal directly: an `Allow` that names the principal
/// itself (its ARN, its unique id, or `*`). A statement naming only the principal's account
/// delegates to that account's IAM and grants nothing by itself.
pub fn direct_grant(policy: &Labeled, req: &Request) -> Matches {
    let Some(who) = req.principal else {
        return Matches::none();
    };
    let named = Principal {
        account: None,
        ..who.clone()
    };
    matching(
        policy,
        &Request {
            principal: Some(&named),
            ..req.clone()
        },
        Effect::Allow,
    )
}

/// The identity side's decision combined with a same-account resource policy's direct grant, as
/// IAM's policy evaluation logic does within one account: an explicit deny on the identity side
/// stands; otherwise an allow on either side suffices. A role's permissions boundary still limits
/// what a resource policy grants to the role's ARN, so an identity-side denial that comes from the
/// boundary stands too. Across accounts both sides must allow: the resource side is then judged
/// on its own (the repository policy check), and the identity side's decision stands.
pub fn with_resource_grant(identity: Decision, grant: Truth, boundary_denies: bool) -> Decision {
    match (identity, grant) {
        (Decision::ImplicitDeny, _) if boundary_denies => Decision::ImplicitDeny,
        // An unknown identity side may hide a deny: it stays unknown.
        (Decision::ImplicitDeny, Truth::Yes) => Decision::Allowed,
        (Decision::ImplicitDeny, Truth::Maybe) => Decision::Unknown,
        (decision, _) => decision,
    }
}

/// The identity side's decision combined with a resource's own policy (a secret's), as IAM does:
/// an explicit deny in the resource policy wins; within one account an allow naming the principal
/// suffices (unless the boundary denies); across accounts the resource policy must allow the
/// principal (or its account) as well. `None`: the resource has no policy. Returns the decision
/// and, when the resource side changed it, why.
pub fn with_resource_policy(
    identity: Decision,
    policy: Option<&Labeled>,
    req: &Request,
    same_account: bool,
    boundary_denies: bool,
) -> (Decision, Option<String>) {
    let Some(policy) = policy else {
        return match same_account {
            true => (identity, None),
            false => (
                Decision::ImplicitDeny,
                Some(
                    "it is in another account and has no resource policy granting the role".into(),
                ),
            ),
        };
    };
    let deny = matching(policy, req, Effect::Deny);
    match deny.truth {
        Truth::Yes => {
            return (
                Decision::ExplicitDeny,
                Some(format!("denied by {}", names(&deny.statements))),
            )
        }
        Truth::Maybe if identity != Decision::ExplicitDeny => {
            return (
                Decision::Unknown,
                Some(format!(
                    "{} may deny it: {}",
                    names(&deny.statements),
                    unresolved(&deny.statements)
                )),
            )
        }
        _ => {}
    }
    if same_account {
        let grant = direct_grant(policy, req);
        let decision = with_resource_grant(identity, grant.truth, boundary_denies);
        let why = (decision != identity).then(|| match decision {
            Decision::Allowed => format!(
                "allowed by {} (same account: the resource policy's grant suffices)",
                names(&grant.statements)
            ),
            _ => format!(
                "{} may grant it: {}",
                names(&grant.statements),
                unresolved(&grant.statements)
            ),
        });
        return (decision, why);
    }
    let allow = matching(policy, req, Effect::Allow);
    match (identity, allow.truth) {
        (Decision::ExplicitDeny, _) | (_, Truth::Yes) => (identity, None),
        (_, Truth::No) => (
            Decision::ImplicitDeny,
            Some("it is in another account and its resource policy does not grant the role".into()),
        ),
        (_, Truth::Maybe) => (
            Decision::Unknown,
            Some(format!(
                "its resource policy may grant it: {}",
                unresolved(&allow.statements)
            )),
        ),
    }
}

/// `kms:Decrypt` (or another KMS action) as KMS decides it: the key policy comes first. An
/// explicit deny anywhere wins; a key-policy allow naming the principal suffices; otherwise IAM
/// policies count only if the key policy lets the account's IAM grant it (a statement naming the
/// account, usually `arn:aws:iam::ACCOUNT:root` with `kms:*`). `account` is the principal's
/// account root. Returns the decision and, when the key policy changed it, why.
pub fn with_key_policy(
    identity: Decision,
    key_policy: &Labeled,
    req: &Request,
    account: &Principal,
) -> (Decision, Option<String>) {
    let deny = matching(key_policy, req, Effect::Deny);
    if deny.truth == Truth::Yes {
        return (
            Decision::ExplicitDeny,
            Some(format!("denied by {}", names(&deny.statements))),
        );
    }
    if identity == Decision::ExplicitDeny {
        return (identity, None);
    }
    let direct = direct_grant(key_policy, req);
    if direct.truth == Truth::Yes && deny.truth == Truth::No {
        let why = (identity != Decision::Allowed).then(|| {
            format!(
                "allowed by {} (the key policy grants the role itself)",
                names(&direct.statements)
            )
        });
        return (Decision::Allowed, why);
    }
    let delegated = matching(
        key_policy,
        &Request {
            principal: Some(account),
            ..req.clone()
        },
        Effect::Allow,
    );
    match (delegated.truth, direct.truth, deny.truth) {
        (Truth::No, Truth::No, _) => (
            Decision::ImplicitDeny,
            Some(format!(
                "the key policy neither grants the role {} nor lets IAM policies grant it (no statement for the account)",
                req.action
            )),
        ),
        (Truth::Yes, _, Truth::No) => (identity, None),
        _ => {
            let all: Vec<StatementRef> = deny.statements.into_iter().chain(direct.statements).chain(delegated.statements).collect();
            (Decision::Unknown, Some(format!("the key policy depends on {}", unresolved(&all))))
        }
    }
}

/// The statements, as reports name them (`inline policy ecr statement Pull, …`).
pub fn names(statements: &[StatementRef]) -> String {
    statements
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each statement's conditions that could not be evaluated, as text.
pub fn unresolved_parts<'a>(statements: impl Iterator<Item = &'a StatementRef>) -> Vec<String> {
    statements
        .filter(|s| !s.unresolved.is_empty())
        .map(|s| format!("{s}: {}", s.unresolved.join(" and ")))
        .collect()
}

fn unresolved(statements: &[StatementRef]) -> String {
    let parts = unresolved_parts(statements.iter());
    if parts.is_empty() {
        "conditions that could not be evaluated".into()
    } else {
        parts.join("; ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// The statements of `effect` in `policy` that match the request, with the combined truth.
/// Used directly for resource and trust policies.
pub fn matching(policy: &Labeled, req: &Request, effect: Effect) -> Matches {
    let mut out = Matches::none();
    for (index, st) in statements(policy.document).into_iter().enumerate() {
        let st_effect = st.get("Effect").and_then(Value::as_str).unwrap_or("");
        if !st_effect.eq_ignore_ascii_case(effect.as_str()) {
            continue;
        }
        let (truth, unresolved) = statement_applies(st, req);
        if truth == Truth::No {
            continue;
        }
        out.truth = out.truth.or(truth);
        out.statements.push(StatementRef {
            policy: policy.label.to_string(),
            statement: st
                .get("Sid")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{}", index + 1)),
            effect: effect.as_str().to_string(),
            unresolved,
        });
    }
    out
}

/// A document's statements (`Statement` may be one object or a list).
pub fn statements(document: &Value) -> Vec<&Value> {
    match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => vec![],
    }
}

/// Does one statement apply to the request (ignoring its effect)?
pub fn statement_applies(st: &Value, req: &Request) -> (Truth, Vec<String>) {
    let action_ok = match (st.get("Action"), st.get("NotAction")) {
        (Some(a), _) => strings(a).iter().any(|p| glob(p, req.action, true)),
        (None, Some(na)) => !strings(na).iter().any(|p| glob(p, req.action, true)),
        (None, None) => false,
    };
    if !action_ok {
        return (Truth::No, vec![]);
    }
    // Trust policies have no Resource element: they apply to the role itself.
    let resource_ok = match (st.get("Resource"), st.get("NotResource")) {
        (Some(r), _) => strings(r).iter().any(|p| resource_matches(p, req.resource)),
        (None, Some(nr)) => !strings(nr)
            .iter()
            .any(|p| resource_matches(p, req.resource)),
        (None, None) => true,
    };
    if !resource_ok {
        return (Truth::No, vec![]);
    }
    let (principal, mut unresolved) = match req.principal {
        None => (Truth::Yes, vec![]),
        Some(who) => match (st.get("Principal"), st.get("NotPrincipal")) {
            (Some(p), _) => principal_matches(p, who),
            (None, Some(np)) => {
                let (t, why) = principal_matches(np, who);
                (not(t), why)
            }
            (None, None) => (Truth::No, vec![]),
        },
    };
    if principal == Truth::No {
        return (Truth::No, vec![]);
    }
    let (condition, why) = match st.get("Condition") {
        Some(Value::Object(blocks)) => conditions(blocks, req.context),
        _ => (Truth::Yes, vec![]),
    };
    let truth = principal.and(condition);
    if truth == Truth::No {
        return (Truth::No, vec![]);
    }
    unresolved.extend(why);
    (truth, unresolved)
}

fn resource_matches(pattern: &str, resource: &str) -> bool {
    // A request on "*" (actions without resource-level permissions) only matches "*".
    if resource == "*" {
        return pattern == "*";
    }
    glob(pattern, resource, false)
}

/// Whether a `Principal` element names the caller: certainly, certainly not, or — for a caller
/// that is not known, or one AWS owns that a service principal may name — maybe (with why).
fn principal_matches(element: &Value, who: &Principal) -> (Truth, Vec<String>) {
    let entries: Vec<(&str, Vec<&str>)> = match element {
        Value::String(s) if s == "*" => return (Truth::Yes, vec![]),
        Value::Object(map) => map.iter().map(|(k, v)| (k.as_str(), strings(v))).collect(),
        _ => {
            return (
                Truth::Maybe,
                vec![format!("Principal {element} is malformed")],
            )
        }
    };
    let mut maybe = vec![];
    for (kind, values) in &entries {
        for v in values {
            let t = match (*kind, who.caller) {
                ("AWS", _) if *v == "*" => Truth::Yes,
                ("AWS", Caller::Known) => Truth::from_bool(aws_principal_matches(v, who)),
                ("AWS", Caller::AwsOwned) => Truth::No,
                ("Service", Caller::Known) => Truth::from_bool(
                    who.service
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case(v)),
                ),
                (_, Caller::Known) => Truth::No,
                (_, _) => Truth::Maybe,
            };
            match t {
                Truth::Yes => return (Truth::Yes, vec![]),
                Truth::Maybe => {
                    maybe.push(format!("Principal {kind}: {v} (the caller is not known)"))
                }
                Truth::No => {}
            }
        }
    }
    if maybe.is_empty() {
        (Truth::No, vec![])
    } else {
        (Truth::Maybe, maybe)
    }
}

fn aws_principal_matches(value: &str, who: &Principal) -> bool {
    if who.service.is_some() && who.arn.is_none() {
        return value == "*";
    }
    if value == "*" {
        return true;
    }
    if let Some(account) = &who.account {
        if value == account {
            return true;
        }
        if let Some(rest) = value.strip_prefix("arn:") {
            // arn:PARTITION:iam::ACCOUNT:root
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.len() == 5 && parts[1] == "iam" && parts[3] == account && parts[4] == "root" {
                return true;
            }
        }
    }
    if who.arn.as_deref() == Some(value) || who.id.as_deref() == Some(value) {
        return true;
    }
    // An assumed-role session of this role: arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION.
    if let (Some(arn), Some(rest)) = (who.arn.as_deref(), value.strip_prefix("arn:")) {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() == 5 && parts[1] == "sts" && who.account.as_deref() == Some(parts[3]) {
            if let Some(session) = parts[4].strip_prefix("assumed-role/") {
                let role_name = arn.rsplit('/').next().unwrap_or_default();
                return session.split('/').next() == Some(role_name);
            }
        }
    }
    false
}

/// Evaluate a `Condition` object: all operators and keys must hold.
fn conditions(blocks: &serde_json::Map<String, Value>, ctx: &Context) -> (Truth, Vec<String>) {
    let mut truth = Truth::Yes;
    let mut unresolved = vec![];
    for (operator, keys) in blocks {
        let Value::Object(keys) = keys else {
            return (
                Truth::Maybe,
                vec![format!("malformed condition {operator}")],
            );
        };
        for (key, values) in keys {
            let policy_values = strings_lossy(values);
            let t = condition(operator, key, &policy_values, ctx);
            if t == Truth::Maybe {
                unresolved.push(format!(
                    "{operator} {{{key:?}: {}}}",
                    serde_json::to_string(values).unwrap_or_default()
                ));
            }
            truth = truth.and(t);
        }
    }
    if truth == Truth::No {
        unresolved.clear();
    }
    (truth, unresolved)
}

/// One condition operator on one key.
pub fn condition(operator: &str, key: &str, policy_values: &[String], ctx: &Context) -> Truth {
    let (set, op) = match operator.split_once(':') {
        Some((q, op)) if q.eq_ignore_ascii_case("ForAnyValue") => (SetOp::Any, op),
        Some((q, op)) if q.eq_ignore_ascii_case("ForAllValues") => (SetOp::All, op),
        Some(_) => return Truth::Maybe,
        None => (SetOp::Single, operator),
    };
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    };
    if policy_values.iter().any(|v| v.contains("${")) {
        return Truth::Maybe; // policy variables
    }
    match ctx.get(key) {
        None => Truth::Maybe,
        Some(ContextValue::Known(values)) => eval_known(op, set, if_exists, policy_values, values),
        Some(ContextValue::OneOf(candidates)) => {
            let mut all = candidates
                .iter()
                .map(|c| eval_known(op, set, if_exists, policy_values, std::slice::from_ref(c)));
            let first = all.next().unwrap_or(Truth::Maybe);
            all.fold(first, |acc, t| if acc == t { acc } else { Truth::Maybe })
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Single,
    Any,
    All,
}

fn eval_known(
    op: &str,
    set: SetOp,
    if_exists: bool,
    policy: &[String],
    values: &[String],
) -> Truth {
    if op == "Null" {
        let wants_absent = policy.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return Truth::from_bool(values.is_empty() == wants_absent);
    }
    let Some((negated, matcher)) = matcher(op) else {
        return Truth::Maybe;
    };
    if values.is_empty() {
        // An absent key: positive operators fail, negated ones hold, ForAllValues holds vacuously.
        return Truth::from_bool(match set {
            SetOp::All => true,
            SetOp::Any => if_exists,
            SetOp::Single => if_exists || negated,
        });
    }
    let hit = |v: &str| {
        policy
            .iter()
            .map(|p| matcher(p, v))
            .fold(Truth::No, Truth::or)
    };
    let per_value: Vec<Truth> = values
        .iter()
        .map(|v| if negated { not(hit(v)) } else { hit(v) })
        .collect();
    match set {
        SetOp::All => per_value.into_iter().fold(Truth::Yes, Truth::and),
        SetOp::Any => per_value.into_iter().fold(Truth::No, Truth::or),
        // A negated operator on a multi-valued key holds when no value matches.
        SetOp::Single if negated => per_value.into_iter().fold(Truth::Yes, Truth::and),
        SetOp::Single => per_value.into_iter().fold(Truth::No, Truth::or),
    }
}

fn not(t: Truth) -> Truth {
    match t {
        Truth::Yes => Truth::No,
        Truth::No => Truth::Yes,
        Truth::Maybe => Truth::Maybe,
    }
}

type Matcher = fn(&str, &str) -> Truth;

/// `(negated, policy value × context value → match)` for an operator name.
fn matcher(op: &str) -> Option<(bool, Matcher)> {
    Some(match op {
        "StringEquals" => (false, |p, v| Truth::from_bool(p == v)),
        "StringNotEquals" => (true, |p, v| Truth::from_bool(p == v)),
        "StringEqualsIgnoreCase" => (false, |p, v| Truth::from_bool(p.eq_ignore_ascii_case(v))),
        "StringNotEqualsIgnoreCase" => (true, |p, v| Truth::from_bool(p.eq_ignore_ascii_case(v))),
        "StringLike" => (false, |p, v| Truth::from_bool(glob(p, v, false))),
        "StringNotLike" => (true, |p, v| Truth::from_bool(glob(p, v, false))),
        "ArnEquals" | "ArnLike" => (false, |p, v| Truth::from_bool(arn_like(p, v))),
        "ArnNotEquals" | "ArnNotLike" => (true, |p, v| Truth::from_bool(arn_like(p, v))),
        "Bool" => (false, |p, v| Truth::from_bool(p.eq_ignore_ascii_case(v))),
        "NumericEquals" => (false, |p, v| numeric(p, v, |a, b| a == b)),
        "NumericNotEquals" => (true, |p, v| numeric(p, v, |a, b| a == b)),
        "NumericLessThan" => (false, |p, v| numeric(p, v, |a, b| b < a)),
        "NumericLessThanEquals" => (false, |p, v| numeric(p, v, |a, b| b <= a)),
        "NumericGreaterThan" => (false, |p, v| numeric(p, v, |a, b| b > a)),
        "NumericGreaterThanEquals" => (false, |p, v| numeric(p, v, |a, b| b >= a)),
        _ => return None,
    })
}

fn numeric(policy: &str, value: &str, cmp: fn(f64, f64) -> bool) -> Truth {
    match (policy.parse::<f64>(), value.parse::<f64>()) {
        (Ok(p), Ok(v)) => Truth::from_bool(cmp(p, v)),
        _ => Truth::Maybe,
    }
}

/// `ArnLike`: each of the six colon-separated parts is matched separately, with wildcards.
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() != 6 || a.len() != 6 {
        return pattern == "*" || glob(pattern, arn, false);
    }
    p.iter().zip(&a).all(|(p, a)| glob(p, a, false))
}

/// Wildcard match: `*` any run (including none), `?` one character.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A policy element that is one string or a list of strings.
pub fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// Condition values may be strings, numbers or booleans.
fn strings_lossy(v: &Value) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Array(list) => list.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// Parse a policy document as IAM returns it: JSON, or URL-encoded JSON (GetRole,
/// GetPolicyVersion, GetRolePolicy return the document URL-encoded).
pub fn parse_document(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed) {
        return Some(v);
    }
    let decoded = urlencoding::decode(trimmed).ok()?;
    match serde_json::from_str::<Value>(&decoded) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";
    const ROLE: &str = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole";

    /// KMS: the key policy first. (key policy, identity side, expected).
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    #[test]
    fn key_policy_table() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd";
        let root = json!({"Sid": "EnableIAM", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"});
        let role_direct = json!({"Sid": "Role", "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"});
        let via_sm = json!({"Sid": "ViaSM", "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}});
        let via_ssm = json!({"Sid": "ViaSSM", "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}}});
        let deny_role = json!({"Sid": "NoRole", "Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"});
        let admins_only = json!({"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"}, "Action": "kms:*", "Resource": "*"});
        use Decision::*;
        let cases: Vec<(&str, Vec<Value>, Decision, Decision)> = vec![
            (
                "the default key policy delegates to IAM: the identity side decides",
                vec![root.clone()],
                Allowed,
                Allowed,
            ),
            (
                "delegated, the role may not decrypt",
                vec![root.clone()],
                ImplicitDeny,
                ImplicitDeny,
            ),
            (
                "the key policy names the role: no IAM allow needed",
                vec![role_direct.clone()],
                ImplicitDeny,
                Allowed,
            ),
            (
                "the key policy names neither the role nor the account",
                vec![admins_only],
                Allowed,
                ImplicitDeny,
            ),
            (
                "a deny in the key policy wins",
                vec![root.clone(), deny_role],
                Allowed,
                ExplicitDeny,
            ),
            (
                "an identity deny wins",
                vec![role_direct],
                ExplicitDeny,
                ExplicitDeny,
            ),
            (
                "granted through Secrets Manager, and the call comes through it",
                vec![via_sm],
                ImplicitDeny,
                Allowed,
            ),
            (
                "granted through SSM only",
                vec![via_ssm],
                ImplicitDeny,
                ImplicitDeny,
            ),
        ];
        let principal = Principal::of_arn(ROLE);
        let account = Principal::of_arn("arn:aws:iam::111122223333:root");
        let ctx = Context::new().set("kms:ViaService", "secretsmanager.us-east-1.amazonaws.com");
        for (name, statements, identity, want) in cases {
            let doc = json!({"Version": "2012-10-17", "Statement": statements});
            let policy = Labeled {
                label: "key policy",
                document: &doc,
            };
            let req = Request {
                action: "kms:Decrypt",
                resource: key,
                principal: Some(&principal),
                context: &ctx,
            };
            let (got, _) = with_key_policy(identity, &policy, &req, &account);
            assert_eq!(got, want, "{name}");
        }
    }

    /// A secret's resource policy beside the role's policies: (policy, same account, identity, expected).
    #[test]
    fn secret_resource_policy_table() {
        let secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf";
        let grant = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
        let account = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
        let deny = json!({"Version": "2012-10-17", "Statement": [{"Sid": "OnlyFromVpce", "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}]});
        use Decision::*;
        let cases: Vec<(&str, Option<&Value>, bool, Decision, Decision)> = vec![
            (
                "no policy, same account: the role's policies decide",
                None,
                true,
                Allowed,
                Allowed,
            ),
            (
                "no policy, another account: nothing grants it",
                None,
                false,
                Allowed,
                ImplicitDeny,
            ),
            (
                "same account, the policy names the role",
                Some(&grant),
                true,
                ImplicitDeny,
                Allowed,
            ),
            (
                "same account, the policy names only the account: IAM decides",
                Some(&account),
                true,
                ImplicitDeny,
                ImplicitDeny,
            ),
            (
                "another account, granted on both sides",
                Some(&account),
                false,
                Allowed,
                Allowed,
            ),
            (
                "another account, the role may not",
                Some(&grant),
                false,
                ImplicitDeny,
                ImplicitDeny,
            ),
            (
                "a deny that hinges on the endpoint, which is not known",
                Some(&deny),
                true,
                Allowed,
                Unknown,
            ),
        ];
        let principal = Principal::of_arn(ROLE);
        let ctx = Context::new();
        for (name, policy, same, identity, want) in cases {
            let labeled = policy.map(|d| Labeled {
                label: "resource policy",
                document: d,
            });
            let req = Request {
                action: "secretsmanager:GetSecretValue",
                resource: secret,
                principal: Some(&principal),
                context: &ctx,
            };
            let (got, _) = with_resource_policy(identity, labeled.as_ref(), &req, same, false);
            assert_eq!(got, want, "{name}");
        }
    }

    fn eval(
        policies: &[Value],
        boundary: Option<&Value>,
        action: &str,
        resource: &str,
        ctx: &Context,
    ) -> Evaluation {
        let labeled: Vec<Labeled> = policies
            .iter()
            .enumerate()
            .map(|(i, d)| Labeled {
                label: ["p1", "p2", "p3"][i],
                document: d,
            })
            .collect();
        let b = boundary.map(|d| Labeled {
            label: "boundary",
            document: d,
        });
        evaluate_identity(
            &labeled,
            b.as_ref(),
            &Request {
                action,
                resource,
                principal: None,
                context: ctx,
            },
        )
    }

    #[test]
    fn glob_table() {
        let cases = [
            ("*", "anything", true),
            ("ecr:*", "ecr:BatchGetImage", true),
            ("ecr:Batch*Image", "ecr:BatchGetImage", true),
            ("ecr:Batch*Image", "ecr:BatchCheckLayerAvailability", false),
            ("ecr:Get*Url*", "ecr:GetDownloadUrlForLayer", true),
            (
                "ecr:?etAuthorizationToken",
                "ecr:GetAuthorizationToken",
                true,
            ),
            (
                "ecr:GetAuthorizationToken",
                "ecr:GetAuthorizationTokens",
                false,
            ),
            ("a*b*c", "abxbc", true),
            ("a*b*c", "abxbd", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t, true), want, "{p} vs {t}");
        }
        assert!(
            !glob("arn:aws:ecr:*:*:repository/Team/*", REPO, false),
            "resources are case-sensitive"
        );
        assert!(arn_like(
            "arn:aws:ecs:*:111122223333:*",
            "arn:aws:ecs:us-east-1:111122223333:task/prod/abc"
        ));
        assert!(!arn_like(
            "arn:aws:ecs:*:999988887777:*",
            "arn:aws:ecs:us-east-1:111122223333:task/prod/abc"
        ));
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    fn identity_evaluation_table() {
        let ctx = Context::new()
            .set("aws:RequestedRegion", "us-east-1")
            .set("aws:PrincipalArn", ROLE);
        let allow_all_ecr =
            json!({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]});
        let managed = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]});
        let deny_batch = json!({"Statement": {"Sid": "NoPull", "Effect": "Deny", "Action": "ecr:BatchGetImage", "Resource": "*"}});
        let not_action = json!({"Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "ecr:Batch*"], "Resource": "*"}]});
        let deny_not_action = json!({"Statement": [{"Sid": "OnlyLogs", "Effect": "Deny", "NotAction": "logs:*", "Resource": "*"}]});
        let middle = json!({"Statement": [{"Effect": "Allow", "Action": "ecr:*Layer*", "Resource": "arn:aws:ecr:*:111122223333:repository/team/*"}]});
        let not_resource = json!({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "NotResource": "arn:aws:ecr:*:*:repository/team/*"}]});
        let other_repo = json!({"Statement": [{"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "arn:aws:ecr:us-east-1:111122223333:repository/other"}]});
        let vpce_deny = json!({"Statement": [{"Sid": "OnlyVpce", "Effect": "Deny", "Action": "ecr:*", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}}}]});
        let region_allow = json!({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}}]});
        let wrong_region = json!({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}]});
        let tag_allow = json!({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "web"}}}]});
        let lowercase_effect = json!({"Statement": [{"Effect": "allow", "Action": "ECR:batchgetimage", "Resource": "*"}]});
        let logs_only =
            json!({"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]});

        use Decision::*;
        // (name, policies, boundary, action, resource, expected)
        let cases: Vec<(&str, Vec<&Value>, Option<&Value>, &str, &str, Decision)> = vec![
            (
                "managed policy allows",
                vec![&managed],
                None,
                "ecr:BatchGetImage",
                REPO,
                Allowed,
            ),
            (
                "token on *",
                vec![&managed],
                None,
                "ecr:GetAuthorizationToken",
                "*",
                Allowed,
            ),
            (
                "no policies",
                vec![],
                None,
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "unrelated policy",
                vec![&logs_only],
                None,
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "deny overrides allow",
                vec![&allow_all_ecr, &deny_batch],
                None,
                "ecr:BatchGetImage",
                REPO,
                ExplicitDeny,
            ),
            (
                "deny is per action",
                vec![&allow_all_ecr, &deny_batch],
                None,
                "ecr:GetDownloadUrlForLayer",
                REPO,
                Allowed,
            ),
            (
                "NotAction excludes",
                vec![&not_action],
                None,
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "NotAction includes others",
                vec![&not_action],
                None,
                "ecr:GetDownloadUrlForLayer",
                REPO,
                Allowed,
            ),
            (
                "Deny NotAction denies everything else",
                vec![&allow_all_ecr, &deny_not_action],
                None,
                "ecr:BatchGetImage",
                REPO,
                ExplicitDeny,
            ),
            (
                "Deny NotAction spares its actions",
                vec![&logs_only, &deny_not_action],
                None,
                "logs:PutLogEvents",
                "*",
                Allowed,
            ),
            (
                "wildcard in the middle of action and resource",
                vec![&middle],
                None,
                "ecr:GetDownloadUrlForLayer",
                REPO,
                Allowed,
            ),
            (
                "wildcard in the middle, other action",
                vec![&middle],
                None,
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "resource-scoped allow does not cover *",
                vec![&middle],
                None,
                "ecr:BatchCheckLayerAvailability",
                "*",
                ImplicitDeny,
            ),
            (
                "NotResource excludes the repo",
                vec![&not_resource],
                None,
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "NotResource includes *",
                vec![&not_resource],
                None,
                "ecr:GetAuthorizationToken",
                "*",
                Allowed,
            ),
            (
                "other repository only",
                vec![&other_repo],
                None,
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "unknown condition on deny",
                vec![&allow_all_ecr, &vpce_deny],
                None,
                "ecr:BatchGetImage",
                REPO,
                Unknown,
            ),
            (
                "unknown deny irrelevant when not allowed",
                vec![&logs_only, &vpce_deny],
                None,
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "known condition holds",
                vec![&region_allow],
                None,
                "ecr:BatchGetImage",
                REPO,
                Allowed,
            ),
            (
                "known condition fails",
                vec![&wrong_region],
                None,
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "unknown condition on allow",
                vec![&tag_allow],
                None,
                "ecr:BatchGetImage",
                REPO,
                Unknown,
            ),
            (
                "effect and action case-insensitive",
                vec![&lowercase_effect],
                None,
                "ecr:BatchGetImage",
                REPO,
                Allowed,
            ),
            (
                "boundary allows",
                vec![&managed],
                Some(&allow_all_ecr),
                "ecr:BatchGetImage",
                REPO,
                Allowed,
            ),
            (
                "boundary does not allow",
                vec![&managed],
                Some(&logs_only),
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "boundary alone grants nothing",
                vec![],
                Some(&allow_all_ecr),
                "ecr:BatchGetImage",
                REPO,
                ImplicitDeny,
            ),
            (
                "boundary deny",
                vec![&managed],
                Some(&deny_batch),
                "ecr:BatchGetImage",
                REPO,
                ExplicitDeny,
            ),
        ];
        for (name, policies, boundary, action, resource, want) in cases {
            let docs: Vec<Value> = policies.into_iter().cloned().collect();
            let got = eval(&docs, boundary, action, resource, &ctx);
            assert_eq!(got.decision, want, "{name}: {got:?}");
        }
    }

    #[test]
    fn evidence_names_statement_and_unresolved_condition() {
        let ctx = Context::new();
        let deny = json!({"Statement": [{"Sid": "NoPull", "Effect": "Deny", "Action": "ecr:BatchGetImage", "Resource": "*"}]});
        let allow = json!({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]});
        let got = eval(
            &[allow.clone(), deny],
            None,
            "ecr:BatchGetImage",
            REPO,
            &ctx,
        );
        assert_eq!(got.denies[0].to_string(), "p2 statement NoPull");
        assert_eq!(got.allows[0].statement, "#1");

        let vpce = json!({"Statement": [{"Sid": "Vpce", "Effect": "Deny", "Action": "ecr:*", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}}}]});
        let got = eval(&[allow, vpce], None, "ecr:BatchGetImage", REPO, &ctx);
        assert_eq!(got.decision, Decision::Unknown);
        assert!(
            got.denies[0].unresolved[0].contains("aws:SourceVpce")
                && got.denies[0].unresolved[0].contains("vpce-0abc")
        );
    }

    #[test]
    fn condition_operator_table() {
        let ctx = Context::new()
            .set("aws:SourceAccount", "111122223333")
            .set("aws:SecureTransport", "true")
            .set("aws:PrincipalArn", ROLE)
            .absent("aws:SourceVpce")
            .set("s3:max-keys", "10")
            .one_of(
                "aws:SourceArn",
                vec![
                    "arn:aws:ecs:us-east-1:111122223333:task/prod/abc".into(),
                    "arn:aws:ecs:us-east-1:111122223333:cluster/prod".into(),
                ],
            );
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        use Truth::*;
        let cases: Vec<(&str, &str, Vec<String>, Truth)> = vec![
            (
                "StringEquals",
                "aws:SourceAccount",
                v(&["111122223333"]),
                Yes,
            ),
            (
                "StringEquals",
                "AWS:SOURCEACCOUNT",
                v(&["999988887777", "111122223333"]),
                Yes,
            ),
            (
                "StringEquals",
                "aws:SourceAccount",
                v(&["999988887777"]),
                No,
            ),
            (
                "StringNotEquals",
                "aws:SourceAccount",
                v(&["999988887777"]),
                Yes,
            ),
            (
                "StringLike",
                "aws:PrincipalArn",
                v(&["arn:aws:iam::*:role/ecs*"]),
                Yes,
            ),
            (
                "StringNotLike",
                "aws:PrincipalArn",
                v(&["arn:aws:iam::*:role/ecs*"]),
                No,
            ),
            (
                "StringEqualsIgnoreCase",
                "aws:SecureTransport",
                v(&["TRUE"]),
                Yes,
            ),
            ("Bool", "aws:SecureTransport", v(&["true"]), Yes),
            ("Bool", "aws:SecureTransport", v(&["false"]), No),
            // Absent keys: positive operators fail, negated ones and IfExists hold.
            ("StringEquals", "aws:SourceVpce", v(&["vpce-1"]), No),
            ("StringNotEquals", "aws:SourceVpce", v(&["vpce-1"]), Yes),
            (
                "StringEqualsIfExists",
                "aws:SourceVpce",
                v(&["vpce-1"]),
                Yes,
            ),
            ("Null", "aws:SourceVpce", v(&["true"]), Yes),
            ("Null", "aws:SourceVpce", v(&["false"]), No),
            ("Null", "aws:SourceAccount", v(&["true"]), No),
            // Unknown keys and unsupported operators are Maybe.
            ("StringEquals", "aws:PrincipalOrgID", v(&["o-123"]), Maybe),
            ("IpAddress", "aws:SourceAccount", v(&["10.0.0.0/8"]), Maybe),
            (
                "StringEquals",
                "aws:PrincipalArn",
                v(&["arn:aws:iam::${aws:PrincipalAccount}:role/x"]),
                Maybe,
            ),
            // One of several candidates: a decision only when all agree.
            (
                "ArnLike",
                "aws:SourceArn",
                v(&["arn:aws:ecs:us-east-1:111122223333:*"]),
                Yes,
            ),
            (
                "ArnLike",
                "aws:SourceArn",
                v(&["arn:aws:ecs:*:999988887777:*"]),
                No,
            ),
            (
                "ArnLike",
                "aws:SourceArn",
                v(&["arn:aws:ecs:us-east-1:111122223333:task/*"]),
                Maybe,
            ),
            ("NumericLessThanEquals", "s3:max-keys", v(&["10"]), Yes),
            ("NumericGreaterThan", "s3:max-keys", v(&["10"]), No),
            (
                "ForAnyValue:StringEquals",
                "aws:SourceAccount",
                v(&["111122223333"]),
                Yes,
            ),
            (
                "ForAllValues:StringEquals",
                "aws:SourceVpce",
                v(&["x"]),
                Yes,
            ),
            (
                "Bogus:StringEquals",
                "aws:SourceAccount",
                v(&["111122223333"]),
                Maybe,
            ),
        ];
        for (op, key, values, want) in cases {
            assert_eq!(
                condition(op, key, &values, &ctx),
                want,
                "{op} {key} {values:?}"
            );
        }
    }

    #[test]
    fn resource_policy_principals() {
        let role = Principal {
            arn: Some(ROLE.into()),
            id: Some("AROAEXAMPLE".into()),
            account: Some("111122223333".into()),
            ..Default::default()
        };
        let ctx = Context::new();
        let req = Request {
            action: "ecr:BatchGetImage",
            resource: REPO,
            principal: Some(&role),
            context: &ctx,
        };
        let cases: Vec<(Value, Truth)> = vec![
            (json!("*"), Truth::Yes),
            (json!({"AWS": "*"}), Truth::Yes),
            (json!({"AWS": "111122223333"}), Truth::Yes),
            (json!({"AWS": "arn:aws:iam::111122223333:root"}), Truth::Yes),
            (
                json!({"AWS": ["arn:aws:iam::999988887777:root", ROLE]}),
                Truth::Yes,
            ),
            (json!({"AWS": "AROAEXAMPLE"}), Truth::Yes),
            (
                json!({"AWS": "arn:aws:sts::111122223333:assumed-role/ecsTaskExecutionRole/abc"}),
                Truth::Yes,
            ),
            (json!({"AWS": "arn:aws:iam::999988887777:root"}), Truth::No),
            (
                json!({"AWS": "arn:aws:iam::111122223333:role/other"}),
                Truth::No,
            ),
            (json!({"Service": "ecs-tasks.amazonaws.com"}), Truth::No),
        ];
        for (principal, want) in cases {
            let st = json!({"Effect": "Allow", "Principal": principal, "Action": "ecr:*"});
            assert_eq!(statement_applies(&st, &req).0, want, "{principal}");
        }
        let not_principal =
            json!({"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "ecr:*"});
        assert_eq!(statement_applies(&not_principal, &req).0, Truth::No);
        let service = Principal {
            service: Some("ecs-tasks.amazonaws.com".into()),
            ..Default::default()
        };
        let trust = json!({"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}, "Action": "sts:AssumeRole"});
        let req = Request {
            action: "sts:AssumeRole",
            resource: ROLE,
            principal: Some(&service),
            context: &ctx,
        };
        assert_eq!(statement_applies(&trust, &req).0, Truth::Yes);
        let aws_account = json!({"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"});
        assert_eq!(statement_applies(&aws_account, &req).0, Truth::No);
    }

    #[test]
    fn parses_plain_and_url_encoded_documents() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let encoded = urlencoding::encode(plain).into_owned();
        assert_eq!(parse_document(plain), parse_document(&encoded));
        assert!(parse_document(plain).is_some());
        assert!(parse_document("not json").is_none());
        assert!(parse_document("[1]").is_none());
    }
}
