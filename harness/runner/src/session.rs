//! A multi-device session: the units of a scenario's roles, each run on its own slot by its own
//! engine, lined up at barriers. A unit that ends before a barrier it names releases the others
//! there with an error that says who and why, so no unit waits for one that is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use rigor_plan::plan::{BoundAction, BoundPlan};
use tokio::sync::watch;

/// The shared state of one session's barriers.
#[derive(Debug)]
pub struct Session {
    id: String,
    state: Mutex<State>,
    /// Bumped on every change, so waiters look again.
    changed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    barriers: BTreeMap<String, Barrier>,
}

#[derive(Debug, Default)]
struct Barrier {
    /// The units whose steps name it.
    expected: BTreeSet<String>,
    arrived: BTreeSet<String>,
    /// Set once a unit that names it ended without reaching it.
    broken: Option<String>,
}

impl Barrier {
    fn complete(&self) -> bool {
        self.expected.is_subset(&self.arrived)
    }
}

/// Why a barrier let a unit go on without the others.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BarrierError {
    /// A unit that names the barrier ended without reaching it.
    #[error("barrier `{barrier}`: {why}")]
    Broken {
        /// The barrier.
        barrier: String,
        /// Who ended, and why.
        why: String,
    },
    /// The unit's plan does not name this barrier (a bug: plans and session disagree).
    #[error("barrier `{0}` is not one this unit was expected at")]
    NotExpected(String),
}

impl Session {
    /// A session with id `id` whose units (by name, `sensor[1]`) run `plans`: each barrier
    /// waits for every unit whose plan names it.
    pub fn new<'a>(
        id: impl Into<String>,
        plans: impl IntoIterator<Item = (String, &'a BoundPlan)>,
    ) -> Arc<Session> {
        let mut state = State::default();
        for (unit, plan) in plans {
            for step in plan.all_steps() {
                if let BoundAction::Barrier { name } = &step.action {
                    state
                        .barriers
                        .entry(name.clone())
                        .or_default()
                        .expected
                        .insert(unit.clone());
                }
            }
        }
        Arc::new(Session {
            id: id.into(),
            state: Mutex::new(state),
            changed: watch::channel(0).0,
        })
    }

    /// The session's id, shared by every unit's record.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A handle for the unit `name` (`sensor[1]`) of this session.
    pub fn member(self: &Arc<Self>, name: impl Into<String>) -> Member {
        Member {
            session: self.clone(),
            name: name.into(),
        }
    }

    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.send_modify(|n| *n += 1);
        out
    }

    fn look<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One unit's handle on its session.
#[derive(Debug, Clone)]
pub struct Member {
    session: Arc<Session>,
    name: String,
}

impl Member {
    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The unit's name in the session (`sensor[1]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reaches `barrier` and waits until every unit that names it has, or one has ended
    /// without reaching it.
    pub async fn arrive(&self, barrier: &str) -> Result<(), BarrierError> {
        let mut changes = self.session.changed.subscribe();
        let known = self.session.update(|s| match s.barriers.get_mut(barrier) {
            Some(b) if b.expected.contains(&self.name) => {
                b.arrived.insert(self.name.clone());
                true
            }
            _ => false,
        });
        if !known {
            return Err(BarrierError::NotExpected(barrier.to_owned()));
        }
        loop {
            let state = self.session.look(|s| {
                s.barriers
                    .get(barrier)
                    .map(|b| (b.complete(), b.broken.clone()))
            });
            match state {
                Some((true, _)) | None => return Ok(()),
                Some((false, Some(why))) => {
                    return Err(BarrierError::Broken {
                        barrier: barrier.to_owned(),
                        why,
                    });
                }
                Some((false, None)) => {}
            }
            // The sender lives in the session this member holds, so this only returns on a change.
            if changes.changed().await.is_err() {
                return Ok(());
            }
        }
    }

    /// The unit will reach no more barriers (its steps are over, or it stopped): every
    /// barrier it names and has not reached releases its waiters with `why`.
    pub fn leave(&self, why: &str) {
        self.session.update(|s| {
            for b in s.barriers.values_mut() {
                if b.expected.contains(&self.name)
                    && !b.arrived.contains(&self.name)
                    && b.broken.is_none()
                {
                    b.broken = Some(format!("{} {why} before reaching it", self.name));
                }
            }
        });
    }
}
