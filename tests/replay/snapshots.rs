//! Startup from snapshots, and snapshots that must not be used.

use crate::helpers::{spawn_app_in, spawn_app_with, test_config};
use crate::workload::{all_views, write_history};
use alert_ledger::startup::Application;
use alert_ledger::store::embedded::RecoveryMode;
use std::path::{Path, PathBuf};

fn snapshot_files(data_dir: &Path) -> Vec<PathBuf> {
    let dir = data_dir.join("snapshots");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "snap"));
    files.sort();
    files
}

/// The views a fresh replay of `data_dir`'s log gives: the log copied to a new
/// directory without snapshots, opened, read.
async fn fresh_replay_views(data_dir: &Path, head: u64) -> serde_json::Value {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let app = spawn_app_in(copy, |_| {}).await;
    let views = all_views(&app, &format!("min_position={head}")).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(
        status.body["snapshot"]["position"], 0,
        "the copy has no snapshot"
    );
    app.stop().await;
    views
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_a_snapshot_and_startup_resumes_from_it() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 6).await;
    let before = all_views(&app, &format!("min_position={head}")).await;
    let stopped = app.stop().await;
    stopped.result.unwrap();
    let files = snapshot_files(stopped.data_dir.path());
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains(&format!("{head:020}"))),
        "a snapshot at the head {head} after shutdown, found {files:?}"
    );

    let app = spawn_app_in(stopped.data_dir, |_| {}).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(
        status.body["snapshot"]["position"], head,
        "started from the snapshot"
    );
    assert_eq!(status.body["position"], head);
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        before
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_and_a_deleted_snapshot_fall_back_to_views_equal_to_a_fresh_replay() {
    let app = spawn_app_with(|config| config.snapshot_every_events = 10).await;
    let head = write_history(&app, 8).await;
    let stopped = app.stop().await;
    let dir = stopped.data_dir;
    let files = snapshot_files(dir.path());
    assert!(
        files.len() >= 3,
        "several snapshots were written: {files:?}"
    );
    // Corrupt the newest (a byte in the body), delete the one before it.
    let newest = files.last().unwrap().clone();
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() - 10;
    bytes[middle] ^= 0x55;
    std::fs::write(&newest, bytes).unwrap();
    std::fs::remove_file(&files[files.len() - 2]).unwrap();

    let expected = fresh_replay_views(dir.path(), head).await;
    let app = spawn_app_in(dir, |_| {}).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    let loaded = status.body["snapshot"]["position"].as_u64().unwrap();
    assert!(
        loaded < head,
        "the corrupt snapshot at {head} was not used (loaded {loaded})"
    );
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        expected
    );
    app.stop().await;
}

/// The short log's directory with the long log's snapshots in place of its own.
async fn short_log_with_a_longer_logs_snapshots() -> (tempfile::TempDir, u64) {
    let long = spawn_app_with(|_| {}).await;
    write_history(&long, 6).await;
    let long_dir = long.stop().await.data_dir;
    let short = spawn_app_with(|_| {}).await;
    let head = write_history(&short, 2).await;
    let short_dir = short.stop().await.data_dir;
    for file in snapshot_files(short_dir.path()) {
        std::fs::remove_file(file).unwrap();
    }
    for file in snapshot_files(long_dir.path()) {
        let target = short_dir
            .path()
            .join("snapshots")
            .join(file.file_name().unwrap());
        std::fs::copy(&file, target).unwrap();
    }
    (short_dir, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_ahead_of_the_log_refuses_the_start_naming_it_and_the_position() {
    let (dir, head) = short_log_with_a_longer_logs_snapshots().await;
    let newest = snapshot_files(dir.path()).pop().expect("a snapshot");
    let before = std::fs::read(dir.path().join("0000000001.seg")).unwrap();
    let err = Application::build(test_config(dir.path()))
        .await
        .err()
        .expect("a snapshot ahead of the log refuses the start");
    let message = format!("{err:#}");
    let name = newest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        message.contains(&name)
            && message.contains(&format!("the log ends at position {head}"))
            && message.contains(&format!("lost from position {}", head + 1))
            && message.contains("--recovery accept-data-loss"),
        "{message}"
    );
    assert!(newest.exists(), "nothing was moved");
    assert_eq!(
        std::fs::read(dir.path().join("0000000001.seg")).unwrap(),
        before,
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_data_loss_sets_a_foreign_snapshot_aside_and_records_the_disagreement() {
    let (dir, head) = short_log_with_a_longer_logs_snapshots().await;
    let foreign = snapshot_files(dir.path()).len();
    let app = spawn_app_in(dir, |config| config.recovery = RecoveryMode::AcceptDataLoss).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(
        status.body["snapshot"]["position"], 0,
        "no foreign snapshot was used"
    );
    let ledger = app.get("/v1/streams/ledger").await.expect(200);
    let recorded = ledger.body["events"].as_array().expect("events").clone();
    assert!(
        !recorded.is_empty() && recorded.len() <= foreign,
        "{recorded:?}"
    );
    for event in &recorded {
        assert_eq!(event["event"]["type"], "data_loss_recorded", "{event}");
        let witness = event["event"]["witness"].as_str().unwrap_or_default();
        assert!(witness.starts_with("views snapshot views-"), "{event}");
    }
    let new_head = head + recorded.len() as u64;
    let views = all_views(&app, &format!("min_position={new_head}")).await;
    let dir = app.stop().await.data_dir;
    assert_eq!(views, fresh_replay_views(dir.path(), new_head).await);
    let refused = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".snap.refused")
        })
        .count();
    assert_eq!(
        refused,
        recorded.len(),
        "each refused snapshot is kept, set aside"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_an_older_view_format_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 3).await;
    let dir = app.stop().await.data_dir;
    let file = snapshot_files(dir.path()).pop().expect("a snapshot");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[8..12].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&file, bytes).unwrap();
    let expected = fresh_replay_views(dir.path(), head).await;
    let app = spawn_app_in(dir, |_| {}).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(status.body["snapshot"]["position"], 0);
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        expected
    );
    app.stop().await;
}
