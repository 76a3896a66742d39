use super::*;
use chrono::TimeZone;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap()
}

fn sample(
    service: &str,
    created: DateTime<Utc>,
    ack: Option<i64>,
    resolve: Option<i64>,
) -> TrendSample {
    TrendSample {
        service: service.into(),
        created_at: created,
        acknowledged_at: ack.map(|s| created + chrono::Duration::seconds(s)),
        resolved_at: resolve.map(|s| created + chrono::Duration::seconds(s)),
    }
}

#[test]
fn trends_count_per_service_per_day_and_average_only_what_happened() {
    let samples = vec![
        sample("api", at(1, 0, 0), Some(60), Some(600)),
        sample("api", at(2, 0, 0), Some(180), None),
        sample("api", at(3, 0, 0), None, None),
        sample("db", at(4, 0, 0), None, Some(30)),
        sample(
            "db",
            at(0, 0, 0) - chrono::Duration::days(1),
            Some(1),
            Some(2),
        ),
    ];
    let rows = trends(samples.into_iter(), at(0, 0, 0));
    assert_eq!(
        rows.len(),
        2,
        "the alert of the day before `since` is left out: {rows:?}"
    );
    let api = &rows[0];
    assert_eq!(
        (api.service.as_str(), api.day.as_str()),
        ("api", "2026-12-01")
    );
    assert_eq!((api.opened, api.acknowledged, api.resolved), (3, 2, 1));
    assert_eq!(api.mtta_secs, Some(120.0));
    assert_eq!(api.mttr_secs, Some(600.0));
    let db = &rows[1];
    assert_eq!((db.opened, db.acknowledged, db.mtta_secs), (1, 0, None));
    assert_eq!(db.mttr_secs, Some(30.0));
}

#[test]
fn a_channel_succeeds_by_the_share_of_finished_messages_delivered() {
    let mut health = ChannelHealth {
        channel: "ops".into(),
        counts: BTreeMap::new(),
        last_error: None,
    };
    assert_eq!(health.success_rate(), None, "nothing finished yet");
    health.counts.insert(DeliveryState::Delivered, 3);
    health.counts.insert(DeliveryState::Abandoned, 1);
    health.counts.insert(DeliveryState::Pending, 10);
    assert_eq!(health.success_rate(), Some(0.75));
}
