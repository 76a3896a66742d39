//! `alert-ledger agent` end to end: the built binary against a real service.

use crate::helpers::{self, eventually, Api};
use crate::support::{self, Service};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running agent process, killed if a failing test drops it (an agent left behind
/// would keep polling, and keep the test harness's output pipe open).
struct Agent(Option<Child>);

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The agent binary for `host`, polling every 100 ms with the writer token.
fn spawn_agent(service: &Service, host: &str) -> Agent {
    let child = Command::new(env!("CARGO_BIN_EXE_alert-ledger"))
        .args(["agent", "--host", host, "--server", &service.api.address])
        .args(["--poll-ms", "100"])
        .env("ALERT_LEDGER_TOKEN", helpers::WRITER_TOKEN)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("the agent starts");
    Agent(Some(child))
}

/// Stops the agent with SIGTERM and expects a clean exit.
fn stop_agent(mut agent: Agent) {
    let mut agent = agent.0.take().expect("a running agent");
    let pid = rustix::process::Pid::from_raw(agent.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM sent");
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = agent.try_wait().expect("the agent's status") {
            assert!(
                status.success(),
                "the agent exits cleanly on SIGTERM: {status}"
            );
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "agent did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn create_task(api: &Api, script: &str, args: &[&str], timeout_secs: u32) -> String {
    let body = json!({
        "script": script,
        "args": args,
        "hosts": ["h1"],
        "timeout_secs": timeout_secs,
    });
    api.post("/v1/tasks", &body).await.expect(201).str("id")
}

/// Waits until host h1 of the task reached a terminal state; returns its run.
async fn finished_run(api: &Api, id: &str, within: Duration) -> Value {
    eventually("host h1 to finish", within, || async {
        // A 404 until the views have applied the creation.
        let task = api.get(&format!("/v1/tasks/{id}")).await.body;
        let run = task["hosts"]["h1"].clone();
        matches!(
            run["state"].as_str(),
            Some("succeeded" | "failed" | "timed_out")
        )
        .then_some(run)
    })
    .await
}

/// A service with tokens, its API carrying the admin token.
async fn start_with_tokens() -> Service {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let mut service = support::start_in_with(data_dir, |config| {
        config.tokens = Some(helpers::inline_tokens());
    })
    .await;
    service.api.token = Some(helpers::ADMIN_TOKEN.to_owned());
    service
}

#[tokio::test]
async fn the_agent_runs_a_task_and_reports_its_exit_code_and_output() {
    let service = start_with_tokens().await;
    let agent = spawn_agent(&service, "h1");
    let script = r#"echo hello "$1"; echo "token=${ALERT_LEDGER_TOKEN:-unset}" >&2; exit 3"#;
    let id = create_task(&service.api, script, &["world"], 30).await;

    let run = finished_run(&service.api, &id, Duration::from_secs(20)).await;
    assert_eq!(run["state"], "failed");
    assert_eq!(run["exit_code"], 3);
    let output = run["output_tail"].as_str().expect("an output tail");
    assert!(output.contains("hello world"), "{output}");
    assert!(
        output.contains("token=unset"),
        "the agent's token is not passed on: {output}"
    );
    assert!(run["started_at"].is_string());
    service
        .expect_metric("alert_ledger_task_hosts_total{outcome=\"failed\"}", 1)
        .await;
    service
        .expect_metric("alert_ledger_tasks_created_total{source=\"api\"}", 1)
        .await;
    stop_agent(agent);
    service.stop().await;
}

#[tokio::test]
async fn a_script_past_its_timeout_is_killed_with_its_whole_process_group() {
    let service = start_with_tokens().await;
    let agent = spawn_agent(&service, "h1");
    let script = r#"sleep 60 & echo "child $!"; sleep 60"#;
    let id = create_task(&service.api, script, &[], 1).await;

    let run = finished_run(&service.api, &id, Duration::from_secs(20)).await;
    assert_eq!(run["state"], "failed", "reported by the agent: {run}");
    assert_eq!(run["exit_code"], 124);
    let output = run["output_tail"].as_str().expect("an output tail");
    assert!(output.contains("timed out after 1 s"), "{output}");
    let child: u32 = output
        .lines()
        .find_map(|line| line.strip_prefix("child "))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("the script printed its child's pid: {output}"));
    eventually(
        "the script's own child to be gone",
        Duration::from_secs(5),
        || async { (!alive(child)).then_some(()) },
    )
    .await;
    stop_agent(agent);
    service.stop().await;
}

#[tokio::test]
async fn an_agent_runs_only_its_own_hosts_work() {
    let service = start_with_tokens().await;
    let agent = spawn_agent(&service, "h2");
    let id = create_task(&service.api, "echo ran", &[], 30).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let task = service.task(&id).await;
    assert_eq!(task["hosts"]["h1"]["state"], "waiting");
    stop_agent(agent);
    service.stop().await;
}

/// Whether `pid` is a live process (a zombie awaiting its reaper counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X"))
        }
    }
}
