//! `alert-ledger agent`: runs one host's self-healing tasks.
//!
//! The agent polls `GET /v1/tasks?host=NAME&pending=true`, and for each task that
//! waits for its host: claims it with `POST …/hosts/NAME/start` (only the caller that
//! moved the host from waiting to running runs it, so two agents with one name never
//! both run a task), runs the script, and posts the exit code and the tail of the
//! output to `POST …/hosts/NAME/result`.
//!
//! A script is an inline `sh` program: `/bin/sh -c SCRIPT alert-ledger-task ARGS…`, so
//! the arguments are `$1…` and a path to an executable works as a one-line program.
//! It runs in its own process group without a stdin and without the agent's
//! `ALERT_LEDGER_*` variables (the agent's token stays with the agent). At
//! `timeout_secs` the whole group gets SIGTERM, then SIGKILL two seconds later, and
//! the agent reports exit code 124 with a note at the end of the output.
//! On ctrl-c or SIGTERM the agent stops polling, kills a running script's group the
//! same way and reports exit code 130 before it exits.

use anyhow::Context;
use projections::ids::HostName;
use projections::views::{HostState, TaskView};
use std::collections::VecDeque;
use std::future::Future;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// Most characters of output sent with a result (the server's limit).
pub const OUTPUT_TAIL_CHARS: usize = 16_384;
/// Exit code reported when the agent killed a script at its timeout (as `timeout(1)`).
pub const EXIT_TIMED_OUT: i32 = 124;
/// Exit code reported when the agent was stopped while a script ran.
pub const EXIT_AGENT_STOPPED: i32 = 130;
/// Time between SIGTERM and SIGKILL to a script's process group.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// Longest wait for the output pipes to close after the script exited.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// Longest wait between polls after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long the agent may take to kill a script and report after a stop signal.
const STOP_WAIT: Duration = Duration::from_secs(15);
/// Attempts to post a result before giving up (the server then times the host out).
const RESULT_ATTEMPTS: u32 = 5;

/// Arguments of `alert-ledger agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The host name this agent runs tasks for (as listed in the tasks' `hosts`).
    #[arg(long, env = "ALERT_LEDGER_AGENT_HOST")]
    pub host: String,
    /// Base URL of the alert-ledger service.
    #[arg(
        long,
        env = "ALERT_LEDGER_SERVER",
        default_value = "http://127.0.0.1:8470"
    )]
    pub server: String,
    /// Bearer token with the writer role (one token per agent).
    #[arg(long, env = "ALERT_LEDGER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Milliseconds between polls while all is well.
    #[arg(long, env = "ALERT_LEDGER_AGENT_POLL_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(50..))]
    pub poll_ms: u64,
    /// The shell that runs scripts (`SHELL -c SCRIPT alert-ledger-task ARGS…`).
    #[arg(long, env = "ALERT_LEDGER_AGENT_SHELL", default_value = "/bin/sh")]
    pub shell: std::path::PathBuf,
}

/// Runs tasks until `shutdown` completes. Fails only on answers a retry cannot
/// change (bad token, a host name the server refuses).
pub async fn run(args: AgentArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let host = HostName::parse(&args.host).map_err(|err| anyhow::anyhow!("--host: {err}"))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let agent = Agent {
        base: args.server.trim_end_matches('/').to_owned(),
        args,
        host,
        client,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let work = agent.work(stop_rx);
    tokio::pin!(work);
    tokio::select! {
        outcome = &mut work => return outcome,
        () = shutdown => {}
    }
    tracing::info!("agent stopping");
    let _ = stop_tx.send(true);
    tokio::time::timeout(STOP_WAIT, work)
        .await
        .unwrap_or(Ok(()))
}

/// Why a poll did not complete.
enum Failure {
    /// Try again later.
    Retry(String),
    /// Stop the agent.
    Fatal(anyhow::Error),
}

struct Agent {
    args: AgentArgs,
    base: String,
    host: HostName,
    client: reqwest::Client,
}

impl Agent {
    async fn work(&self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let interval = Duration::from_millis(self.args.poll_ms);
        let mut wait = interval;
        tracing::info!(host = %self.host, server = %self.base, "agent polling for tasks");
        while !*stop.borrow() {
            match self.poll(&mut stop).await {
                Ok(()) => wait = interval,
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Retry(reason)) => {
                    wait = (wait * 2).clamp(interval, MAX_BACKOFF.max(interval));
                    tracing::warn!(%reason, retry_in = ?wait, "poll failed");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
        }
        Ok(())
    }

    /// One poll: runs every task that waits for this host, oldest first.
    async fn poll(&self, stop: &mut watch::Receiver<bool>) -> Result<(), Failure> {
        let url = format!("{}/v1/tasks", self.base);
        let mut tasks: Vec<TaskView> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![
                ("host", self.host.as_str().to_owned()),
                ("pending", "true".to_owned()),
                ("limit", "1000".to_owned()),
            ];
            query.extend(cursor.take().map(|c| ("cursor", c)));
            let response = self
                .request(self.client.get(&url).query(&query))
                .send()
                .await
                .map_err(|err| Failure::Retry(format!("cannot reach the server: {err}")))?;
            let body = check(response).await?;
            let page: Vec<TaskView> = serde_json::from_value(body["items"].clone())
                .map_err(|err| Failure::Retry(format!("unexpected task list: {err}")))?;
            tasks.extend(page);
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        tasks.sort_by_key(|task| task.created_at);
        for task in tasks {
            if *stop.borrow() {
                break;
            }
            let waiting = task
                .hosts
                .get(&self.host)
                .is_some_and(|run| run.state == HostState::Waiting);
            if waiting && self.claim(&task).await? {
                let (exit_code, output) = execute(&self.args.shell, &task, stop).await;
                self.report(&task, exit_code, output).await?;
            }
        }
        Ok(())
    }

    /// `POST …/start`: `true` if this agent moved the host to running.
    async fn claim(&self, task: &TaskView) -> Result<bool, Failure> {
        let url = self.host_url(task, "start");
        let response = self
            .request(self.client.post(url))
            .send()
            .await
            .map_err(|err| Failure::Retry(format!("cannot start task {}: {err}", task.id)))?;
        match response.status().as_u16() {
            // Finished, cancelled or timed out meanwhile; or gone.
            404 | 409 => Ok(false),
            _ => Ok(check(response).await?["changed"] == true),
        }
    }

    /// `POST …/result`, retried a few times.
    async fn report(&self, task: &TaskView, exit_code: i32, output: String) -> Result<(), Failure> {
        let body = serde_json::json!({ "exit_code": exit_code, "output_tail": output });
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=RESULT_ATTEMPTS {
            let sent = self
                .request(self.client.post(self.host_url(task, "result")))
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().as_u16() == 409 => {
                    tracing::warn!(task = %task.id, "result refused: the server already ended this host (timed out or cancelled)");
                    return Ok(());
                }
                Ok(response) => match check(response).await {
                    Ok(_) => {
                        tracing::info!(task = %task.id, exit_code, "result reported");
                        return Ok(());
                    }
                    Err(Failure::Fatal(err)) => return Err(Failure::Fatal(err)),
                    Err(Failure::Retry(reason)) => {
                        tracing::warn!(task = %task.id, attempt, %reason, "cannot report result")
                    }
                },
                Err(err) => {
                    tracing::warn!(task = %task.id, attempt, %err, "cannot report result")
                }
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        Err(Failure::Retry(format!(
            "gave up reporting task {}; the server will time the host out",
            task.id
        )))
    }

    fn host_url(&self, task: &TaskView, action: &str) -> String {
        format!(
            "{}/v1/tasks/{}/hosts/{}/{action}",
            self.base, task.id, self.host
        )
    }

    fn request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.args.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// The JSON body of a successful answer; 401/403 and other 4xx are fatal, the rest
/// retried.
async fn check(response: reqwest::Response) -> Result<serde_json::Value, Failure> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        return serde_json::from_str(&text)
            .map_err(|err| Failure::Retry(format!("unexpected answer: {err}")));
    }
    let message = format!("server answered {status}: {text}");
    match status.as_u16() {
        401 | 403 => Err(Failure::Fatal(anyhow::anyhow!(message))),
        400..=499 if status.as_u16() != 408 && status.as_u16() != 429 => {
            Err(Failure::Fatal(anyhow::anyhow!(message)))
        }
        _ => Err(Failure::Retry(message)),
    }
}

/// How a run ended.
enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Stopped,
}

/// Runs a task's script; returns the exit code to report and the output tail.
async fn execute(
    shell: &std::path::Path,
    task: &TaskView,
    stop: &mut watch::Receiver<bool>,
) -> (i32, String) {
    let mut command = tokio::process::Command::new(shell);
    command
        .arg("-c")
        .arg(&task.spec.script)
        .arg("alert-ledger-task")
        .args(&task.spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ALERT_LEDGER_") {
            command.env_remove(name);
        }
    }
    #[cfg(unix)]
    command.process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return (
                127,
                format!("[alert-ledger agent] cannot start the script: {err}"),
            )
        }
    };
    tracing::info!(task = %task.id, pid = child.id(), "script started");
    let output = Arc::new(Mutex::new(OutputTail::default()));
    let readers = [
        child.stdout.take().map(|pipe| drain(pipe, output.clone())),
        child.stderr.take().map(|pipe| drain(pipe, output.clone())),
    ];
    let timeout = Duration::from_secs(u64::from(task.spec.timeout_secs));
    let ended = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => Ended::Exited(status),
            Err(err) => {
                tracing::error!(%err, "cannot wait for the script");
                Ended::Stopped
            }
        },
        () = tokio::time::sleep(timeout) => Ended::TimedOut,
        _ = stop.wait_for(|stopped| *stopped) => Ended::Stopped,
    };
    if !matches!(ended, Ended::Exited(_)) {
        kill_group(&mut child).await;
    }
    for reader in readers.into_iter().flatten() {
        // A background process the script left behind may hold the pipes open.
        let _ = tokio::time::timeout(DRAIN_WAIT, reader).await;
    }
    let mut text = lock(&output).text();
    let code = match ended {
        Ended::Exited(status) => exit_code(status),
        Ended::TimedOut => {
            text.push_str(&format!(
                "\n[alert-ledger agent] timed out after {} s; process group killed",
                task.spec.timeout_secs
            ));
            EXIT_TIMED_OUT
        }
        Ended::Stopped => {
            text.push_str("\n[alert-ledger agent] agent stopped; process group killed");
            EXIT_AGENT_STOPPED
        }
    };
    (code, bounded(&text, OUTPUT_TAIL_CHARS))
}

/// SIGTERM to the script's process group, SIGKILL after [`KILL_GRACE`], then reaps.
async fn kill_group(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pgid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        use rustix::process::{kill_process_group, Signal};
        let _ = kill_process_group(pgid, Signal::TERM);
        let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
        // Always: a grandchild may ignore SIGTERM after the shell is gone.
        let _ = kill_process_group(pgid, Signal::KILL);
    }
    let _ = child.kill().await;
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    status.code().unwrap_or(-1)
}

/// Copies a pipe into the shared tail until it closes.
fn drain(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<OutputTail>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buffer = [0u8; 8192];
        while let Ok(read) = pipe.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            lock(&output).push(&buffer[..read]);
        }
    })
}

fn lock(output: &Mutex<OutputTail>) -> std::sync::MutexGuard<'_, OutputTail> {
    output.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The last [`OutputTail::CAPACITY`] bytes of stdout and stderr, interleaved in the
/// order the agent read them.
#[derive(Debug, Default)]
pub struct OutputTail {
    bytes: VecDeque<u8>,
}

impl OutputTail {
    /// Bytes kept (16 KiB).
    pub const CAPACITY: usize = 16 * 1024;

    /// Appends output, forgetting the oldest bytes beyond the capacity.
    pub fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(Self::CAPACITY)..];
        self.bytes.extend(data);
        let excess = self.bytes.len().saturating_sub(Self::CAPACITY);
        self.bytes.drain(..excess);
    }

    /// The tail as text: a character cut at the front is dropped, invalid UTF-8 is
    /// replaced with U+FFFD.
    pub fn text(&self) -> String {
        let bytes: Vec<u8> = self.bytes.iter().copied().collect();
        let start = bytes
            .iter()
            .take(3)
            .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
            .count();
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

/// The last `max` characters of `text`.
fn bounded(text: &str, max: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(max)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_tail_keeps_the_last_16_kib_as_valid_utf8() {
        let mut tail = OutputTail::default();
        tail.push("é".repeat(10_000).as_bytes());
        tail.push(b"end");
        let text = tail.text();
        assert!(text.ends_with("end"));
        assert!(text.len() <= OutputTail::CAPACITY);
        assert!(!text.contains('\u{FFFD}'), "a cut character is dropped");
    }

    #[test]
    fn bounded_keeps_the_last_characters() {
        assert_eq!(bounded("abcdef", 3), "def");
        assert_eq!(bounded("ab", 3), "ab");
    }
}
