//! Task host deadlines: a host that never starts times out `timeout_secs` after the
//! task was created, a running one `timeout_secs` plus the grace after its start, a
//! host that reported is left alone, and each timeout is recorded exactly once.

use crate::support::{self, clock, count, Service};
use serde_json::json;
use std::time::Duration;

async fn create_task(service: &Service, hosts: &[&str], timeout_secs: u32) -> String {
    let body = json!({
        "script": "systemctl restart nginx",
        "hosts": hosts,
        "timeout_secs": timeout_secs,
    });
    service
        .api
        .post("/v1/tasks", &body)
        .await
        .expect(201)
        .str("id")
}

fn host_state(task: &serde_json::Value, host: &str) -> String {
    task["hosts"][host]["state"]
        .as_str()
        .expect("a host state")
        .to_owned()
}

#[tokio::test]
async fn hosts_time_out_from_creation_when_waiting_and_from_start_when_running() {
    let service = support::start().await;
    let clock = clock();
    let mut scheduler = service.scheduler(&clock);
    let id = create_task(&service, &["web-1", "web-2", "web-3"], 600).await;
    let host_path = |host: &str, action: &str| format!("/v1/tasks/{id}/hosts/{host}/{action}");
    service
        .api
        .post_empty(&host_path("web-2", "start"))
        .await
        .expect(200);
    service
        .api
        .post_empty(&host_path("web-3", "start"))
        .await
        .expect(200);
    service
        .api
        .post(
            &host_path("web-3", "result"),
            &json!({ "exit_code": 0, "output_tail": "restarted" }),
        )
        .await
        .expect(200);
    assert_eq!(scheduler.tick().await.unwrap().hosts_timed_out, 0);

    clock.advance(Duration::from_secs(601));
    assert_eq!(scheduler.tick().await.unwrap().hosts_timed_out, 1);
    let task = service.task(&id).await;
    assert_eq!(host_state(&task, "web-1"), "timed_out", "never started");
    assert_eq!(
        host_state(&task, "web-2"),
        "running",
        "still within its grace"
    );
    assert_eq!(host_state(&task, "web-3"), "succeeded");

    clock.advance(Duration::from_secs(60));
    assert_eq!(scheduler.tick().await.unwrap().hosts_timed_out, 1);
    let task = service.task(&id).await;
    assert_eq!(host_state(&task, "web-2"), "timed_out");
    assert_eq!(host_state(&task, "web-3"), "succeeded", "a result is final");
    service.stop().await;
}

#[tokio::test]
async fn a_host_is_timed_out_exactly_once_by_several_instances() {
    let service = support::start().await;
    let clock = clock();
    let hosts: Vec<String> = (0..6).map(|i| format!("db-{i}")).collect();
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let id = create_task(&service, &hosts, 30).await;
    let mut a = service.scheduler(&clock);
    let mut b = service.other_instance(&clock);
    a.tick().await.unwrap();
    b.tick().await.unwrap();

    clock.advance(Duration::from_secs(31));
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    assert_eq!(ra.unwrap().hosts_timed_out + rb.unwrap().hosts_timed_out, 6);
    let types = service.stream_types(&format!("task-{id}")).await;
    assert_eq!(count(&types, "task_host_timed_out"), 6, "{types:?}");
    service
        .expect_metric("alert_ledger_task_hosts_total{outcome=\"timed_out\"}", 6)
        .await;
    service.stop().await;
}

#[tokio::test]
async fn a_result_after_the_host_timed_out_is_refused_saying_it_timed_out_and_when() {
    let service = support::start().await;
    let clock = clock();
    let mut scheduler = service.scheduler(&clock);
    let id = create_task(&service, &["web-1"], 30).await;
    clock.advance(Duration::from_secs(31));
    assert_eq!(scheduler.tick().await.unwrap().hosts_timed_out, 1);
    let task = service.task(&id).await;
    assert_eq!(host_state(&task, "web-1"), "timed_out");
    let timed_out_at = task["hosts"]["web-1"]["finished_at"]
        .as_str()
        .expect("when it timed out")
        .to_owned();
    let head = service.api.head_position().await;

    let late = service
        .api
        .post(
            &format!("/v1/tasks/{id}/hosts/web-1/result"),
            &json!({ "exit_code": 0, "output_tail": "restarted, late" }),
        )
        .await
        .expect_problem(409, "host-finished");

    let detail = late.body["detail"].as_str().expect("a detail");
    let at = chrono::DateTime::parse_from_rfc3339(&timed_out_at).expect("an RFC 3339 time");
    let second = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        detail.contains(&format!("host web-1 of task {id} timed out at {second}")),
        "{detail}"
    );
    assert!(!detail.contains("already finished"), "{detail}");
    assert_eq!(
        service.api.head_position().await,
        head,
        "nothing was written"
    );
    service.stop().await;
}
