//! Online rebuild beside the live views, and the offline `alert-ledger rebuild`.

use crate::helpers::{eventually, spawn_app_in, spawn_app_with, trigger_body};
use crate::workload::{all_views, write_history};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_rebuild_swaps_in_views_equal_to_the_live_ones_while_writes_continue() {
    let app = spawn_app_with(|_| {}).await;
    write_history(&app, 10).await;
    let started = app
        .post_empty("/v1/admin/projections/all/rebuild")
        .await
        .expect(202);
    assert_eq!(started.body["state"], "running");
    for i in 0..20 {
        app.trigger(&trigger_body("api", &format!("during-{i}"), "warning"))
            .await
            .expect(201);
    }
    let status = eventually("the rebuild to swap", Duration::from_secs(20), || async {
        let status = app.get("/v1/admin/projections").await.expect(200);
        (status.body["rebuild"]["state"] == "swapped").then_some(status)
    })
    .await;
    assert_eq!(status.body["rebuild"]["projection"], "all");
    let head = app.head_position().await;
    let rebuilt = all_views(&app, &format!("min_position={head}")).await;
    let replayed = all_views(&app, &format!("as_of={head}")).await;
    assert_eq!(
        rebuilt, replayed,
        "the swapped-in views equal a replay to the same position"
    );
    let unknown = app.post_empty("/v1/admin/projections/nope/rebuild").await;
    unknown.expect_problem(404, "not-found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_rebuild_replays_the_log_reports_its_rate_and_writes_the_view_file() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 5).await;
    let before = all_views(&app, &format!("min_position={head}")).await;
    let dir = app.stop().await.data_dir;
    std::fs::remove_file(dir.path().join("views.sqlite3")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_alert-ledger"))
        .args(["rebuild", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "rebuild failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("rebuilt {head} events")),
        "{stdout}"
    );
    assert!(stdout.contains("events/s"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ETA"), "progress shows an ETA: {stderr}");
    let app = spawn_app_in(dir, |_| {}).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(
        status.body["view_file"]["opened_at_position"], head,
        "started from the rebuilt view file"
    );
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        before
    );
    app.stop().await;
}
