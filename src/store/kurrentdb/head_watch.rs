//! The head watch: a `$all` subscription that publishes our records' positions, and
//! that we resubscribe ourselves from our own checkpoint (the client does not).

use super::mapping;
use super::read::{non_system, Record};
use crate::store::handoff::advance;
use kurrentdb::{Client, StreamPosition, SubscribeToAllOptions, SubscriptionEvent};
use projections::Position;
use std::time::Duration;
use tokio::sync::watch;

/// Follows `$all` from the end and publishes our records' positions; when the
/// subscription drops, resubscribes from the last commit position seen, after an
/// exponential backoff (the client does not retry subscriptions by default).
pub(super) async fn watch_head(
    client: Client,
    mut checkpoint: Option<u64>,
    (first_delay, max_delay): (Duration, Duration),
    head: watch::Sender<Position>,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = first_delay;
    loop {
        let position = match checkpoint {
            Some(commit) => StreamPosition::Position(mapping::to_all_position(commit)),
            None => StreamPosition::End,
        };
        let options = SubscribeToAllOptions::default()
            .position(position)
            .filter(non_system());
        let mut subscription = client.subscribe_to_all(&options).await;
        let dropped = loop {
            let next = tokio::select! {
                next = subscription.next_subscription_event() => next,
                _ = stop.changed() => return,
            };
            match next {
                Ok(SubscriptionEvent::EventAppeared(event)) => {
                    delay = first_delay;
                    let record = Record::from_client(&event);
                    checkpoint = Some(record.commit);
                    if mapping::is_ours(&record.as_stored()) {
                        let position = mapping::to_position(record.commit);
                        head.send_if_modified(|current| advance(current, position));
                    }
                }
                Ok(SubscriptionEvent::Confirmed(_)) => delay = first_delay,
                Ok(_) => {}
                Err(err) => break err,
            }
        };
        tracing::warn!(error = %dropped, retry_in = ?delay, "kurrentdb head subscription dropped; resubscribing");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        delay = (delay * 2).min(max_delay);
    }
}
