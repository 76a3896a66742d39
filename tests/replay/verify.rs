//! Verification for auditors: the digest, `POST /v1/ledger/verify`, and
//! `alert-ledger verify --digest` after the log was tampered with.

use crate::helpers::{spawn_app_with, trigger_body};
use serde_json::json;
use std::path::Path;

fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| alert_ledger::store::embedded::parse_segment_name(p).is_some())
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_log_verifies_up_to_its_head_and_up_to_a_saved_digest() {
    let app = spawn_app_with(|_| {}).await;
    for i in 0..5 {
        app.trigger(&trigger_body("db", &format!("k{i}"), "error"))
            .await
            .expect(201);
    }
    let digest = app.get("/v1/ledger/digest").await.expect(200);
    for i in 5..10 {
        app.trigger(&trigger_body("db", &format!("k{i}"), "error"))
            .await
            .expect(201);
    }
    let head = app.head_position().await;
    let whole = app.post_empty("/v1/ledger/verify").await.expect(200);
    assert_eq!(whole.body["ok"], true);
    assert_eq!(whole.body["events_checked"], head);

    let against = app
        .post("/v1/ledger/verify", &digest.body)
        .await
        .expect(200);
    assert_eq!(against.body["ok"], true, "{}", against.text);
    assert_eq!(
        against.body["verified_to"]["position"],
        digest.body["position"]
    );

    let mut forged = digest.body.clone();
    forged["head_hash"] = json!("00".repeat(32));
    let refused = app.post("/v1/ledger/verify", &forged).await.expect(200);
    assert_eq!(refused.body["ok"], false);
    assert_eq!(refused.body["failure"]["position"], digest.body["position"]);

    let beyond = json!({"position": head + 10, "head_hash": "00".repeat(32)});
    app.post("/v1/ledger/verify", &beyond)
        .await
        .expect_problem(422, "validation");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_one_payload_byte_is_named_by_verify_and_refused_at_startup() {
    let app = spawn_app_with(|_| {}).await;
    app.trigger(&trigger_body("db", "first", "error"))
        .await
        .expect(201);
    let mut body = trigger_body("db", "second", "error");
    body["summary"] = json!("TAMPER-TARGET summary");
    let tampered_at = app.trigger(&body).await.expect(201).position();
    for i in 0..3 {
        app.trigger(&trigger_body("db", &format!("later-{i}"), "info"))
            .await
            .expect(201);
    }
    let digest = app.get("/v1/ledger/digest").await.expect(200);
    let stopped = app.stop().await;
    let dir = stopped.data_dir;
    let digest_file = dir.path().join("digest.json");
    std::fs::write(&digest_file, digest.text.as_bytes()).unwrap();

    let segment = segment_files(dir.path()).remove(0);
    let mut bytes = std::fs::read(&segment).unwrap();
    let needle = b"TAMPER-TARGET";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the payload is in the segment");
    bytes[at] = b'X';
    std::fs::write(&segment, bytes).unwrap();

    for args in [
        vec![],
        vec!["--digest".to_owned(), digest_file.display().to_string()],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_alert-ledger"))
            .arg("verify")
            .arg("--data-dir")
            .arg(dir.path())
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "verify {args:?} must fail");
        assert!(
            stderr.contains(&format!("position {tampered_at}")),
            "verify {args:?} names position {tampered_at}: {stderr}"
        );
    }

    let mut config = crate::helpers::test_config(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let refused = alert_ledger::startup::Application::build(config).await;
    let message = format!(
        "{:#}",
        refused.err().expect("startup refuses a corrupt log")
    );
    assert!(message.contains(&tampered_at.to_string()), "{message}");
}
