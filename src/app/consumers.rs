//! Durable consumer groups: create one on a filter, list them with their lag, move a
//! group's checkpoint when a member acknowledges, delete one. Creation, checkpoints and
//! deletion are events of the group's stream (`consumer-<name>`), so the checkpoint
//! survives restarts and is the same on every instance. Which member is handed which
//! events: [`super::members`]; the reads themselves: `src/http/consumers.rs`.

use super::limits::schema;
use super::members::{AckRefusal, MemberRow};
use super::{App, AppError, WriteMarks, Written};
use crate::app::filter;
use crate::app::trigger::parse_id;
use crate::commands::Outcome;
use projections::decide::{decide_consumer, ConsumerCommand, ConsumerState};
use projections::ids::{ConsumerName, MemberId};
use projections::views::consumers::is_group_stream;
use projections::views::ConsumerGroupView;
use projections::{Event, EventFilter, Metadata, PartitionCheckpoint, Position};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Partitions of a group unless the request says otherwise.
pub const DEFAULT_PARTITIONS: u16 = 16;
pub use super::limits::{
    MEMBER_TIMEOUT_SECS as MAX_MEMBER_TIMEOUT_SECS, PARTITIONS as MAX_PARTITIONS,
};
/// Seconds a member keeps its partitions after its last read, unless configured.
pub const DEFAULT_MEMBER_TIMEOUT_SECS: u32 = 30;

/// Body of `POST /v1/consumers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerBody {
    /// The group's name: letters, digits, `. _ : -`, at most 128.
    #[schema(schema_with = schema::name)]
    pub name: String,
    /// Only this stream (not a consumer group's own `consumer-…` stream).
    #[serde(default)]
    #[schema(schema_with = schema::optional_stream)]
    pub stream: Option<String>,
    /// Only streams of this category (not `consumer`).
    #[serde(default)]
    #[schema(schema_with = schema::optional_category)]
    pub category: Option<String>,
    /// Only these event types.
    #[serde(default)]
    #[schema(schema_with = schema::event_types)]
    pub types: Vec<String>,
    /// `end` (default: events appended from now on), `start` (the whole log), or a
    /// position (the events from it on).
    #[serde(default)]
    #[schema(schema_with = schema::group_start)]
    pub from: Option<serde_json::Value>,
    /// How many partitions the group's events are spread over (1 to 256, default 16).
    #[serde(default)]
    #[schema(schema_with = schema::partitions)]
    pub partitions: Option<u16>,
    /// Seconds a member keeps its partitions after its last read (1 to 3600, default 30).
    #[serde(default)]
    #[schema(schema_with = schema::member_timeout_secs)]
    pub member_timeout_secs: Option<u32>,
}

/// A group, its checkpoint and lag, and its members on this instance.
#[derive(Debug, Serialize)]
pub struct ConsumerStatus {
    /// The group.
    #[serde(flatten)]
    pub group: ConsumerGroupView,
    /// Every event at or before this position is acknowledged, in every partition.
    pub checkpoint: Position,
    /// Positions between the checkpoint and the newest event the group could read (the
    /// group's own checkpoint events do not count): 0 when every member is done.
    pub lag: u64,
    /// The log's head when this was read.
    pub head: Position,
    /// Members reading from this instance and the partitions each holds.
    pub members: Vec<MemberRow>,
}

/// What an acknowledgement did.
#[derive(Debug, Serialize)]
pub struct Acked {
    /// The partitions whose checkpoint moved, and where to (empty: nothing moved).
    pub checkpoints: Vec<PartitionCheckpoint>,
    /// The group's checkpoint after the acknowledgement.
    pub checkpoint: Position,
    /// Position of the checkpoint event, or of the head when nothing was written.
    pub position: Position,
}

impl App {
    /// Creates a group; `created` is `false` when it existed with the same settings.
    pub async fn create_consumer(
        &self,
        body: &ConsumerBody,
        metadata: Metadata,
    ) -> Result<(ConsumerStatus, Written), AppError> {
        let group = parse_id("name", ConsumerName::parse(&body.name))?;
        let filter = filter(body)?;
        let partitions = body.partitions.unwrap_or(DEFAULT_PARTITIONS);
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(AppError::field(
                "partitions",
                format!("must be 1 to {MAX_PARTITIONS}"),
            ));
        }
        let member_timeout_secs = body
            .member_timeout_secs
            .unwrap_or(DEFAULT_MEMBER_TIMEOUT_SECS);
        if !(1..=MAX_MEMBER_TIMEOUT_SECS).contains(&member_timeout_secs) {
            return Err(AppError::field(
                "member_timeout_secs",
                format!("must be 1 to {MAX_MEMBER_TIMEOUT_SECS} seconds"),
            ));
        }
        let head = self.store.head().await?.position;
        let start_after = match &body.from {
            None => head,
            Some(serde_json::Value::String(s)) if s == "end" => head,
            Some(serde_json::Value::String(s)) if s == "start" => 0,
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some_and(|p| p >= 1) => {
                n.as_u64().unwrap_or(1) - 1
            }
            Some(_) => {
                return Err(AppError::field(
                    "from",
                    "must be `end`, `start` or a log position (a whole number from 1)",
                ))
            }
        };
        let command = ConsumerCommand::Create {
            group: group.clone(),
            filter,
            partitions,
            start_after,
            member_timeout_secs,
        };
        let written = self
            .consumer_command(&group, command, metadata, true)
            .await?;
        self.wait_for(written.position).await?;
        let status = self.consumer_status(&group).await?;
        Ok((status, written))
    }

    /// Deletes a group; its members on this instance are forgotten.
    pub async fn delete_consumer(
        &self,
        group: &ConsumerName,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let command = ConsumerCommand::Delete {
            group: group.clone(),
        };
        let written = self
            .consumer_command(group, command, metadata, false)
            .await?;
        self.members.forget(group);
        Ok(written)
    }

    /// A group as the views know it, after this instance's own consumer writes (and,
    /// when it is not known yet, after everything the log holds).
    pub async fn consumer_group(
        &self,
        group: &ConsumerName,
    ) -> Result<ConsumerGroupView, AppError> {
        self.wait_for_mark(&self.marks.consumers).await?;
        if let Some(view) = self.views.current().consumer_group(group) {
            return Ok(view);
        }
        self.sync_views().await?;
        self.views
            .current()
            .consumer_group(group)
            .ok_or_else(|| AppError::NotFound(format!("consumer group {group} does not exist")))
    }

    /// One group with its checkpoint, members and lag, the lag exact as of the request
    /// (the views are waited for up to the head; the list answers from the views as
    /// they are).
    pub async fn consumer_status(&self, group: &ConsumerName) -> Result<ConsumerStatus, AppError> {
        let head = self.sync_views().await?;
        let view = self.consumer_group(group).await?;
        Ok(self.status_of(view, head))
    }

    /// Every group with its checkpoint, lag and members.
    pub async fn consumer_statuses(&self) -> Result<Vec<ConsumerStatus>, AppError> {
        self.wait_for_mark(&self.marks.consumers).await?;
        let head = self.store.head().await?.position;
        let groups = self.views.current().consumer_groups();
        Ok(groups
            .into_iter()
            .map(|view| self.status_of(view, head))
            .collect())
    }

    fn status_of(&self, group: ConsumerGroupView, head: Position) -> ConsumerStatus {
        let checkpoint = group.checkpoint();
        let members = self.members.rows(&group.name, Instant::now());
        let readable = self.views.current().group_head();
        ConsumerStatus {
            checkpoint,
            lag: readable.saturating_sub(checkpoint),
            head,
            members,
            group,
        }
    }

    /// The member acknowledges every event it was handed up to `position`: the
    /// checkpoints of the partitions it holds move (an event in the ledger).
    pub async fn ack_consumer(
        &self,
        group: &ConsumerName,
        member: &MemberId,
        position: Position,
        metadata: Metadata,
    ) -> Result<Acked, AppError> {
        let view = self.consumer_group(group).await?;
        let head = self.store.head().await?.position;
        if position > head {
            return Err(AppError::field(
                "position",
                format!("{position} is after the log's head ({head}); acknowledge a position you were handed"),
            ));
        }
        let moved = self
            .members
            .ack(group, member, position, Instant::now())
            .map_err(|AckRefusal::NotMember| {
                AppError::field(
                    "member",
                    format!("{member} holds no partition of {group} on this instance: read first (a member that stops reading for the group's member timeout loses its partitions)"),
                )
            })?;
        let command = ConsumerCommand::Ack {
            group: group.clone(),
            member: member.clone(),
            checkpoints: moved,
        };
        let outcome = self.run_consumer(group, command, metadata).await?;
        let recorded: Vec<PartitionCheckpoint> = outcome
            .events
            .iter()
            .flat_map(|event| match event {
                Event::ConsumerAcked { checkpoints, .. } => checkpoints.clone(),
                _ => Vec::new(),
            })
            .collect();
        self.members.acked(group, &recorded, Instant::now());
        let mut checkpoints = view.checkpoints.clone();
        for c in &recorded {
            let slot = &mut checkpoints[usize::from(c.partition)];
            *slot = (*slot).max(c.position);
        }
        let written = self.written(&outcome, false).await?;
        Ok(Acked {
            checkpoints: recorded,
            checkpoint: checkpoints.into_iter().min().unwrap_or(view.start_after),
            position: written.position,
        })
    }

    async fn consumer_command(
        &self,
        group: &ConsumerName,
        command: ConsumerCommand,
        metadata: Metadata,
        creates: bool,
    ) -> Result<Written, AppError> {
        let outcome = self.run_consumer(group, command, metadata).await?;
        self.written(&outcome, creates).await
    }

    /// Decides and appends on the group's stream, and marks the write so this
    /// instance's next group read sees it.
    async fn run_consumer(
        &self,
        group: &ConsumerName,
        command: ConsumerCommand,
        metadata: Metadata,
    ) -> Result<Outcome, AppError> {
        let outcome = self
            .commands
            .execute(
                &projections::streams::consumer(group),
                ConsumerState::default(),
                metadata,
                |s| decide_consumer(s, command.clone()),
            )
            .await?;
        if let Some(append) = &outcome.append {
            WriteMarks::wrote(&self.marks.consumers, append.last_position);
        }
        Ok(outcome)
    }
}

/// The group's filter from the body, field by field.
fn filter(body: &ConsumerBody) -> Result<EventFilter, AppError> {
    let stream = filter::name("stream", body.stream.as_deref())?;
    let category = filter::category("category", body.category.as_deref())?;
    let named = match (&stream, &category) {
        (Some(stream), _) => Some(("stream", stream)),
        (None, Some(category)) => Some(("category", category)),
        (None, None) => None,
    };
    if let Some((field, _)) = named.filter(|(_, name)| is_group_stream(name)) {
        return Err(AppError::field(
            field,
            "consumer groups do not read consumer-group streams (their own checkpoints)",
        ));
    }
    let mut event_types = Vec::new();
    for (i, t) in body.types.iter().enumerate() {
        filter::add_type(&format!("types[{i}]"), &mut event_types, t)?;
    }
    Ok(EventFilter {
        stream,
        category,
        event_types,
    })
}
