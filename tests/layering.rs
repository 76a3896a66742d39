//! Which top-level module of `src/` may import which (ADR 0011). Data flows one way:
//! edges (HTTP, dispatcher, scheduler, agent) → application core (`app`) → commands,
//! views and store → codec and IO. This test reads every non-comment `crate::<module>`
//! path in `src/` and fails on an import that points sideways or back up the layers,
//! which also rules out every import circle between top-level modules. It also fails
//! when HTTP leaks out of `src/http/`: axum and `ApiError` are named nowhere else, and
//! the HTTP state only there and in the composition root (`startup`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module's layer: a module may import only modules of a lower layer.
const LAYERS: &[(&str, u8)] = &[
    ("codec", 0),
    ("io", 0),
    ("metrics", 0),
    ("store", 1),
    ("merkle", 2),
    ("projection", 3),
    ("commands", 4),
    ("export", 4),
    ("app", 5),
    ("http", 6),
    ("dispatch", 6),
    ("scheduler", 6),
    ("agent", 6),
    ("config", 7),
    ("startup", 8),
    ("cli", 9),
];

/// Every `.rs` file under `src/`, with its top-level module and its lines outside
/// comments.
fn sources() -> Vec<(PathBuf, String, Vec<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
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
            let relative = path.strip_prefix(&src).expect("under src").to_path_buf();
            let first = relative.components().next().expect("a component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            let text = std::fs::read_to_string(&path).expect("read file");
            let code = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(str::to_owned)
                .collect();
            found.push((relative, module, code));
        }
    }
    found
}

/// Every `crate::<module>` a top-level module's files name outside comments.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, module, lines) in sources() {
        if module == "lib" || module == "main" {
            continue;
        }
        let named = found.entry(module.clone()).or_default();
        for line in lines {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                assert!(
                    !rest.starts_with('{'),
                    "{}: write one `use crate::<module>::…` per module, so this test can read it: {line}",
                    path.display()
                );
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

#[test]
fn every_import_points_down_the_layers() {
    let mut against = Vec::new();
    for (from, targets) in imports() {
        for to in targets {
            if layer(&from) <= layer(&to) {
                against.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        against.is_empty(),
        "imports against the layering (edges -> app -> commands/views/store -> codec/io): \
         {against:?}; move the shared piece down a layer instead (ADR 0011)"
    );
}

#[test]
fn http_stays_inside_src_http() {
    let mut leaks = Vec::new();
    for (path, module, lines) in sources() {
        if module == "http" {
            continue;
        }
        for line in &lines {
            for word in ["axum", "ApiError", "HttpState"] {
                // The composition root builds the HTTP state from the core's.
                let allowed = word == "HttpState" && module == "startup";
                if line.contains(word) && !allowed {
                    leaks.push(format!("{}: {}", path.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "HTTP outside src/http/ (the core reports AppError; http maps it): {leaks:#?}"
    );
}
