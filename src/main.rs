//! The `alert-ledger` command line: serve, verify, rebuild, export, import, tail, agent.

fn main() -> anyhow::Result<()> {
    alert_ledger::cli::run()
}
