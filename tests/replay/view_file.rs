//! The view file across restarts, and view files that must not be used: a restart
//! resumes from the file's checkpoint; a truncated, damaged, foreign or old-format file
//! is detected and rebuilt (the service starts, and says so); a file ahead of its log
//! proves a loss and refuses the start unless the loss is accepted and recorded.

use crate::helpers::{
    eventually, spawn_app_in, spawn_app_with, test_config, trigger_body, TestApp,
};
use crate::workload::{all_views, write_history};
use alert_ledger::startup::Application;
use alert_ledger::store::embedded::RecoveryMode;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn view_file(data_dir: &Path) -> PathBuf {
    data_dir.join("views.sqlite3")
}

/// Files moved aside as refused.
fn refused_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("views.sqlite3.refused-") && !name.ends_with("-wal")
        })
        .collect();
    files.sort();
    files
}

/// Copies the log (not the view file) of `data_dir` into a fresh directory.
fn copy_log(data_dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(data_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() && !name.starts_with("views.sqlite3") {
            std::fs::copy(&path, copy.path().join(&name)).unwrap();
        }
    }
    copy
}

/// Starts a service on `dir` whose view file is refused at open; `/readyz` must say
/// it was set aside for a reason containing `reason`.
async fn started_with_file_set_aside(dir: tempfile::TempDir, reason: &str) -> TestApp {
    let app = spawn_app_in(dir, |_| {}).await;
    let ready = app.get("/readyz").await.expect(200);
    assert!(
        ready.body["views"]["set_aside"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(reason)),
        "{}",
        ready.body
    );
    app
}

/// The views a fresh replay of `data_dir`'s log gives (the log copied, no view file).
async fn fresh_replay_views(data_dir: &Path, head: u64) -> serde_json::Value {
    let app = spawn_app_in(copy_log(data_dir), |_| {}).await;
    let views = all_views(&app, &format!("min_position={head}")).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(status.body["view_file"]["opened_at_position"], 0);
    app.stop().await;
    views
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_view_files_checkpoint() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 6).await;
    let before = all_views(&app, &format!("min_position={head}")).await;
    let stopped = app.stop().await;
    stopped.result.unwrap();
    assert!(view_file(stopped.data_dir.path()).exists());

    let app = spawn_app_in(stopped.data_dir, |_| {}).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(
        status.body["view_file"]["opened_at_position"], head,
        "nothing was replayed at start: the file reflected the head"
    );
    assert_eq!(status.body["position"], head);
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        before
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_view_file_is_moved_aside_and_rebuilt_and_the_service_says_so() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 8).await;
    let dir = app.stop().await.data_dir;
    let file = view_file(dir.path());
    let length = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(length / 2)
        .unwrap();

    let expected = fresh_replay_views(dir.path(), head).await;
    let app = started_with_file_set_aside(dir, "truncated").await;
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        expected
    );
    let metrics = app.get("/metrics").await.expect(200).text;
    assert!(
        metrics.contains("alert_ledger_view_file_set_aside 1"),
        "the metric says so"
    );
    let dir = app.stop().await.data_dir;
    assert_eq!(
        refused_files(dir.path()).len(),
        1,
        "the refused file is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_page_fails_the_page_check_and_the_views_are_rebuilt_online() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 8).await;
    let dir = app.stop().await.data_dir;
    damage_alerts_page(&view_file(dir.path()));

    let expected = fresh_replay_views(dir.path(), head).await;
    let app = spawn_app_in(dir, |_| {}).await;
    let status = eventually(
        "the page check and the rebuild",
        Duration::from_secs(30),
        || async {
            let status = app.get("/v1/admin/projections").await.expect(200);
            let failed = status.body["view_file"]["last_damage"]["state"] == "failed";
            (failed && status.body["rebuild"]["state"] == "swapped").then_some(status)
        },
    )
    .await;
    assert!(
        status.body["view_file"]["last_damage"]["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        status.body
    );
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        expected
    );
    eventually("ready once swapped", Duration::from_secs(10), || async {
        (app.get("/readyz").await.status == 200).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_file_of_another_log_is_moved_aside_and_rebuilt() {
    let other = spawn_app_with(|_| {}).await;
    write_history(&other, 6).await;
    let other_dir = other.stop().await.data_dir;
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 2).await;
    let dir = app.stop().await.data_dir;
    std::fs::copy(view_file(other_dir.path()), view_file(dir.path())).unwrap();

    let expected = fresh_replay_views(dir.path(), head).await;
    let app = started_with_file_set_aside(dir, "another log").await;
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        expected
    );
    let ledger = app.get("/v1/streams/ledger").await;
    let recorded = ledger.body["events"].as_array().map_or(0, Vec::len);
    assert_eq!(
        recorded, 0,
        "a foreign file proves no loss of this log: {:?}",
        ledger.body
    );
    app.stop().await;
}

/// A log cut back to an earlier copy of itself, with the view file of its longer
/// self: the file is ahead of the log it was built from.
async fn a_log_behind_its_view_file() -> (tempfile::TempDir, u64, u64) {
    let app = spawn_app_with(|_| {}).await;
    let short_head = write_history(&app, 2).await;
    let stopped = app.stop().await;
    let short = copy_log(stopped.data_dir.path());
    let app = spawn_app_in(stopped.data_dir, |_| {}).await;
    for i in 0..5 {
        app.trigger(&trigger_body("api", &format!("later-{i}"), "warning"))
            .await
            .expect(201);
    }
    let long_head = app.head_position().await;
    let long = app.stop().await.data_dir;
    std::fs::copy(view_file(long.path()), view_file(short.path())).unwrap();
    (short, short_head, long_head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_file_ahead_of_its_log_refuses_the_start_naming_the_loss() {
    let (dir, short_head, long_head) = a_log_behind_its_view_file().await;
    let err = Application::build(test_config(dir.path()))
        .await
        .err()
        .expect("a view file ahead of the log refuses the start");
    let message = format!("{err:#}");
    assert!(
        message.contains("views.sqlite3")
            && message.contains(&format!("position {long_head}"))
            && message.contains(&format!("the log ends at {short_head}"))
            && message.contains(&format!("lost from position {}", short_head + 1))
            && message.contains("--recovery accept-data-loss"),
        "{message}"
    );
    assert!(view_file(dir.path()).exists(), "nothing was moved");
    assert!(refused_files(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_data_loss_sets_the_file_aside_and_records_the_disagreement() {
    let (dir, short_head, _) = a_log_behind_its_view_file().await;
    let app = spawn_app_in(dir, |config| config.recovery = RecoveryMode::AcceptDataLoss).await;
    let ledger = app.get("/v1/streams/ledger").await.expect(200);
    let recorded = ledger.body["events"].as_array().expect("events").clone();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["event"]["type"], "data_loss_recorded");
    assert_eq!(recorded[0]["event"]["witness"], "view file views.sqlite3");
    assert_eq!(recorded[0]["event"]["first_lost_position"], short_head + 1);
    let head = short_head + 1;
    let views = all_views(&app, &format!("min_position={head}")).await;
    let dir = app.stop().await.data_dir;
    assert_eq!(views, fresh_replay_views(dir.path(), head).await);
    assert_eq!(refused_files(dir.path()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_file_of_an_older_format_is_moved_aside_and_rebuilt() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 3).await;
    let before = all_views(&app, &format!("min_position={head}")).await;
    let dir = app.stop().await.data_dir;
    rusqlite::Connection::open(view_file(dir.path()))
        .unwrap()
        .execute("UPDATE checkpoint SET format = 0", [])
        .unwrap();
    let app = started_with_file_set_aside(dir, "view format 0").await;
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        before
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_data_directory_with_json_snapshots_opens_and_the_snapshots_go() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 4).await;
    let before = all_views(&app, &format!("min_position={head}")).await;
    let dir = app.stop().await.data_dir;
    // What an older version left: no view file, whole-view snapshots.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", view_file(dir.path()).display()));
    }
    let snapshots = dir.path().join("snapshots");
    std::fs::create_dir(&snapshots).unwrap();
    std::fs::write(
        snapshots.join(format!("views-{:020}.snap", head)),
        b"ALSNAP\0\n an older version's whole-view snapshot",
    )
    .unwrap();
    // Built in bulk before the start, as a long log's would be.
    let app = spawn_app_in(dir, |config| config.views_bulk_build_from = 1).await;
    let status = app.get("/v1/admin/projections").await.expect(200);
    assert_eq!(status.body["view_file"]["opened_at_position"], head);
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        before
    );
    let dir = app.stop().await.data_dir;
    assert!(!snapshots.exists(), "the old snapshots were removed");
    assert!(
        !dir.path().join("views.sqlite3.rebuild").exists()
            && !dir.path().join("views.sqlite3.previous").exists(),
        "no build leftovers"
    );
    assert!(view_file(dir.path()).exists());
}

/// Flips every byte of the page holding the alerts table's root.
fn damage_alerts_page(file: &Path) {
    let (page_size, root) = {
        let conn = rusqlite::Connection::open(file).unwrap();
        let page_size: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        let root: u64 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'alerts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (page_size, root)
    };
    let mut bytes = std::fs::read(file).unwrap();
    let start = ((root - 1) * page_size) as usize;
    for byte in &mut bytes[start..start + page_size as usize] {
        *byte ^= 0xff;
    }
    std::fs::write(file, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_views_reads_every_page_and_names_a_damaged_one() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 3).await;
    let dir = app.stop().await.data_dir;
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_alert-ledger"))
            .args(["verify", "--views", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let passed = verify();
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert!(passed.status.success(), "{stdout}");
    assert!(
        stdout.contains("every page consistent")
            && stdout.contains(&format!("checkpoint at position {head}")),
        "{stdout}"
    );
    damage_alerts_page(&view_file(dir.path()));
    let failed = verify();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(stderr.contains("failed its page check"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_file_behind_its_log_is_moved_aside_when_catching_up_fails_and_the_service_starts(
) {
    let app = spawn_app_with(|_| {}).await;
    write_history(&app, 4).await;
    let stopped = app.stop().await;
    let behind = std::fs::read(view_file(stopped.data_dir.path())).unwrap();
    let app = spawn_app_in(stopped.data_dir, |_| {}).await;
    for i in 0..20 {
        app.trigger(&trigger_body("api", &format!("later-{i}"), "warning"))
            .await
            .expect(201);
    }
    let head = app.head_position().await;
    let dir = app.stop().await.data_dir;
    // The file of an earlier stop (it passes the checks at open: behind the log, same
    // chain), with a damaged page the catch-up writes into.
    std::fs::write(view_file(dir.path()), behind).unwrap();
    damage_alerts_page(&view_file(dir.path()));

    let expected = fresh_replay_views(dir.path(), head).await;
    let app = started_with_file_set_aside(dir, "catching up").await;
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        expected
    );
    let dir = app.stop().await.data_dir;
    assert_eq!(refused_files(dir.path()).len(), 1);
}
