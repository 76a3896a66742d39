//! The `alert-ledger` command line: serve, verify, rebuild, export, import, tail, agent.

/// mimalloc instead of the system allocator: the ingest profile spent ~12 % of the
/// service's CPU in glibc's malloc and free (docs/adr/0019-ingest-path.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    alert_ledger::cli::run()
}
