//! Batches sent on the writer's connection and not yet answered, oldest first.
//!
//! PostgreSQL runs what one connection sends in the order it was sent, so a batch sent
//! while earlier ones are still in flight starts on the server as soon as the one
//! before it has committed, without waiting for that answer to travel back here
//! first. Each batch's guard names the last row of the batch before it, so if one is
//! refused every later one is refused too, and nothing is ever committed after a hole.

use super::guarded::Landed;
use crate::store::handoff::AppendRequest;
use crate::store::AppendResult;
use futures_util::future::{maybe_done, BoxFuture, MaybeDone};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// A batch sent and not yet answered.
pub(super) struct InFlight {
    /// The callers, answered once the batch has landed.
    pub requests: Vec<AppendRequest>,
    /// Their answers if it commits, in the same order.
    pub outcomes: Vec<AppendResult>,
    landing: MaybeDone<BoxFuture<'static, Landed>>,
}

/// At most `depth` batches in flight.
pub(super) struct Pipeline {
    batches: VecDeque<InFlight>,
    depth: usize,
}

impl Pipeline {
    pub fn new(depth: usize) -> Pipeline {
        Pipeline {
            batches: VecDeque::new(),
            depth: depth.max(1),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub fn has_room(&self) -> bool {
        self.batches.len() < self.depth
    }

    /// Sends a batch: polls its flight once, which queues every statement of it on the
    /// connection before anything sent later, and keeps it until it lands.
    pub async fn send(
        &mut self,
        requests: Vec<AppendRequest>,
        outcomes: Vec<AppendResult>,
        landing: BoxFuture<'static, Landed>,
    ) {
        let mut landing = maybe_done(landing);
        std::future::poll_fn(|cx| {
            let _ = Pin::new(&mut landing).poll(cx);
            Poll::Ready(())
        })
        .await;
        self.batches.push_back(InFlight {
            requests,
            outcomes,
            landing,
        });
    }

    /// Waits until the oldest batch has landed; never returns while none is in flight.
    /// Cancel-safe: what was received is kept for the next call.
    pub async fn oldest_landed(&mut self) {
        match self.batches.front_mut() {
            Some(oldest) => (&mut oldest.landing).await,
            None => std::future::pending().await,
        }
    }

    /// The oldest batch and how it landed, once it has; `None` when none is in flight.
    pub async fn land(&mut self) -> Option<(InFlight, Landed)> {
        if self.batches.is_empty() {
            return None;
        }
        self.oldest_landed().await;
        let mut oldest = self.batches.pop_front()?;
        let landed = Pin::new(&mut oldest.landing)
            .take_output()
            .unwrap_or(Landed::Refused);
        Some((oldest, landed))
    }
}
