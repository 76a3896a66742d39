//! Decisions of resources, tasks and message delivery.

use crate::harness::{at, given, host, message_id, sync_id, task_id, Message, Sync, Task};
use projections::decide::{MessageCommand, Rejection, SyncCommand, TaskCommand};
use projections::views::HostState;
use projections::{Event, TaskSpec};

mod syncs {
    use super::*;

    fn registered() -> Event {
        Event::SyncRegistered {
            sync_id: sync_id("db-1"),
            name: "primary database".into(),
        }
    }

    fn register(name: &str) -> SyncCommand {
        SyncCommand::Register {
            sync_id: sync_id("db-1"),
            name: name.into(),
        }
    }

    fn delete() -> SyncCommand {
        SyncCommand::Delete {
            sync_id: sync_id("db-1"),
        }
    }

    fn deleted() -> Event {
        Event::SyncDeleted {
            sync_id: sync_id("db-1"),
        }
    }

    #[test]
    fn registering_a_new_resource_records_it() {
        given(Sync(sync_id("db-1")), [])
            .when(register("primary database"))
            .then([registered()]);
    }

    #[test]
    fn registering_again_under_the_same_name_is_a_no_op() {
        given(Sync(sync_id("db-1")), [registered()])
            .when(register("primary database"))
            .then_nothing();
    }

    #[test]
    fn registering_again_under_another_name_is_rejected() {
        given(Sync(sync_id("db-1")), [registered()])
            .when(register("replica"))
            .then_err(Rejection::SyncAlreadyRegistered(sync_id("db-1")));
    }

    #[test]
    fn a_deleted_resource_id_cannot_be_registered_again() {
        given(Sync(sync_id("db-1")), [registered(), deleted()])
            .when(register("primary database"))
            .then_err(Rejection::SyncWasDeleted(sync_id("db-1")));
    }

    #[test]
    fn deleting_a_registered_resource_records_the_deletion() {
        given(Sync(sync_id("db-1")), [registered()])
            .when(delete())
            .then([deleted()]);
    }

    #[test]
    fn deleting_twice_is_a_no_op() {
        given(Sync(sync_id("db-1")), [registered(), deleted()])
            .when(delete())
            .then_nothing();
    }

    #[test]
    fn deleting_an_unknown_resource_is_rejected() {
        given(Sync(sync_id("db-1")), [])
            .when(delete())
            .then_err(Rejection::UnknownSync(sync_id("db-1")));
    }
}

mod tasks {
    use super::*;

    fn spec() -> TaskSpec {
        TaskSpec {
            script: "/opt/heal/rotate-logs.sh".into(),
            args: vec!["--force".into()],
            hosts: vec![host("web-1"), host("web-2")],
            timeout_secs: 60,
        }
    }

    fn created() -> Event {
        Event::TaskCreated {
            task_id: task_id(1),
            spec: spec(),
            alert_id: None,
        }
    }

    fn started(name: &str) -> Event {
        Event::TaskHostStarted {
            task_id: task_id(1),
            host: host(name),
        }
    }

    fn finished(name: &str, exit_code: i32) -> Event {
        Event::TaskHostFinished {
            task_id: task_id(1),
            host: host(name),
            exit_code,
            output_tail: "done".into(),
        }
    }

    fn finish(name: &str) -> TaskCommand {
        TaskCommand::FinishHost {
            task_id: task_id(1),
            host: host(name),
            exit_code: 0,
            output_tail: "done".into(),
        }
    }

    fn cancelled() -> Event {
        Event::TaskCancelled {
            task_id: task_id(1),
            reason: "alert resolved".into(),
        }
    }

    fn cancel() -> TaskCommand {
        TaskCommand::Cancel {
            task_id: task_id(1),
            reason: "alert resolved".into(),
        }
    }

    /// The refusal for host `name`, whose run ended in `state` (at the fixed time the
    /// harness records every given event at).
    fn already_finished(name: &str, state: HostState) -> Rejection {
        Rejection::HostAlreadyFinished {
            task_id: task_id(1),
            host: host(name),
            state,
            at: Some(crate::harness::t0()),
        }
    }

    #[test]
    fn creating_a_task_records_it() {
        given(Task(task_id(1)), [])
            .when(TaskCommand::Create {
                task_id: task_id(1),
                spec: spec(),
                alert_id: None,
            })
            .then([created()]);
    }

    #[test]
    fn creating_a_task_twice_is_rejected() {
        given(Task(task_id(1)), [created()])
            .when(TaskCommand::Create {
                task_id: task_id(1),
                spec: spec(),
                alert_id: None,
            })
            .then_err(Rejection::TaskAlreadyExists(task_id(1)));
    }

    #[test]
    fn starting_a_waiting_host_records_it() {
        given(Task(task_id(1)), [created()])
            .when(TaskCommand::StartHost {
                task_id: task_id(1),
                host: host("web-1"),
            })
            .then([started("web-1")]);
    }

    #[test]
    fn starting_a_running_host_again_is_a_no_op() {
        given(Task(task_id(1)), [created(), started("web-1")])
            .when(TaskCommand::StartHost {
                task_id: task_id(1),
                host: host("web-1"),
            })
            .then_nothing();
    }

    #[test]
    fn starting_a_finished_host_is_rejected() {
        given(Task(task_id(1)), [created(), finished("web-1", 0)])
            .when(TaskCommand::StartHost {
                task_id: task_id(1),
                host: host("web-1"),
            })
            .then_err(already_finished("web-1", HostState::Succeeded));
    }

    #[test]
    fn a_host_result_is_recorded_with_its_exit_code_and_output() {
        given(Task(task_id(1)), [created(), started("web-1")])
            .when(finish("web-1"))
            .then([finished("web-1", 0)]);
    }

    #[test]
    fn a_host_result_for_a_host_that_is_not_a_target_is_rejected() {
        given(Task(task_id(1)), [created()])
            .when(finish("db-1"))
            .then_err(Rejection::UnknownHost {
                task_id: task_id(1),
                host: host("db-1"),
            });
    }

    #[test]
    fn a_host_result_for_an_unknown_task_is_rejected() {
        given(Task(task_id(1)), [])
            .when(finish("web-1"))
            .then_err(Rejection::UnknownTask(task_id(1)));
    }

    #[test]
    fn a_second_host_result_after_finish_is_rejected() {
        given(Task(task_id(1)), [created(), finished("web-1", 2)])
            .when(finish("web-1"))
            .then_err(already_finished("web-1", HostState::Failed));
    }

    #[test]
    fn a_running_host_can_time_out() {
        given(Task(task_id(1)), [created(), started("web-2")])
            .when(TaskCommand::TimeOutHost {
                task_id: task_id(1),
                host: host("web-2"),
            })
            .then([Event::TaskHostTimedOut {
                task_id: task_id(1),
                host: host("web-2"),
            }]);
    }

    #[test]
    fn a_finished_host_cannot_time_out() {
        given(Task(task_id(1)), [created(), finished("web-2", 0)])
            .when(TaskCommand::TimeOutHost {
                task_id: task_id(1),
                host: host("web-2"),
            })
            .then_err(already_finished("web-2", HostState::Succeeded));
    }

    #[test]
    fn a_result_after_the_host_timed_out_is_refused_saying_it_timed_out_and_when() {
        let timed_out = Event::TaskHostTimedOut {
            task_id: task_id(1),
            host: host("web-1"),
        };
        given(Task(task_id(1)), [created(), started("web-1"), timed_out])
            .when(finish("web-1"))
            .then_err(already_finished("web-1", HostState::TimedOut));
        let message = already_finished("web-1", HostState::TimedOut).to_string();
        assert!(
            message.contains(&format!("web-1 of task {} timed out at 20", task_id(1))),
            "{message}"
        );
        assert!(!message.contains("finished"), "{message}");
    }

    #[test]
    fn cancelling_a_running_task_records_the_cancellation() {
        given(Task(task_id(1)), [created(), finished("web-1", 0)])
            .when(cancel())
            .then([cancelled()]);
    }

    #[test]
    fn cancelling_a_task_whose_hosts_all_finished_is_a_no_op() {
        given(
            Task(task_id(1)),
            [created(), finished("web-1", 0), finished("web-2", 1)],
        )
        .when(cancel())
        .then_nothing();
    }

    #[test]
    fn cancelling_an_unknown_task_is_rejected() {
        given(Task(task_id(1)), [])
            .when(cancel())
            .then_err(Rejection::UnknownTask(task_id(1)));
    }

    #[test]
    fn a_host_result_after_cancel_is_rejected() {
        given(Task(task_id(1)), [created(), started("web-1"), cancelled()])
            .when(finish("web-1"))
            .then_err(already_finished("web-1", HostState::Cancelled));
    }
}

mod messages {
    use super::*;

    fn claim(instance: &str, now: i64, lease: i64) -> MessageCommand {
        MessageCommand::Claim {
            message_id: message_id(1),
            instance: instance.into(),
            now: at(now),
            lease_until: at(lease),
        }
    }

    fn claimed(instance: &str, lease: i64) -> Event {
        Event::MessageClaimed {
            message_id: message_id(1),
            instance: instance.into(),
            lease_until: at(lease),
        }
    }

    fn attempt(instance: &str) -> MessageCommand {
        MessageCommand::Attempt {
            message_id: message_id(1),
            instance: instance.into(),
        }
    }

    fn attempted(attempt: u32) -> Event {
        Event::DeliveryAttempted {
            message_id: message_id(1),
            attempt,
        }
    }

    fn deliver(instance: &str) -> MessageCommand {
        MessageCommand::Deliver {
            message_id: message_id(1),
            instance: instance.into(),
            receipt: "200 OK".into(),
        }
    }

    fn failed(attempt: u32, retry_at: Option<i64>) -> Event {
        Event::MessageFailed {
            message_id: message_id(1),
            attempt,
            error: "503 Service Unavailable".into(),
            retry_at: retry_at.map(at),
        }
    }

    fn a_claimed() -> [Event; 1] {
        [claimed("dispatcher-a", 30)]
    }

    #[test]
    fn an_unclaimed_message_can_be_claimed() {
        given(Message(message_id(1)), [])
            .when(claim("dispatcher-a", 0, 30))
            .then([claimed("dispatcher-a", 30)]);
    }

    #[test]
    fn a_message_claimed_elsewhere_cannot_be_claimed_until_its_lease_lapses() {
        given(Message(message_id(1)), a_claimed())
            .when(claim("dispatcher-b", 29, 60))
            .then_err(Rejection::MessageClaimedElsewhere {
                message_id: message_id(1),
                instance: "dispatcher-a".into(),
                until: at(30),
            });
    }

    #[test]
    fn an_expired_lease_can_be_taken_over() {
        given(Message(message_id(1)), a_claimed())
            .when(claim("dispatcher-b", 30, 60))
            .then([claimed("dispatcher-b", 60)]);
    }

    #[test]
    fn the_claim_holder_can_extend_its_lease() {
        given(Message(message_id(1)), a_claimed())
            .when(claim("dispatcher-a", 10, 90))
            .then([claimed("dispatcher-a", 90)]);
    }

    #[test]
    fn an_attempt_by_the_claim_holder_is_numbered_from_one() {
        given(
            Message(message_id(1)),
            [claimed("dispatcher-a", 30), attempted(1)],
        )
        .when(attempt("dispatcher-a"))
        .then([attempted(2)]);
    }

    #[test]
    fn an_attempt_requires_the_claim() {
        given(Message(message_id(1)), [])
            .when(attempt("dispatcher-a"))
            .then_err(Rejection::MessageNotClaimed(message_id(1)));
    }

    #[test]
    fn an_attempt_by_another_instance_is_rejected() {
        given(Message(message_id(1)), a_claimed())
            .when(attempt("dispatcher-b"))
            .then_err(Rejection::MessageNotClaimed(message_id(1)));
    }

    #[test]
    fn delivery_records_the_attempt_that_succeeded() {
        given(
            Message(message_id(1)),
            [claimed("dispatcher-a", 30), attempted(1)],
        )
        .when(deliver("dispatcher-a"))
        .then([Event::MessageDelivered {
            message_id: message_id(1),
            attempt: 1,
            receipt: "200 OK".into(),
        }]);
    }

    #[test]
    fn delivery_requires_the_claim() {
        given(
            Message(message_id(1)),
            [claimed("dispatcher-a", 30), attempted(1)],
        )
        .when(deliver("dispatcher-b"))
        .then_err(Rejection::MessageNotClaimed(message_id(1)));
    }

    #[test]
    fn a_failure_releases_the_claim_so_another_instance_can_retry() {
        let history = [
            claimed("dispatcher-a", 30),
            attempted(1),
            failed(1, Some(20)),
        ];
        given(Message(message_id(1)), history.clone())
            .when(attempt("dispatcher-a"))
            .then_err(Rejection::MessageNotClaimed(message_id(1)));
        given(Message(message_id(1)), history)
            .when(claim("dispatcher-b", 20, 50))
            .then([claimed("dispatcher-b", 50)]);
    }

    #[test]
    fn a_final_failure_finishes_the_message() {
        given(
            Message(message_id(1)),
            [claimed("dispatcher-a", 30), attempted(1), failed(1, None)],
        )
        .when(claim("dispatcher-a", 40, 70))
        .then_err(Rejection::MessageFinished(message_id(1)));
    }

    #[test]
    fn a_delivered_message_rejects_further_claims_and_abandonment() {
        let history = [
            claimed("dispatcher-a", 30),
            attempted(1),
            Event::MessageDelivered {
                message_id: message_id(1),
                attempt: 1,
                receipt: "200 OK".into(),
            },
        ];
        given(Message(message_id(1)), history.clone())
            .when(claim("dispatcher-b", 100, 130))
            .then_err(Rejection::MessageFinished(message_id(1)));
        given(Message(message_id(1)), history)
            .when(MessageCommand::Abandon {
                message_id: message_id(1),
                reason: "operator".into(),
            })
            .then_err(Rejection::MessageFinished(message_id(1)));
    }

    #[test]
    fn an_abandoned_message_rejects_attempts() {
        let abandoned = Event::MessageAbandoned {
            message_id: message_id(1),
            reason: "out of attempts".into(),
        };
        given(
            Message(message_id(1)),
            [claimed("dispatcher-a", 30), abandoned],
        )
        .when(attempt("dispatcher-a"))
        .then_err(Rejection::MessageFinished(message_id(1)));
    }

    #[test]
    fn a_pending_message_can_be_abandoned_without_a_claim() {
        given(Message(message_id(1)), [])
            .when(MessageCommand::Abandon {
                message_id: message_id(1),
                reason: "channel removed".into(),
            })
            .then([Event::MessageAbandoned {
                message_id: message_id(1),
                reason: "channel removed".into(),
            }]);
    }
}
