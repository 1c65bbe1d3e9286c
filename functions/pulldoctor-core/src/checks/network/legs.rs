//! The shapes of one pull's path, shared by the network checks and the hub-and-spoke DNS model:
//! the legs a pull needs ([`Service`], [`Leg`], [`Via`]), where the default route leads
//! ([`Internet`]) and the analysed path ([`Net`], worked out in [`super::path`]). Types only, so
//! that the path and the hub's DNS redirects can both use them without using each other.

use crate::model::facts::{
    endpoint_service, EndpointFacts, Facts, NetworkFacts, Origin, RouteTableFacts,
};
use crate::model::image_ref::ImageRef;
use crate::model::secret_ref::SecretStore;

/// What one leg of the pull talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `api.ecr.<region>`: the authorization token.
    EcrApi,
    /// `<account>.dkr.ecr.<region>`: manifests and layer URLs.
    EcrDkr,
    /// `prod-<region>-starport-layer-bucket`: the layers themselves.
    S3,
    /// Secrets Manager: private registry credentials, and the task's secrets kept there.
    SecretsManager,
    /// SSM Parameter Store: the task's secrets kept there.
    Ssm,
    /// A registry that is not ECR private (Docker Hub, ECR Public, GHCR…).
    Registry,
}

impl Service {
    /// The VPC endpoint service suffix, when an endpoint can serve this leg.
    pub fn endpoint_suffix(self) -> Option<&'static str> {
        match self {
            Service::EcrApi => Some("ecr.api"),
            Service::EcrDkr => Some("ecr.dkr"),
            Service::S3 => Some("s3"),
            Service::SecretsManager => Some("secretsmanager"),
            Service::Ssm => Some("ssm"),
            Service::Registry => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Service::EcrApi => "ECR API (auth token)",
            Service::EcrDkr => "ECR registry",
            Service::S3 => "S3 layer bucket",
            Service::SecretsManager => "Secrets Manager",
            Service::Ssm => "SSM Parameter Store",
            Service::Registry => "registry",
        }
    }
}

/// How a leg leaves the subnet.
#[derive(Debug, Clone)]
pub enum Via<'a> {
    /// An interface endpoint with private DNS: the name resolves to the endpoint's ENIs.
    Interface(&'a EndpointFacts),
    /// The S3 gateway endpoint associated with the subnet's route table (prefix-list route).
    Gateway(&'a EndpointFacts),
    /// Public addresses, through the subnet's default route. `note` says why no endpoint is used
    /// when one exists.
    Internet { note: Option<String> },
    /// Could not tell (the endpoints could not be read).
    Unknown(String),
}

#[derive(Debug, Clone)]
pub struct Leg<'a> {
    pub service: Service,
    pub host: String,
    /// A dual-stack name (`<account>.dkr-ecr.<region>.on.aws`): it has IPv6 addresses as well as
    /// IPv4 ones, and PrivateLink does not serve it (ECR supports PrivateLink on its IPv4-only
    /// names only), so it always leaves through the default routes.
    pub dual_stack: bool,
    /// Region of the destination (the image's region for ECR legs).
    pub region: String,
    pub via: Via<'a>,
}

impl Leg<'_> {
    pub fn uses_internet(&self) -> bool {
        matches!(self.via, Via::Internet { .. })
    }
    /// The endpoint service name that could serve this leg from the VPC (same region only).
    pub fn endpoint_service(&self, vpc_region: &str) -> Option<String> {
        let suffix = self.service.endpoint_suffix()?;
        (self.region == vpc_region).then(|| endpoint_service(vpc_region, suffix))
    }
}

/// Where the subnet's default route leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Internet {
    /// Reaches the internet: through an IGW with a public IP, or an available NAT gateway whose
    /// own subnet routes to an IGW.
    Open { target: String, detail: String },
    /// Default route to an internet gateway, but the task/instance has no public IP.
    NoPublicIp { igw: String, source: String },
    /// Default route to an internet gateway; whether there is a public IP cannot be recovered.
    PublicIpUnknown { igw: String, reason: String },
    /// No way out: no default route, a blackhole, a NAT gateway that is not available…
    Closed { reason: String },
    /// A target this tool cannot see past (transit gateway, VPN, NAT instance, firewall endpoint).
    Unseeable { target: String, verify: String },
    /// The route table could not be read.
    Unknown { reason: String },
}

impl Internet {
    /// Traffic to public addresses may leave the subnet (definitely or possibly).
    pub fn may_pass(&self) -> bool {
        matches!(self, Internet::Open { .. } | Internet::Unseeable { .. })
    }
}

/// The analysed path of one pull.
pub struct Net<'a> {
    pub facts: &'a Facts,
    pub n: &'a NetworkFacts,
    pub origin: Origin,
    /// The task's (and VPC's) region.
    pub region: String,
    pub subnet_id: String,
    pub image: &'a ImageRef,
    pub route_table: Option<&'a RouteTableFacts>,
    pub internet: Internet,
    pub legs: Vec<Leg<'a>>,
    /// Fargate platform version 1.3.0 or earlier (auth and secrets go through Fargate's own ENI).
    pub fargate_legacy: bool,
    /// The task's own secrets could not be fetched because their store was unreachable (a network
    /// message at the secrets step): the path is then the legs to that store alone.
    pub secrets_step: Option<SecretStore>,
}

/// Why the network checks cannot run: `None` = they do not apply (no finding at all).
pub type NotApplicable = Option<String>;

/// Is this VPC built to reach ECR through endpoints, i.e. does it have an ECR interface endpoint
/// (`ecr.api` or `ecr.dkr`, any state)? The S3 gateway endpoint does not count: it is free, and
/// commonly added beside a NAT gateway to save NAT charges, so on its own it says nothing about
/// how the VPC means to reach ECR. Only then is a missing endpoint the cause (NET_ENDPOINT_MISSING);
/// otherwise a subnet without an internet path has no route (NET_NO_ROUTE).
pub fn any_ecr_interface_endpoint(net: &Net) -> bool {
    ["ecr.api", "ecr.dkr"].iter().any(|svc| {
        net.endpoints_for(&endpoint_service(&net.region, svc))
            .iter()
            .any(|e| e.is_interface())
    })
}
