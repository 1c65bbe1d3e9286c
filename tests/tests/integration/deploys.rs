//! The deploy behind the failure (issue 14 §1), with history on: service `web` updated from a tag
//! that exists to one that was never pushed. moto has no `ListServiceDeployments` /
//! `DescribeServiceRevisions` (the section says that source was unreadable), so the previous
//! revision comes from the service's deployments; the richer sources and circuit-breaker
//! rollbacks are tested with API-shaped answers in `collect/deploy.rs`.

use pulldoctor::collect::{Clients, Options};
use pulldoctor::intake::{intake, Intake};
use pulldoctor::model::diagnosis::RootCause;
use pulldoctor_tests::contracts::{assert_valid, Contract};
use pulldoctor_tests::events::{messages, TaskEvent};
use pulldoctor_tests::WebAccount;

#[tokio::test]
async fn a_deploy_from_an_existing_tag_to_a_missing_one_shows_both_images_and_which_exists() {
    let account = WebAccount::build().await;
    let WebAccount {
        world, net, repo, ..
    } = &account;
    world.push_image(repo, "2.4.1", "web-2.4.1").await;
    let old_image = repo.image("2.4.1");
    let new_image = repo.image("2.4.2"); // never pushed
    let old = account.task_definition(&old_image, true).await;
    world.service("prod", "web", &old, net).await;
    let new = account.task_definition(&new_image, true).await;
    world
        .ecs
        .update_service()
        .cluster("prod")
        .service("web")
        .task_definition(&new)
        .send()
        .await
        .expect("UpdateService");
    let task = world
        .run_stopped_task("prod", &new, net, "service:web")
        .await;
    let event = TaskEvent::pull_failure(
        world,
        &task,
        "web",
        &new_image,
        &messages::image_not_found(&new_image),
    )
    .to_value();
    let Intake::PullFailure(failure) = intake(&event) else {
        panic!("not a pull failure: {event:#}")
    };

    let clients = Clients::new(&world.config);
    let run = pulldoctor::engine::diagnose_with(
        &clients,
        &failure,
        Options {
            history: true,
            ..Default::default()
        },
    )
    .await;
    let d = &run.diagnosis;
    assert_eq!(d.root_cause.code, RootCause::EcrImageNotFound);
    let deploy = d.deploy.as_ref().expect("a deploy section with history on");
    let json = serde_json::to_value(deploy).unwrap();
    eprintln!("deploy section: {json:#}");
    // moto keeps the earlier deployment beside the new one (as ECS does while it rolls), so the
    // service's own deployments name the previous revision; moto has no ListServiceDeployments.
    assert_eq!(json["source"], "service_deployments", "{json:#}");
    assert!(
        json["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ecs:ListServiceDeployments") && r.len() < 300),
        "{json:#}"
    );
    assert_eq!(
        (
            json["previous"]["task_definition"].as_str(),
            json["failing"]["task_definition"].as_str()
        ),
        (Some("web:1"), Some("web:2"))
    );
    let image = &json["differences"][0];
    assert_eq!(image["setting"], "image");
    assert_eq!(
        (image["before"].as_str(), image["before_state"].as_str()),
        (Some(old_image.as_str()), Some("present")),
        "{json:#}"
    );
    assert_eq!(
        (image["after"].as_str(), image["after_state"].as_str()),
        (Some(new_image.as_str()), Some("not_found")),
        "{json:#}"
    );
    assert_eq!(
        json["differences"].as_array().unwrap().len(),
        1,
        "only the image changed: {json:#}"
    );
    assert_eq!(json["explains_failure"], true);

    let full = serde_json::to_value(d).unwrap();
    assert_valid(Contract::Diagnosis, &full);
    let text = pulldoctor::report::render(d, pulldoctor::report::Format::Text);
    let (changed, cause) = (text.find("What changed"), text.find("ECR_IMAGE_NOT_FOUND"));
    assert!(
        changed.is_some() && cause.is_some() && changed < cause,
        "\"What changed\" first:\n{text}"
    );
    assert!(
        text.contains(&format!("{old_image} (present) → {new_image} (not found)")),
        "{text}"
    );

    // History off: no section, and none of its reads.
    let off = pulldoctor::engine::diagnose_with(&clients, &failure, Options::default()).await;
    assert!(off.diagnosis.deploy.is_none());
}
