//! The state types, one file each: the fields it accepts, how it is parsed, and how it runs.

pub(crate) mod choice;
pub(crate) mod fail;
pub(crate) mod map;
pub(crate) mod parallel;
pub(crate) mod pass;
pub(crate) mod succeed;
pub(crate) mod task;
pub(crate) mod wait;

use crate::history::EventType;

/// What a state does, by `Type`.
#[derive(Debug)]
pub(crate) enum Kind {
    Pass(pass::Pass),
    Task(task::Task),
    Choice(choice::Choice),
    Wait(wait::Wait),
    Succeed,
    Fail(fail::Fail),
    Parallel(parallel::Parallel),
    /// Boxed: a Map has the most fields by far.
    Map(Box<map::Map>),
}

impl Kind {
    /// The entered and (if any) exited event types.
    pub fn events(&self) -> (EventType, Option<EventType>) {
        use EventType::*;
        match self {
            Kind::Pass(_) => (PassStateEntered, Some(PassStateExited)),
            Kind::Task(_) => (TaskStateEntered, Some(TaskStateExited)),
            Kind::Choice(_) => (ChoiceStateEntered, Some(ChoiceStateExited)),
            Kind::Wait(_) => (WaitStateEntered, Some(WaitStateExited)),
            Kind::Succeed => (SucceedStateEntered, Some(SucceedStateExited)),
            Kind::Fail(_) => (FailStateEntered, None),
            Kind::Parallel(_) => (ParallelStateEntered, Some(ParallelStateExited)),
            Kind::Map(_) => (MapStateEntered, Some(MapStateExited)),
        }
    }
}
