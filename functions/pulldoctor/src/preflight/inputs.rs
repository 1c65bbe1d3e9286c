//! Preflight inputs that do not come from AWS: a task definition in the JSON a pipeline is about
//! to register.

use serde::Deserialize;

use crate::model::facts::{ContainerDefinitionFacts, LaunchType, TaskDefinitionFacts};

/// The subset of a task definition document that bears on pulling. Accepts both the
/// `register-task-definition --cli-input-json` shape and `describe-task-definition` output
/// (`{"taskDefinition": {…}}`). Environment values and secret names are never
/// read into it; of a secret, only where it comes from (`valueFrom`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TaskDefinitionDocument {
    task_definition_arn: Option<String>,
    family: Option<String>,
    revision: Option<i32>,
    execution_role_arn: Option<String>,
    task_role_arn: Option<String>,
    network_mode: Option<String>,
    requires_compatibilities: Vec<LaunchType>,
    runtime_platform: Option<RuntimePlatform>,
    ephemeral_storage: Option<EphemeralStorage>,
    container_definitions: Vec<ContainerDefinition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RuntimePlatform {
    cpu_architecture: Option<String>,
    operating_system_family: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EphemeralStorage {
    #[serde(rename = "sizeInGiB")]
    size_in_gib: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ContainerDefinition {
    name: Option<String>,
    image: Option<String>,
    repository_credentials: Option<RepositoryCredentials>,
    secrets: Vec<SecretReference>,
    log_configuration: Option<LogConfiguration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SecretReference {
    value_from: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LogConfiguration {
    secret_options: Vec<SecretReference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RepositoryCredentials {
    credentials_parameter: Option<String>,
}

/// Parse a task definition JSON document. `what` names the source in error messages.
pub fn task_definition_from_json(text: &str, what: &str) -> Result<TaskDefinitionFacts, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))?;
    let inner = match value.get("taskDefinition") {
        Some(td) if td.is_object() => td.clone(),
        _ => value,
    };
    let doc: TaskDefinitionDocument = serde_json::from_value(inner)
        .map_err(|e| format!("{what} is not a task definition: {e}"))?;
    if doc.container_definitions.is_empty() {
        return Err(format!("{what} has no containerDefinitions"));
    }
    for (i, c) in doc.container_definitions.iter().enumerate() {
        if c.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
            let name = c.name.clone().unwrap_or_else(|| format!("#{i}"));
            return Err(format!("{what}: container {name} has no image"));
        }
    }
    let platform = doc.runtime_platform.unwrap_or_default();
    Ok(TaskDefinitionFacts {
        arn: doc.task_definition_arn,
        family: doc.family,
        revision: doc.revision,
        execution_role_arn: doc.execution_role_arn,
        task_role_arn: doc.task_role_arn,
        network_mode: doc.network_mode,
        requires_compatibilities: doc.requires_compatibilities,
        cpu_architecture: platform.cpu_architecture,
        operating_system_family: platform.operating_system_family,
        ephemeral_storage_gib: doc.ephemeral_storage.and_then(|e| e.size_in_gib),
        containers: doc
            .container_definitions
            .into_iter()
            .map(|c| ContainerDefinitionFacts {
                name: c.name,
                image: c.image,
                registry_credentials_secret: c
                    .repository_credentials
                    .and_then(|r| r.credentials_parameter),
                // As `collect::ecs::task_definition_facts` keeps them, for the deploy diff; secrets
                // are judged only for a failure at the secrets step, never in a preflight.
                secrets: c
                    .secrets
                    .into_iter()
                    .chain(
                        c.log_configuration
                            .map(|l| l.secret_options)
                            .unwrap_or_default(),
                    )
                    .filter_map(|s| s.value_from)
                    .collect(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_input_shape() {
        let td = task_definition_from_json(
            r#"{"family": "web", "executionRoleArn": "arn:aws:iam::1:role/exec", "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"], "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
                "ephemeralStorage": {"sizeInGiB": 30},
                "containerDefinitions": [{"name": "web", "image": "repo/web:v2",
                   "environment": [{"name": "TOKEN", "value": "s3cr3t"}],
                   "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}],
                   "logConfiguration": {"logDriver": "splunk", "secretOptions": [{"name": "splunk-token", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:splunk"}]},
                   "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:1:secret:hub"}}]}"#,
            "td.json",
        )
        .unwrap();
        assert_eq!(td.family.as_deref(), Some("web"));
        assert_eq!(td.cpu_architecture.as_deref(), Some("ARM64"));
        assert_eq!(td.ephemeral_storage_gib, Some(30));
        assert_eq!(td.containers[0].image.as_deref(), Some("repo/web:v2"));
        assert!(td.containers[0]
            .registry_credentials_secret
            .as_deref()
            .unwrap()
            .ends_with(":hub"));
        assert!(
            !serde_json::to_string(&td).unwrap().contains("s3cr3t"),
            "environment values are never kept"
        );
        assert_eq!(
            td.containers[0].secrets,
            vec![
                "arn:aws:ssm:us-east-1:1:parameter/db",
                "arn:aws:secretsmanager:us-east-1:1:secret:splunk"
            ]
        );
        assert!(
            !serde_json::to_string(&td).unwrap().contains("DB_PASSWORD"),
            "secret names are never kept"
        );
    }

    #[test]
    fn describe_output_shape_and_bad_inputs() {
        let td = task_definition_from_json(
            r#"{"taskDefinition": {"taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:3", "revision": 3,
                "containerDefinitions": [{"name": "web", "image": "nginx"}]}}"#,
            "out.json",
        )
        .unwrap();
        assert_eq!(td.revision, Some(3));
        for (text, needle) in [
            ("not json", "is not JSON"),
            (r#"{"family": "web"}"#, "no containerDefinitions"),
            (
                r#"{"containerDefinitions": [{"name": "web"}]}"#,
                "container web has no image",
            ),
            (
                r#"{"containerDefinitions": "web"}"#,
                "is not a task definition",
            ),
        ] {
            let err = task_definition_from_json(text, "td.json").unwrap_err();
            assert!(
                err.contains(needle) && err.contains("td.json"),
                "{text}: {err}"
            );
        }
    }
}
