//! The OpenAPI document lists exactly the routes the service serves; `/metrics`
//! exposes request counts, open alerts and view lag.

use crate::helpers::{route_table, spawn_app, trigger_body, Role};
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
