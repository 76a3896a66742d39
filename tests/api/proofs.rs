//! The Merkle tree as an auditor uses it: digests, inclusion and consistency proofs
//! from a running service, checked offline by `alert-ledger check-proof` and by an
//! independent RFC 9162 verifier written in Python (tests/rfc9162/verify_proofs.py);
//! `verify --digest` naming the edited position of a re-chained log; digests published
//! to a directory and to an HTTP receiver; the tree file surviving restarts and damage.

use crate::helpers::{spawn_app_in, spawn_app_with, trigger_body, Api};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::binary::support_binary::binary;

/// Triggers alerts until the log holds at least `events` events; returns the head.
async fn fill_to(api: &Api, events: u64) -> u64 {
    let mut n = 0;
    loop {
        let head = api.head_position().await;
        if head >= events {
            return head;
        }
        n += 1;
        api.trigger(&trigger_body(
            "proof-svc",
            &format!("k-{events}-{n}"),
            "warning",
        ))
        .await
        .expect(201);
    }
}

/// Exactly `events` events: triggers one event each.
async fn fill_exactly(api: &Api, events: u64) {
    let head = api.head_position().await;
    for n in head..events {
        let reply = api
            .trigger(&trigger_body("proof-svc", &format!("exact-{n}"), "info"))
            .await
            .expect(201);
        assert_eq!(reply.position(), n + 1, "one trigger is one event");
    }
}

fn save(dir: &Path, name: &str, value: &Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    binary().args(args).output().expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

// The binary talks to the service while the test waits for it: the service needs a
// runtime thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_the_server_check_with_the_cli_and_fail_once_anything_is_changed() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("digest.key");
    let keygen = run(&["keygen", "--out", key_file.to_str().unwrap()]);
    assert!(keygen.status.success(), "{}", text(&keygen));
    let public_key = String::from_utf8(keygen.stdout).unwrap().trim().to_owned();
    let app = spawn_app_with(|c| c.digest_key = Some(key_file.clone())).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    fill_to(&app, 25).await;
    let older = app.get("/v1/ledger/digest").await.expect(200).body;
    assert_eq!(older["tree_size"], older["position"]);
    assert_eq!(older["signature"]["public_key"], json!(public_key));
    let older_file = save(dir, "older.json", &older);
    fill_to(&app, 60).await;
    let server = app.address.clone();
    let digest_file = dir.join("digest.json");
    let proof_file = dir.join("inclusion.json");
    let consistency_file = dir.join("consistency.json");
    for (args, what) in [
        (
            vec![
                "prove",
                "--server",
                &server,
                "--out",
                digest_file.to_str().unwrap(),
            ],
            "digest",
        ),
        (
            vec![
                "prove",
                "--server",
                &server,
                "--position",
                "17",
                "--digest",
                digest_file.to_str().unwrap(),
                "--out",
                proof_file.to_str().unwrap(),
            ],
            "inclusion",
        ),
        (
            vec![
                "prove",
                "--server",
                &server,
                "--from-digest",
                older_file.to_str().unwrap(),
                "--digest",
                digest_file.to_str().unwrap(),
                "--out",
                consistency_file.to_str().unwrap(),
            ],
            "consistency",
        ),
    ] {
        let out = run(&args);
        assert!(out.status.success(), "prove {what}: {}", text(&out));
    }
    let check = |proof: &Path, extra: &[&str]| {
        let mut args = vec![
            "check-proof",
            "--proof",
            proof.to_str().unwrap(),
            "--digest",
            digest_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let pin = ["--public-key", public_key.as_str()];
    let ok = check(&proof_file, &pin);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("ok: the event at position 17 (alert_triggered"),
        "{}",
        text(&ok)
    );
    assert!(
        text(&ok).contains("signed by the pinned key"),
        "{}",
        text(&ok)
    );
    let older_arg = [
        "--old-digest",
        older_file.to_str().unwrap(),
        "--public-key",
        public_key.as_str(),
    ];
    let ok = check(&consistency_file, &older_arg);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("extends the tree of"), "{}", text(&ok));

    // Every change an attacker could make to what the auditor holds is caught.
    let proof: Value = serde_json::from_slice(&std::fs::read(&proof_file).unwrap()).unwrap();
    let mut body_changed = proof.clone();
    let body = body_changed["record"]["body"]
        .as_str()
        .unwrap()
        .replace("proof-svc", "proof-svX");
    body_changed["record"]["body"] = json!(body);
    let mut path_changed = proof.clone();
    let first = path_changed["audit_path"][0].as_str().unwrap().to_owned();
    path_changed["audit_path"][0] = json!(format!(
        "{}{}",
        if first.starts_with('0') { "1" } else { "0" },
        &first[1..]
    ));
    let mut moved = proof.clone();
    moved["position"] = json!(18);
    moved["leaf_index"] = json!(17);
    moved["record"]["position"] = json!(18);
    for (name, bad, why) in [
        ("body.json", body_changed, "the body was changed"),
        ("path.json", path_changed, "the event is not in that tree"),
        ("moved.json", moved, "proof failed"),
    ] {
        let out = check(&save(dir, name, &bad), &pin);
        assert!(!out.status.success(), "{name} must fail: {}", text(&out));
        assert!(text(&out).contains(why), "{name}: {}", text(&out));
    }
    // A consistency proof that states roots other than the digests' is refused, naming
    // both (the math alone would not look at them).
    let consistency: Value =
        serde_json::from_slice(&std::fs::read(&consistency_file).unwrap()).unwrap();
    let flip = |hash: &Value| {
        let hash = hash.as_str().unwrap();
        json!(format!(
            "{}{}",
            if hash.starts_with('0') { "1" } else { "0" },
            &hash[1..]
        ))
    };
    for (field, why) in [
        ("from_root", "does not extend the tree of"),
        ("to_root", "not the newer digest's"),
    ] {
        let mut stated = consistency.clone();
        stated[field] = flip(&consistency[field]);
        let out = check(&save(dir, &format!("{field}.json"), &stated), &older_arg);
        assert!(
            !out.status.success(),
            "{field} changed must fail: {}",
            text(&out)
        );
        assert!(text(&out).contains(why), "{field}: {}", text(&out));
        assert!(
            text(&out).contains(stated[field].as_str().unwrap()),
            "{field}: the stated root is named: {}",
            text(&out)
        );
    }
    // A digest whose signature does not cover its fields, or by another key, fails.
    let mut digest: Value = serde_json::from_slice(&std::fs::read(&digest_file).unwrap()).unwrap();
    digest["tree_size"] = json!(digest["tree_size"].as_u64().unwrap() - 1);
    save(dir, "digest.json", &digest);
    let out = check(&proof_file, &[]);
    assert!(
        text(&out).contains("the signature does not match"),
        "{}",
        text(&out)
    );
    let other_key = "ab".repeat(32);
    let out = check(
        &consistency_file,
        &[
            "--old-digest",
            older_file.to_str().unwrap(),
            "--public-key",
            &other_key,
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    app.stop().await.result.unwrap();
}

#[tokio::test]
async fn the_proofs_agree_with_an_independent_rfc9162_verifier() {
    let app = spawn_app_with(|_| {}).await;
    let size = fill_to(&app, 300).await;
    let hashes: Vec<Value> = app
        .all_events()
        .await
        .iter()
        .map(|e| e["hash"].clone())
        .collect();
    assert_eq!(hashes.len() as u64, size);
    let sizes = [
        1,
        2,
        3,
        4,
        5,
        7,
        8,
        9,
        63,
        64,
        65,
        127,
        128,
        255,
        256,
        257,
        size - 1,
        size,
    ];
    let mut digests = Vec::new();
    let mut consistency = Vec::new();
    for &from in &sizes {
        let proof = app
            .get(&format!(
                "/v1/ledger/proof/consistency?from={from}&to={size}"
            ))
            .await
            .expect(200)
            .body;
        digests.push(json!({ "tree_size": from, "root_hash": proof["from_root"] }));
        consistency.push(json!({
            "first": from, "second": size,
            "first_root": proof["from_root"], "second_root": proof["to_root"], "proof": proof["proof"],
        }));
    }
    for (from, to) in [(1, 2), (3, 7), (8, 64), (100, 200), (129, 257)] {
        let proof = app
            .get(&format!("/v1/ledger/proof/consistency?from={from}&to={to}"))
            .await
            .expect(200)
            .body;
        consistency.push(json!({
            "first": from, "second": to,
            "first_root": proof["from_root"], "second_root": proof["to_root"], "proof": proof["proof"],
        }));
    }
    let mut inclusion = Vec::new();
    for &tree_size in &[1, 2, 3, 8, 9, 100, 256, 257, size] {
        for position in [1, 2, tree_size / 2 + 1, tree_size] {
            if position == 0 || position > tree_size {
                continue;
            }
            let proof = app
                .get(&format!(
                    "/v1/ledger/proof/inclusion?position={position}&tree_size={tree_size}"
                ))
                .await
                .expect(200)
                .body;
            inclusion.push(json!({
                "leaf_index": proof["leaf_index"], "tree_size": tree_size,
                "record_hash": proof["record"]["hash"], "audit_path": proof["audit_path"],
                "root_hash": proof["root_hash"],
            }));
        }
    }
    let work = tempfile::tempdir().unwrap();
    let input = save(
        work.path(),
        "proofs.json",
        &json!({ "record_hashes": hashes, "digests": digests, "inclusion": inclusion, "consistency": consistency }),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rfc9162/verify_proofs.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&input)
        .output()
        .expect("python3 runs (the independent verifier needs it)");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("the verifier prints a JSON report: {}", text(&out)));
    assert!(
        out.status.success(),
        "the independent verifier disagrees: {report}"
    );
    assert_eq!(report["failures"], json!([]));
    assert_eq!(report["digests"], json!(digests.len()));
    assert_eq!(report["inclusion"], json!(inclusion.len()));
    assert_eq!(report["consistency"], json!(consistency.len()));
    assert!(
        report["tampered_rejected"].as_u64().unwrap() > 100,
        "{report}"
    );
    app.stop().await.result.unwrap();
}

#[tokio::test]
async fn an_edit_rechained_through_the_log_is_named_by_verify_and_breaks_consistency() {
    let app = spawn_app_with(|_| {}).await;
    fill_exactly(&app, 150).await;
    let at_150 = app.get("/v1/ledger/digest").await.expect(200).body;
    fill_exactly(&app, 200).await;
    let at_200 = app.get("/v1/ledger/digest").await.expect(200).body;
    assert_eq!(
        (at_150["tree_size"].as_u64(), at_200["tree_size"].as_u64()),
        (Some(150), Some(200))
    );
    let original = app.stop().await.data_dir;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let digest_150 = save(dir, "digest-150.json", &at_150);
    let digest_200 = save(dir, "digest-200.json", &at_200);

    // The attacker: export, change event 40, import into a fresh log (every hash from
    // 40 on is computed again: a consistent, re-chained log), and put it in place.
    let export = dir.join("export.ndjson");
    let out = run(&[
        "export",
        "--data-dir",
        original.path().to_str().unwrap(),
        "--output",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut event: Value = serde_json::from_str(line).unwrap();
            if i == 39 {
                assert_eq!(event["position"], json!(40));
                event["metadata"]["actor"] = json!("mallory");
            }
            event.to_string()
        })
        .collect();
    std::fs::write(&export, lines.join("\n") + "\n").unwrap();
    let tampered = tempfile::tempdir().unwrap();
    rechain(&export, tampered.path()).await;

    // The chain alone finds the change only at the digest's position ...
    let tree_file = original.path().join("merkle.tree");
    let without_tree = run(&[
        "verify",
        "--data-dir",
        tampered.path().to_str().unwrap(),
        "--digest",
        digest_200.to_str().unwrap(),
        "--full",
    ]);
    assert!(!without_tree.status.success());
    assert!(
        text(&without_tree).contains("could not be named from the Merkle tree"),
        "{}",
        text(&without_tree)
    );
    // ... the tree that matched the digest names position 40.
    let named = run(&[
        "verify",
        "--data-dir",
        tampered.path().to_str().unwrap(),
        "--digest",
        digest_200.to_str().unwrap(),
        "--tree",
        tree_file.to_str().unwrap(),
    ]);
    assert!(!named.status.success(), "{}", text(&named));
    assert!(
        text(&named)
            .contains("position 40 is the first event that is not the one the digest committed to"),
        "{}",
        text(&named)
    );
    // The untouched log verifies against the same digest and tree.
    let intact = run(&[
        "verify",
        "--data-dir",
        original.path().to_str().unwrap(),
        "--digest",
        digest_200.to_str().unwrap(),
    ]);
    assert!(intact.status.success(), "{}", text(&intact));

    // Served, the tampered log cannot prove that it extends the digest taken at 150.
    let served = spawn_app_in(tampered, |_| {}).await;
    let now = served.get("/v1/ledger/digest").await.expect(200).body;
    assert_ne!(now["root_hash"], at_200["root_hash"]);
    let now_file = save(dir, "digest-now.json", &now);
    let proof = served
        .get("/v1/ledger/proof/consistency?from=150&to=200")
        .await
        .expect(200)
        .body;
    let proof_file = save(dir, "consistency.json", &proof);
    let out = run(&[
        "check-proof",
        "--proof",
        proof_file.to_str().unwrap(),
        "--old-digest",
        digest_150.to_str().unwrap(),
        "--digest",
        now_file.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("does not extend the tree of 150 events"),
        "{}",
        text(&out)
    );
    served.stop().await.result.unwrap();
}

/// Writes the events of `export` into a new log in `dir`, hashing them again as they
/// are appended (what an attacker with the code and the disk can do; `alert-ledger
/// import` would refuse the changed event).
async fn rechain(export: &Path, dir: &Path) {
    use alert_ledger::store::embedded::{EmbeddedOptions, EmbeddedStore};
    use alert_ledger::store::EventStore;
    let events: Vec<projections::RecordedEvent> = std::fs::read_to_string(export)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let store = EmbeddedStore::open(EmbeddedOptions::new(dir)).unwrap();
    store.import(events).await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn digests_are_published_to_a_directory() {
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("digests");
    let app = spawn_app_with(|c| {
        c.publish_digests = Some(alert_ledger::merkle::publish::Target::Dir(target.clone()));
        c.publish_every = Duration::from_millis(200);
    })
    .await;
    let head = fill_to(&app, 12).await;
    let file = target.join(format!("digest-{head}.json"));
    crate::helpers::eventually("the digest file", Duration::from_secs(10), || {
        let found = file.exists();
        async move { found.then_some(()) }
    })
    .await;
    let published: alert_ledger::merkle::Digest =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let served: alert_ledger::merkle::Digest =
        serde_json::from_value(app.get("/v1/ledger/digest").await.expect(200).body).unwrap();
    assert_eq!(published, served);
    app.stop().await.result.unwrap();
}

#[tokio::test]
async fn signed_digests_are_posted_to_a_receiver() {
    use axum::routing::post;
    let received = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::<Value>::new()));
    let store = received.clone();
    let receiver = axum::Router::new().route(
        "/anchor",
        post(move |axum::Json(body): axum::Json<Value>| {
            let store = store.clone();
            async move { store.lock().await.push(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/anchor", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("digest.key");
    let key = alert_ledger::merkle::DigestKey::generate(&key_file).unwrap();
    let app = spawn_app_with(|c| {
        c.publish_digests = Some(alert_ledger::merkle::publish::Target::Url(url));
        c.publish_every = Duration::from_millis(200);
        c.digest_key = Some(key_file.clone());
    })
    .await;
    let head = fill_to(&app, 9).await;
    let last = crate::helpers::eventually(
        "a posted digest of the head",
        Duration::from_secs(10),
        || {
            let received = received.clone();
            async move {
                let all = received.lock().await;
                all.last().filter(|d| d["position"] == json!(head)).cloned()
            }
        },
    )
    .await;
    let digest: alert_ledger::merkle::Digest = serde_json::from_value(last).unwrap();
    assert_eq!(digest.check_signature().unwrap(), Some(key.public_key()));
    assert_eq!(digest.tree_size, Some(head));
    app.stop().await.result.unwrap();
}

#[tokio::test]
async fn proof_requests_outside_the_tree_are_refused_naming_the_field() {
    let app = spawn_app_with(|_| {}).await;
    let head = fill_to(&app, 5).await;
    for (query, field) in [
        ("/v1/ledger/proof/inclusion", "query.position"),
        ("/v1/ledger/proof/inclusion?position=0", "query.position"),
        (
            &format!("/v1/ledger/proof/inclusion?position={}", head + 1) as &str,
            "query.position",
        ),
        (
            &format!(
                "/v1/ledger/proof/inclusion?position=1&tree_size={}",
                head + 1
            ),
            "query.tree_size",
        ),
        ("/v1/ledger/proof/inclusion?position=x", "query.position"),
        ("/v1/ledger/proof/inclusion?position=1&leaf=2", "query.leaf"),
        ("/v1/ledger/proof/consistency", "query.from"),
        ("/v1/ledger/proof/consistency?from=0", "query.from"),
        ("/v1/ledger/proof/consistency?from=4&to=3", "query.from"),
        (
            &format!("/v1/ledger/proof/consistency?from=1&to={}", head + 1),
            "query.to",
        ),
    ] {
        let reply = app.get(query).await.expect_problem(422, "validation");
        assert_eq!(reply.body["field"], json!(field), "{query}: {}", reply.body);
    }
    let before = app.head_position().await;
    assert_eq!(before, head, "refused proof requests write nothing");
    app.stop().await.result.unwrap();
}

#[tokio::test]
async fn the_tree_resumes_after_a_restart_and_is_built_again_when_damaged() {
    let app = spawn_app_with(|_| {}).await;
    let head = fill_to(&app, 40).await;
    let before = app.get("/v1/ledger/digest").await.expect(200).body;
    let dir = app.stop().await.data_dir;
    let tree_file = dir.path().join("merkle.tree");
    let expected_len = 64 + 32 * (2 * head - u64::from(head.count_ones()));
    assert_eq!(std::fs::metadata(&tree_file).unwrap().len(), expected_len);
    let app = spawn_app_in(dir, |_| {}).await;
    assert_eq!(
        app.get("/v1/ledger/digest").await.expect(200).body["root_hash"],
        before["root_hash"]
    );
    let dir = app.stop().await.data_dir;
    // A flipped byte in the header, then a file of another log: each is built again.
    let mut bytes = std::fs::read(&tree_file).unwrap();
    bytes[20] ^= 0x40;
    std::fs::write(&tree_file, &bytes).unwrap();
    let app = spawn_app_in(dir, |_| {}).await;
    let rebuilt = app.get("/v1/ledger/digest").await.expect(200).body;
    assert_eq!(rebuilt["root_hash"], before["root_hash"]);
    let dir = app.stop().await.data_dir;
    let other = spawn_app_with(|_| {}).await;
    fill_to(&other, 60).await;
    let other_dir = other.stop().await.data_dir;
    std::fs::copy(other_dir.path().join("merkle.tree"), &tree_file).unwrap();
    let app = spawn_app_in(dir, |_| {}).await;
    assert_eq!(
        app.get("/v1/ledger/digest").await.expect(200).body["root_hash"],
        before["root_hash"]
    );
    let stopped = app.stop().await;
    stopped.result.unwrap();
    assert_eq!(std::fs::metadata(&tree_file).unwrap().len(), expected_len);
}
