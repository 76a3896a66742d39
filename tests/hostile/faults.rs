//! A failing disk under a running service. The embedded store runs on a
//! `FaultyFileSystem` handed in through `ServeConfig::file_system`; the test flips
//! faults while the service answers HTTP.
//!
//! The promise: while `fdatasync` fails or the disk is full, writes are refused with
//! 503 problem+json and nothing is acknowledged or shown in the views; when the fault
//! clears, writes succeed again without a restart. A write cut short at the tail is a
//! torn record that the next start truncates, keeping every acknowledged event.

use crate::helpers::{spawn_app_in, trigger_body, TestApp};
use alert_ledger::io::{FaultInjector, FaultyFileSystem, RealFileSystem, SharedFileSystem};
use alert_ledger::verify::verify_data_dir;
use std::sync::Arc;
use tempfile::TempDir;

/// An app whose log lives on a file system the test can break.
async fn app_on_faulty_disk(data_dir: TempDir) -> (TestApp, FaultInjector) {
    let (fs, faults) = FaultyFileSystem::new(Arc::new(RealFileSystem));
    let app = spawn_app_in(data_dir, |config| {
        config.file_system = Some(SharedFileSystem(fs));
    })
    .await;
    (app, faults)
}

/// While a fault is armed every kind of write is refused with 503 and nothing moves;
/// after `clear`, the same writes succeed. Returns the acknowledged alert ids.
async fn refused_while_broken_then_accepted(
    app: &TestApp,
    faults: &FaultInjector,
    arm: impl Fn(&FaultInjector),
) -> Vec<String> {
    let first = app
        .trigger(&trigger_body("checkout", "before", "critical"))
        .await
        .expect(201);
    let first_id = first.str("alert_id");
    let head = app.head_position().await;
    let alerts_before = app
        .list_alerts(&format!("min_position={head}"))
        .await
        .expect(200)
        .body["items"]
        .clone();

    arm(faults);
    let refused = [
        app.trigger(&trigger_body("checkout", "during", "critical"))
            .await,
        app.trigger(&trigger_body("checkout", "before", "critical"))
            .await,
        app.ack(&first_id).await,
        app.note(&first_id, "written while the disk fails").await,
        app.register_sync("sync-during", "db").await,
    ];
    for reply in refused {
        let reply = reply.expect_problem(503, "unavailable");
        assert_eq!(reply.header("retry-after"), Some("1"), "{reply:?}");
        assert!(
            !reply.text.contains("injected"),
            "no internals in the answer: {}",
            reply.text
        );
    }
    assert!(faults.injected() > 0, "the fault was hit");
    assert_eq!(app.head_position().await, head, "nothing was appended");
    assert_eq!(
        app.list_alerts("").await.expect(200).body["items"],
        alerts_before,
        "the views show nothing of the refused writes"
    );
    assert_eq!(app.get("/readyz").await.status, 200, "reads keep working");

    faults.clear();
    let during = app
        .trigger(&trigger_body("checkout", "during", "critical"))
        .await
        .expect(201); // new: the refused trigger of this key left nothing behind
    let repeat = app
        .trigger(&trigger_body("checkout", "before", "critical"))
        .await
        .expect(200);
    assert_eq!(repeat.str("alert_id"), first_id);
    app.ack(&first_id).await.expect(200);
    let last = app
        .register_sync("sync-after", "db")
        .await
        .expect(201)
        .position();
    let alert = app.get_alert(&first_id, last).await.expect(200);
    assert_eq!(
        alert.body["repeat_count"], 1,
        "only the accepted repeat counts"
    );
    assert_eq!(alert.body["note_count"], 0, "the refused note is not there");
    vec![first_id, during.str("alert_id")]
}

/// Restarts on the real file system and checks the log: every acknowledged alert is
/// there, nothing else is, and the chain verifies.
async fn after_restart(app: TestApp, acknowledged: &[String]) {
    let stopped = app.stop().await;
    stopped.result.expect("a clean stop");
    let app = spawn_app_in(stopped.data_dir, |_| {}).await;
    let items = app.list_alerts("").await.expect(200).body["items"].clone();
    let mut ids: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut want = acknowledged.to_vec();
    want.sort();
    assert_eq!(
        ids, want,
        "exactly the acknowledged alerts survive a restart"
    );
    let stopped = app.stop().await;
    let report = verify_data_dir(stopped.data_dir.path(), |_| {}).expect("the chain verifies");
    assert!(report.events_checked >= acknowledged.len() as u64);
}

#[tokio::test]
async fn failing_fsync_refuses_writes_with_503_until_it_clears() {
    let (app, faults) = app_on_faulty_disk(tempfile::tempdir().unwrap()).await;
    let acknowledged = refused_while_broken_then_accepted(&app, &faults, |faults| {
        faults.fail_next_syncs(u64::MAX);
    })
    .await;
    after_restart(app, &acknowledged).await;
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_503_until_space_returns() {
    let (app, faults) = app_on_faulty_disk(tempfile::tempdir().unwrap()).await;
    let acknowledged = refused_while_broken_then_accepted(&app, &faults, |faults| {
        faults.set_disk_full(true);
    })
    .await;
    after_restart(app, &acknowledged).await;
}

#[tokio::test]
async fn a_short_write_at_the_tail_is_refused_and_truncated_on_restart() {
    let (app, faults) = app_on_faulty_disk(tempfile::tempdir().unwrap()).await;
    let kept = app
        .trigger(&trigger_body("checkout", "kept", "critical"))
        .await
        .expect(201)
        .str("alert_id");
    let head = app.head_position().await;
    // Half of the next record reaches the file, then the disk errors; the cleanup
    // write that would blank it fails too, so a torn record stays at the tail.
    faults.short_next_writes(1);
    app.trigger(&trigger_body("checkout", "torn", "critical"))
        .await
        .expect_problem(503, "unavailable");
    assert!(faults.injected() > 0, "the short write happened");
    assert_eq!(app.head_position().await, head, "nothing was acknowledged");

    let stopped = app.stop().await;
    stopped.result.expect("a clean stop");
    let app = spawn_app_in(stopped.data_dir, |_| {}).await;
    assert_eq!(app.head_position().await, head, "the torn record is gone");
    let items = app.list_alerts("").await.expect(200).body["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items[0]["id"], kept.as_str());
    // The log takes writes where the torn record was.
    let next = app
        .trigger(&trigger_body("checkout", "torn", "critical"))
        .await
        .expect(201);
    assert_eq!(next.position(), head + 1);
    let stopped = app.stop().await;
    verify_data_dir(stopped.data_dir.path(), |_| {}).expect("the chain verifies");
}
