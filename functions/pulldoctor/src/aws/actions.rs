//! The catalogue of AWS actions pulldoctor calls: the IAM policies in infra/ and template.yaml
//! grant exactly these (tests/tools/check-policy.py keeps them equal).

/// The reads only `pulldoctor preflight` makes (EKS, and the container instances of an EC2
/// bridge/host service), granted by `pulldoctor-preflight.json`, never by the Lambda's role.
pub const PREFLIGHT_ONLY_ACTIONS: &[&str] = &[
    "ec2:DescribeLaunchTemplateVersions",
    "eks:DescribeCluster",
    "eks:DescribeNodegroup",
    "eks:DescribeFargateProfile",
    "ecs:ListContainerInstances",
];

/// Every AWS read the collector may issue, as IAM action names. `infra/policies/*.json` grant exactly
/// these (a unit test keeps them equal); the Lambda's role in `template.yaml` grants all but the
/// preflight-only ones (`pulldoctor-preflight.json`, for CLI users), and
/// [`CallLog::read`] refuses, in debug builds, an action missing here.
pub const READ_ACTIONS: &[&str] = &[
    "ecs:DescribeTasks",
    "ecs:DescribeTaskDefinition",
    "ecs:DescribeServices",
    // History on (collect/deploy.rs): the service deployment history and its revisions.
    "ecs:ListServiceDeployments",
    "ecs:DescribeServiceRevisions",
    "ecs:DescribeContainerInstances",
    // Only for a task that names a capacity provider and no launch type (Managed Instances or EC2).
    "ecs:DescribeCapacityProviders",
    // Preflight of an EC2 bridge/host service: the instances its tasks would land on.
    "ecs:ListContainerInstances",
    // History on: the other services that share the root cause's resource (collect/blast_radius.rs).
    "ecs:ListServices",
    "ecs:ListClusters",
    // Not read by the diagnosis since DescribeImages tells whether the repository exists; still
    // granted by the deployed policies (dropping the grant is a deployment change).
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetRepositoryPolicy",
    "ecr:GetLifecyclePolicy",
    // Only when the image or its repository is missing (collect/missing_image.rs).
    "ecr:DescribePullThroughCacheRules",
    "ecr:GetRegistryPolicy",
    "ecs:ListTasks",
    "ec2:DescribeInstances",
    // Preflight of an EKS node group: its launch template's security groups.
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribePrefixLists",
    "ec2:GetManagedPrefixListEntries",
    // Hub-and-spoke endpoints: where the VPC resolves the ECR and S3 names (no public path only).
    "route53:ListHostedZonesByVPC",
    "route53resolver:ListResolverRuleAssociations",
    "route53resolver:GetResolverRule",
    // Preflight of an EKS node group (CLI): the cluster and the node group.
    "eks:DescribeCluster",
    "eks:DescribeNodegroup",
    "eks:DescribeFargateProfile",
    "iam:GetRole",
    "iam:SimulatePrincipalPolicy",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetInstanceProfile",
    "secretsmanager:DescribeSecret",
    // A task secret's resource policy, beside the execution role's side (metadata, never a value).
    "secretsmanager:GetResourcePolicy",
    // The key policy of a customer managed key that encrypts a task secret: KMS decides with it first.
    "kms:GetKeyPolicy",
    // Opt-in at deploy time (RegistrySecretArns): only the secret's keys are looked at.
    "secretsmanager:GetSecretValue",
    // The task's secrets from SSM Parameter Store: metadata only (exists, type, KMS key).
    "ssm:DescribeParameters",
    // History (on by default): the writes to the resources the root cause names. Resource "*" only.
    "cloudtrail:LookupEvents",
];

#[cfg(test)]
mod tests {
    use super::{PREFLIGHT_ONLY_ACTIONS, READ_ACTIONS};
    use crate::checks::RULES;

    /// Every read a rule names is granted by the deployed policies (which list these actions).
    #[test]
    fn every_read_is_in_the_action_catalogue() {
        for r in RULES {
            assert!(!r.reads.is_empty(), "{}: names no read", r.name);
            for action in r.all_reads() {
                assert!(
                    READ_ACTIONS.contains(&action) || PREFLIGHT_ONLY_ACTIONS.contains(&action),
                    "{}: {action} is not in crate::aws::READ_ACTIONS (the IAM policies would not grant it)",
                    r.name
                );
            }
        }
    }
}
