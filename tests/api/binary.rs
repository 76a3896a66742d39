//! The `alert-ledger` process: SIGTERM ends it with status 0 (and its log, written to a
//! file, has no colour codes); a startup failure ends it at once with a non-zero status
//! and one `error:` line.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[path = "../support/binary.rs"]
pub mod support_binary;
use support_binary::{binary, free_port};

/// Waits up to `deadline` for `child` to exit; kills it and fails the test otherwise.
fn wait_with_deadline(child: &mut Child, deadline: Duration, what: &str) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: the process did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the child if the test fails before it exits.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn the_server_process_exits_zero_on_sigterm_once_ready() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = binary()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.path().join("stderr.log")).unwrap())
        .spawn()
        .expect("the binary starts");
    let mut child = Reaper(child);
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/readyz");
    crate::helpers::eventually("the process to be ready", Duration::from_secs(20), || {
        let request = client.get(&url).send();
        async move { request.await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = wait_with_deadline(&mut child.0, Duration::from_secs(10), "after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    // Logs written to a file carry no terminal colour codes.
    let log = std::fs::read_to_string(data.path().join("stderr.log")).unwrap();
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in a log file: {log:?}");
}

#[test]
fn a_data_dir_that_is_a_file_ends_the_process_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regular-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let mut child = binary()
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let status = wait_with_deadline(&mut child, Duration::from_secs(5), "startup failure");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(!status.success(), "{status:?}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "stderr: {stderr}");
    assert!(lines[0].starts_with("error:"), "stderr: {stderr}");
    assert!(lines[0].contains("regular-file"), "stderr: {stderr}");
}
