//! Every route against no token, a wrong token and each role.

use crate::helpers::{
    route_table, spawn_app_with_tokens, Reply, Role, RouteCase, TestApp, ADMIN_TOKEN, READER_TOKEN,
    WRITER_TOKEN, WRONG_TOKEN,
};

const ROLES: [(Role, &str); 3] = [
    (Role::Reader, READER_TOKEN),
    (Role::Writer, WRITER_TOKEN),
    (Role::Admin, ADMIN_TOKEN),
];

async fn call(app: &TestApp, route: &RouteCase, token: Option<&str>) -> Reply {
    let api = app.with_token(token);
    let mut request = api.request(route.method.clone(), &route.path);
    if let Some(body) = &route.body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the request is sent");
    if route.streaming && response.status().is_success() {
        // An event stream never ends: its head is the answer.
        return Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: String::new(),
            body: serde_json::Value::Null,
        };
    }
    Reply::read(response).await
}

#[tokio::test]
async fn every_route_demands_its_role_and_open_routes_answer_without_a_token() {
    let app = spawn_app_with_tokens().await;
    let mut bodies = Vec::new();
    let mut failures = Vec::new();
    for route in route_table() {
        let name = format!("{} {}", route.method, route.path);
        if route.integration_key {
            // No role token (nor none) opens a route an integration key authorises.
            let tokens = [WRONG_TOKEN, READER_TOKEN, WRITER_TOKEN, ADMIN_TOKEN];
            for token in [None].into_iter().chain(tokens.map(Some)) {
                let reply = call(&app, &route, token).await;
                if reply.status.is_success() {
                    failures.push(format!("{name} with {token:?}: {}", reply.status));
                }
                bodies.push(reply.text);
            }
            continue;
        }
        let Some(needed) = route.role else {
            let reply = call(&app, &route, None).await;
            if reply.status != 200 {
                failures.push(format!("{name} without a token: {}", reply.status));
            }
            bodies.push(reply.text);
            continue;
        };
        for (label, token) in [("no token", None), ("a wrong token", Some(WRONG_TOKEN))] {
            let reply = call(&app, &route, token).await;
            let challenged = reply.header("www-authenticate").is_some();
            if reply.status != 401 || !challenged {
                failures.push(format!(
                    "{name} with {label}: {} (WWW-Authenticate: {challenged})",
                    reply.status
                ));
            }
            bodies.push(reply.text);
        }
        for (role, token) in ROLES {
            let reply = call(&app, &route, Some(token)).await;
            let denied = matches!(reply.status.as_u16(), 401 | 403);
            if role < needed && reply.status != 403 {
                failures.push(format!("{name} as {role:?}: {} (wanted 403)", reply.status));
            }
            if role >= needed && denied {
                failures.push(format!(
                    "{name} as {role:?}: {} ({})",
                    reply.status, reply.text
                ));
            }
            bodies.push(reply.text);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for token in [READER_TOKEN, WRITER_TOKEN, ADMIN_TOKEN, WRONG_TOKEN] {
        assert!(
            bodies.iter().all(|body| !body.contains(token)),
            "a response body contains a token"
        );
    }
}

#[tokio::test]
async fn a_denied_request_is_a_problem_document() {
    let app = spawn_app_with_tokens().await;
    let unauthorized = app.with_token(None).get("/v1/alerts").await;
    let unauthorized = unauthorized.expect_problem(401, "unauthorized");
    assert!(unauthorized
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    let forbidden = app
        .with_token(Some(READER_TOKEN))
        .post_empty("/v1/alerts/6f9619ff-8b86-4d11-b42d-00c04fc964ff/resolve")
        .await;
    forbidden.expect_problem(403, "forbidden");
}
