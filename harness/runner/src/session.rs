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
        let names = plans.into_iter().map(|(unit, plan)| {
            let barriers: Vec<String> = plan
                .all_steps()
                .iter()
                .filter_map(|step| match &step.action {
                    BoundAction::Barrier { name } => Some(name.clone()),
                    _ => None,
                })
                .collect();
            (unit, barriers)
        });
        Session::with_barriers(id, names)
    }

    /// A session whose units (by name) each name the given barriers.
    pub fn with_barriers(
        id: impl Into<String>,
        units: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Arc<Session> {
        let mut state = State::default();
        for (unit, barriers) in units {
            for name in barriers {
                state
                    .barriers
                    .entry(name)
                    .or_default()
                    .expected
                    .insert(unit.clone());
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

/// Leaves the session, if any, when dropped: however a run ends, no unit waits for it.
pub(crate) struct LeaveOnDrop(pub(crate) Option<Member>);

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        if let Some(member) = &self.0 {
            member.leave("ended");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Arc<Session> {
        let both = || vec!["up".to_owned(), "done".to_owned()];
        Session::with_barriers(
            "s-1",
            [
                ("gateway[0]".to_owned(), both()),
                ("sensor[0]".to_owned(), both()),
            ],
        )
    }

    #[tokio::test]
    async fn a_barrier_lets_every_unit_go_once_all_have_reached_it() {
        let s = session();
        let (gateway, sensor) = (s.member("gateway[0]"), s.member("sensor[0]"));
        let first = tokio::spawn(async move { gateway.arrive("up").await });
        // The gateway waits until the sensor arrives, then both go on.
        tokio::task::yield_now().await;
        assert!(!first.is_finished());
        assert_eq!(sensor.arrive("up").await, Ok(()));
        assert_eq!(first.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_unit_that_leaves_releases_the_others_with_who_and_why() {
        let s = session();
        let (gateway, sensor) = (s.member("gateway[0]"), s.member("sensor[0]"));
        let waiting = tokio::spawn(async move { gateway.arrive("up").await });
        sensor.leave("stopped (banner not seen within 3s)");
        let broken = BarrierError::Broken {
            barrier: "up".into(),
            why: "sensor[0] stopped (banner not seen within 3s) before reaching it".into(),
        };
        assert_eq!(waiting.await.unwrap(), Err(broken));
        // A unit that comes to a barrier after the other left is not held there either.
        let late = s.member("gateway[0]").arrive("done").await.unwrap_err();
        assert_eq!(
            late.to_string(),
            "barrier `done`: sensor[0] stopped (banner not seen within 3s) before reaching it"
        );
    }

    #[tokio::test]
    async fn leaving_after_every_barrier_breaks_nothing() {
        let s = session();
        let (gateway, sensor) = (s.member("gateway[0]"), s.member("sensor[0]"));
        let g = tokio::spawn(async move {
            gateway.arrive("up").await?;
            gateway.arrive("done").await
        });
        sensor.arrive("up").await.unwrap();
        sensor.arrive("done").await.unwrap();
        sensor.leave("ended");
        assert_eq!(g.await.unwrap(), Ok(()));
        let stranger = s.member("gateway[0]").arrive("nowhere").await;
        assert_eq!(stranger, Err(BarrierError::NotExpected("nowhere".into())));
    }
}
