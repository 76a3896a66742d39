//! Which top-level module of `src/` may import which (issue 14; the layering ADR comes
//! with the application core). Data flows one way: edges → application → views and
//! store → codec and IO. This test reads every non-comment `crate::<module>` path in
//! `src/` and fails on an import that points sideways or back up the layers, unless it
//! is one of the back-edges that exist today ([`KNOWN_BACK_EDGES`], to be removed by
//! the application-core work). It also fails when a known back-edge is gone, so the
//! list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module's layer: a module may import only modules of a lower layer.
const LAYERS: &[(&str, u8)] = &[
    ("codec", 0),
    ("io", 0),
    ("metrics", 0),
    ("store", 1),
    ("snapshot", 2),
    ("projection", 3),
    ("export", 4),
    ("commands", 5),
    ("ingest", 5),
    ("http", 6),
    ("dispatch", 6),
    ("scheduler", 6),
    ("agent", 6),
    ("config", 7),
    ("startup", 8),
    ("cli", 9),
];

/// Imports that break the layering today. Each is a reason the application core is
/// needed: the service state and the API error live in `http`, so the workers and
/// receivers reach up into it; the codec and the store share an error type; the
/// PostgreSQL verify lives in the store. Remove an entry when its import is gone.
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[
    ("dispatch", "http"),
    ("http", "dispatch"),
    ("ingest", "http"),
    ("scheduler", "http"),
];

/// Every `crate::<module>` a top-level module's files name outside comments.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src");
            let first = relative.components().next().expect("a component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read file");
            let named = found.entry(module.clone()).or_default();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let target: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !target.is_empty() && target != module {
                        named.insert(target);
                    }
                }
            }
        }
    }
    found
}

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, layer)| *layer)
        .unwrap_or_else(|| {
            panic!("src/{module} has no layer: add it to LAYERS in tests/layering.rs")
        })
}

fn back_edges() -> BTreeSet<(String, String)> {
    let mut edges = BTreeSet::new();
    for (from, targets) in imports() {
        for to in targets {
            if layer(&from) <= layer(&to) {
                edges.insert((from.clone(), to));
            }
        }
    }
    edges
}

#[test]
fn no_module_imports_sideways_or_up_beyond_the_known_back_edges() {
    let known: BTreeSet<(String, String)> = KNOWN_BACK_EDGES
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<_> = back_edges().difference(&known).cloned().collect();
    assert!(
        new.is_empty(),
        "new imports against the layering (edges -> app -> views/store -> codec/io): {new:?}; \
         move the shared piece down a layer instead"
    );
}

#[test]
fn every_known_back_edge_still_exists_so_the_list_only_shrinks() {
    let edges = back_edges();
    let gone: Vec<_> = KNOWN_BACK_EDGES
        .iter()
        .filter(|(a, b)| !edges.contains(&(a.to_string(), b.to_string())))
        .collect();
    assert!(
        gone.is_empty(),
        "these back-edges are gone: remove them from KNOWN_BACK_EDGES: {gone:?}"
    );
}
