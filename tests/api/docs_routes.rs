//! docs/api.md's route table lists every operation of the OpenAPI document, with the
//! role the document requires, and nothing the document lacks.

use std::collections::BTreeMap;
use std::path::Path;

/// `(METHOD, path)` → the role cell of its row in the "## Routes" table.
fn table_rows(page: &str) -> BTreeMap<(String, String), String> {
    let section = page
        .split("\n## ")
        .find(|s| s.starts_with("Routes\n"))
        .expect("docs/api.md has a `## Routes` section");
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (operations, role) = (cells[1], cells[2]);
        let spans = operations.split('`').skip(1).step_by(2);
        for span in spans {
            let (method, path) = span
                .split_once(' ')
                .unwrap_or_else(|| panic!("`{span}` is not `METHOD /path`: {line}"));
            let key = (method.to_owned(), path.to_owned());
            let previous = rows.insert(key, role.to_owned());
            assert!(previous.is_none(), "`{span}` is listed twice");
        }
    }
    rows
}

#[test]
fn the_route_table_of_docs_api_lists_exactly_the_operations_of_the_openapi_document() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md");
    let rows = table_rows(&std::fs::read_to_string(path).expect("docs/api.md"));
    let document = alert_ledger::http::openapi::document();
    let mut documented = BTreeMap::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let role = operation["x-required-role"].as_str().map(str::to_owned);
            documented.insert((method.to_uppercase(), path.clone()), role);
        }
    }

    let missing: Vec<_> = documented
        .keys()
        .filter(|k| !rows.contains_key(*k))
        .collect();
    let unknown: Vec<_> = rows
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "in the OpenAPI document, not in docs/api.md's table: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "in docs/api.md's table, not in the OpenAPI document: {unknown:?}"
    );
    for (operation, role) in &documented {
        let cell = &rows[operation];
        match role {
            Some(role) => assert_eq!(cell, role, "role of {operation:?} in docs/api.md"),
            None => assert!(
                !["reader", "writer", "admin"].contains(&cell.as_str()),
                "{operation:?} needs no role token, the table says {cell}"
            ),
        }
    }
}
