//! Export and import: the log as NDJSON and back, byte-for-byte the same chain; the
//! data-directory lock; NDJSON pages over HTTP.

use crate::helpers::{spawn_app_in, spawn_app_with};
use crate::workload::{all_views, write_history};
use std::path::Path;
use std::process::{Command, Output};

fn ledger(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alert-ledger"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn head_line(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let at = stdout
        .find("head position")
        .expect("verify prints the head");
    stdout[at..].trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_log_imported_into_an_empty_dir_has_the_same_positions_and_head_hash() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 8).await;
    let views = all_views(&app, &format!("min_position={head}")).await;
    let source = app.stop().await.data_dir;
    let file = source.path().join("export.ndjson");
    let exported = ledger(
        &["export", "--output", file.to_str().unwrap()],
        source.path(),
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count() as u64,
        head
    );

    let target = tempfile::tempdir().unwrap();
    let imported = ledger(
        &["import", "--input", file.to_str().unwrap()],
        target.path(),
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(String::from_utf8_lossy(&imported.stdout).contains(&format!("imported {head} events")));

    let original = head_line(&ledger(&["verify"], source.path()));
    let copy = head_line(&ledger(&["verify"], target.path()));
    assert_eq!(original, copy, "same head position and hash");
    assert!(original.starts_with(&format!("head position {head} ")));

    let app = spawn_app_in(target, |_| {}).await;
    assert_eq!(
        all_views(&app, &format!("min_position={head}")).await,
        views
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_takes_a_range_and_a_category_and_import_refuses_a_gap() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 4).await;
    let dir = app.stop().await.data_dir;
    let part = ledger(
        &["export", "--from", "2", "--to", "9", "--category", "alert"],
        dir.path(),
    );
    assert!(part.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&part.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let position = line["position"].as_u64().unwrap();
        assert!(
            (2..=9).contains(&position),
            "{position} within 2..=9 (head {head})"
        );
        assert!(line["stream"].as_str().unwrap().starts_with("alert-"));
        assert!(
            line["hash"].as_str().unwrap().len() == 64,
            "envelopes carry hashes"
        );
    }

    let whole = ledger(&["export"], dir.path());
    let mut text: Vec<&str> = std::str::from_utf8(&whole.stdout)
        .unwrap()
        .lines()
        .collect();
    text.remove(2);
    let gapped = dir.path().join("gapped.ndjson");
    std::fs::write(&gapped, text.join("\n")).unwrap();
    let target = tempfile::tempdir().unwrap();
    let refused = ledger(
        &["import", "--input", gapped.to_str().unwrap()],
        target.path(),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("position 4"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_into_a_data_dir_that_holds_a_log_says_it_is_not_empty_and_writes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 2).await;
    let source = app.stop().await.data_dir;
    let file = source.path().join("export.ndjson");
    let exported = ledger(
        &["export", "--output", file.to_str().unwrap()],
        source.path(),
    );
    assert!(exported.status.success());
    let before = head_line(&ledger(&["verify"], source.path()));

    let refused = ledger(
        &["import", "--input", file.to_str().unwrap()],
        source.path(),
    );

    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let dir = source.path().display().to_string();
    assert!(
        stderr.contains(&format!(
            "cannot import into data directory {dir}: not empty"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "already holds positions 1 to {head} and the input starts at position 1"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("was expected"), "{stderr}");
    assert_eq!(head_line(&ledger(&["verify"], source.path())), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_cannot_open_a_log_the_service_has_open() {
    let app = spawn_app_with(|_| {}).await;
    write_history(&app, 1).await;
    let refused = ledger(&["export"], app.data_dir.path());
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_streams_can_be_read_as_ndjson() {
    let app = spawn_app_with(|_| {}).await;
    let head = write_history(&app, 3).await;
    let response = app
        .request(reqwest::Method::GET, "/v1/events?from=1&limit=5")
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert_eq!(response.headers()["x-ledger-next"], "6");
    let text = response.text().await.unwrap();
    let positions: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    let stream = app
        .request(reqwest::Method::GET, "/v1/streams/sync-db-cluster")
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        stream.lines().count(),
        2,
        "registered and deleted (head {head})"
    );
    app.stop().await;
}
