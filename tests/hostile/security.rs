//! Requests that try to get in, crash the server or hold it.
//!
//! The route × role matrix (none, wrong token, reader, writer, admin on every route)
//! is `tests/api/auth.rs`; integration keys of the PagerDuty and GoAlert receivers are
//! `tests/receivers/keys.rs`. Here: bearer tokens never reach the logs, the answers or
//! the event log; deeply nested JSON, invalid UTF-8, oversized and slow requests are
//! refused or cut off within bounds, and the server keeps serving everyone else.

use crate::helpers::{
    assert_problem_shape, inline_tokens, spawn_app, spawn_app_with, trigger_body, Reply,
    ADMIN_TOKEN, READER_TOKEN, WRITER_TOKEN, WRONG_TOKEN,
};
use crate::support_binary::{binary, free_port};
use reqwest::Method;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_never_reach_logs_answers_or_the_event_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let stderr_path = dir.path().join("stderr.log");
    // Debug logging: the access log and every request's details are written.
    let mut child = binary()
        .env("RUST_LOG", "debug")
        .env("ALERT_LEDGER_TOKENS", inline_tokens())
        .args(["--log-format", "json", "serve", "--segment-size-mib", "4"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("the binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(client.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "not ready in 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut answers = Vec::<String>::new();
    let send =
        |method: Method, path: &str, auth: Option<String>, body: Option<serde_json::Value>| {
            let mut request = client.request(method, format!("{base}{path}"));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move {
                let reply = request.send().await.expect("answered");
                let status = reply.status().as_u16();
                let headers = format!("{:?}", reply.headers());
                (
                    status,
                    format!("{headers}\n{}", reply.text().await.unwrap()),
                )
            }
        };
    let trigger = Some(trigger_body("checkout", "tokens", "critical"));
    let (status, text) = send(
        Method::POST,
        "/v1/alerts",
        Some(format!("Bearer {WRITER_TOKEN}")),
        trigger.clone(),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    answers.push(text);
    for (auth, want) in [
        (Some(format!("Bearer {READER_TOKEN}")), 403),
        (Some(format!("Bearer {WRONG_TOKEN}")), 401),
        (Some(format!("Basic {WRITER_TOKEN}")), 401),
        (Some(format!("Bearer {WRITER_TOKEN} {ADMIN_TOKEN}")), 401),
        (Some(format!("bearer  {WRONG_TOKEN}")), 401),
        (None, 401),
    ] {
        let (status, text) = send(Method::POST, "/v1/alerts", auth, trigger.clone()).await;
        assert_eq!(status, want, "{text}");
        answers.push(text);
    }
    for path in [
        "/v1/alerts".to_owned(),
        format!("/v1/alerts?access_token={ADMIN_TOKEN}"),
        "/v1/admin/projections".to_owned(),
        format!("/v1/streams/{WRONG_TOKEN}"),
    ] {
        for token in [READER_TOKEN, ADMIN_TOKEN, WRONG_TOKEN] {
            let (_, text) = send(Method::GET, &path, Some(format!("Bearer {token}")), None).await;
            answers.push(text);
        }
    }
    let (status, text) = send(
        Method::POST,
        "/v1/ledger/verify",
        Some(format!("Bearer {ADMIN_TOKEN}")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    answers.push(text);
    let (status, text) = send(
        Method::GET,
        "/metrics",
        Some(format!("Bearer {READER_TOKEN}")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    answers.push(text);

    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit: {status:?}");

    let stderr = std::fs::read(&stderr_path).unwrap();
    assert!(
        contains(&stderr, "\"status\":401") || contains(&stderr, "status=401"),
        "the access log recorded the refused requests (so it was written): {}",
        String::from_utf8_lossy(&stderr)
    );
    let stored = all_bytes(&dir.path().join("data"));
    assert!(contains(&stored, "checkout"), "the log holds the alert");
    for token in [READER_TOKEN, WRITER_TOKEN, ADMIN_TOKEN, WRONG_TOKEN] {
        assert!(!contains(&stderr, token), "a token is in the server's log");
        assert!(
            !contains(&stored, token),
            "a token is in the data directory"
        );
        for answer in &answers {
            assert!(!answer.contains(token), "a token is in an answer: {answer}");
        }
    }
}

/// `{"a":[[[…]]]}` nested `depth` deep.
fn nested(depth: usize) -> Vec<u8> {
    let mut body = br#"{"service":"checkout","summary":"s","severity":"info","details":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', depth));
    body.extend(std::iter::repeat_n(b']', depth));
    body.push(b'}');
    body
}

async fn raw_post(app: &crate::helpers::TestApp, path: &str, body: Vec<u8>) -> Reply {
    let response = app
        .request(Method::POST, path)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answered");
    Reply::read(response).await
}

#[tokio::test]
async fn nested_non_utf8_and_oversized_bodies_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let head = app.head_position().await;
    for path in [
        "/v1/alerts",
        "/v1/integrations/alertmanager",
        "/v1/syncs",
        "/v1/tasks",
        "/v1/policies",
    ] {
        for depth in [200, 100_000] {
            let reply = raw_post(&app, path, nested(depth)).await;
            assert!(
                reply.status.is_client_error(),
                "{path} depth {depth}: {reply:?}"
            );
            assert_problem_shape(&reply);
        }
        let reply = raw_post(
            &app,
            path,
            b"{\"service\":\"check\xff\xfeout\",\"summary\":\"s\",\"severity\":\"info\"}".to_vec(),
        )
        .await;
        assert!(
            reply.status.is_client_error(),
            "{path} invalid UTF-8: {reply:?}"
        );
        assert_problem_shape(&reply);
        // Over the 1 MiB limit, declared and undeclared (chunked) length.
        let big = vec![b' '; 2 * 1024 * 1024];
        let reply = raw_post(&app, path, big.clone()).await;
        assert_eq!(reply.status, 413, "{path} oversized: {reply:?}");
        let chunks = futures_util::stream::iter(
            big.chunks(64 * 1024)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        );
        let response = app
            .request(Method::POST, path)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 413, "{path} oversized, chunked");
    }
    // GoAlert's receiver reads form bodies too.
    let reply = app
        .request(Method::POST, "/api/v2/generic/incoming")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"summary=\xff\xfe&token=x".to_vec())
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_client_error(), "{:?}", reply.status());
    assert_eq!(app.head_position().await, head, "nothing was written");
    assert_eq!(app.get("/readyz").await.status, 200, "the server is up");
    app.trigger(&trigger_body("checkout", "after", "info"))
        .await
        .expect(201);
}

/// Writes `head` to a raw connection and returns it.
fn raw_connection(address: &str, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Reads until the server closes the connection; returns what it sent and how long it
/// took. A read timeout (10 s) fails the test.
fn read_until_closed(mut stream: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("the server held the connection open: {err}"),
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_and_slow_headers_are_cut_off_and_the_server_keeps_serving() {
    let app = spawn_app_with(|config| {
        config.timeouts.header_read = Duration::from_secs(3);
        config.timeouts.body_read = Duration::from_secs(3);
    })
    .await;
    let head = app.head_position().await;
    let address = app.address.clone();

    // Many slow clients at once: bodies that never finish and headers that never end.
    let slow = tokio::task::spawn_blocking(move || {
        let body_head = "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"service\":";
        let header_head = "GET /v1/alerts HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        let bodies: Vec<_> = (0..50)
            .map(|_| raw_connection(&address, body_head))
            .collect();
        let headers: Vec<_> = (0..50)
            .map(|_| raw_connection(&address, header_head))
            .collect();
        let bodies: Vec<_> = bodies.into_iter().map(read_until_closed).collect();
        let headers: Vec<_> = headers.into_iter().map(read_until_closed).collect();
        (bodies, headers)
    });
    // Meanwhile everyone else is served, well before the slow clients' timeouts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    app.get("/v1/alerts").await.expect(200);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "a normal request waited {:?} behind slow clients",
        started.elapsed()
    );
    let (bodies, headers) = slow.await.unwrap();
    for (answer, took) in &bodies {
        assert!(answer.starts_with("HTTP/1.1 408"), "slow body: {answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(
            *took < Duration::from_secs(8),
            "slow body held for {took:?}"
        );
    }
    for (answer, took) in &headers {
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "slow headers: {answer}"
        );
        assert!(
            *took < Duration::from_secs(8),
            "slow headers held for {took:?}"
        );
    }
    assert_eq!(app.head_position().await, head, "nothing was written");
    app.trigger(&trigger_body("checkout", "after-slow", "info"))
        .await
        .expect(201);
}
