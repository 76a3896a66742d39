//! docs/events.md documents exactly the event types this build knows, each at its
//! current version: every entry of `Event::TYPES` has its section (`#### \`type\` (vN)`)
//! or its row in the configuration table (`| \`type\` (vN) |`), and the page names no
//! type or version the build does not have.

use projections::Event;
use std::collections::BTreeSet;

/// `(type, version)` of every entry the page documents.
fn documented() -> BTreeSet<(String, u16)> {
    let page = include_str!("../../docs/events.md");
    let mut found = BTreeSet::new();
    for line in page.lines() {
        let rest = line
            .strip_prefix("#### `")
            .or_else(|| line.strip_prefix("| `"));
        let Some(rest) = rest else { continue };
        let Some((name, after)) = rest.split_once('`') else {
            continue;
        };
        let Some(version) = after
            .strip_prefix(" (v")
            .and_then(|v| v.split_once(')'))
            .and_then(|(v, _)| v.parse().ok())
        else {
            continue;
        };
        found.insert((name.to_owned(), version));
    }
    found
}

#[test]
fn the_event_reference_lists_every_event_type_at_its_current_version() {
    let known: BTreeSet<(String, u16)> = Event::TYPES
        .iter()
        .map(|(name, version)| ((*name).to_owned(), *version))
        .collect();
    let documented = documented();
    let missing: Vec<_> = known.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&known).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/events.md is missing {missing:?} and documents {unknown:?}, which this build does not have"
    );
}
