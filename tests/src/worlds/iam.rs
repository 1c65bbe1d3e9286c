//! IAM builders: roles that a service may assume, with AWS managed and inline policies.

use serde_json::{json, Value};

use super::World;

/// The AWS managed policy an ECS task execution role normally carries.
pub const EXECUTION_ROLE_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

/// A trust policy that lets `service` (`ecs-tasks.amazonaws.com`) assume the role.
pub fn trust_policy(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole"
        }]
    })
}

impl World {
    /// An ECS task execution role: trusts `ecs-tasks.amazonaws.com`, has
    /// `AmazonECSTaskExecutionRolePolicy` attached. Returns its ARN.
    pub async fn execution_role(&self, name: &str) -> String {
        self.service_role(
            name,
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
        )
        .await
    }

    /// A role that `service` may assume, with these AWS managed policies attached (by ARN, or by
    /// name for those at the root path). Returns its ARN.
    pub async fn service_role(
        &self,
        name: &str,
        service: &str,
        managed_policies: &[&str],
    ) -> String {
        let arn = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust_policy(service).to_string())
            .send()
            .await
            .expect("CreateRole")
            .role
            .map(|r| r.arn)
            .expect("role arn");
        for policy in managed_policies {
            self.iam
                .attach_role_policy()
                .role_name(name)
                .policy_arn(if policy.starts_with("arn:") {
                    policy.to_string()
                } else {
                    format!("arn:aws:iam::aws:policy/{policy}")
                })
                .send()
                .await
                .expect("AttachRolePolicy (is MOTO_IAM_LOAD_MANAGED_POLICIES=true?)");
        }
        arn
    }

    /// Puts inline policy `policy_name` with `document` on role `role_name`.
    pub async fn inline_policy(&self, role_name: &str, policy_name: &str, document: &Value) {
        self.iam
            .put_role_policy()
            .role_name(role_name)
            .policy_name(policy_name)
            .policy_document(document.to_string())
            .send()
            .await
            .expect("PutRolePolicy");
    }

    /// Instance profile `profile_name` holding role `role_name`.
    pub async fn instance_profile(&self, profile_name: &str, role_name: &str) {
        self.iam
            .create_instance_profile()
            .instance_profile_name(profile_name)
            .send()
            .await
            .expect("CreateInstanceProfile");
        self.iam
            .add_role_to_instance_profile()
            .instance_profile_name(profile_name)
            .role_name(role_name)
            .send()
            .await
            .expect("AddRoleToInstanceProfile");
    }
}
