//! Readiness, startup failures that end `Application::build` at once with a clear
//! message, and a graceful shutdown that keeps every acknowledged write.

use crate::helpers::{eventually, spawn_app, spawn_app_in, test_config, trigger_body};
use alert_ledger::config::ServeConfig;
use alert_ledger::startup::Application;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn readyz_reports_ready_with_no_lag_once_built() {
    let app = spawn_app().await;
    let ready = app.get("/readyz").await.expect(200);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["lag"], 0);
    app.get("/livez").await.expect(200);
}

/// Builds with `config` and returns the error's full message, failing the test if the
/// build succeeds or takes longer than 5 s.
async fn build_error(config: ServeConfig) -> String {
    let built = tokio::time::timeout(Duration::from_secs(5), Application::build(config))
        .await
        .expect("a failing startup ends within 5 s");
    match built {
        Ok(app) => panic!("the build succeeded on {}", app.local_addr()),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test]
async fn a_data_dir_that_is_a_regular_file_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"hello").unwrap();
    let message = build_error(test_config(&file)).await;
    assert!(message.contains("not-a-dir"), "{message}");
}

#[tokio::test]
async fn a_corrupt_record_in_the_middle_of_the_log_fails_the_build_naming_its_position() {
    let app = spawn_app().await;
    for i in 0..40 {
        app.trigger(&trigger_body("corrupt", &format!("key-{i}"), "info"))
            .await
            .expect(201);
    }
    let stopped = app.stop().await;
    stopped.result.expect("the server stopped cleanly");
    let segment = only_segment(stopped.data_dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    // Segments are preallocated and zero-filled: flip a byte in the middle of the
    // written records, not of the file.
    let written = bytes
        .iter()
        .rposition(|b| *b != 0)
        .expect("a non-empty segment");
    let middle = written / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();

    let message = build_error(test_config(stopped.data_dir.path())).await;
    assert!(
        message.contains("acknowledged events lost from position")
            && message.contains("0000000001.seg at byte"),
        "{message}"
    );
    assert!(message.contains("--recovery accept-data-loss"), "{message}");
}

fn only_segment(dir: &Path) -> PathBuf {
    let segments: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(segments.len(), 1, "segments: {segments:?}");
    segments.into_iter().next().unwrap()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn a_port_in_use_fails_the_build() {
    // An existing log, so the timed build measures the failure, not the one-time
    // preallocation of a fresh segment (64 MiB, zero-filled and synced).
    let existing = spawn_app().await.stop().await;
    existing.result.expect("the first app stopped cleanly");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = test_config(existing.data_dir.path());
    config.listen = taken.local_addr().unwrap();
    let message = build_error(config).await;
    assert!(
        message.contains(&taken.local_addr().unwrap().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_tokens_file_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.tokens_file = Some(dir.path().join("no-such-tokens"));
    let message = build_error(config).await;
    assert!(message.contains("no-such-tokens"), "{message}");
}

#[tokio::test]
async fn a_tokens_file_with_an_unknown_role_fails_the_build_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        "# role name token\nreader auditor reader-token-0123456789\nroot ops root-token-0123456789ab\n",
    )
    .unwrap();
    let mut config = test_config(&dir.path().join("data"));
    config.tokens_file = Some(tokens);
    let message = build_error(config).await;
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("root"), "{message}");
    assert!(!message.contains("root-token-0123456789ab"), "{message}");
}

#[tokio::test]
async fn listening_beyond_loopback_without_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.listen = "0.0.0.0:0".parse().unwrap();
    let message = build_error(config).await;
    assert!(message.contains("tokens"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_shutdown_keeps_every_acknowledged_write() {
    let app = spawn_app().await;
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let api = app.api();
            let done = done.clone();
            let body = trigger_body("burst", &format!("key-{i}"), "warning");
            tokio::spawn(async move {
                let sent = api.request(reqwest::Method::POST, "/v1/alerts").json(&body);
                let response = sent.send().await.ok()?;
                if !response.status().is_success() {
                    return None;
                }
                let reply: serde_json::Value = response.json().await.ok()?;
                done.fetch_add(1, Ordering::SeqCst);
                Some((
                    reply["position"].as_u64()?,
                    reply["alert_id"].as_str()?.to_owned(),
                ))
            })
        })
        .collect();
    // Stop while the burst is in flight, once some writes were acknowledged.
    eventually(
        "the first acknowledged writes",
        Duration::from_secs(10),
        || {
            let done = done.clone();
            async move { (done.load(Ordering::SeqCst) >= 5).then_some(()) }
        },
    )
    .await;
    let stopped = app.stop().await;
    stopped.result.expect("the server task returned Ok");
    let mut acknowledged = Vec::new();
    for task in tasks {
        if let Some(write) = task.await.expect("the request task did not panic") {
            acknowledged.push(write);
        }
    }
    assert!(
        acknowledged.len() >= 5,
        "only {} writes",
        acknowledged.len()
    );

    let reopened = spawn_app_in(stopped.data_dir, |_| {}).await;
    let events = reopened.all_events().await;
    let by_position: HashMap<u64, &serde_json::Value> = events
        .iter()
        .map(|e| (e["position"].as_u64().unwrap(), e))
        .collect();
    for (position, alert_id) in &acknowledged {
        let event = by_position
            .get(position)
            .unwrap_or_else(|| panic!("acknowledged position {position} is not in the log"));
        assert_eq!(event["event"]["alert_id"], alert_id.as_str());
    }
}
