//! Damage on disk against `alert-ledger serve` with default flags (issue 13): a ledger
//! of 200 acknowledged single-event appends, its digest saved, a clean shutdown; then
//! each damage class on a copy. The service either refuses to start with one line that
//! names the position and the recovery options, changing nothing, or (only for a torn
//! write that was never acknowledged) cuts it and keeps the bytes under `cut/`. What
//! `alert-ledger verify` says afterwards is checked too.

use crate::support_binary::{binary, free_port};
use alert_ledger::codec::chain_hash;
use alert_ledger::store::embedded::format::{decode_frame, Frame, Record, SEGMENT_HEADER_LEN};
use alert_ledger::store::embedded::{segment_path, CUT_DIR, WITNESS_FILE};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const EVENTS: u64 = 200;

/// A running or exited `serve`.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(data_dir: &Path, extra: &[&str]) -> Serve {
        let port = free_port();
        let child = binary()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Ready (`Ok`), or exited first (`Err` with its stderr).
    async fn ready(&mut self, client: &reqwest::Client) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("try_wait").is_some() {
                let mut stderr = String::new();
                use std::io::Read;
                if let Some(pipe) = self.child.stderr.as_mut() {
                    pipe.read_to_string(&mut stderr).expect("stderr");
                }
                return Err(stderr);
            }
            let readyz = client.get(format!("{}/readyz", self.base)).send().await;
            if readyz.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("serve neither became ready nor exited within 30 s");
    }

    /// Triggers an alert with dedup key `key` (one event) and expects 201.
    async fn trigger(&self, client: &reqwest::Client, key: &str) {
        let body =
            json!({"service": "db", "dedup_key": key, "summary": "disk", "severity": "warning"});
        let reply = client
            .post(format!("{}/v1/alerts", self.base))
            .json(&body)
            .send();
        assert_eq!(reply.await.expect("trigger").status(), 201);
    }

    /// The JSON answer of `GET <path>`.
    async fn get_json(&self, client: &reqwest::Client, path: &str) -> Value {
        let reply = client.get(format!("{}{path}", self.base)).send().await;
        reply.expect(path).json().await.expect("a JSON answer")
    }

    fn stop(mut self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < deadline, "serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The base ledger: 200 acknowledged triggers (one event each), a saved digest, a
/// clean shutdown (the view file's checkpoint is then at the head).
async fn base_ledger(client: &reqwest::Client, keep: &Path) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut serve = Serve::start(dir.path(), &[]);
    serve.ready(client).await.expect("a fresh ledger starts");
    for i in 0..EVENTS {
        serve.trigger(client, &format!("k{i}")).await;
    }
    let digest = serve.get_json(client, "/v1/ledger/digest").await;
    assert_eq!(
        digest["position"], EVENTS,
        "one event per trigger: {digest}"
    );
    serve.stop("-TERM");
    let digest_file = keep.join("digest.json");
    std::fs::write(&digest_file, digest.to_string()).expect("save digest");
    (dir, digest_file)
}

fn copy_dir(from: &Path) -> TempDir {
    let to = tempfile::tempdir().expect("temp dir");
    copy_into(from, to.path());
    to
}

fn copy_into(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_into(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

fn segment(dir: &Path) -> PathBuf {
    segment_path(dir, 1)
}

/// Offset and length of every record frame in the first segment.
fn frames(dir: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(segment(dir)).expect("read segment");
    let mut offset = SEGMENT_HEADER_LEN;
    let mut found = Vec::new();
    while let Ok(Frame::Record(record)) = decode_frame(&bytes[offset..]) {
        found.push((offset, record.frame_len()));
        offset += record.frame_len();
    }
    found
}

fn edit(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).expect("read");
    change(&mut bytes);
    std::fs::write(path, bytes).expect("write");
}

/// Re-encodes the frames from `position` on with `change` applied to the body of the
/// first, recomputing checksums and, when `rechain`, every chain hash after it.
fn rewrite_from(dir: &Path, position: usize, rechain: bool, change: impl FnOnce(&mut Vec<u8>)) {
    let frames = frames(dir);
    edit(&segment(dir), |bytes| {
        let original = bytes.clone();
        let mut change = Some(change);
        let mut prev = None;
        for &(offset, len) in &frames[position - 1..] {
            let Ok(Frame::Record(record)) = decode_frame(&original[offset..offset + len]) else {
                panic!("a record");
            };
            let mut body = record.body.to_vec();
            if let Some(change) = change.take() {
                change(&mut body);
            }
            let prev_hash = prev.unwrap_or(record.prev_hash);
            let hash = if rechain {
                chain_hash(&prev_hash, &body)
            } else {
                record.hash
            };
            let mut frame = Vec::new();
            Record {
                body: &body,
                prev_hash,
                hash,
                ..record
            }
            .encode_into(&mut frame);
            bytes[offset..offset + len].copy_from_slice(&frame);
            if !rechain {
                return;
            }
            prev = Some(hash);
        }
    });
}

fn change_summary(body: &mut Vec<u8>) {
    let text = String::from_utf8(body.clone()).expect("utf-8");
    *body = text.replacen("\"disk\"", "\"DISK\"", 1).into_bytes();
}

fn verify(dir: &Path, digest: Option<&Path>) -> Output {
    let mut command = binary();
    command.arg("verify").arg("--data-dir").arg(dir);
    if let Some(digest) = digest {
        command.arg("--digest").arg(digest).arg("--full");
    }
    command.output().expect("verify runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn files_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != "LOCK") {
                let bytes = std::fs::read(&path).expect("read");
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

/// Serve refuses with one error line naming `position` and the options; no file in
/// the data directory changed; verify fails naming `verify_names`.
async fn refuses(client: &reqwest::Client, dir: &Path, position: u64, verify_names: &str) {
    let before = files_of(dir);
    let mut serve = Serve::start(dir, &[]);
    let stderr = serve
        .ready(client)
        .await
        .expect_err("serve must refuse this damage");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains(&format!("position {position}"))
            && lines[0].contains("--recovery accept-data-loss"),
        "names position {position} and the options: {stderr}"
    );
    assert!(files_of(dir) == before, "a refused start changed files");
    let verified = verify(dir, None);
    assert!(
        !verified.status.success(),
        "verify must fail: {}",
        text(&verified)
    );
    assert!(
        text(&verified).contains(verify_names),
        "verify names {verify_names:?}: {}",
        text(&verified)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_damage_class_is_refused_naming_the_position_or_only_an_unacknowledged_write_is_cut()
{
    let client = reqwest::Client::new();
    let digests = tempfile::tempdir().expect("temp dir");
    let (base, digest) = base_ledger(&client, digests.path()).await;
    let frames = frames(base.path());
    assert_eq!(frames.len() as u64, EVENTS);
    let frame = |position: usize| frames[position - 1];

    // One byte flipped in the last record.
    let dir = copy_dir(base.path());
    let (offset, _) = frame(200);
    edit(&segment(dir.path()), |b| b[offset + 100] ^= 0x20);
    refuses(&client, dir.path(), 200, "position 200").await;

    // The segment truncated in the middle of record 100.
    let dir = copy_dir(base.path());
    let (offset, len) = frame(100);
    edit(&segment(dir.path()), |b| b.truncate(offset + len / 2));
    refuses(&client, dir.path(), 100, "position 100").await;

    // Bytes zeroed from record 100 to the end.
    let dir = copy_dir(base.path());
    edit(&segment(dir.path()), |b| b[frame(100).0..].fill(0));
    refuses(&client, dir.path(), 100, "position 100").await;

    // One byte flipped in an earlier record.
    let dir = copy_dir(base.path());
    let (offset, _) = frame(50);
    edit(&segment(dir.path()), |b| b[offset + 100] ^= 0x20);
    refuses(&client, dir.path(), 50, "position 50").await;

    // An edit whose frame checksum was recomputed.
    let dir = copy_dir(base.path());
    rewrite_from(dir.path(), 40, false, change_summary);
    refuses(&client, dir.path(), 40, "position 40").await;

    // An edit re-chained to the end: the witness's hash at the head differs.
    let dir = copy_dir(base.path());
    rewrite_from(dir.path(), 40, true, change_summary);
    refuses(&client, dir.path(), 200, "position 200").await;

    // The durable-end witness damaged.
    let dir = copy_dir(base.path());
    edit(&dir.path().join(WITNESS_FILE), |b| {
        b[30] ^= 1;
        b[512 + 30] ^= 1;
    });
    refuses(&client, dir.path(), 201, "witness").await;

    // No witness (a log from an older version), cut short: the view file's checkpoint
    // at 200 is then the witness that disagrees.
    let dir = copy_dir(base.path());
    std::fs::remove_file(dir.path().join(WITNESS_FILE)).expect("remove witness");
    edit(&segment(dir.path()), |b| b[frame(100).0..].fill(0));
    let mut serve = Serve::start(dir.path(), &[]);
    let stderr = serve
        .ready(&client)
        .await
        .expect_err("the view file refuses");
    assert!(
        stderr.contains("view file views.sqlite3") && stderr.contains("position 100"),
        "{stderr}"
    );

    torn_write_after_the_witness_is_cut_and_kept(&client, base.path(), &digest).await;
    accept_data_loss_records_the_loss_and_verify_shows_it(&client, base.path(), &digest).await;
}

/// The state a crash leaves when it tears the data write of a batch that was never
/// acknowledged: one more record was being written after the last witnessed one.
/// The view file and its write-ahead companions, by name.
fn view_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("views.sqlite3"))
        })
        .map(|p| {
            let bytes = std::fs::read(&p).expect("view file");
            (p, bytes)
        })
        .collect()
}

/// Puts back exactly the view files `saved` (removing any written since).
fn restore_view_files(dir: &Path, saved: &[(PathBuf, Vec<u8>)]) {
    for (path, _) in view_files(dir) {
        std::fs::remove_file(path).expect("remove a view file");
    }
    for (path, bytes) in saved {
        std::fs::write(path, bytes).expect("restore a view file");
    }
}

async fn torn_write_after_the_witness_is_cut_and_kept(
    client: &reqwest::Client,
    base: &Path,
    digest: &Path,
) {
    let dir = copy_dir(base);
    let witness = std::fs::read(dir.path().join(WITNESS_FILE)).expect("witness");
    let views = view_files(dir.path());
    let mut serve = Serve::start(dir.path(), &[]);
    serve.ready(client).await.expect("starts");
    serve.trigger(client, "late").await;
    serve.stop("-KILL");
    // Every witness as if the late write had never completed: the durable-end marker,
    // and the view file (which only ever folds durable events).
    std::fs::write(dir.path().join(WITNESS_FILE), witness).expect("witness as before");
    restore_view_files(dir.path(), &views);
    let (offset, len) = frames(dir.path())[EVENTS as usize];
    edit(&segment(dir.path()), |b| {
        b[offset + len / 2..offset + len].fill(0)
    });
    let torn = std::fs::read(segment(dir.path())).expect("read")[offset..offset + len / 2].to_vec();

    let mut serve = Serve::start(dir.path(), &[]);
    serve
        .ready(client)
        .await
        .expect("an unacknowledged torn write does not stop the start");
    let head = serve.get_json(client, "/v1/ledger/digest").await;
    assert_eq!(
        head["position"], EVENTS,
        "every acknowledged event is served"
    );
    serve.stop("-TERM");
    let cut: Vec<PathBuf> = std::fs::read_dir(dir.path().join(CUT_DIR))
        .expect("cut dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert_eq!(
        std::fs::read(&cut[0]).expect("cut file"),
        torn,
        "bytes kept"
    );
    let verified = verify(dir.path(), Some(digest));
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        text(&verified).contains("digest matched"),
        "{}",
        text(&verified)
    );
}

/// `--recovery accept-data-loss` on a log cut at record 100: it starts, the loss is an
/// event in the log, and verify shows it (and that the old digest no longer holds).
async fn accept_data_loss_records_the_loss_and_verify_shows_it(
    client: &reqwest::Client,
    base: &Path,
    digest: &Path,
) {
    let dir = copy_dir(base);
    edit(&segment(dir.path()), |b| {
        b[frames(dir.path())[99].0..].fill(0)
    });
    let mut serve = Serve::start(dir.path(), &["--recovery", "accept-data-loss"]);
    serve
        .ready(client)
        .await
        .expect("the operator accepted the loss");
    let ledger = serve.get_json(client, "/v1/streams/ledger").await;
    serve.stop("-TERM");
    let recorded = ledger["events"].as_array().expect("events");
    assert_eq!(recorded.len(), 2, "the log's and the view file's: {ledger}");
    assert_eq!(recorded[0]["event"]["type"], "data_loss_recorded");
    assert_eq!(recorded[0]["event"]["first_lost_position"], 100);
    assert_eq!(recorded[0]["event"]["witness_position"], EVENTS);
    let verified = verify(dir.path(), None);
    assert!(verified.status.success(), "{}", text(&verified));
    let said = text(&verified);
    assert!(
        said.contains("data loss recorded at position 100")
            && said.contains("first lost position 100"),
        "{said}"
    );
    let against_digest = verify(dir.path(), Some(digest));
    assert!(
        !against_digest.status.success(),
        "{}",
        text(&against_digest)
    );
    assert!(
        text(&against_digest).contains("200"),
        "{}",
        text(&against_digest)
    );
}
