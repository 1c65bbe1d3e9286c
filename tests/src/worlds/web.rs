//! The shared service worlds: the usual healthy account ([`WebAccount`]), its Fargate service
//! `web` ([`WebService`]), and the demo's broken variant ([`NatRouteDeleted`]). Worlds that break
//! one thing start from these instead of building their own copy.

use serde_json::Value;

use super::{Network, Repository, StoppedTask, TaskDefSpec, World};
use crate::events;

/// The usual healthy account before service `web` exists: the task network (private subnet
/// behind a NAT gateway), cluster `prod`, execution role `ecsTaskExecutionRole`, and repository
/// `team/web` with `v1` pushed.
pub struct WebAccount {
    pub world: World,
    pub net: Network,
    pub cluster_arn: String,
    pub role_arn: String,
    pub repo: Repository,
    pub v1_digest: String,
    /// `team/web:v1`.
    pub image: String,
}

impl WebAccount {
    pub async fn build() -> WebAccount {
        WebAccount::build_in(World::new().await).await
    }

    /// The same account in `world` (e.g. a member account's view of a shared moto server).
    pub async fn build_in(world: World) -> WebAccount {
        let net = world.network().await;
        let cluster_arn = world.cluster("prod").await;
        let role_arn = world.execution_role("ecsTaskExecutionRole").await;
        let repo = world.repository("team/web").await;
        let v1_digest = world.push_image(&repo, "v1", "web-v1").await;
        let image = repo.image("v1");
        WebAccount {
            world,
            net,
            cluster_arn,
            role_arn,
            repo,
            v1_digest,
            image,
        }
    }

    /// A revision of task definition `web` (container `web`) running `image`, with the execution
    /// role or without one. Returns its ARN.
    pub async fn task_definition(&self, image: &str, with_role: bool) -> String {
        self.world
            .task_definition(&TaskDefSpec {
                family: "web".into(),
                container: "web".into(),
                image: image.into(),
                execution_role_arn: with_role.then(|| self.role_arn.clone()),
            })
            .await
    }

    /// Registers `web` for `image`, creates service `web` in the private subnet, and runs and
    /// stops one of its tasks (`DescribeTasks` still finds it, its ENI still exists).
    pub async fn service_task(&self, image: &str, with_role: bool) -> StoppedTask {
        let td = self.task_definition(image, with_role).await;
        self.world.service("prod", "web", &td, &self.net).await;
        self.world
            .run_stopped_task("prod", &td, &self.net, "service:web")
            .await
    }
}

/// The usual healthy account with Fargate service `web` in cluster `prod` running `team/web:v1`
/// (pushed) from the private subnet, whose route table sends `0.0.0.0/0` to the NAT gateway, with
/// the execution role `ecsTaskExecutionRole`. Worlds that break one thing start from it.
pub struct WebService {
    pub world: World,
    pub net: Network,
    pub cluster_arn: String,
    pub repo: Repository,
    pub image: String,
    pub task_definition: String,
}

impl WebService {
    pub async fn build() -> WebService {
        WebService::running("v1").await
    }

    /// The same service running `team/web:<tag>`, of which only `v1` was pushed: any other tag
    /// makes every task of the service fail to pull.
    pub async fn running(tag: &str) -> WebService {
        let account = WebAccount::build().await;
        let image = account.repo.image(tag);
        let task_definition = account.task_definition(&image, true).await;
        let WebAccount {
            world,
            net,
            cluster_arn,
            repo,
            ..
        } = account;
        world.service("prod", "web", &task_definition, &net).await;
        WebService {
            world,
            net,
            cluster_arn,
            repo,
            image,
            task_definition,
        }
    }

    /// Another task of service `web` that failed to start (its ENI already gone).
    pub fn stopped_task(&self) -> StoppedTask {
        self.world.unknown_task(
            &self.cluster_arn,
            &self.task_definition,
            &self.net,
            "service:web",
        )
    }

    /// A task of service `web` that moto ran and stopped (`DescribeTasks` still finds it).
    pub async fn run_stopped_task(&self) -> StoppedTask {
        self.world
            .run_stopped_task("prod", &self.task_definition, &self.net, "service:web")
            .await
    }

    /// The event of `task` stopped with the I/O timeout of a pull that cannot reach ECR.
    pub fn io_timeout_event(&self, task: &StoppedTask) -> Value {
        let message = events::messages::io_timeout(
            &self.image,
            &self.world.registry(),
            &self.repo.name,
            "v1",
        );
        events::TaskEvent::pull_failure(&self.world, task, "web", &self.image, &message).to_value()
    }
}

/// The demo account: Fargate service `web` in cluster `prod` running `team/web:v1` (pushed) from
/// the private subnet, one of its tasks stopped with the I/O timeout a task gets when the subnet
/// cannot reach ECR — because the private route table's `0.0.0.0/0` route to the NAT gateway was
/// deleted. The demo, the benchmark and the fault matrix all diagnose this world.
pub struct NatRouteDeleted {
    pub world: World,
    pub net: Network,
    pub cluster_arn: String,
    pub repo: Repository,
    pub image: String,
    pub task_definition: String,
    pub task: StoppedTask,
    pub message: String,
    /// The ECS Task State Change event EventBridge would deliver for `task`.
    pub event: Value,
}

impl NatRouteDeleted {
    pub async fn build() -> NatRouteDeleted {
        let web = WebService::build().await;
        let mut task = web.run_stopped_task().await;
        // As ECS reports a task that failed to start: its ENI already deleted (moto keeps it).
        task.eni.attachment_status = "DELETED".to_string();
        web.world
            .delete_default_route(&web.net.private_route_table_id)
            .await;
        let message =
            events::messages::io_timeout(&web.image, &web.world.registry(), &web.repo.name, "v1");
        let event = events::TaskEvent::pull_failure(&web.world, &task, "web", &web.image, &message)
            .to_value();
        let WebService {
            world,
            net,
            cluster_arn,
            repo,
            image,
            task_definition,
        } = web;
        NatRouteDeleted {
            world,
            net,
            cluster_arn,
            repo,
            image,
            task_definition,
            task,
            message,
            event,
        }
    }

    /// The event of another task of service `web` that failed the same way (its ENI already gone).
    pub fn another_failed_task(&self) -> Value {
        let other = self.world.unknown_task(
            &self.cluster_arn,
            &self.task_definition,
            &self.net,
            "service:web",
        );
        events::TaskEvent::pull_failure(&self.world, &other, "web", &self.image, &self.message)
            .to_value()
    }
}
