//! The route table shared by the auth and OpenAPI tests: every route the router
//! serves, with a concrete path, a valid body and the role it needs. A route added to
//! the router belongs here; the OpenAPI test then fails until it is documented.

use super::trigger_body;
use reqwest::Method;
use serde_json::{json, Value};

/// Role a route needs, `None` for open routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Auditors.
    Reader,
    /// Ingest and lifecycle.
    Writer,
    /// Operations.
    Admin,
}

/// One route of the router, with a concrete path and a valid body.
#[derive(Debug, Clone)]
pub struct RouteCase {
    /// HTTP method.
    pub method: Method,
    /// The path as the OpenAPI document spells it.
    pub template: &'static str,
    /// A concrete path for a request.
    pub path: String,
    /// A valid JSON body, for routes that take one.
    pub body: Option<Value>,
    /// The least role the route needs; `None`: open.
    pub role: Option<Role>,
    /// A successful answer is an endless event stream: read only its head.
    pub streaming: bool,
    /// Authorised by an integration key in the request (PagerDuty routing key,
    /// GoAlert token), not by a role token: `role` is `None`, yet no role token,
    /// and no token at all, opens it.
    pub integration_key: bool,
}

fn route(
    method: Method,
    template: &'static str,
    path: &str,
    body: Option<Value>,
    role: Option<Role>,
) -> RouteCase {
    RouteCase {
        method,
        template,
        path: path.to_owned(),
        body,
        role,
        streaming: false,
        integration_key: false,
    }
}

/// Every route the router serves. The auth test calls each one; the OpenAPI test
/// checks the document lists exactly these.
pub fn route_table() -> Vec<RouteCase> {
    use Method as M;
    use Role::{Admin as A, Reader as R, Writer as W};
    let alert = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";
    let task = "0e3a4c1a-0c1f-4d0b-9a53-3b1f8f0c2b7d";
    let message = "9a7b3c2d-1e0f-4a5b-8c6d-7e8f9a0b1c2d";
    let trigger = trigger_body("auth-svc", "auth-key", "warning");
    let sync = json!({ "id": "sync-auth", "name": "auth sync" });
    let create_task = json!({ "script": "true", "hosts": ["h1"], "timeout_secs": 60 });
    let result = json!({ "exit_code": 0, "output_tail": "ok" });
    let note = json!({ "text": "looked at it" });
    let cancel = json!({ "reason": "not needed" });
    let alertmanager = json!({
        "version": "4", "groupKey": "{}:{alertname=\"Auth\"}", "status": "firing",
        "receiver": "auth-svc", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{ "status": "firing", "labels": { "alertname": "Auth" }, "annotations": {},
            "startsAt": "2024-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090", "fingerprint": "a1b2c3d4e5f60718" }]
    });
    let enqueue = json!({
        "routing_key": "not-a-configured-routing-key", "event_action": "trigger",
        "payload": { "summary": "auth", "source": "auth-host", "severity": "info" }
    });
    vec![
        route(M::POST, "/v1/alerts", "/v1/alerts", Some(trigger), Some(W)),
        route(M::GET, "/v1/alerts", "/v1/alerts", None, Some(R)),
        route(
            M::GET,
            "/v1/alerts/{id}",
            &format!("/v1/alerts/{alert}"),
            None,
            Some(R),
        ),
        route(
            M::POST,
            "/v1/alerts/{id}/acknowledge",
            &format!("/v1/alerts/{alert}/acknowledge"),
            None,
            Some(W),
        ),
        route(
            M::POST,
            "/v1/alerts/{id}/resolve",
            &format!("/v1/alerts/{alert}/resolve"),
            None,
            Some(W),
        ),
        route(
            M::POST,
            "/v1/alerts/{id}/escalate",
            &format!("/v1/alerts/{alert}/escalate"),
            None,
            Some(W),
        ),
        route(
            M::POST,
            "/v1/alerts/{id}/notes",
            &format!("/v1/alerts/{alert}/notes"),
            Some(note),
            Some(W),
        ),
        route(
            M::GET,
            "/v1/alerts/{id}/history",
            &format!("/v1/alerts/{alert}/history"),
            None,
            Some(R),
        ),
        route(M::GET, "/v1/alarms", "/v1/alarms", None, Some(R)),
        route(M::GET, "/v1/messages", "/v1/messages", None, Some(R)),
        route(
            M::GET,
            "/v1/messages/{id}",
            &format!("/v1/messages/{message}"),
            None,
            Some(R),
        ),
        route(M::POST, "/v1/syncs", "/v1/syncs", Some(sync), Some(W)),
        route(M::GET, "/v1/syncs", "/v1/syncs", None, Some(R)),
        route(
            M::POST,
            "/v1/channels",
            "/v1/channels",
            Some(
                json!({"id": "auth-hook", "name": "Auth hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}),
            ),
            Some(W),
        ),
        route(
            M::DELETE,
            "/v1/channels/{id}",
            "/v1/channels/auth-hook",
            None,
            Some(W),
        ),
        route(
            M::POST,
            "/v1/policies",
            "/v1/policies",
            Some(json!({"id": "auth-policy", "name": "Auth", "steps": [{"delay_secs": 60}]})),
            Some(W),
        ),
        // Names the policy above, not the channel removed just before: references
        // must exist when they are written.
        route(
            M::POST,
            "/v1/services/{service}/route",
            "/v1/services/auth-svc/route",
            Some(json!({"policy": "auth-policy"})),
            Some(W),
        ),
        route(
            M::POST,
            "/v1/task-rules",
            "/v1/task-rules",
            Some(
                json!({"id": "auth-rule", "service": "auth-svc", "min_severity": "critical", "script": "true", "hosts": ["h1"], "timeout_secs": 5}),
            ),
            Some(A),
        ),
        route(
            M::DELETE,
            "/v1/task-rules/{id}",
            "/v1/task-rules/auth-rule",
            None,
            Some(A),
        ),
        route(M::GET, "/v1/routing", "/v1/routing", None, Some(R)),
        route(
            M::DELETE,
            "/v1/syncs/{id}",
            "/v1/syncs/sync-auth",
            None,
            Some(W),
        ),
        route(
            M::POST,
            "/v1/tasks",
            "/v1/tasks",
            Some(create_task),
            Some(W),
        ),
        route(M::GET, "/v1/tasks", "/v1/tasks", None, Some(R)),
        route(
            M::GET,
            "/v1/tasks/{id}",
            &format!("/v1/tasks/{task}"),
            None,
            Some(R),
        ),
        route(
            M::POST,
            "/v1/tasks/{id}/hosts/{host}/start",
            &format!("/v1/tasks/{task}/hosts/h1/start"),
            None,
            Some(W),
        ),
        route(
            M::POST,
            "/v1/tasks/{id}/hosts/{host}/result",
            &format!("/v1/tasks/{task}/hosts/h1/result"),
            Some(result),
            Some(W),
        ),
        route(
            M::POST,
            "/v1/tasks/{id}/cancel",
            &format!("/v1/tasks/{task}/cancel"),
            Some(cancel),
            Some(W),
        ),
        route(
            M::GET,
            "/v1/streams/{stream}",
            "/v1/streams/alert-nothing",
            None,
            Some(R),
        ),
        route(M::GET, "/v1/events", "/v1/events?from=1", None, Some(R)),
        RouteCase {
            streaming: true,
            ..route(M::GET, "/v1/subscribe", "/v1/subscribe", None, Some(R))
        },
        route(
            M::POST,
            "/v1/consumers",
            "/v1/consumers",
            Some(json!({"name": "routes", "category": "alert"})),
            Some(W),
        ),
        route(M::GET, "/v1/consumers", "/v1/consumers", None, Some(R)),
        route(
            M::GET,
            "/v1/consumers/{name}",
            "/v1/consumers/routes",
            None,
            Some(R),
        ),
        route(
            M::GET,
            "/v1/consumers/{name}/events",
            "/v1/consumers/routes/events?member=m1&wait=0",
            None,
            Some(R),
        ),
        route(
            M::POST,
            "/v1/consumers/{name}/ack",
            "/v1/consumers/routes/ack",
            Some(json!({"member": "m1", "position": 0})),
            Some(W),
        ),
        route(
            M::DELETE,
            "/v1/consumers/{name}",
            "/v1/consumers/routes",
            None,
            Some(W),
        ),
        route(
            M::POST,
            "/v1/ledger/verify",
            "/v1/ledger/verify",
            None,
            Some(A),
        ),
        route(
            M::GET,
            "/v1/admin/projections",
            "/v1/admin/projections",
            None,
            Some(A),
        ),
        route(
            M::POST,
            "/v1/admin/projections/{name}/rebuild",
            "/v1/admin/projections/alerts/rebuild",
            None,
            Some(A),
        ),
        route(
            M::GET,
            "/v1/ledger/digest",
            "/v1/ledger/digest",
            None,
            Some(R),
        ),
        route(
            M::GET,
            "/v1/ledger/proof/inclusion",
            "/v1/ledger/proof/inclusion?position=1",
            None,
            Some(R),
        ),
        route(
            M::GET,
            "/v1/ledger/proof/consistency",
            "/v1/ledger/proof/consistency?from=1",
            None,
            Some(R),
        ),
        route(
            M::POST,
            "/v1/integrations/alertmanager",
            "/v1/integrations/alertmanager",
            Some(alertmanager),
            Some(W),
        ),
        RouteCase {
            integration_key: true,
            ..route(M::POST, "/v2/enqueue", "/v2/enqueue", Some(enqueue), None)
        },
        RouteCase {
            integration_key: true,
            ..route(
                M::POST,
                "/api/v2/generic/incoming",
                "/api/v2/generic/incoming?summary=auth",
                None,
                None,
            )
        },
        route(M::GET, "/livez", "/livez", None, None),
        route(M::GET, "/readyz", "/readyz", None, None),
        route(M::GET, "/metrics", "/metrics", None, None),
        route(M::GET, "/openapi.json", "/openapi.json", None, None),
    ]
}
