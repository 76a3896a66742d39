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
    let (mut child, lines) = tail(&[
        "--server",
        &app.address,
        "--from",
        "1",
        "--category",
        "alert",
    ]);

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

/// Starts `alert-ledger tail <args>` and forwards its lines.
fn tail(args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alert-ledger"))
        .arg("tail")
        .args(args)
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
    (child, lines)
}

/// `alert-ledger tail --group <group> --member <member> --json`.
fn tail_group(
    address: &str,
    group: &str,
    member: &str,
) -> (std::process::Child, mpsc::Receiver<String>) {
    tail(&[
        "--server", address, "--group", group, "--member", member, "--json",
    ])
}

fn positions_printed(lines: &mpsc::Receiver<String>, count: usize) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut printed = Vec::new();
    while printed.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("tail --group printed only {printed:?}"));
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        printed.push(event["position"].as_u64().unwrap());
    }
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_with_a_group_acknowledges_what_it_printed_and_a_restart_resumes_after_it() {
    let app = spawn().await;
    let body = json!({"name": "printer", "types": ["alert_triggered"], "from": "start"});
    let created = app
        .client
        .post(format!("{}/v1/consumers", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let trigger = |key: String| {
        let body =
            json!({ "service": "db", "dedup_key": key, "summary": "slow", "severity": "error" });
        app.client
            .post(format!("{}/v1/alerts", app.address))
            .json(&body)
            .send()
    };
    for i in 0..5 {
        assert_eq!(trigger(format!("k{i}")).await.unwrap().status(), 201);
    }
    let (mut child, lines) = tail_group(&app.address, "printer", "printer-1");
    let first = positions_printed(&lines, 5);
    // The page is acknowledged after it is printed: wait until the checkpoint shows it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let group: serde_json::Value = app
            .client
            .get(format!("{}/v1/consumers/printer", app.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if group["checkpoint"].as_u64().unwrap() >= *first.last().unwrap() {
            break;
        }
        assert!(Instant::now() < deadline, "never acknowledged: {group}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    for i in 5..7 {
        assert_eq!(trigger(format!("k{i}")).await.unwrap().status(), 201);
    }
    let (mut child, lines) = tail_group(&app.address, "printer", "printer-1");
    let second = positions_printed(&lines, 2);
    assert!(
        second.iter().all(|p| p > first.last().unwrap()),
        "{first:?} then {second:?}"
    );
    assert!(
        lines.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing acknowledged is printed again"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    app.stop().await.unwrap();
}
