//! Integration keys: never shown in answers or the log; a bad keys file stops startup
//! with one line naming the line.

use crate::helpers::test_config;
use crate::support::{
    assert_no_secret, fixture, pd_fixture, spawn, GA_KEY, PD_HASHED_KEY, PD_KEY, SECRETS,
};
use alert_ledger::startup::Application;

#[tokio::test]
async fn keys_never_appear_in_answers_or_in_the_log() {
    let app = spawn().await;
    let mut texts = Vec::new();
    for (name, key) in [
        ("pagerduty_trigger.json", PD_KEY),
        ("pagerduty_acknowledge.json", PD_KEY),
        ("pagerduty_trigger.json", PD_HASHED_KEY),
        ("pagerduty_trigger.json", "not-a-configured-key-0123456789"),
    ] {
        let reply = app
            .anonymous()
            .post("/v2/enqueue", &pd_fixture(name, key))
            .await;
        texts.push(reply.text);
    }
    let mut invalid = pd_fixture("pagerduty_trigger.json", PD_KEY);
    invalid["payload"]["severity"] = "fatal".into();
    texts.push(app.anonymous().post("/v2/enqueue", &invalid).await.text);
    let goalert = app
        .anonymous()
        .post(
            &format!("/api/v2/generic/incoming?token={GA_KEY}"),
            &fixture("goalert_incoming.json"),
        )
        .await;
    texts.push(goalert.text);
    let wrong = app
        .anonymous()
        .post(
            "/api/v2/generic/incoming?token=wrong-token-0123456789abcdef",
            &fixture("goalert_incoming.json"),
        )
        .await;
    texts.push(wrong.text);
    texts.push(app.admin().get("/v1/alerts").await.text);
    texts.push(app.admin().get("/openapi.json").await.text);
    let log = serde_json::to_string(&app.log().await).unwrap();
    assert!(log.contains("pagerduty:pd-svc"), "the actor is recorded");
    texts.push(log);
    assert_no_secret(texts.iter().map(String::as_str));
}

#[tokio::test]
async fn a_bad_keys_file_fails_startup_with_one_line_naming_the_line_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let cases = [
        (
            format!("pagerduty {PD_KEY} svc\ngoalert short svc\n"),
            "line 2",
        ),
        (
            format!("pagerduty {PD_KEY} svc\npagerduty {PD_KEY} other\n"),
            "duplicate key",
        ),
        (format!("opsgenie {PD_KEY} svc\n"), "unknown kind"),
        ("# nothing\n".to_owned(), "defines no keys"),
    ];
    for (text, expected) in cases {
        std::fs::write(&keys, &text).unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut config = test_config(data.path());
        config.integration_keys_file = Some(keys.clone());
        let Err(err) = Application::build(config).await else {
            panic!("{text:?} was accepted");
        };
        let message = format!("{err:#}");
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
        for secret in SECRETS {
            assert!(!message.contains(secret), "{message}");
        }
    }
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.integration_keys_file = Some(dir.path().join("missing"));
    let Err(err) = Application::build(config).await else {
        panic!("a missing keys file was accepted");
    };
    assert!(format!("{err:#}").contains("cannot read integration keys file"));
}
