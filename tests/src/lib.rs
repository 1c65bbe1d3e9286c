//! Test harness for pulldoctor's workspace integration tests. One module a job:
//!
//! * [`moto`]: [`Moto`] starts a private `moto_server` on 127.0.0.1 (one per world) and kills it
//!   on drop; [`Moto::url`] is the endpoint clients use.
//! * [`proxy`]: the one HTTP [`Proxy`] between the SDK and moto: moto compatibility (ECS
//!   container numbers as strings), fault injection, latency, the call log, and the emulated
//!   CloudTrail ([`cloudtrail`]) moto lacks.
//! * [`worlds`]: [`World`] and its builders by service (network, ECS, ECR, IAM, SNS, secrets,
//!   DynamoDB), and the shared service worlds [`WebAccount`], [`WebService`], [`NatRouteDeleted`].
//! * [`events`]: realistic EventBridge `ECS Task State Change` events and the saved fixtures.
//! * [`diagnosis`]: the summary and diagnosis JSON of an SNS message pulldoctor delivered.
//! * [`cli`]: the workspace's binaries; [`run_cli`] runs the `pulldoctor` CLI against moto.
//! * [`lambda`]: the handler in-process, and the real `pulldoctor-lambda` binary behind a local
//!   Lambda Runtime API.
//! * [`alerting`]: a Slack webhook stub; [`slack_api`]: a stand-in for Slack's Web API (chat.postMessage,
//!   chat.update, thread replies).
//! * [`pagerduty`], [`teams`]: stand-ins for PagerDuty's Events API v2 and a Teams Workflows
//!   webhook, on [`http::Server`].
//! * [`contracts`]: the JSON schemas in `docs/schemas/`.
//! * [`http`], [`util`]: the HTTP/1.1 the local servers speak; digests, ids, temp files.

pub mod alerting;
pub mod cli;
pub mod cloudtrail;
pub mod contracts;
pub mod diagnosis;
pub mod events;
pub mod http;
pub mod lambda;
pub mod moto;
pub mod pagerduty;
pub mod proxy;
pub mod slack_api;
pub mod teams;
pub mod util;
pub mod worlds;

pub use cli::{pulldoctor_bin, run_cli, CliOutput};
pub use diagnosis::{deciding_finding, diagnosis_from_sns_body, sns_diagnosis, split_sns_body};
pub use moto::{Moto, ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY};
pub use proxy::{Fault, Proxy};
pub use util::{random_hex32, random_uuid, sha256_digest, TempFile};
pub use worlds::{
    awsvpc, docker_manifest, ecr_registry, trust_policy, Eni, Inbox, Launch, NatRouteDeleted,
    Network, Repository, SnsMessage, StoppedTask, TaskDefSpec, WebAccount, WebService, World,
    EXECUTION_ROLE_POLICY_ARN,
};
