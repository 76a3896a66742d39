//! Escalation timers: fire after their delay, exactly once, at startup when they came
//! due during downtime, never after acknowledge or resolve, and a repeating policy
//! stops after 1 + repeat passes.

use crate::helpers::{eventually, trigger_body};
use crate::support::{self, clock, count, Service};
use serde_json::{json, Value};
use std::time::Duration;

/// Triggers an alert with its own escalation delays; returns (alert id, stream).
async fn trigger(service: &Service, key: &str, escalation_secs: &[u32]) -> (String, String) {
    let mut body = trigger_body("checkout", key, "critical");
    body["escalation_secs"] = json!(escalation_secs);
    let reply = service.api.trigger(&body).await.expect(201);
    let id = reply.str("alert_id");
    let stream = service.alert(&id).await["stream"]
        .as_str()
        .expect("a stream")
        .to_owned();
    (id, stream)
}

#[tokio::test]
async fn an_escalation_fires_once_its_delay_has_passed_and_not_before() {
    let service = support::start().await;
    let clock = clock();
    let mut scheduler = service.scheduler(&clock);
    let (id, stream) = trigger(&service, "slow-disk", &[600, 600]).await;

    assert_eq!(scheduler.tick().await.unwrap().timers_fired, 0);
    clock.advance(Duration::from_secs(590));
    assert_eq!(scheduler.tick().await.unwrap().timers_fired, 0);
    assert_eq!(service.alert(&id).await["escalation_step"], 0);

    clock.advance(Duration::from_secs(15));
    assert_eq!(scheduler.tick().await.unwrap().timers_fired, 1);
    let alert = service.alert(&id).await;
    assert_eq!(alert["escalation_step"], 1);
    assert!(
        alert["next_escalation_at"].is_string(),
        "step 2 is scheduled"
    );
    let types = service.stream_types(&stream).await;
    assert_eq!(count(&types, "timer_fired"), 1);
    assert_eq!(count(&types, "alert_escalated"), 1);
    service.stop().await;
}

#[tokio::test]
async fn each_timer_fires_exactly_once_with_several_scheduler_instances() {
    let service = support::start().await;
    let clock = clock();
    let mut streams = Vec::new();
    for i in 0..8 {
        streams.push(trigger(&service, &format!("race-{i}"), &[60]).await.1);
    }
    let mut same_process = service.scheduler(&clock);
    let mut other_process = service.other_instance(&clock);
    let mut third = service.other_instance(&clock);
    // Each seeds itself before the timers are due.
    same_process.tick().await.unwrap();
    other_process.tick().await.unwrap();
    third.tick().await.unwrap();

    clock.advance(Duration::from_secs(61));
    let (a, b, c) = tokio::join!(same_process.tick(), other_process.tick(), third.tick());
    let fired = a.unwrap().timers_fired + b.unwrap().timers_fired + c.unwrap().timers_fired;
    assert_eq!(fired, 8, "every timer fired by exactly one instance");
    for stream in &streams {
        let types = service.stream_types(stream).await;
        assert_eq!(count(&types, "timer_fired"), 1, "{stream}: {types:?}");
        assert_eq!(count(&types, "alert_escalated"), 1, "{stream}: {types:?}");
    }
    service.stop().await;
}

#[tokio::test]
async fn acknowledge_and_resolve_cancel_pending_steps() {
    let service = support::start().await;
    let clock = clock();
    let mut scheduler = service.scheduler(&clock);
    let (acked, acked_stream) = trigger(&service, "ack-me", &[60, 60]).await;
    let (resolved, resolved_stream) = trigger(&service, "resolve-me", &[60, 60]).await;
    scheduler.tick().await.unwrap();

    service.api.ack(&acked).await.expect(200);
    service.api.resolve(&resolved).await.expect(200);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(scheduler.tick().await.unwrap().timers_fired, 0);
    // A fresh instance (seeded from the views) finds nothing to fire either.
    assert_eq!(
        service.scheduler(&clock).tick().await.unwrap().timers_fired,
        0
    );

    for stream in [acked_stream, resolved_stream] {
        let types = service.stream_types(&stream).await;
        assert_eq!(count(&types, "alert_escalated"), 0, "{types:?}");
        assert_eq!(count(&types, "timer_fired"), 0, "{types:?}");
    }
    assert_eq!(
        service.alert(&acked).await["next_escalation_at"],
        Value::Null
    );
    service.stop().await;
}

#[tokio::test]
async fn a_repeating_policy_stops_after_one_plus_repeat_passes() {
    let service = support::start().await;
    let policy = json!({
        "id": "twice-around",
        "name": "two steps, once more",
        "steps": [{ "delay_secs": 60 }, { "delay_secs": 120 }],
        "repeat": 1,
    });
    service.api.post("/v1/policies", &policy).await.expect(200);
    service
        .api
        .post(
            "/v1/services/billing/route",
            &json!({ "channels": [], "policy": "twice-around" }),
        )
        .await
        .expect(200);
    let reply = service
        .api
        .trigger(&trigger_body("billing", "ledger-drift", "error"))
        .await
        .expect(201);
    let id = reply.str("alert_id");
    let clock = clock();
    let mut scheduler = service.scheduler(&clock);

    let mut steps = Vec::new();
    for _ in 0..10 {
        clock.advance(Duration::from_secs(121));
        if scheduler.tick().await.unwrap().timers_fired > 0 {
            steps.push(service.alert(&id).await["escalation_step"].clone());
        }
    }
    assert_eq!(steps, vec![json!(1), json!(2), json!(3), json!(4)]);
    let alert = service.alert(&id).await;
    assert_eq!(
        alert["next_escalation_at"],
        Value::Null,
        "nothing after step 4"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_running_scheduler_sleeps_until_the_next_timer_and_wakes_for_new_ones() {
    let service = support::start().await;
    let clock = clock();
    let scheduler = service.scheduler(&clock);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(scheduler.run(async move {
        let _ = stopped.await;
    }));
    // Triggered after the loop started: it learns of the timer from the log.
    let (id, _) = trigger(&service, "wake-up", &[300]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(service.alert(&id).await["escalation_step"], 0);

    clock.advance(Duration::from_secs(301));
    eventually(
        "the running scheduler to fire",
        Duration::from_secs(10),
        || async { (service.alert(&id).await["escalation_step"] == 1).then_some(()) },
    )
    .await;
    let _ = stop.send(());
    running.await.expect("the scheduler stops on shutdown");
    service.stop().await;
}

#[tokio::test]
async fn the_service_fires_a_due_timer_on_its_own() {
    let service = support::start().await;
    let (id, _) = trigger(&service, "wall-clock", &[1]).await;
    eventually(
        "the service to escalate",
        Duration::from_secs(10),
        || async { (service.alert(&id).await["escalation_step"] == 1).then_some(()) },
    )
    .await;
    service.stop().await;
}

#[tokio::test]
async fn a_timer_that_came_due_while_the_service_was_down_fires_at_startup() {
    let service = support::start().await;
    let (id, stream) = trigger(&service, "downtime", &[3]).await;
    let due_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(service.alert(&id).await["next_escalation_at"].clone())
            .expect("a due time");
    let data_dir = service.stop().await;
    assert!(
        chrono::Utc::now() < due_at,
        "stopped before the timer came due"
    );

    let wait = (due_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    let restarted_at = chrono::Utc::now();
    let service = support::start_in(data_dir).await;
    eventually(
        "the restarted service to fire",
        Duration::from_secs(10),
        || async { (service.alert(&id).await["escalation_step"] == 1).then_some(()) },
    )
    .await;
    let events = service
        .api
        .get(&format!("/v1/streams/{stream}"))
        .await
        .expect(200)
        .body["events"]
        .as_array()
        .expect("events")
        .clone();
    let fired: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"]["type"] == "timer_fired")
        .collect();
    assert_eq!(fired.len(), 1, "{events:?}");
    let recorded_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(fired[0]["recorded_at"].clone()).expect("recorded_at");
    assert!(
        recorded_at >= restarted_at,
        "fired by the restarted service"
    );
    service.stop().await;
}
