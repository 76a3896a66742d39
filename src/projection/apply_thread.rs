//! The thread the views' batches are folded and committed on.
//!
//! Folding a batch into the view file is the largest single cost of ingest after the
//! request itself (SQLite and its full-text index), and it is background work: the
//! views may trail the log by a batch, a request may not wait on a busy core. So it
//! runs on one long-lived thread of its own with a lower scheduling priority (nice
//! [`NICE`] on Linux, where the nice value is per thread): when the cores are busy, the
//! runtime's request threads and the log's writer run first, and the views catch up in
//! the gaps (by the lag `/metrics` shows). When the cores are idle, it runs as soon as
//! asked. One thread also spares a hop through tokio's blocking pool per batch.

use std::sync::mpsc;
use tokio::sync::oneshot;

/// How much the thread's nice value is above the process's (at most 19, the lowest).
pub const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// A handle to the thread; it ends when the last handle is dropped.
pub struct ApplyThread {
    jobs: mpsc::Sender<Job>,
}

impl ApplyThread {
    /// Starts the thread, named `name`.
    pub fn spawn(name: &str) -> std::io::Result<ApplyThread> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                lower_priority();
                for job in queue {
                    job();
                }
            })?;
        Ok(ApplyThread { jobs })
    }

    /// Runs `work` on the thread and returns what it returned; `None` if the thread is
    /// gone (it panicked).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).ok()?;
        answer.await.ok()
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux `setpriority(PRIO_PROCESS, 0, n)` sets the calling thread's nice value.
    let lower = rustix::process::getpriority_process(None).map_or(NICE, |now| (now + NICE).min(19));
    if let Err(err) = rustix::process::setpriority_process(None, lower) {
        tracing::debug!(%err, "views thread keeps the normal priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_thread_in_order_and_answers() {
        let thread = ApplyThread::spawn("test-apply").unwrap();
        let first = thread.run(|| std::thread::current().name().map(str::to_owned));
        assert_eq!(first.await.flatten().as_deref(), Some("test-apply"));
        let mut answers = Vec::new();
        for n in 0..5 {
            answers.push(thread.run(move || n * 2).await.unwrap());
        }
        assert_eq!(answers, vec![0, 2, 4, 6, 8]);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_thread_runs_at_a_lower_priority() {
        let thread = ApplyThread::spawn("test-nice").unwrap();
        let nice = thread
            .run(|| rustix::process::getpriority_process(None).unwrap())
            .await
            .unwrap();
        let ours = rustix::process::getpriority_process(None).unwrap();
        assert_eq!(nice, (ours + NICE).min(19));
    }
}
