//! The harness's stand-in for CloudTrail: moto has no `LookupEvents`, so the [`crate::Proxy`]
//! records every successful mutating call a world makes through it as a management event, and
//! answers `cloudtrail:LookupEvents` from that record in CloudTrail's documented JSON shape.
//!
//! * Who called: the SigV4 access key. Keys that an STS `AssumeRole` answer (seen through the
//!   proxy) handed out are that role session (`assumed-role/platform-deployer/ci-1234`); any
//!   other key is the account's root.
//! * The resources: the ids and names the request carries (EC2 ids, IAM role names, ECR
//!   repository names, secret ids), as CloudTrail lists them in `Resources`.
//! * Service events a world cannot cause through an API (an ECR lifecycle expiry,
//!   `PolicyExecutionEvent`) are added with [`Trail::add`].
//!
//! `LookupEvents` honours one `LookupAttributes` entry (`ResourceName` or `EventName`; others
//! answer `InvalidLookupAttributesException`), `StartTime`/`EndTime`, `MaxResults` (at most 50)
//! and `NextToken`, newest first, as CloudTrail does.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::moto::ACCOUNT_ID;
use crate::util::random_uuid;

/// Operations that only read: never recorded.
const READ_PREFIXES: &[&str] = &[
    "Describe", "List", "Get", "Lookup", "BatchGet", "Simulate", "Search", "Query", "Scan",
    "Check", "Validate",
];
/// Services whose calls are not management writes worth a record (data planes, the harness's own
/// plumbing, STS sessions).
const UNRECORDED: &[&str] = &["sts", "sns", "sqs", "dynamodb", "logs", "cloudtrail"];

/// Request fields that name a resource, with CloudTrail's resource type.
const RESOURCE_FIELDS: &[(&str, &str)] = &[
    ("RouteTableId", "AWS::EC2::RouteTable"),
    ("GroupId", "AWS::EC2::SecurityGroup"),
    ("NetworkAclId", "AWS::EC2::NetworkAcl"),
    ("NatGatewayId", "AWS::EC2::NatGateway"),
    ("VpcEndpointId", "AWS::EC2::VPCEndpoint"),
    ("SubnetId", "AWS::EC2::Subnet"),
    ("InternetGatewayId", "AWS::EC2::InternetGateway"),
    ("RoleName", "AWS::IAM::Role"),
    ("PolicyArn", "AWS::IAM::Policy"),
    ("repositoryName", "AWS::ECR::Repository"),
    ("SecretId", "AWS::SecretsManager::Secret"),
];

/// Who made a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Caller {
    /// The account's root (any key STS did not hand out).
    Root,
    /// A role session from `AssumeRole`.
    RoleSession {
        role: String,
        session: String,
        principal_id: String,
    },
    /// An AWS service on its own (`ecr.amazonaws.com` for a lifecycle expiry).
    Service(String),
}

/// One recorded event.
#[derive(Clone, Debug)]
pub struct TrailEvent {
    pub id: String,
    pub name: String,
    /// `ec2.amazonaws.com`.
    pub source: String,
    /// Whole seconds, as CloudTrail records them.
    pub time: DateTime<Utc>,
    pub read_only: bool,
    pub access_key: Option<String>,
    pub caller: Caller,
    /// `cloudformation.amazonaws.com` when a service called on the caller's behalf.
    pub invoked_by: Option<String>,
    /// `(ResourceType, ResourceName)`.
    pub resources: Vec<(String, String)>,
    pub request: Value,
    /// `AwsApiCall`, `AwsServiceEvent`.
    pub event_type: String,
    pub service_details: Option<Value>,
}

impl TrailEvent {
    /// An ECR lifecycle policy expiry of `tags` in repository `name` (its ARN `arn`): a
    /// read-only `AwsServiceEvent` on the repository ARN, as ECR records it.
    pub fn lifecycle_expiry(arn: &str, name: &str, tags: &[&str], at: DateTime<Utc>) -> TrailEvent {
        TrailEvent {
            id: random_uuid(),
            name: "PolicyExecutionEvent".into(),
            source: "ecr.amazonaws.com".into(),
            time: whole_seconds(at),
            read_only: true,
            access_key: None,
            caller: Caller::Service("ecr.amazonaws.com".into()),
            invoked_by: Some("AWS Internal".into()),
            resources: vec![("AWS::ECR::Repository".into(), arn.into())],
            request: Value::Null,
            event_type: "AwsServiceEvent".into(),
            service_details: Some(json!({
                "repositoryName": name,
                "lifecycleEventImageActions": [{"lifecycleEventImage": {"tagStatus": "TAGGED", "tagList": tags}, "rule": {"action": {"type": "EXPIRE"}}}],
            })),
        }
    }

    /// The `userIdentity` of the record.
    fn user_identity(&self) -> Value {
        match &self.caller {
            Caller::Root => json!({
                "type": "Root",
                "principalId": ACCOUNT_ID,
                "arn": format!("arn:aws:iam::{ACCOUNT_ID}:root"),
                "accountId": ACCOUNT_ID,
                "accessKeyId": self.access_key,
                "invokedBy": self.invoked_by,
            }),
            Caller::RoleSession {
                role,
                session,
                principal_id,
            } => json!({
                "type": "AssumedRole",
                "principalId": principal_id,
                "arn": format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}"),
                "accountId": ACCOUNT_ID,
                "accessKeyId": self.access_key,
                "invokedBy": self.invoked_by,
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": principal_id.split(':').next().unwrap_or_default(),
                        "arn": format!("arn:aws:iam::{ACCOUNT_ID}:role/{role}"),
                        "accountId": ACCOUNT_ID,
                        "userName": role,
                    },
                    "attributes": {"mfaAuthenticated": "false"},
                },
            }),
            Caller::Service(_) => json!({"accountId": ACCOUNT_ID, "invokedBy": self.invoked_by}),
        }
    }

    /// `Username` of a `LookupEvents` entry: the session name, `root`, or absent.
    fn username(&self) -> Option<String> {
        match &self.caller {
            Caller::Root => Some("root".into()),
            Caller::RoleSession { session, .. } => Some(session.clone()),
            Caller::Service(_) => None,
        }
    }

    /// The entry as `LookupEvents` returns it.
    pub fn to_lookup_entry(&self) -> Value {
        let mut record = json!({
            "eventVersion": "1.09",
            "userIdentity": self.user_identity(),
            "eventTime": self.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "eventSource": self.source,
            "eventName": self.name,
            "awsRegion": crate::moto::REGION,
            "sourceIPAddress": if matches!(self.caller, Caller::Service(_)) { "AWS Internal" } else { "127.0.0.1" },
            "userAgent": "aws-sdk-rust",
            "requestParameters": self.request,
            "responseElements": null,
            "eventID": self.id,
            "readOnly": self.read_only,
            "resources": self.resources.iter().map(|(t, n)| json!({"type": t, "ARN": n, "accountId": ACCOUNT_ID})).collect::<Vec<_>>(),
            "eventType": self.event_type,
            "managementEvent": true,
            "recipientAccountId": ACCOUNT_ID,
        });
        if let Some(details) = &self.service_details {
            record["serviceEventDetails"] = details.clone();
        }
        let mut entry = json!({
            "EventId": self.id,
            "EventName": self.name,
            "ReadOnly": self.read_only.to_string(),
            "EventTime": self.time.timestamp(),
            "EventSource": self.source,
            "Resources": self.resources.iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect::<Vec<_>>(),
            "CloudTrailEvent": record.to_string(),
        });
        if let Some(key) = &self.access_key {
            entry["AccessKeyId"] = json!(key);
        }
        if let Some(user) = self.username() {
            entry["Username"] = json!(user);
        }
        entry
    }
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The record, and the identities STS handed out.
#[derive(Default)]
pub struct Trail {
    events: Mutex<Vec<TrailEvent>>,
    sessions: Mutex<HashMap<String, Caller>>,
    lookups: Mutex<u32>,
}

impl Trail {
    /// Adds an event a world cannot make through an API (a service event).
    pub fn add(&self, event: TrailEvent) {
        self.events.lock().unwrap().push(event);
    }

    /// Everything recorded so far, oldest first.
    pub fn events(&self) -> Vec<TrailEvent> {
        self.events.lock().unwrap().clone()
    }

    /// `LookupEvents` requests answered so far.
    pub fn lookups(&self) -> u32 {
        *self.lookups.lock().unwrap()
    }

    /// Records what one forwarded, successful request did: an STS `AssumeRole` answer
    /// remembers its key; a mutating call becomes an event.
    pub fn observe(&self, action: &str, head: &[String], body: &[u8], response: &[u8]) {
        let (service, operation) = action.split_once(':').unwrap_or((action, ""));
        let params = request_params(head, body);
        if action == "sts:AssumeRole" {
            let text = String::from_utf8_lossy(response);
            let (Some(key), Some(arn), Some(id)) = (
                xml_text(&text, "AccessKeyId"),
                xml_text(&text, "Arn"),
                xml_text(&text, "AssumedRoleId"),
            ) else {
                return;
            };
            // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
            let mut parts = arn.rsplit('/');
            let (Some(session), Some(role)) = (parts.next(), parts.next()) else {
                return;
            };
            let caller = Caller::RoleSession {
                role: role.into(),
                session: session.into(),
                principal_id: id,
            };
            self.sessions.lock().unwrap().insert(key, caller);
            return;
        }
        if UNRECORDED.contains(&service) || READ_PREFIXES.iter().any(|p| operation.starts_with(p)) {
            return;
        }
        let access_key = access_key(head);
        let caller = access_key
            .as_ref()
            .and_then(|k| self.sessions.lock().unwrap().get(k).cloned())
            .unwrap_or(Caller::Root);
        let resources = params
            .iter()
            .flat_map(|(k, v)| {
                let field = k.split('.').next().unwrap_or(k);
                let kind = RESOURCE_FIELDS
                    .iter()
                    .find(|(f, _)| f.eq_ignore_ascii_case(field))
                    .map(|(_, t)| *t);
                kind.and_then(|t| Some((t.to_string(), v.as_str()?.to_string())))
            })
            .collect();
        let request: Map<String, Value> = params
            .into_iter()
            .filter(|(k, _)| k != "Action" && k != "Version")
            .map(|(k, v)| (lower_first(&k), v))
            .collect();
        self.add(TrailEvent {
            id: random_uuid(),
            name: operation.to_string(),
            source: format!("{service}.amazonaws.com"),
            time: whole_seconds(Utc::now()),
            read_only: false,
            access_key,
            caller,
            invoked_by: None,
            resources,
            request: Value::Object(request),
            event_type: "AwsApiCall".into(),
            service_details: None,
        });
    }

    /// The answer to a `LookupEvents` request body: `(status, JSON body)`.
    pub fn lookup(&self, body: &[u8]) -> (u16, Value) {
        *self.lookups.lock().unwrap() += 1;
        let invalid =
            |code: &str, message: &str| (400, json!({"__type": code, "message": message}));
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return invalid("SerializationException", "the request is not JSON");
        };
        let attributes = request["LookupAttributes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if attributes.len() > 1 {
            return invalid(
                "InvalidLookupAttributesException",
                "You cannot specify more than one lookup attribute.",
            );
        }
        let filter = match attributes.first() {
            None => None,
            Some(a) => match (a["AttributeKey"].as_str(), a["AttributeValue"].as_str()) {
                (Some(k @ ("ResourceName" | "EventName")), Some(v)) => {
                    Some((k.to_string(), v.to_string()))
                }
                _ => {
                    return invalid(
                        "InvalidLookupAttributesException",
                        "The harness answers ResourceName or EventName lookups.",
                    )
                }
            },
        };
        let max = request["MaxResults"].as_i64().unwrap_or(50);
        if !(1..=50).contains(&max) {
            return invalid(
                "InvalidMaxResultsException",
                "MaxResults must be between 1 and 50.",
            );
        }
        let offset = match request["NextToken"].as_str() {
            None => 0,
            Some(t) => match t
                .strip_prefix("harness-")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => n,
                None => return invalid("InvalidNextTokenException", "Invalid NextToken."),
            },
        };
        let at = |field: &str| request[field].as_f64().map(|s| s as i64);
        let (start, end) = (at("StartTime"), at("EndTime"));
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return invalid("InvalidTimeRangeException", "StartTime is after EndTime.");
            }
        }
        let mut matching: Vec<TrailEvent> = self
            .events()
            .into_iter()
            .filter(|e| {
                start.is_none_or(|s| e.time.timestamp() >= s)
                    && end.is_none_or(|t| e.time.timestamp() <= t)
            })
            .filter(|e| match &filter {
                None => true,
                Some((k, v)) if k == "EventName" => &e.name == v,
                Some((_, v)) => e.resources.iter().any(|(_, n)| n == v),
            })
            .collect();
        // Newest first; recorded order breaks ties within a second.
        matching.reverse();
        matching.sort_by_key(|e| std::cmp::Reverse(e.time));
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(max as usize)
            .map(TrailEvent::to_lookup_entry)
            .collect();
        let mut answer = json!({"Events": page});
        let next = offset + max as usize;
        if next < matching.len() {
            answer["NextToken"] = json!(format!("harness-{next}"));
        }
        (200, answer)
    }
}

/// The SigV4 access key id of a request.
fn access_key(head: &[String]) -> Option<String> {
    crate::http::header(head, "authorization")?
        .split("Credential=")
        .nth(1)?
        .split('/')
        .next()
        .map(str::to_string)
}

/// The request's parameters: the form fields of a query-protocol request, or the top-level
/// fields of a JSON one.
fn request_params(head: &[String], body: &[u8]) -> Vec<(String, Value)> {
    if crate::http::header(head, "x-amz-target").is_some() {
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map.into_iter().collect(),
            _ => vec![],
        };
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (percent_decode(k), Value::String(percent_decode(v))))
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The text of the first `<tag>…</tag>` in an XML answer.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSUMED: &str = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLEKEY</AccessKeyId><SecretAccessKey>s</SecretAccessKey></Credentials><AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:ci-1234</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/platform-deployer/ci-1234</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>";

    fn signed(key: &str, service: &str, target: Option<&str>) -> Vec<String> {
        let mut head = vec![
            "POST / HTTP/1.1".to_string(),
            format!("authorization: AWS4-HMAC-SHA256 Credential={key}/20261130/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"),
        ];
        if let Some(t) = target {
            head.push(format!("x-amz-target: {t}"));
        }
        head
    }

    fn lookup(trail: &Trail, request: Value) -> Value {
        let (status, answer) = trail.lookup(request.to_string().as_bytes());
        assert_eq!(status, 200, "{answer}");
        answer
    }

    #[test]
    fn writes_are_recorded_with_their_caller_and_resources() {
        let trail = Trail::default();
        trail.observe("sts:AssumeRole", &signed("testing", "sts", None), b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fplatform-deployer&RoleSessionName=ci-1234", ASSUMED.as_bytes());
        let delete = b"Action=DeleteRoute&Version=2016-11-15&RouteTableId=rtb-0abc&DestinationCidrBlock=0.0.0.0%2F0";
        trail.observe(
            "ec2:DeleteRoute",
            &signed("ASIAROLEKEY", "ec2", None),
            delete,
            b"<DeleteRouteResponse/>",
        );
        trail.observe(
            "ec2:DescribeRouteTables",
            &signed("ASIAROLEKEY", "ec2", None),
            b"Action=DescribeRouteTables&RouteTableId.1=rtb-0abc",
            b"",
        );
        let policy = br#"{"repositoryName":"team/web","policyText":"{}"}"#;
        trail.observe(
            "ecr:SetRepositoryPolicy",
            &signed(
                "testing",
                "ecr",
                Some("AmazonEC2ContainerRegistry_V20150921.SetRepositoryPolicy"),
            ),
            policy,
            b"{}",
        );

        let events = trail.events();
        assert_eq!(
            events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["DeleteRoute", "SetRepositoryPolicy"],
            "reads and STS are not recorded"
        );
        let answer = lookup(
            &trail,
            json!({"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": "rtb-0abc"}]}),
        );
        let entry = &answer["Events"][0];
        assert_eq!(answer["Events"].as_array().unwrap().len(), 1);
        assert_eq!(entry["EventName"], "DeleteRoute");
        assert_eq!(entry["ReadOnly"], "false");
        assert_eq!(entry["Username"], "ci-1234");
        assert_eq!(entry["AccessKeyId"], "ASIAROLEKEY");
        assert_eq!(
            entry["Resources"],
            json!([{"ResourceType": "AWS::EC2::RouteTable", "ResourceName": "rtb-0abc"}])
        );
        let record: Value =
            serde_json::from_str(entry["CloudTrailEvent"].as_str().unwrap()).unwrap();
        assert_eq!(record["userIdentity"]["type"], "AssumedRole");
        assert_eq!(
            record["userIdentity"]["arn"],
            "arn:aws:sts::123456789012:assumed-role/platform-deployer/ci-1234"
        );
        assert_eq!(
            record["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"],
            "platform-deployer"
        );
        assert_eq!(record["sourceIPAddress"], "127.0.0.1");
        assert_eq!(record["eventID"], entry["EventId"]);
        assert_eq!(
            record["requestParameters"],
            json!({"routeTableId": "rtb-0abc", "destinationCidrBlock": "0.0.0.0/0"})
        );

        let ecr = lookup(
            &trail,
            json!({"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": "team/web"}]}),
        );
        let record: Value =
            serde_json::from_str(ecr["Events"][0]["CloudTrailEvent"].as_str().unwrap()).unwrap();
        assert_eq!(
            record["userIdentity"]["type"], "Root",
            "a key STS did not hand out is the account's"
        );
        assert_eq!(ecr["Events"][0]["Username"], "root");
    }

    #[test]
    fn lookups_page_filter_by_time_and_refuse_two_attributes() {
        let trail = Trail::default();
        let now = whole_seconds(Utc::now());
        for i in 0..5 {
            let mut e = TrailEvent::lifecycle_expiry(
                "arn:aws:ecr:us-east-1:123456789012:repository/team/web",
                "team/web",
                &["v1"],
                now - chrono::Duration::hours(i),
            );
            e.id = format!("event-{i}");
            trail.add(e);
        }
        let by_arn = json!({"AttributeKey": "ResourceName", "AttributeValue": "arn:aws:ecr:us-east-1:123456789012:repository/team/web"});
        let first = lookup(
            &trail,
            json!({"LookupAttributes": [by_arn], "MaxResults": 2}),
        );
        let ids = |a: &Value| {
            a["Events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["EventId"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&first), ["event-0", "event-1"], "newest first");
        assert_eq!(first["Events"][0]["ReadOnly"], "true");
        let second = lookup(
            &trail,
            json!({"LookupAttributes": [by_arn], "MaxResults": 2, "NextToken": first["NextToken"]}),
        );
        assert_eq!(ids(&second), ["event-2", "event-3"]);
        let window = json!({"LookupAttributes": [by_arn], "StartTime": (now - chrono::Duration::minutes(150)).timestamp(), "EndTime": (now - chrono::Duration::minutes(30)).timestamp()});
        assert_eq!(ids(&lookup(&trail, window)), ["event-1", "event-2"]);
        let by_name = lookup(
            &trail,
            json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "PolicyExecutionEvent"}]}),
        );
        assert_eq!(ids(&by_name).len(), 5);
        assert!(by_name.get("NextToken").is_none());
        let (status, error) = trail.lookup(
            json!({"LookupAttributes": [by_arn, by_arn]})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(
            (status, error["__type"].as_str()),
            (400, Some("InvalidLookupAttributesException"))
        );
        assert_eq!(trail.lookups(), 5);
    }
}
