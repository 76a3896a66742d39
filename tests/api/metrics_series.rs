//! Every metric the operator's guide lists is the set the service exposes, and each
//! moves under a scripted incident: requests, a trigger routed to a webhook that is
//! delivered, a task that runs on a host, a consumer group with a member, a live
//! subscriber, and a view file refused at start. `/metrics` answers OpenMetrics when the
//! scrape asks for it.

use crate::helpers::{spawn_app_in, test_config, trigger_body, Api};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The metric names of the table in docs/operations.md.
fn documented() -> BTreeSet<String> {
    let page = include_str!("../../docs/operations.md");
    let begin = page
        .find("<!-- metrics-table: begin -->")
        .expect("table start");
    let end = page.find("<!-- metrics-table: end -->").expect("table end");
    page[begin..end]
        .lines()
        .filter_map(|line| line.trim().strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// Sample name (without `_bucket`/`_sum`/`_count`) → sum over its label sets of the
/// values (histograms: their `_count`).
fn scrape_totals(text: &str) -> BTreeMap<String, f64> {
    let mut families: BTreeMap<String, f64> = BTreeMap::new();
    let histograms: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" histogram"))
        .collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).expect("a sample name");
        let name = &line[..name_end];
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap_or(f64::NAN);
        let family = match name.strip_suffix("_count") {
            Some(base) if histograms.contains(base) => base,
            _ if histograms.iter().any(|h| name.starts_with(h)) => continue,
            _ => name,
        };
        *families.entry(family.to_owned()).or_default() += value;
    }
    families
}

async fn metrics(api: &Api) -> String {
    let reply = api.get("/metrics").await.expect(200);
    reply.text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_series_is_exposed_and_moves_under_a_scripted_incident() {
    // The webhook receiver the channel delivers to.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "ok" });
        axum::serve(listener, app).await
    });
    // A view file that is not one: refused at start, moved aside, rebuilt.
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::write(data_dir.path().join("views.sqlite3"), b"not a view file").unwrap();
    let app = spawn_app_in(data_dir, |config| {
        let base = test_config(&config.data_dir);
        config.read_wait = base.read_wait;
        config.dispatch.enabled = true;
    })
    .await;
    // Every series starts where a fresh registry has it.
    let before = scrape_totals(&alert_ledger::metrics::Metrics::new().render());

    app.post(
        "/v1/channels",
        &json!({"id": "hook", "name": "hook", "kind": "webhook", "url": hook}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/services/checkout/route",
        &json!({"channels": ["hook"]}),
    )
    .await
    .expect(200);
    app.trigger(&trigger_body("checkout", "disk", "critical"))
        .await
        .expect(201);
    let task = app
        .post(
            "/v1/tasks",
            &json!({"script": "true", "hosts": ["h1"], "timeout_secs": 30}),
        )
        .await
        .expect(201);
    let id = task.str("id");
    app.post(
        &format!("/v1/tasks/{id}/hosts/h1/result"),
        &json!({"exit_code": 0, "output_tail": "ok"}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/consumers",
        &json!({"name": "billing", "category": "alert", "from": "start"}),
    )
    .await
    .expect(201);
    app.get("/v1/consumers/billing/events?member=m1&wait=0")
        .await
        .expect(200);
    let subscription = app
        .request(reqwest::Method::GET, "/v1/subscribe?from=end")
        .send()
        .await
        .unwrap();
    assert_eq!(subscription.status(), 200);

    let after =
        crate::helpers::eventually("the message delivered", Duration::from_secs(15), || {
            let api = app.api();
            async move {
                let totals = scrape_totals(&metrics(&api).await);
                (totals.get("alert_ledger_delivery_latency_seconds").copied() >= Some(1.0))
                    .then_some(totals)
            }
        })
        .await;
    drop(subscription);

    let exposed: BTreeSet<String> = after.keys().cloned().collect();
    assert_eq!(
        documented(),
        exposed,
        "docs/operations.md's metrics table against /metrics"
    );
    // The series that a healthy incident leaves at 0 are the damage signals; of those,
    // this incident raises set_aside (the refused file). Fold errors, read errors, a failed
    // page check and a lag that stays are made and checked in tests/replay/view_file.rs.
    let stay = [
        "alert_ledger_fold_errors_total",
        "alert_ledger_view_file_read_errors_total",
        "alert_ledger_view_file_page_check_failed",
        "alert_ledger_view_lag_events",
    ];
    for (name, value) in &after {
        if stay.contains(&name.as_str()) {
            continue;
        }
        let was = before.get(name).copied().unwrap_or(0.0);
        assert!(*value > was, "{name} did not move: {was} → {value}");
    }
    app.stop().await.result.unwrap();
}

#[tokio::test]
async fn a_scrape_that_asks_for_openmetrics_gets_it() {
    let app = crate::helpers::spawn_app().await;
    app.trigger(&trigger_body("svc", "k", "info"))
        .await
        .expect(201);
    let response = app
        .request(reqwest::Method::GET, "/metrics")
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("alert_ledger_events_appended_total 1"),
        "{text}"
    );
    let plain = app.get("/metrics").await.expect(200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!plain.text.contains("# EOF"));
    app.stop().await.result.unwrap();
}
