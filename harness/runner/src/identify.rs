//! Reading a unit's serial number from the unit itself, for runs not given one, and the firmware
//! it carries, for runs that flash none: power it, ask on the console as its profile says, power
//! it off again so the run starts from a cold unit.
//!
//! A unit that cannot say who it is has no record to put a failure in, so identification failing
//! stops the slot before anything is recorded, and says how to give the serial instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use rigor_console::ConsoleSession;
use rigor_hal::Instrument;
use rigor_model::action::PowerState;
use rigor_plan::plan::{BoundAction, BoundPlan, IdentityQuery};
use tokio::time::Instant;

use crate::engine::switch_power;

/// How long a unit has to boot and answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);
/// How often the question is asked while the unit boots: a shell not yet up drops it.
const ASK_EVERY: Duration = Duration::from_millis(500);

/// Why a unit's serial could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    /// Nothing to ask with.
    #[error(
        "the serial number of the unit in slot `{slot}` cannot be read from it: {why}; give it with `--unit {slot}=SERIAL`"
    )]
    Unsupported {
        /// The slot.
        slot: String,
        /// What is missing.
        why: String,
    },
    /// The unit answered with something that is not a serial number.
    #[error("the unit in slot `{slot}` told a serial number rigor cannot keep: {source}")]
    BadSerial {
        /// The slot.
        slot: String,
        /// What is wrong with it.
        #[source]
        source: rigor_model::serial::SerialError,
    },
    /// The unit did not answer.
    #[error(
        "the unit in slot `{slot}` did not tell its serial number within {within:?} ({why}); give it with `--unit {slot}=SERIAL`"
    )]
    NoAnswer {
        /// The slot.
        slot: String,
        /// How long rigor asked.
        within: Duration,
        /// The last thing that went wrong.
        why: String,
    },
}

/// What the unit told about itself.
#[derive(Debug, Default)]
pub(crate) struct Told {
    /// Its serial number, when it was asked for.
    pub(crate) serial: Option<String>,
    /// The firmware version it carries, when it was asked and answered.
    pub(crate) firmware: Option<String>,
}

/// A question for the console: the command with its line ending, and the pattern whose named
/// group is the answer.
struct Question<'a> {
    command: Vec<u8>,
    pattern: &'a Regex,
    group: String,
}

impl<'a> Question<'a> {
    /// The question `query` asks (`what` names its profile key in errors).
    fn new(plan: &BoundPlan, query: &'a IdentityQuery, what: &str) -> Result<Self, String> {
        let pattern = query
            .expect
            .regex()
            .map_err(|e| format!("`identity.{what}.expect` does not compile: {e}"))?;
        let group = pattern
            .capture_names()
            .flatten()
            .find(|n| *n == what)
            .or_else(|| pattern.capture_names().flatten().next())
            .map(str::to_owned)
            .ok_or_else(|| format!("`identity.{what}.expect` has no named group"))?;
        let line_ending = plan
            .console
            .as_ref()
            .map_or(&b"\r\n"[..], |c| c.line_ending.bytes());
        let mut command = query.send.as_bytes().to_vec();
        command.extend_from_slice(line_ending);
        Ok(Question {
            command,
            pattern,
            group,
        })
    }

    /// Asks until the unit answers or `deadline` passes; the error says what went wrong last.
    async fn ask(&self, console: &mut ConsoleSession, deadline: Instant) -> Result<String, String> {
        let mut why = String::from("it said nothing");
        while Instant::now() < deadline {
            if let Err(e) = console.send_bytes(&self.command, None).await {
                why = e.to_string();
            }
            match console.expect(self.pattern, ASK_EVERY).await {
                Ok(m) => return m.captures.get(&self.group).cloned().ok_or(why),
                Err(e) => why = e.to_string(),
            }
        }
        Err(why)
    }
}

/// Powers the unit, asks for its serial (`serial`) and the firmware it carries (`firmware`, when
/// its profile says how) until it answers, and powers it off, so the run starts from a cold unit
/// as if nothing had been asked. Only the serial is needed: a unit that does not tell its
/// firmware is run with its firmware unrecorded, and the log says why.
pub(crate) async fn identify(
    plan: &BoundPlan,
    instruments: &HashMap<String, Arc<dyn Instrument>>,
    console: Option<&mut ConsoleSession>,
    serial: bool,
    firmware: bool,
) -> Result<Told, IdentifyError> {
    let unsupported = |why: &str| IdentifyError::Unsupported {
        slot: plan.slot.clone(),
        why: why.to_owned(),
    };
    let serial_question = match (serial, &plan.serial_query) {
        (false, _) => None,
        (true, Some(query)) => {
            Some(Question::new(plan, query, "serial").map_err(|why| unsupported(&why))?)
        }
        (true, None) => {
            return Err(unsupported(
                "its profile has no console `identity.serial`, or the scenario does not use the console",
            ));
        }
    };
    let firmware_question = match plan.firmware_query.as_ref().filter(|_| firmware) {
        Some(query) => match Question::new(plan, query, "firmware") {
            Ok(q) => Some(q),
            Err(why) => {
                tracing::warn!(slot = %plan.slot, "the unit's firmware is not recorded: {why}");
                None
            }
        },
        None => None,
    };
    if serial_question.is_none() && firmware_question.is_none() {
        return Ok(Told::default());
    }
    let Some(console) = console else {
        return match serial_question {
            Some(_) => Err(unsupported("the slot has no console")),
            None => Ok(Told::default()),
        };
    };
    let power = plan.all_steps().into_iter().find_map(|s| match &s.action {
        BoundAction::Power {
            state: PowerState::On | PowerState::Cycle,
            volts,
            current_limit_amps,
            off_for,
            switch,
        } => Some((switch.clone(), *volts, *current_limit_amps, *off_for)),
        _ => None,
    });
    let no_answer = |why: String| IdentifyError::NoAnswer {
        slot: plan.slot.clone(),
        within: ANSWER_WITHIN,
        why,
    };
    let mut told = Told::default();
    let mut failed = None;
    let powered = match &power {
        Some((switch, volts, amps, _)) => {
            switch_power(instruments, switch, true, Some(*volts), Some(*amps)).await
        }
        None => Ok(()),
    };
    let deadline = Instant::now() + ANSWER_WITHIN;
    match powered {
        Err(e) => failed = Some(format!("power on: {e}")),
        Ok(()) => {
            if let Some(q) = &serial_question {
                match q.ask(console, deadline).await {
                    Ok(s) => told.serial = Some(s),
                    Err(why) => failed = Some(why),
                }
            }
            // A unit that told its serial has booted: its firmware answers at once or not at all.
            if let (None, Some(q)) = (&failed, &firmware_question) {
                match q.ask(console, deadline).await {
                    Ok(version) => told.firmware = Some(version),
                    Err(why) => tracing::warn!(
                        slot = %plan.slot,
                        "the unit did not tell its firmware ({why}); its run records none"
                    ),
                }
            }
        }
    }
    // The run starts from a cold unit, as if nothing had been asked.
    if let Some((switch, _, _, off_for)) = &power {
        let _ = switch_power(instruments, switch, false, None, None).await;
        tokio::time::sleep(*off_for).await;
    }
    match (serial_question, failed) {
        (Some(_), Some(why)) => return Err(no_answer(why)),
        (None, Some(why)) => {
            tracing::warn!(slot = %plan.slot, "the unit's firmware is not recorded: {why}");
        }
        _ => {}
    }
    if let Some(serial) = &told.serial {
        rigor_model::serial::check(serial).map_err(|source| IdentifyError::BadSerial {
            slot: plan.slot.clone(),
            source,
        })?;
    }
    Ok(told)
}
