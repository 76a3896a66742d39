//! Startup from snapshots, and snapshots that must not be used.

use crate::helpers::{spawn_app_in, spawn_app_with};
use crate::workload::{all_views, write_history};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_from_another_or_longer_log_is_refused() {
    let long = spawn_app_with(|_| {}).await;
    write_history(&long, 6).await;
    let long_dir = long.stop().await.data_dir;
    let short = spawn_app_with(|_| {}).await;
    let head = write_history(&short, 2).await;
    let short_dir = short.stop().await.data_dir;
    let expected = fresh_replay_views(short_dir.path(), head).await;
    // Replace the short log's snapshots with the long log's.
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
    let app = spawn_app_in(short_dir, |_| {}).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(
        status.body["snapshot"]["position"], 0,
        "no foreign snapshot was used"
    );
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        expected
    );
    app.stop().await;
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
