//! The auditor's commands: `keygen` (the digest signing key), `prove` (fetch and save
//! a digest or a proof from a running service) and `check-proof` (check a saved proof
//! against saved digests, with no store and no server). And the bisection `verify
//! --digest` runs first when the digest carries a tree.

use crate::merkle::check::{check_consistency, check_inclusion, ConsistencyProof, InclusionProof};
use crate::merkle::{Digest, DigestKey};
use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};

/// `alert-ledger keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory of the ledger: the key is written to `<data-dir>/digest.key`, where
    /// `serve` finds it.
    #[arg(long, env = "ALERT_LEDGER_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Write the key here instead (pass it to `serve --digest-key`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `alert-ledger prove`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Base URL of the alert-ledger service.
    #[arg(
        long,
        env = "ALERT_LEDGER_SERVER",
        default_value = "http://127.0.0.1:8470"
    )]
    server: String,
    /// Bearer token with at least the reader role.
    #[arg(long, env = "ALERT_LEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Prove that the event at this position is in the tree (an inclusion proof).
    #[arg(long, conflicts_with = "from_digest")]
    position: Option<u64>,
    /// Prove that the ledger extends the tree of this saved digest (a consistency
    /// proof), up to `--digest` or to the ledger now.
    #[arg(long)]
    from_digest: Option<PathBuf>,
    /// The saved digest whose tree the proof is for (default: the ledger now).
    #[arg(long)]
    digest: Option<PathBuf>,
    /// Where to save it (default: standard output). Without `--position` or
    /// `--from-digest`, what is saved is the current digest.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// `alert-ledger check-proof`.
#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// The saved proof (`alert-ledger prove`, or the API's JSON).
    #[arg(long)]
    proof: PathBuf,
    /// The saved digest the proof is checked against (for a consistency proof: the
    /// newer one).
    #[arg(long)]
    digest: PathBuf,
    /// For a consistency proof: the older saved digest.
    #[arg(long)]
    old_digest: Option<PathBuf>,
    /// A digest public key of the ledger (64 hex characters): every digest must be
    /// signed by one of the keys given (repeat the flag across a key rotation); without
    /// it, signatures are checked but no key is pinned.
    #[arg(long)]
    public_key: Vec<String>,
}

/// Writes a new digest key and prints its public half.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let path = args
        .out
        .unwrap_or_else(|| args.data_dir.join(crate::merkle::digest::KEY_FILE));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = DigestKey::generate(&path).map_err(anyhow::Error::msg)?;
    println!("{}", key.public_key());
    eprintln!(
        "digest key written to {} (keep it secret; publish the public key above so auditors can pin it)",
        path.display()
    );
    Ok(())
}

/// Fetches a digest, an inclusion proof or a consistency proof and saves it.
pub async fn prove(args: ProveArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let base = args.server.trim_end_matches('/');
    let target = args.digest.as_deref().map(read_digest).transpose()?;
    let target_size = target
        .as_ref()
        .map(|d| tree_of(d, "--digest"))
        .transpose()?;
    let url = match (args.position, &args.from_digest) {
        (Some(position), _) => {
            let size = target_size.map_or(String::new(), |s| format!("&tree_size={s}"));
            format!("{base}/v1/ledger/proof/inclusion?position={position}{size}")
        }
        (None, Some(from)) => {
            let from = tree_of(&read_digest(from)?, "--from-digest")?;
            let to = target_size.map_or(String::new(), |s| format!("&to={s}"));
            format!("{base}/v1/ledger/proof/consistency?from={from}{to}")
        }
        (None, None) => format!("{base}/v1/ledger/digest"),
    };
    let mut request = client.get(&url);
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    let value: serde_json::Value = serde_json::from_str(&body).context("the answer is not JSON")?;
    let pretty = serde_json::to_string_pretty(&value)? + "\n";
    match &args.out {
        Some(path) => {
            std::fs::write(path, pretty)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("saved to {}", path.display());
        }
        None => print!("{pretty}"),
    }
    Ok(())
}

/// Checks a saved proof against saved digests and says what it proves.
pub fn check_proof(args: CheckProofArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.proof.display()))?;
    let digest = read_digest(&args.digest)?;
    let mut signers = vec![signer(&digest, "the digest", &args.public_key)?];
    match value["kind"].as_str() {
        Some("inclusion") => {
            let proof: InclusionProof = serde_json::from_value(value)
                .with_context(|| format!("{} is not an inclusion proof", args.proof.display()))?;
            let included = check_inclusion(&proof, &digest)
                .map_err(|why| anyhow::anyhow!("proof failed: {why}"))?;
            println!(
                "ok: the event at position {} ({} on stream {}) is in the ledger's tree of {} events with root {}",
                included.position, included.event_type, included.stream, proof.tree_size, proof.root_hash
            );
        }
        Some("consistency") => {
            let proof: ConsistencyProof = serde_json::from_value(value)
                .with_context(|| format!("{} is not a consistency proof", args.proof.display()))?;
            let Some(old) = &args.old_digest else {
                bail!("a consistency proof is checked between two digests: pass --old-digest");
            };
            let older = read_digest(old)?;
            signers.push(signer(&older, "the older digest", &args.public_key)?);
            check_consistency(&proof, &older, &digest)
                .map_err(|why| anyhow::anyhow!("proof failed: {why}"))?;
            println!(
                "ok: the tree of {} events (root {}) extends the tree of {} events (root {}): nothing up to position {} was changed",
                proof.to,
                digest.root_hash.as_deref().unwrap_or_default(),
                proof.from,
                older.root_hash.as_deref().unwrap_or_default(),
                proof.from
            );
        }
        _ => bail!(
            "{}: `kind` must be `inclusion` or `consistency`",
            args.proof.display()
        ),
    }
    for line in signers {
        println!("{line}");
    }
    Ok(())
}

/// What a digest's signature says, or why it fails.
pub fn signer(digest: &Digest, name: &str, pinned: &[String]) -> anyhow::Result<String> {
    let signed = digest
        .check_signature()
        .map_err(|why| anyhow::anyhow!("{name}: {why}"))?;
    let is_pinned = |key: &str| {
        pinned
            .iter()
            .any(|pin| pin.trim().eq_ignore_ascii_case(key))
    };
    match signed {
        Some(key) if is_pinned(&key) => Ok(format!("{name} is signed by the pinned key {key}")),
        Some(key) if !pinned.is_empty() => {
            bail!("{name} is signed by {key}, not by a pinned key (--public-key)")
        }
        None if !pinned.is_empty() => {
            bail!("{name} is not signed, but --public-key requires a signature")
        }
        Some(key) => Ok(format!(
            "{name} is signed by key {key} (not pinned: pass --public-key to require it)"
        )),
        None => Ok(format!("{name} is not signed")),
    }
}

/// Reads a saved digest.
pub fn read_digest(path: &Path) -> anyhow::Result<Digest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read digest {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("digest {} is not a digest", path.display()))
}

fn tree_of(digest: &Digest, flag: &str) -> anyhow::Result<u64> {
    match digest.tree() {
        Ok(Some((size, _))) => Ok(size),
        Ok(None) => bail!("{flag}: the digest carries no tree"),
        Err(why) => bail!("{flag}: {why}"),
    }
}

/// For `verify --digest`: when the record at the digest's position is no longer the
/// one the digest names, the first position that changed, found by bisecting against
/// the tree file (which must still match the digest). `Ok(None)`: nothing to report
/// (no tree in the digest, or the digest's record is intact).
pub async fn first_changed(
    log: &dyn crate::store::verify::RawLog,
    tree_file: &Path,
    digest: &Digest,
) -> Result<Option<(u64, u32)>, String> {
    let Some((size, root)) = digest.tree()? else {
        return Ok(None);
    };
    let (tree, durable) = crate::merkle::file::TreeReader::open(tree_file)?;
    if durable < size {
        return Err(format!(
            "the tree file {} holds {durable} events, fewer than the digest's {size}",
            tree_file.display()
        ));
    }
    let found = crate::merkle::bisect::first_changed(log, &tree, size, &root).await?;
    Ok(found.first_changed.map(|p| (p, found.reads)))
}
