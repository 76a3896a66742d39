//! A damaged or foreign view file must never crash the service: whatever bytes sit at
//! `views.sqlite3`, the checks made at open (`read_checkpoint`) answer with a
//! checkpoint or a refusal, and a file they accept answers every read (a failed read
//! is answered empty and counted, never a panic) and takes the deep page check.

#![no_main]

use alert_ledger::projection::health::quick_check;
use alert_ledger::projection::queries::{AlarmFilter, AlertFilter, MessageFilter, TaskFilter};
use alert_ledger::projection::sqlite::open::read_checkpoint;
use alert_ledger::projection::sqlite::ViewFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("views.sqlite3");
    std::fs::write(&path, data).expect("write the file");
    if read_checkpoint(&path).is_err() {
        return;
    }
    let file = ViewFile::new(path.clone());
    {
        let views = file.read(None);
        let page = views.alerts(&AlertFilter::default(), None, 50);
        for alert in &page.items {
            let _ = views.alert(alert.id);
        }
        let _ = views.alarms(&AlarmFilter::default());
        let _ = views.messages(&MessageFilter::default(), None, 50);
        let pending = TaskFilter {
            pending: true,
            ..TaskFilter::default()
        };
        let _ = views.tasks(&pending, None, 50);
        let _ = views.syncs(None, None, 50);
        let _ = views.routing();
        let _ = views.sizes();
    }
    let _ = file.read(Some(1)).open_alerts();
    let _ = quick_check(&path);
});
