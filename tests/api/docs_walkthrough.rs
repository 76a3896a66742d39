//! The walk-through of docs/api.md, run command by command as a newcomer runs it, and
//! every output compared with what the page shows (placeholders: [`expect`]).
//!
//! How the page is run:
//! - every command runs in `bash`, in a fresh directory (so `./data` is a new log),
//!   with a clean environment: `PATH`, `HOME` and the variables the page set;
//! - `127.0.0.1:8470` in a command is replaced by the address of this test's service
//!   (a free port), so `L=http://127.0.0.1:8470` points at it;
//! - `cargo run --release -- ARGS` runs the `alert-ledger` binary this test was built
//!   with; `serve` starts in the background, and the test waits for `/readyz`. Before
//!   any other `cargo run` the test stops the service with SIGINT (the page's ctrl-c)
//!   and requires exit status 0;
//! - `NAME=…` sets `NAME` for the commands after it and must print nothing;
//! - every other command must exit 0 and print exactly what the `#` lines under it show.

mod expect;
mod page;

use expect::Bindings;
use page::Step;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The address the page's commands use.
const PAGE_ADDRESS: &str = "127.0.0.1:8470";
/// How a command of the page runs the binary.
const CARGO_RUN: &str = "cargo run --release -- ";

/// The page, as the test binary was built from it.
fn api_page() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The service the page started, stopped with SIGINT when dropped early.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// One run of the page.
struct Walk {
    dir: tempfile::TempDir,
    address: String,
    vars: Vec<(String, String)>,
    service: Option<Service>,
    bindings: Bindings,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            dir: tempfile::tempdir().expect("a work directory"),
            address: format!("127.0.0.1:{}", free_port()),
            vars: Vec::new(),
            service: None,
            bindings: Bindings::default(),
        }
    }

    /// `bash -c script` in the work directory with the page's variables.
    fn bash(&self, script: &str) -> Command {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(script)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("DOCS_ALERT_LEDGER", env!("CARGO_BIN_EXE_alert-ledger"))
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    async fn step(&mut self, step: &Step) {
        let where_ = format!("docs/api.md:{}: `{}`", step.line, step.command);
        let command = step.command.replace(PAGE_ADDRESS, &self.address);
        if let Some(args) = command.strip_prefix(CARGO_RUN) {
            if args.starts_with("serve") {
                assert!(
                    step.shown.is_empty(),
                    "{where_}: serve's output is not compared"
                );
                return self.serve(args, &where_).await;
            }
            self.stop(&where_);
            let script = format!("\"$DOCS_ALERT_LEDGER\" {args}");
            return self.compare(&script, step, &where_);
        }
        if let Some(name) = assignment(&command) {
            let script = format!("{command}\nprintf %s \"${name}\"");
            let output = self.bash(&script).output().expect("bash runs");
            let value = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(
                output.status.success() && !value.is_empty(),
                "{where_}: {name} is empty"
            );
            assert!(
                step.shown.is_empty(),
                "{where_}: an assignment prints nothing"
            );
            self.vars.push((name.to_owned(), value));
            return;
        }
        self.compare(&command, step, &where_);
    }

    fn compare(&mut self, script: &str, step: &Step, where_: &str) {
        let output = self.bash(script).output().expect("bash runs");
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{where_}: exit {:?}; stdout {printed}; stderr {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        if let Err(why) = self.bindings.output(&step.shown, &printed) {
            panic!("{where_}:\n{why}\nthe whole output:\n{printed}");
        }
    }

    async fn serve(&mut self, args: &str, where_: &str) {
        assert!(self.service.is_none(), "{where_}: a service already runs");
        let child = self
            .bash(&format!("exec \"$DOCS_ALERT_LEDGER\" {args}"))
            .env("ALERT_LEDGER_LISTEN", &self.address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the service starts");
        self.service = Some(Service(child));
        let client = reqwest::Client::new();
        let url = format!("http://{}/readyz", self.address);
        crate::helpers::eventually(
            "the page's service to be ready",
            Duration::from_secs(30),
            || {
                let request = client.get(&url).send();
                async move { request.await.ok().filter(|r| r.status() == 200).map(|_| ()) }
            },
        )
        .await;
    }

    /// Stops the service as the page says (ctrl-c), if one runs: it must exit 0.
    fn stop(&mut self, where_: &str) {
        let Some(mut service) = self.service.take() else {
            return;
        };
        let sent = Command::new("kill")
            .args(["-INT", &service.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = service.0.try_wait().expect("wait") {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{where_}: the service did not stop within 30 s of ctrl-c"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            status.code(),
            Some(0),
            "{where_}: the service's exit after ctrl-c"
        );
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// `NAME` of a `NAME=value` command.
fn assignment(command: &str) -> Option<&str> {
    let (name, _) = command.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() || first == '_')
        .then_some(())
        .filter(|_| chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|_| name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_walkthrough_prints_what_the_page_shows_command_by_command() {
    let steps = page::steps(&api_page());
    assert!(
        steps
            .iter()
            .any(|s| s.command.starts_with(&format!("{CARGO_RUN}serve"))),
        "the walk-through starts a service"
    );
    let mut walk = Walk::new();
    for step in &steps {
        walk.step(step).await;
    }
    walk.stop("the end of the walk-through");
}
