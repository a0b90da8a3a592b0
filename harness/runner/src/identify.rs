//! Reading a unit's serial number from the unit itself, for runs not given one: power it, ask on
//! the console as its profile says, power it off again so the run starts from a cold unit.
//!
//! A unit that cannot say who it is has no record to put a failure in, so identification failing
//! stops the slot before anything is recorded, and says how to give the serial instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rigor_console::ConsoleSession;
use rigor_hal::Instrument;
use rigor_model::action::PowerState;
use rigor_plan::plan::{BoundAction, BoundPlan};
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

/// Powers the unit, asks for its serial until it answers, and powers it off.
pub(crate) async fn read_serial(
    plan: &BoundPlan,
    instruments: &HashMap<String, Arc<dyn Instrument>>,
    console: Option<&mut ConsoleSession>,
) -> Result<String, IdentifyError> {
    let unsupported = |why: &str| IdentifyError::Unsupported {
        slot: plan.slot.clone(),
        why: why.to_owned(),
    };
    let query = plan
        .serial_query
        .as_ref()
        .ok_or_else(|| unsupported("its profile has no console `identity.serial`, or the scenario does not use the console"))?;
    let console = console.ok_or_else(|| unsupported("the slot has no console"))?;
    let pattern = query
        .expect
        .regex()
        .map_err(|e| unsupported(&format!("`identity.serial.expect` does not compile: {e}")))?;
    let group = pattern
        .capture_names()
        .flatten()
        .find(|n| *n == "serial")
        .or_else(|| pattern.capture_names().flatten().next())
        .map(str::to_owned)
        .ok_or_else(|| unsupported("`identity.serial.expect` has no named group"))?;
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
    if let Some((switch, volts, amps, _)) = &power {
        switch_power(instruments, switch, true, Some(*volts), Some(*amps))
            .await
            .map_err(|e| no_answer(format!("power on: {e}")))?;
    }
    let line_ending = plan
        .console
        .as_ref()
        .map_or(&b"\r\n"[..], |c| c.line_ending.bytes());
    let mut command = query.send.as_bytes().to_vec();
    command.extend_from_slice(line_ending);
    let deadline = Instant::now() + ANSWER_WITHIN;
    let mut why = String::from("it said nothing");
    let mut serial = None;
    while Instant::now() < deadline {
        if let Err(e) = console.send_bytes(&command, None).await {
            why = e.to_string();
        }
        match console.expect(pattern, ASK_EVERY).await {
            Ok(m) => {
                serial = m.captures.get(&group).cloned();
                break;
            }
            Err(e) => why = e.to_string(),
        }
    }
    // The run starts from a cold unit, as if the serial had been given.
    if let Some((switch, _, _, off_for)) = &power {
        let _ = switch_power(instruments, switch, false, None, None).await;
        tokio::time::sleep(*off_for).await;
    }
    let serial = serial.ok_or_else(|| no_answer(why))?;
    rigor_model::serial::check(&serial).map_err(|source| IdentifyError::BadSerial {
        slot: plan.slot.clone(),
        source,
    })?;
    Ok(serial)
}
