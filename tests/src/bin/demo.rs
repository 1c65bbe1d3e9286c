//! `cargo run -p pulldoctor-tests --bin demo` (or `bash tests/demo.sh`): pulldoctor end to end,
//! no AWS account needed.
//!
//! Starts a private moto server, builds a small account whose Fargate service cannot pull its
//! image (the private subnet's NAT route was deleted), feeds the ECS event that AWS would send
//! through the real Lambda handler, and prints the handler's decision and the SNS message that
//! was actually delivered (read back from an SQS queue subscribed to the topic).

use pulldoctor_tests::NatRouteDeleted;

#[tokio::main]
async fn main() {
    eprintln!("starting moto and building the demo account (about 10 s)...");
    // The fault: someone removed the private subnet's default route to the NAT gateway.
    let NatRouteDeleted {
        world,
        net,
        image,
        event,
        ..
    } = NatRouteDeleted::build().await;
    let inbox = world.sns_inbox("pulldoctor-alerts").await;

    println!("== The world");
    println!(
        "VPC {} · private subnet {} · route table {} (its 0.0.0.0/0 -> {} route was deleted)",
        net.vpc_id, net.subnet_id, net.private_route_table_id, net.nat_gateway_id
    );
    println!("service web in cluster prod runs {image}");
    println!("\n== The event EventBridge delivers (detail.stoppedReason)");
    println!(
        "{}",
        event["detail"]["stoppedReason"]
            .as_str()
            .unwrap_or_default()
    );

    let app = world.app(Some(inbox.topic_arn.clone()));
    let outcome = world.invoke(&app, event).await.expect("handler failed");
    println!("\n== Handler result");
    println!("{}", serde_json::to_string_pretty(&outcome).unwrap());

    let delivered = world.read_sns_messages(&inbox).await;
    println!(
        "\n== SNS messages delivered to {}: {}",
        inbox.topic_arn,
        delivered.len()
    );
    for m in delivered {
        println!("\nSubject: {}\n", m.subject.unwrap_or_default());
        println!("{}", m.message);
    }
}
