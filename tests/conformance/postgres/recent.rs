//! `read_all` answers a page from the events the writer just committed only while
//! they reach the head: once another instance's commit is announced, the page comes
//! from the database and holds it too.

use super::TestDatabase;
use crate::support::{label_of, note};
use alert_ledger::store::{EventStore, ExpectedVersion};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn a_page_read_after_another_instance_appended_holds_that_instances_event() {
    let db = TestDatabase::create().await;
    let mine = db.connect().await;
    let theirs = db.connect().await;
    for i in 0..3 {
        let expected = if i == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(i - 1)
        };
        mine.append("alert-mine", expected, vec![note("mine")])
            .await
            .expect("append");
    }
    let own = mine.read_all(1, 10).await.expect("read");
    assert_eq!(own.len(), 3);
    theirs
        .append(
            "alert-theirs",
            ExpectedVersion::NoStream,
            vec![note("theirs")],
        )
        .await
        .expect("append");
    let mut head = mine.watch_head();
    tokio::time::timeout(Duration::from_secs(30), head.wait_for(|p| *p >= 4))
        .await
        .expect("the other instance's commit is announced")
        .expect("open");
    let all = mine.read_all(1, 10).await.expect("read");
    let labels: Vec<String> = all.iter().map(|e| label_of(&e.event)).collect();
    assert_eq!(labels, ["mine", "mine", "mine", "theirs"]);
    assert_eq!(all[..3], own[..], "the kept events are the stored ones");
    let from_the_middle = mine.read_all(2, 2).await.expect("read");
    assert!(from_the_middle.iter().map(|e| e.position).eq(2..=3));
    for store in [&mine, &theirs] {
        store.close().await.expect("close");
    }
}
