//! Views from the file equal the pure folds of the same events, over random logs: the
//! current views after the whole log, and the views as of sampled past positions (an
//! indexed read of row versions, checked against a replay up to that position).

use crate::scenario::ops;
use crate::world::World;
use alert_ledger::projection::queries::{AlarmFilter, AlertFilter, MessageFilter, TaskFilter};
use alert_ledger::projection::sqlite::{ViewFile, Writer};
use alert_ledger::projection::ViewQueries;
use projections::ids::HostName;
use projections::views::Views;
use projections::RecordedEvent;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};

/// Every answer the views give, as JSON (what a reader of the API would compare).
pub(crate) fn answers(views: &dyn ViewQueries) -> Value {
    let all = AlertFilter::default();
    let alerts = views.alerts(&all, None, 10_000);
    let each_alert: Vec<Value> = alerts
        .items
        .iter()
        .map(|a| json!([views.alert(a.id), views.alert_stream(a.id)]))
        .collect();
    let pages: Vec<Value> = {
        let mut pages = Vec::new();
        let mut cursor = None;
        loop {
            let page = views.alerts(&all, cursor, 3);
            pages.push(json!(page.items.iter().map(|a| a.id).collect::<Vec<_>>()));
            match page.next_cursor {
                Some(next) => cursor = Some(next.parse().unwrap()),
                None => break,
            }
            if pages.len() > 1000 {
                break;
            }
        }
        pages
    };
    let open = AlertFilter {
        status: Some(projections::views::AlertStatus::Acknowledged),
        ..AlertFilter::default()
    };
    let messages = views.messages(&MessageFilter::default(), None, 10_000);
    let message_pages = views.messages(&MessageFilter::default(), None, 2);
    let pending = TaskFilter {
        pending: true,
        ..TaskFilter::default()
    };
    let on_host = TaskFilter {
        host: Some(HostName::parse("web-1").unwrap()),
        pending: true,
        ..TaskFilter::default()
    };
    let start = crate::harness::t0();
    let window = AlertFilter {
        since: Some(start + chrono::Duration::seconds(20)),
        until: Some(start + chrono::Duration::seconds(200)),
        ..AlertFilter::default()
    };
    let sizes = views.sizes();
    json!({
        "position": views.position(),
        "sizes": [sizes.alerts, sizes.messages, sizes.alarms, sizes.tasks, sizes.syncs],
        "alerts": alerts,
        "each_alert": each_alert,
        "pages": pages,
        "acknowledged": views.alerts(&open, None, 10_000),
        "open_by_severity": views.open_alerts_by_severity(),
        "open": views.open_alerts(),
        "escalations": views.alerts_awaiting_escalation(),
        "alarms": views.alarms(&AlarmFilter::default()),
        "trends": views.trends(start - chrono::Duration::days(1)),
        "recent_trends": views.trends(start + chrono::Duration::seconds(100)),
        "channel_health": views.channel_health(),
        "unacknowledged_alarms": views.alarms(&AlarmFilter {
            acknowledged: Some(false),
            ..AlarmFilter::default()
        }),
        "checkout_alarms": views.alarms(&AlarmFilter {
            service: Some("checkout".into()),
            severity: Some(projections::Severity::Critical),
            ..AlarmFilter::default()
        }),
        "db_alarms": views.alarms(&AlarmFilter {
            resource: Some("db-1".into()),
            ..AlarmFilter::default()
        }),
        "messages": messages,
        "each_message": messages.items.iter().map(|m| views.message(m.id)).collect::<Vec<_>>(),
        "message_page": message_pages,
        "unfinished": views.unfinished_messages(1000),
        "tasks": views.tasks(&TaskFilter::default(), None, 10_000),
        "task_page": views.tasks(&TaskFilter::default(), None, 2),
        "pending_tasks": views.tasks(&pending, None, 10_000),
        "host_tasks": views.tasks(&on_host, None, 10_000),
        "host_task_page": views.tasks(&on_host, None, 1),
        "syncs": views.syncs(None, None, 10_000),
        "sync_page": views.syncs(None, None, 1),
        "deleted_syncs": views.syncs(Some(true), None, 10_000),
        "opened_in_a_window": views.alerts(&window, None, 10_000),
        "routing": views.routing(),
        "consumer_groups": views.consumer_groups(),
    })
}

/// Folds `log` into a fresh file in batches of the given sizes (cycled).
fn fold_into_file(log: &[RecordedEvent], batches: &[usize]) -> (tempfile::TempDir, ViewFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("views.sqlite3");
    let mut writer = Writer::open(&path).unwrap();
    let mut rest = log;
    for size in batches.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, tail) = rest.split_at((*size).clamp(1, rest.len()));
        let failed = writer.apply(batch).unwrap();
        assert_eq!(failed, 0, "a valid log folds without errors");
        rest = tail;
    }
    drop(writer);
    let file = ViewFile::new(path);
    (dir, file)
}

fn check(log: &[RecordedEvent], batches: &[usize], every: usize) -> Result<(), TestCaseError> {
    let (_dir, file) = fold_into_file(log, batches);
    let mut oracle = Views::default();
    for (index, event) in log.iter().enumerate() {
        oracle.apply(event).unwrap();
        if index % every == 0 || index + 1 == log.len() {
            let past = answers(&*file.read(Some(event.position)));
            prop_assert_eq!(past, answers(&oracle), "as of position {}", event.position);
        }
    }
    prop_assert_eq!(
        answers(&*file.read(None)),
        answers(&oracle),
        "the current views"
    );
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    /// The file's views, now and as of every seventh position, equal the folds.
    #[test]
    fn the_file_answers_what_the_folds_answer(
        ops in ops(160),
        batches in proptest::collection::vec(1usize..40, 1..6),
    ) {
        let world = World::run(&ops);
        prop_assert!(world.fold_errors.is_empty());
        check(&world.log, &batches, 7)?;
    }
}
