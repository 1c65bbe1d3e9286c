//! `cargo run -p pulldoctor-tests --bin demo` (or `bash tests/demo.sh`): pulldoctor end to end,
//! no AWS account needed.
//!
//! Starts a private moto server, builds a small account whose Fargate service cannot pull its
//! image (the private subnet's NAT route was deleted), feeds the ECS event that AWS would send
//! through the real Lambda handler, and prints the handler's decision and the SNS message that
//! was actually delivered (read back from an SQS queue subscribed to the topic).

use pulldoctor_tests::events::{messages, TaskEvent};
use pulldoctor_tests::{TaskDefSpec, World};

#[tokio::main]
async fn main() {
    eprintln!("starting moto and building the demo account (about 10 s)...");
    let world = World::new().await;
    let net = world.network().await;
    world.cluster("prod").await;
    let role = world.execution_role("ecsTaskExecutionRole").await;
    let repo = world.repository("team/web").await;
    world.push_image(&repo, "v1", "web-v1").await;
    let image = repo.image("v1");
    let td = world
        .task_definition(&TaskDefSpec {
            family: "web".into(),
            container: "web".into(),
            image: image.clone(),
            execution_role_arn: Some(role),
        })
        .await;
    world.service("prod", "web", &td, &net).await;
    let task = world.run_stopped_task("prod", &td, &net, "service:web").await;
    let inbox = world.sns_inbox("pulldoctor-alerts").await;

    // The fault: someone removed the private subnet's default route to the NAT gateway.
    world
        .ec2
        .delete_route()
        .route_table_id(&net.private_route_table_id)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .expect("DeleteRoute");

    let registry = world.registry();
    let message = messages::io_timeout(&image, &registry, &repo.name, "v1");
    let event = TaskEvent::pull_failure(&world, &task, "web", &image, &message).to_value();

    println!("== The world");
    println!("VPC {} · private subnet {} · route table {} (its 0.0.0.0/0 -> {} route was deleted)",
        net.vpc_id, net.subnet_id, net.private_route_table_id, net.nat_gateway_id);
    println!("service web in cluster prod runs {image}");
    println!("\n== The event EventBridge delivers (detail.stoppedReason)");
    println!("{}", event["detail"]["stoppedReason"].as_str().unwrap_or_default());

    let app = world.app(Some(inbox.topic_arn.clone()));
    let outcome = world.invoke(&app, event).await.expect("handler failed");
    println!("\n== Handler result");
    println!("{}", serde_json::to_string_pretty(&outcome).unwrap());

    let delivered = world.read_sns_messages(&inbox).await;
    println!("\n== SNS messages delivered to {}: {}", inbox.topic_arn, delivered.len());
    for m in delivered {
        println!("\nSubject: {}\n", m.subject.unwrap_or_default());
        println!("{}", m.message);
    }
}
