//! The view file's writer keeps folding while the background checkpoint rewinds the
//! write-ahead log and readers come and go: a rewinding checkpoint holds the write lock
//! while it waits for readers, and a batch that had already read under a deferred
//! transaction could not take the lock then and failed as "database is locked" (the
//! service's follower then stopped for a second).

use crate::scenario::ops;
use crate::world::World;
use alert_ledger::projection::sqlite::{ViewFile, Writer};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

proptest! {
    #![proptest_config(Config { cases: 6, ..Config::default() })]

    /// Every batch commits while another thread rewinds the log after each frame and
    /// a reader keeps opening read transactions.
    #[test]
    fn batches_commit_while_the_log_is_rewound_and_read(ops in ops(200)) {
        let world = World::run(&ops);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("views.sqlite3");
        let mut writer = Writer::open(&path).unwrap();
        let file = Arc::new(ViewFile::new(path));
        let stop = Arc::new(AtomicBool::new(false));
        let checkpointer = {
            let (file, stop) = (file.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    file.checkpoint_with_limit(1).unwrap();
                }
            })
        };
        let reader = {
            let (file, stop) = (file.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = file.read(None).position();
                }
            })
        };
        let mut outcome = Ok(());
        for (i, event) in world.log.iter().enumerate() {
            if let Err(err) = writer.apply(std::slice::from_ref(event)) {
                outcome = Err(format!("batch {i} of {}: {err}", world.log.len()));
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        checkpointer.join().unwrap();
        reader.join().unwrap();
        prop_assert_eq!(outcome, Ok(()));
        prop_assert_eq!(file.read(None).position(), world.log.last().map_or(0, |e| e.position));
    }
}
