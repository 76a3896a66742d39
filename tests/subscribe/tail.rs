//! `alert-ledger tail` as a user runs it: a child process following a real server.

use crate::support::spawn;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_one_line_per_alert_event_as_alerts_are_triggered() {
    let app = spawn().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_alert-ledger"))
        .args(["tail", "--server", &app.address, "--from", "1"])
        .args(["--category", "alert"])
        .env_remove("ALERT_LEDGER_TOKEN")
        .env_remove("ALERT_LEDGER_SERVER")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    for key in ["disk", "cpu"] {
        let body = json!({ "service": "db", "dedup_key": key, "summary": format!("{key} is unhappy"), "severity": "error" });
        let reply = app
            .client
            .post(format!("{}/v1/alerts", app.address))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201);
    }
    let page: serde_json::Value = app
        .client
        .get(format!("{}/v1/events?from=1", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wanted: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["stream"].as_str().unwrap().starts_with("alert-"))
        .map(|e| e["position"].as_u64().unwrap())
        .collect();

    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while printed.len() < wanted.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("tail printed only {printed:?}, wanted {wanted:?}"));
        printed.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();

    let positions: Vec<u64> = printed
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(positions, wanted, "{printed:#?}");
    let triggered: Vec<&String> = printed
        .iter()
        .filter(|l| l.split(' ').nth(3) == Some("alert_triggered"))
        .collect();
    assert_eq!(triggered.len(), 2, "{printed:#?}");
    for line in &printed {
        let fields: Vec<&str> = line.split(' ').collect();
        assert!(fields[2].starts_with("alert-"), "stream@version of {line}");
        assert!(fields[2].contains('@'), "stream@version of {line}");
        assert!(fields[1].contains('T'), "recorded_at of {line}");
    }
    assert!(
        triggered[0].contains("summary=disk is unhappy"),
        "{triggered:?}"
    );
}
