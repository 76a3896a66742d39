//! Catch-up-then-live subscriptions over `$all`.

use crate::support::{note, notes, Harness};
use alert_ledger::store::subscription::{EventFilter, Subscription};
use alert_ledger::store::ExpectedVersion;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

pub async fn a_subscription_catches_up_then_follows_concurrent_appends_without_gap_or_duplicate(
    h: &mut impl Harness,
) {
    let store = h.store();
    for i in 0..40 {
        store
            .append(
                &format!("alert-{}", i % 5),
                ExpectedVersion::Any,
                notes("pre", 5),
            )
            .await
            .expect("append");
    }
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    let events = notes(&format!("live{w}"), 1 + i % 3);
                    store
                        .append(&format!("task-{w}"), ExpectedVersion::Any, events)
                        .await
                        .expect("live append");
                }
            })
        })
        .collect();
    // Each writer appends 34 × 1 + 33 × 2 + 33 × 3 = 199 events.
    let total = 200 + 3 * 199;
    let mut subscription = Subscription::new(store.clone(), 1).with_page_size(7);
    let mut positions = Vec::with_capacity(total);
    while positions.len() < total {
        let event = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .expect("events keep coming")
            .expect("subscription open")
            .expect("no read error");
        positions.push(event.position);
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(positions, expected, "every position once, in order");
    assert_eq!(store.head().await.expect("head").position, total as u64);
}

pub async fn a_filtered_subscription_delivers_only_matching_events_in_order(h: &mut impl Harness) {
    let store = h.store();
    for i in 0..20 {
        let stream = if i % 2 == 0 { "alert-even" } else { "task-odd" };
        store
            .append(stream, ExpectedVersion::Any, vec![note("f")])
            .await
            .expect("append");
    }
    let filter = EventFilter {
        category: Some("alert".into()),
        event_types: vec!["note_added".into()],
        ..EventFilter::default()
    };
    let mut subscription = Subscription::new(store.clone(), 5).with_filter(filter);
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let event = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .expect("events keep coming")
            .expect("open")
            .expect("no error");
        assert_eq!(event.stream, "alert-even");
        seen.push(event.position);
    }
    assert_eq!(seen, vec![5, 7, 9, 11, 13, 15, 17, 19]);
}
