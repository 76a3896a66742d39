//! Verification for auditors: the digest, `POST /v1/ledger/verify`, and
//! `alert-ledger verify --digest` on an intact log and after it was tampered with;
//! [`postgres`]: the same on a PostgreSQL ledger.

mod postgres;

use crate::helpers::{spawn_app_with, trigger_body};
use serde_json::json;
use std::path::Path;
use std::process::Output;

/// `alert-ledger verify` with `args`.
fn ledger_verify(args: &[&std::ffi::OsStr]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_alert-ledger"))
        .arg("verify")
        .args(args)
        .env_remove("ALERT_LEDGER_DATA_DIR")
        .env_remove("ALERT_LEDGER_STORE")
        .output()
        .expect("verify runs")
}

/// Asserts a successful run that printed an `ok:` line (`ok_prefix`, the elapsed time,
/// `ok_suffix`) and then exactly the `digest` line, if one is given.
#[track_caller]
fn assert_ok_lines(output: &Output, ok_prefix: &str, ok_suffix: &str, digest: Option<&str>) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(ok_prefix) && lines[0].ends_with(ok_suffix),
        "{stdout}"
    );
    assert_eq!(lines.get(1).copied(), digest, "{stdout}");
    assert_eq!(lines.len(), 1 + usize::from(digest.is_some()), "{stdout}");
}

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
    let tampered_at = trigger_marked(&app, "second", "TAMPER-TARGET").await;
    trigger_several(&app, "later-", "info").await;
    let digest = app.get("/v1/ledger/digest").await.expect(200);
    let stopped = app.stop().await;
    let dir = stopped.data_dir;
    let digest_file = dir.path().join("digest.json");
    std::fs::write(&digest_file, digest.text.as_bytes()).unwrap();

    tamper_first(dir.path(), b"TAMPER-TARGET");

    for args in [
        vec![],
        vec![
            "--digest".to_owned(),
            digest_file.display().to_string(),
            "--full".to_owned(),
        ],
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_a_saved_digest_says_plainly_that_it_matched_and_names_a_forged_one() {
    let app = spawn_app_with(|_| {}).await;
    trigger_several(&app, "k", "error").await;
    let digest = app.get("/v1/ledger/digest").await.expect(200);
    let at = digest.body["position"].as_u64().unwrap();
    let hash = digest.body["head_hash"].as_str().unwrap().to_owned();
    app.trigger(&trigger_body("db", "later", "error"))
        .await
        .expect(201);
    let last = app.get("/v1/ledger/digest").await.expect(200).body;
    let head = last["position"].as_u64().unwrap();
    let ok_suffix = format!(
        "; head position {head} hash {}",
        last["head_hash"].as_str().unwrap()
    );
    let dir = app.stop().await.data_dir;
    let saved = dir.path().join("digest.json");
    std::fs::write(&saved, digest.text.as_bytes()).unwrap();
    let mut forged_body = digest.body.clone();
    forged_body["head_hash"] = json!("ab".repeat(32));
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, forged_body.to_string()).unwrap();

    let matched = ledger_verify(&[
        "--data-dir".as_ref(),
        dir.path().as_os_str(),
        "--digest".as_ref(),
        saved.as_os_str(),
        "--full".as_ref(),
    ]);
    let ok_prefix = format!("ok: {head} events in 1 segments verified in ");
    assert_ok_lines(
        &matched,
        &ok_prefix,
        &ok_suffix,
        Some(&format!("digest matched: position {at} hash {hash}")),
    );

    let without = ledger_verify(&["--data-dir".as_ref(), dir.path().as_os_str()]);
    assert_ok_lines(&without, &ok_prefix, &ok_suffix, None);

    let refused = ledger_verify(&[
        "--data-dir".as_ref(),
        dir.path().as_os_str(),
        "--digest".as_ref(),
        forged.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(refused.stdout.is_empty(), "{stderr}");
    assert!(
        stderr.contains(&format!("log broken at position {at} "))
            && stderr.contains("differs from the digest"),
        "{stderr}"
    );
}

/// Triggers three alerts of service `db` with dedup keys `<prefix>0..2` at `severity`.
async fn trigger_several(app: &crate::helpers::TestApp, prefix: &str, severity: &str) {
    for i in 0..3 {
        app.trigger(&trigger_body("db", &format!("{prefix}{i}"), severity))
            .await
            .expect(201);
    }
}

/// Triggers an alert whose summary starts with `marker` (to find its bytes in the log
/// later); its position.
async fn trigger_marked(app: &crate::helpers::TestApp, key: &str, marker: &str) -> u64 {
    let mut body = trigger_body("db", key, "error");
    body["summary"] = json!(format!("{marker} summary"));
    app.trigger(&body).await.expect(201).position()
}

/// Flips the first byte of `needle` in the log's segment files (no re-chaining: the
/// record's content no longer matches its hash).
fn tamper_first(dir: &Path, needle: &[u8]) {
    for segment in segment_files(dir) {
        let mut bytes = std::fs::read(&segment).unwrap();
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            bytes[at] = b'X';
            std::fs::write(&segment, bytes).unwrap();
            return;
        }
    }
    panic!("{} is not in the log", String::from_utf8_lossy(needle));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_verify_checks_the_digest_and_what_came_after_it_only() {
    let app = spawn_app_with(|_| {}).await;
    let before_at = trigger_marked(&app, "before", "BEFORE-DIGEST").await;
    trigger_several(&app, "k", "error").await;
    let digest = app.get("/v1/ledger/digest").await.expect(200);
    let at = digest.body["position"].as_u64().unwrap();
    let after_at = trigger_marked(&app, "after", "AFTER-DIGEST").await;
    let head = app.head_position().await;

    let mut incremental = digest.body.clone();
    incremental["incremental"] = json!(true);
    let live = app
        .post("/v1/ledger/verify", &incremental)
        .await
        .expect(200);
    assert_eq!(live.body["ok"], true, "{}", live.text);
    assert_eq!(live.body["from_position"], at);
    assert_eq!(live.body["events_checked"], head - at + 1);
    assert_eq!(live.body["verified_to"]["position"], head);
    let dir = app.stop().await.data_dir;
    let saved = dir.path().join("digest.json");
    std::fs::write(&saved, digest.text.as_bytes()).unwrap();
    let run = |dir: &Path, full: bool| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--data-dir".as_ref(),
            dir.as_os_str(),
            "--digest".as_ref(),
            saved.as_os_str(),
        ];
        if full {
            args.push("--full".as_ref());
        }
        ledger_verify(&args)
    };

    let ok = run(dir.path(), false);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "ok: {} events (positions {at} to {head}, from the digest on; --full checks every record) in ",
            head - at + 1
        )),
        "{stdout}"
    );

    // A record changed after the digest is named by the incremental verify (on a copy).
    let copy = tempfile::tempdir().unwrap();
    for file in segment_files(dir.path()) {
        std::fs::copy(&file, copy.path().join(file.file_name().unwrap())).unwrap();
    }
    tamper_first(copy.path(), b"AFTER-DIGEST");
    let refused = run(copy.path(), false);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(&format!("log broken at position {after_at} ")),
        "{stderr}"
    );

    // A record changed before the digest: --full names it, and so does the incremental
    // walk here, because in the segment being written (no index yet) it steps over the
    // frames before the digest's record by their checksums.
    tamper_first(dir.path(), b"BEFORE-DIGEST");
    for full in [true, false] {
        let refused = run(dir.path(), full);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "full: {full}");
        assert!(
            stderr.contains(&format!("position {before_at}")),
            "{stderr}"
        );
    }
}
