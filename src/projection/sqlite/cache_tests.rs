//! The writer's page cache: small while the file is under 1 GiB, large past it.

use super::{Writer, LOCK_BYTE_OFFSET, WRITER_CACHE_KIB, WRITER_CACHE_SMALL_FILE_KIB};

fn cache_kib(writer: &Writer) -> i64 {
    let pages: i64 = writer
        .conn
        .query_row("PRAGMA cache_size", [], |row| row.get(0))
        .unwrap();
    -pages
}

#[test]
fn a_new_file_is_written_with_the_small_cache() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Writer::open(&dir.path().join("views.sqlite3")).unwrap();
    assert!(!writer.has_large_cache());
    assert_eq!(cache_kib(&writer), WRITER_CACHE_SMALL_FILE_KIB);
}

#[test]
fn the_cache_grows_once_the_file_is_past_the_threshold_and_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::open(&dir.path().join("views.sqlite3")).unwrap();
    writer.size_cache_past(LOCK_BYTE_OFFSET).unwrap();
    assert_eq!(cache_kib(&writer), WRITER_CACHE_SMALL_FILE_KIB);
    // The new file's few pages are past a threshold of one byte.
    writer.size_cache_past(1).unwrap();
    assert!(writer.has_large_cache());
    assert_eq!(cache_kib(&writer), WRITER_CACHE_KIB);
    writer.size_cache_past(LOCK_BYTE_OFFSET).unwrap();
    assert_eq!(cache_kib(&writer), WRITER_CACHE_KIB);
}
