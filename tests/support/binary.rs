//! The compiled `alert-ledger` binary for tests that run it as a process: a `Command`
//! that inherits none of the developer's `ALERT_LEDGER_*` settings or `RUST_LOG`, and a
//! free loopback port to listen on.
//!
//! Shared through `#[path]` by the API, crash-loop, hostile and two-instance tests.

use std::process::Command;

/// `alert-ledger` with no `ALERT_LEDGER_*` or `RUST_LOG` from the environment.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_alert-ledger"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ALERT_LEDGER_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
