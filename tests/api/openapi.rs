//! The OpenAPI document lists exactly the routes the service serves; `/metrics`
//! exposes request counts, open alerts and view lag.

use crate::helpers::{route_table, spawn_app, trigger_body, Role, RouteCase};
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_its_role() {
    let app = spawn_app().await;
    let reply = app.get("/openapi.json").await.expect(200);
    assert_eq!(reply.body["openapi"], "3.1.0");
    let paths = reply.body["paths"].as_object().expect("paths");

    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, operations)| {
            let methods = operations.as_object().expect("operations").keys();
            methods.map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = route_table()
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not in the route table: {unserved:?}"
    );

    for route in route_table() {
        let method = route.method.as_str().to_lowercase();
        let operation = &paths[route.template][method.as_str()];
        let role = match route.role {
            None => serde_json::Value::Null,
            Some(Role::Reader) => "reader".into(),
            Some(Role::Writer) => "writer".into(),
            Some(Role::Admin) => "admin".into(),
        };
        assert_eq!(
            operation["x-required-role"], role,
            "{} {}",
            route.method, route.template
        );
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_open_alerts_by_severity_and_view_lag() {
    let app = spawn_app().await;
    for key in ["a", "b", "c"] {
        app.trigger(&trigger_body("metrics", key, "critical"))
            .await
            .expect(201);
    }
    let resolved = app
        .trigger(&trigger_body("metrics", "d", "critical"))
        .await
        .expect(201)
        .str("alert_id");
    app.trigger(&trigger_body("metrics", "e", "warning"))
        .await
        .expect(201);
    let last = app.resolve(&resolved).await.expect(200).position();
    app.list_alerts(&format!("min_position={last}"))
        .await
        .expect(200);

    let metrics = app.get("/metrics").await.expect(200).text;
    let sample = |name: &str, labels: &[&str]| -> Option<f64> {
        metrics.lines().find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let matches = series.starts_with(name) && series[name.len()..].starts_with(['{', ' '])
                || series == name;
            (matches && labels.iter().all(|l| series.contains(l)))
                .then(|| value.parse().ok())
                .flatten()
        })
    };
    let triggers = sample(
        "alert_ledger_http_requests_total",
        &["method=\"POST\"", "route=\"/v1/alerts\"", "status=\"201\""],
    );
    assert_eq!(triggers, Some(5.0), "{metrics}");
    let resolves = sample(
        "alert_ledger_http_requests_total",
        &["route=\"/v1/alerts/{id}/resolve\""],
    );
    assert_eq!(resolves, Some(1.0), "{metrics}");
    let critical = sample("alert_ledger_open_alerts", &["severity=\"critical\""]);
    assert_eq!(critical, Some(3.0), "{metrics}");
    let warning = sample("alert_ledger_open_alerts", &["severity=\"warning\""]);
    assert_eq!(warning, Some(1.0), "{metrics}");
    assert!(
        sample("alert_ledger_view_lag_events", &[]).is_some(),
        "{metrics}"
    );
}

/// The operation object of `route` in the served document.
fn operation<'a>(document: &'a Value, route: &RouteCase) -> &'a Value {
    let method = route.method.as_str().to_lowercase();
    &document["paths"][route.template][method.as_str()]
}

#[tokio::test]
async fn every_route_answers_a_valid_request_with_a_documented_status_media_type_and_header() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    let mut failures = Vec::new();
    for route in route_table().iter().filter(|r| !r.streaming) {
        let reply = app
            .api()
            .send(route.method.clone(), &route.path, route.body.as_ref())
            .await;
        let status = reply.status.as_u16().to_string();
        let documented = &operation(&document, route)["responses"][&status];
        let name = format!("{} {} -> {status}", route.method, route.path);
        if !documented.is_object() {
            failures.push(format!("{name}: status not documented"));
            continue;
        }
        let media = reply.header("content-type").unwrap_or("");
        let media = media.split(';').next().unwrap_or("").trim();
        if !media.is_empty() && documented["content"][media].is_null() {
            failures.push(format!("{name}: {media} not documented"));
        }
        if documented["headers"]["X-Ledger-Position"].is_null() {
            failures.push(format!("{name}: X-Ledger-Position not documented"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn every_route_with_query_parameters_refuses_an_unknown_one_with_a_documented_422() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    let mut checked = 0;
    for route in route_table() {
        let operation = operation(&document, &route);
        let parameters = operation["parameters"].as_array().expect("parameters");
        let query: Vec<&str> = parameters
            .iter()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        if query.is_empty() || route.integration_key {
            continue;
        }
        assert!(
            operation["responses"]["422"]["content"]["application/problem+json"].is_object(),
            "{} {} does not document its 422",
            route.method,
            route.template
        );
        let separator = if route.path.contains('?') { '&' } else { '?' };
        let path = format!("{}{separator}no_such_parameter=1", route.path);
        let reply = app
            .api()
            .send(route.method.clone(), &path, route.body.as_ref())
            .await
            .expect_problem(422, "validation");
        assert_eq!(reply.body["field"], "query.no_such_parameter", "{path}");
        checked += 1;
    }
    assert!(
        checked >= 12,
        "only {checked} routes document query parameters"
    );
}

#[tokio::test]
async fn every_post_documents_idempotency_key_and_every_role_route_its_bearer_security() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    for route in route_table() {
        let operation = operation(&document, &route);
        let name = format!("{} {}", route.method, route.template);
        if route.method == reqwest::Method::POST {
            let documented = operation["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
            assert!(documented, "{name} does not document Idempotency-Key");
        }
        if route.role.is_some() {
            assert_eq!(operation["security"], json!([{ "bearer": [] }]), "{name}");
            assert!(operation["responses"]["401"].is_object(), "{name}");
            assert!(operation["responses"]["403"].is_object(), "{name}");
        }
    }
    let schemes = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(schemes["scheme"], "bearer");
}

#[tokio::test]
async fn every_query_parameter_with_documented_values_refuses_any_other_with_a_422() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    let mut checked = Vec::new();
    for route in route_table().iter().filter(|r| !r.integration_key) {
        let parameters = operation(&document, route)["parameters"]
            .as_array()
            .expect("parameters")
            .clone();
        let enums = parameters
            .iter()
            .filter(|p| p["in"] == "query" && p["schema"]["enum"].is_array());
        for parameter in enums {
            let name = parameter["name"].as_str().expect("a name");
            let separator = if route.path.contains('?') { '&' } else { '?' };
            let path = format!("{}{separator}{name}=not-a-documented-value", route.path);
            let reply = app
                .api()
                .send(route.method.clone(), &path, route.body.as_ref())
                .await
                .expect_problem(422, "validation");
            assert_eq!(reply.body["field"], format!("query.{name}"), "{path}");
            checked.push(path);
        }
    }
    assert!(checked.len() >= 4, "{checked:?}");
}

#[tokio::test]
async fn every_link_names_a_documented_operation_and_its_path_parameters() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    let mut by_id = std::collections::BTreeMap::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for operation in operations.as_object().expect("operations").values() {
            let id = operation["operationId"].as_str().expect("operationId");
            by_id.insert(id.to_owned(), (path.clone(), operation.clone()));
        }
    }
    let mut links = 0;
    for (_, operation) in by_id.values() {
        for response in operation["responses"]
            .as_object()
            .expect("responses")
            .values()
        {
            let Some(found) = response["links"].as_object() else {
                continue;
            };
            for link in found.values() {
                let target = link["operationId"].as_str().expect("operationId");
                let (path, _) = by_id.get(target).unwrap_or_else(|| panic!("{target}"));
                for name in link["parameters"].as_object().expect("parameters").keys() {
                    assert!(path.contains(&format!("{{{name}}}")), "{target}: {name}");
                }
                links += 1;
            }
        }
    }
    assert!(links >= 10, "only {links} links");
}
