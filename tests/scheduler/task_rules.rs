//! The task-rule reactor: one task per matching open alert and rule (id derived
//! from both), none for another service or a lesser severity, however many reactors
//! run; rules set while alerts are open and repeats that raise the severity count.

use crate::helpers::trigger_body;
use crate::support::{self, clock, Service};
use alert_ledger::scheduler::task_rules::task_id_for;
use projections::ids::{AlertId, RuleId};
use serde_json::{json, Value};

async fn set_rule(service: &Service, id: &str, service_name: &str, min_severity: &str) {
    let rule = json!({
        "id": id,
        "service": service_name,
        "min_severity": min_severity,
        "script": "/usr/local/bin/restart-db.sh",
        "args": ["--graceful"],
        "hosts": ["db-1", "db-2"],
        "timeout_secs": 300,
    });
    let reply = service.api.post("/v1/task-rules", &rule).await;
    assert!(reply.status.is_success(), "{reply:?}");
}

async fn trigger(service: &Service, name: &str, key: &str, severity: &str) -> String {
    service
        .api
        .trigger(&trigger_body(name, key, severity))
        .await
        .str("alert_id")
}

fn tasks_for<'a>(tasks: &'a [Value], alert: &str) -> Vec<&'a Value> {
    tasks.iter().filter(|t| t["alert_id"] == alert).collect()
}

fn expected_id(alert: &str, rule: &str) -> String {
    let alert = AlertId::parse(alert).unwrap();
    task_id_for(alert, &RuleId::parse(rule).unwrap()).to_string()
}

#[tokio::test]
async fn a_matching_alert_gets_exactly_one_task_however_many_reactors_run() {
    let service = support::start().await;
    set_rule(&service, "restart-db", "postgres", "error").await;
    let critical = trigger(&service, "postgres", "replication-lag", "critical").await;
    let error = trigger(&service, "postgres", "disk", "error").await;
    let warning = trigger(&service, "postgres", "slow-query", "warning").await;
    let other_service = trigger(&service, "redis", "evictions", "critical").await;

    let clock = clock();
    let (mut a, mut b) = (service.scheduler(&clock), service.other_instance(&clock));
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    ra.unwrap();
    rb.unwrap();
    // And once more, as after a restart.
    service.other_instance(&clock).tick().await.unwrap();

    let tasks = service.tasks().await;
    for alert in [&critical, &error] {
        let found = tasks_for(&tasks, alert);
        assert_eq!(found.len(), 1, "one task for {alert}: {tasks:?}");
        assert_eq!(found[0]["id"], expected_id(alert, "restart-db"));
        assert_eq!(found[0]["spec"]["script"], "/usr/local/bin/restart-db.sh");
        assert_eq!(found[0]["spec"]["args"], json!(["--graceful"]));
        assert_eq!(found[0]["hosts"]["db-1"]["state"], "waiting");
    }
    assert!(
        tasks_for(&tasks, &warning).is_empty(),
        "warning is below error"
    );
    assert!(
        tasks_for(&tasks, &other_service).is_empty(),
        "another service"
    );
    assert_eq!(tasks.len(), 2);
    service
        .expect_metric("alert_ledger_tasks_created_total{source=\"task-rule\"}", 2)
        .await;
    service.stop().await;
}

#[tokio::test]
async fn a_rule_set_while_alerts_are_open_covers_them_but_not_resolved_ones() {
    let service = support::start().await;
    let open = trigger(&service, "queue", "backlog", "critical").await;
    let resolved = trigger(&service, "queue", "stuck-consumer", "critical").await;
    service.api.resolve(&resolved).await.expect(200);
    let clock = clock();
    let mut scheduler = service.scheduler(&clock);
    scheduler.tick().await.unwrap();
    assert!(service.tasks().await.is_empty(), "no rule yet");

    set_rule(&service, "drain-queue", "queue", "critical").await;
    scheduler.tick().await.unwrap();
    let tasks = service.tasks().await;
    assert_eq!(tasks_for(&tasks, &open).len(), 1, "{tasks:?}");
    assert!(tasks_for(&tasks, &resolved).is_empty());
    service.stop().await;
}

#[tokio::test]
async fn a_repeat_that_raises_the_severity_to_the_rule_creates_the_task() {
    let service = support::start().await;
    set_rule(&service, "restart-db", "postgres", "critical").await;
    let clock = clock();
    let mut scheduler = service.scheduler(&clock);
    let alert = trigger(&service, "postgres", "connections", "warning").await;
    scheduler.tick().await.unwrap();
    assert!(tasks_for(&service.tasks().await, &alert).is_empty());

    let repeat = trigger(&service, "postgres", "connections", "critical").await;
    assert_eq!(repeat, alert, "recorded as a repeat");
    scheduler.tick().await.unwrap();
    assert_eq!(tasks_for(&service.tasks().await, &alert).len(), 1);
    service.stop().await;
}
