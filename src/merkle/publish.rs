//! `serve --publish-digests DIR|URL`: a digest every interval, written to a directory
//! or POSTed to a URL, so that digests exist outside the ledger's own disk.
//!
//! A digest is published when the tree has grown since the last one (and once at
//! start), never for an empty log. Into a directory, each digest is its own file
//! `digest-<position>.json` (the position equals the tree size), written to a temporary
//! name, synced and renamed into place. To a URL, it is the JSON
//! body of a POST; a failed POST is logged and the digest sent again at the next
//! interval.

use super::digest::{self, DigestKey};
use super::tree::MerkleTree;
use crate::store::EventStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where digests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A directory (created if missing).
    Dir(PathBuf),
    /// An `http://` or `https://` URL to POST to.
    Url(String),
}

impl Target {
    /// `http(s)://…` is a URL, anything else a directory.
    pub fn parse(raw: &str) -> Target {
        if raw.starts_with("http://") || raw.starts_with("https://") {
            Target::Url(raw.to_owned())
        } else {
            Target::Dir(PathBuf::from(raw))
        }
    }
}

/// Publishes digests to `target` every `every` until `stop` completes.
pub async fn run(
    target: Target,
    every: Duration,
    store: Arc<dyn EventStore>,
    tree: Option<Arc<MerkleTree>>,
    key: Option<Arc<DigestKey>>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a default HTTP client builds");
    let mut ticks = tokio::time::interval(every);
    let mut published: Option<u64> = None;
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {}
        }
        let digest = match digest::current(
            &store,
            tree.as_ref(),
            key.as_deref(),
            Duration::from_secs(1),
        )
        .await
        {
            Ok(digest) => digest,
            Err(err) => {
                tracing::warn!(error = %err, "cannot take a digest to publish");
                continue;
            }
        };
        if digest.position == 0 || published == Some(digest.position) {
            continue;
        }
        let outcome = match &target {
            Target::Dir(dir) => write_file(dir, &digest).await,
            Target::Url(url) => post(&client, url, &digest).await,
        };
        match outcome {
            Ok(place) => {
                tracing::info!(position = digest.position, to = %place, "digest published");
                published = Some(digest.position);
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot publish the digest; trying again at the next interval")
            }
        }
    }
}

async fn write_file(dir: &std::path::Path, digest: &digest::Digest) -> Result<String, String> {
    let dir = dir.to_owned();
    let body = serde_json::to_vec_pretty(digest).map_err(|e| e.to_string())?;
    let name = format!("digest-{}.json", digest.position);
    let shown = name.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(&name);
        let temporary = dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&body)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(&dir)?.sync_all()?;
        Ok::<_, std::io::Error>(path.display().to_string())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("{shown}: {e}"))
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    digest: &digest::Digest,
) -> Result<String, String> {
    let response = client
        .post(url)
        .json(digest)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("POST {url}: {}", response.status()));
    }
    Ok(url.to_owned())
}
