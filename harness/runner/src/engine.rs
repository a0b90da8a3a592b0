//! Running one bound plan on one slot: setup, steps and teardown in order, a timeout on every
//! step, failure policies, retries, a safe state at the end, and every event recorded first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rigor_model::step::OnFail;
use rigor_plan::plan::{BoundAction, BoundPlan, BoundStep, PowerBinding};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::devices::SlotDevices;
use crate::event::{Event, FailureClass, RunInfo, RunOutcome, StepOutcome};
use crate::measurement::{Judged, Value};
use crate::recorder::RecordError;
pub use crate::sinks::Sinks;
use rigor_console::ConsoleSession;

use crate::identify::IdentifyError;

/// What to run, on which unit, for whom.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The bound plan.
    pub plan: BoundPlan,
    /// The unit's serial number; `None` reads it from the unit (see [`crate::identify`]).
    pub unit: Option<String>,
    /// The operator's id.
    pub operator: Option<String>,
    /// Tries after the first for a step that failed for a rig reason (the rig's policy).
    pub infrastructure_retries: u32,
    /// Asked before every step whether the run may go on (a rig lease still held).
    pub gate: Option<Arc<dyn StepGate>>,
    /// In a multi-device scenario: this unit's place in its session (barriers, shared id).
    pub session: Option<crate::session::Member>,
    /// The firmware the unit carries as the run begins, when the station knows it: the run
    /// records it unless it flashes an image of its own.
    pub installed_firmware: Option<crate::firmware::FirmwareIdentity>,
}

/// Something that may forbid the next step, such as a rig lease shared across hosts: once it
/// says stop, the run skips its remaining steps, tears down and is recorded as aborted with
/// the reason.
pub trait StepGate: Send + Sync + std::fmt::Debug {
    /// Why steps must stop now, or `None` while they may go on.
    fn closed(&self) -> Option<String>;
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The attempt number the recorder gave the run.
    pub attempt: u32,
    /// The outcome.
    pub outcome: RunOutcome,
    /// Whose fault, unless it passed.
    pub class: Option<FailureClass>,
    /// The first problem, for people.
    pub message: Option<String>,
}

/// A step's result before it becomes an event.
#[derive(Debug, Clone)]
pub(crate) enum Done {
    Pass,
    Fail(String),
    Error(FailureClass, String),
}

impl Done {
    fn outcome(&self) -> StepOutcome {
        match self {
            Done::Pass => StepOutcome::Pass,
            Done::Fail(m) => StepOutcome::Fail { message: m.clone() },
            Done::Error(class, m) => StepOutcome::Error {
                class: *class,
                message: m.clone(),
            },
        }
    }
}

/// The state of one run while it executes.
pub(crate) struct Run {
    pub(crate) plan: Arc<BoundPlan>,
    pub(crate) info: Arc<RunInfo>,
    pub(crate) devices: SlotDevices,
    pub(crate) console: Option<ConsoleSession>,
    pub(crate) captures: BTreeMap<String, Value>,
    pub(crate) measured: Vec<Judged>,
    pub(crate) impairments: crate::impairment::Impairments,
    sinks: Sinks,
    /// Each step's position in the flattened plan, by the step's address.
    index: HashMap<usize, u32>,
    retries: u32,
    cancel: watch::Receiver<bool>,
    gate: Option<Arc<dyn StepGate>>,
    pub(crate) member: Option<crate::session::Member>,
    /// Why the gate stopped the run.
    gate_closed: Option<String>,
    first_problem: Option<(RunOutcome, FailureClass, String)>,
    stopped: bool,
}

/// Why a slot's run did not end in a recorded outcome.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Recording failed; the run stopped.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The unit was not given a serial and could not tell it: nothing was recorded.
    #[error(transparent)]
    Identify(#[from] IdentifyError),
}

/// Runs `request` on its slot's `devices`. Returns when teardown is done and the run's record is
/// durable; errs if recording failed (after teardown and the safe state) or the unit, not given a
/// serial, could not tell it.
pub async fn run(
    request: RunRequest,
    devices: SlotDevices,
    sinks: Sinks,
    cancel: watch::Receiver<bool>,
) -> Result<RunResult, RunError> {
    let started = Instant::now();
    // Whatever ends this run early, its session's barriers stop waiting for it.
    let _leave = crate::session::LeaveOnDrop(request.session.clone());
    let plan = Arc::new(request.plan);
    let mut devices = devices;
    let mut console = devices.console.take().map(ConsoleSession::start);
    // The baud rate is set before anything is said, identification included.
    let baud = match (&console, &plan.console) {
        (Some(console), Some(binding)) => console.set_baud(binding.baud).await.err(),
        _ => None,
    };
    // The firmware the record names: the image it flashes first, else what the station knows
    // the unit carries, else what the unit says (when its profile says how to ask).
    let known = crate::firmware::first_flashed(&plan).or(request.installed_firmware);
    let ask_firmware = known.is_none() && plan.firmware_query.is_some();
    let (unit, firmware) = match request.unit {
        Some(unit) if !ask_firmware => (unit, known),
        unit => {
            let told = crate::identify::identify(
                &plan,
                &devices.instruments,
                console.as_mut(),
                unit.is_none(),
                ask_firmware,
            )
            .await?;
            let firmware =
                known.or(told
                    .firmware
                    .map(|version| crate::firmware::FirmwareIdentity {
                        sha256: None,
                        version: Some(version),
                    }));
            // `identify` asked for the serial when none was given, and errs without one.
            let unit = unit
                .or(told.serial)
                .ok_or_else(|| IdentifyError::NoAnswer {
                    slot: plan.slot.clone(),
                    within: std::time::Duration::ZERO,
                    why: "it told no serial number".to_owned(),
                })?;
            (unit, firmware)
        }
    };
    let info = RunInfo {
        unit,
        attempt: 0,
        family: plan.family.clone(),
        generation: plan.generation.clone(),
        profile: plan.profile.clone(),
        scenario: plan.scenario.name.clone(),
        scenario_version: plan.scenario.version,
        scenario_hash: plan.scenario.content_hash.clone(),
        limit_set_hash: plan.limit_set_hash.clone(),
        station: plan.station.clone(),
        rig: plan.rig.clone(),
        slot: plan.slot.clone(),
        fixture: plan.fixture.clone(),
        operator: request.operator,
        firmware_version: firmware.as_ref().and_then(|f| f.version.clone()),
        firmware_sha256: firmware.and_then(|f| f.sha256),
        started_at: SystemTime::now(),
        session: request
            .session
            .as_ref()
            .map(|m| m.session().id().to_owned()),
        role: request.session.as_ref().map(|m| m.name().to_owned()),
    };
    let mut info = Arc::new(info);
    let attempt = sinks.begin(info.clone()).await?;
    Arc::make_mut(&mut info).attempt = attempt;
    sinks.emit(Event::RunStarted { run: info.clone() });
    let index = plan
        .all_steps()
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s as *const BoundStep as usize, i as u32))
        .collect();
    let mut run = Run {
        plan: plan.clone(),
        info: info.clone(),
        devices,
        console,
        captures: BTreeMap::new(),
        measured: Vec::new(),
        impairments: Default::default(),
        sinks: sinks.clone(),
        index,
        retries: request.infrastructure_retries,
        cancel,
        gate: request.gate.clone(),
        member: request.session.clone(),
        gate_closed: None,
        first_problem: None,
        stopped: false,
    };
    if let Some(e) = baud {
        run.note_problem(
            &Done::Error(FailureClass::Infrastructure, e.to_string()),
            true,
        );
        run.stopped = true;
    }
    run.section(&plan.setup, true, false).await;
    run.section(&plan.steps, false, false).await;
    if let Some(member) = &run.member {
        member.leave(&match &run.first_problem {
            Some((_, _, why)) => format!("stopped ({why})"),
            None if run.stopped || run.cancelled() => "stopped".to_owned(),
            None => "ended".to_owned(),
        });
    }
    run.section(&plan.teardown, false, true).await;
    run.safe_state().await;
    if let Some(console) = run.console.take() {
        let transcript = console.transcript().to_text();
        console.close().await;
        sinks.emit(Event::Artifact {
            slot: info.slot.clone(),
            index: None,
            name: "console.log".into(),
            media_type: "text/plain".into(),
            content: Arc::from(transcript.into_bytes()),
        });
    }
    let aborted = *run.cancel.borrow();
    // A run whose record could not be kept skipped its tests: its end (kept in a spill, and
    // replayed into the store later) must not say it passed.
    let unrecorded = sinks.failure();
    let (outcome, class, message) = match (&run.first_problem, aborted) {
        _ if run.gate_closed.is_some() => (
            RunOutcome::Aborted,
            None,
            run.gate_closed
                .as_ref()
                .map(|why| format!("stopped: {why}; teardown done")),
        ),
        (_, true) => (
            RunOutcome::Aborted,
            None,
            Some("interrupted; teardown done".to_owned()),
        ),
        (Some((o, c, m)), false) => (*o, Some(*c), Some(m.clone())),
        (None, false) => match &unrecorded {
            Some(e) => (
                RunOutcome::Error,
                Some(FailureClass::Infrastructure),
                Some(format!(
                    "stopped: the station could not record the run ({e}); teardown done"
                )),
            ),
            None => (RunOutcome::Pass, None, None),
        },
    };
    sinks.emit(Event::RunFinished {
        run: info.clone(),
        outcome,
        class,
        message: message.clone(),
        duration: started.elapsed(),
    });
    // The run is over only when its record is: a failure to keep it is the run's error, after
    // teardown and the safe state were done regardless.
    sinks.flush().await;
    if let Some(e) = sinks.failure() {
        return Err(RunError::Record(e));
    }
    Ok(RunResult {
        attempt: info.attempt,
        outcome,
        class,
        message,
    })
}

impl Run {
    fn slot(&self) -> String {
        self.info.slot.clone()
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Whether the run must stop before its next step: cancelled, or its gate closed (the
    /// first reason is kept for the record).
    fn must_stop(&mut self) -> bool {
        if self.gate_closed.is_none()
            && let Some(why) = self.gate.as_ref().and_then(|g| g.closed())
        {
            tracing::warn!("stopping before the next step: {why}");
            self.gate_closed = Some(why);
        }
        self.gate_closed.is_some() || self.cancelled()
    }

    /// Remembers the first problem of the run; a setup failure is never the unit's fault alone.
    fn note_problem(&mut self, done: &Done, setup: bool) {
        if self.first_problem.is_some() {
            return;
        }
        self.first_problem = match done {
            Done::Pass => None,
            Done::Fail(m) if setup => Some((RunOutcome::Error, FailureClass::Device, m.clone())),
            Done::Fail(m) => Some((RunOutcome::Fail, FailureClass::Device, m.clone())),
            Done::Error(c, m) => Some((RunOutcome::Error, *c, m.clone())),
        };
    }

    async fn section(&mut self, steps: &[BoundStep], setup: bool, teardown: bool) {
        for step in steps {
            if !teardown && !self.stopped && self.sinks.failure().is_some() {
                // The footprint can no longer be kept: stop testing, but still tear down.
                self.stopped = true;
            }
            if !teardown && (self.stopped || self.must_stop()) {
                self.skip(step);
                continue;
            }
            let done = self.step(step, 1).await;
            if !teardown {
                self.note_problem(&done, setup);
            }
            let stop = match done {
                Done::Pass => false,
                Done::Fail(_) | Done::Error(..) => step.on_fail == OnFail::Stop || setup,
            };
            if stop && !teardown {
                self.stopped = true;
            }
        }
    }

    fn skip(&mut self, step: &BoundStep) {
        let index = self
            .index
            .get(&(step as *const BoundStep as usize))
            .copied()
            .unwrap_or(u32::MAX);
        self.sinks.emit(Event::StepFinished {
            slot: self.slot(),
            index,
            label: step.label.clone(),
            kind: kind(&step.action),
            attempt: 1,
            outcome: StepOutcome::Skipped,
            duration: Duration::ZERO,
        })
    }

    /// Runs one step (a retry group runs its steps), with the rig's infrastructure retries.
    fn step<'a>(
        &'a mut self,
        step: &'a BoundStep,
        attempt: u32,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Done> + Send + 'a>> {
        Box::pin(async move {
            let index = self
                .index
                .get(&(step as *const BoundStep as usize))
                .copied()
                .unwrap_or(u32::MAX);
            if let BoundAction::Retry {
                attempts,
                backoff,
                steps,
            } = &step.action
            {
                return self
                    .retry_group(step, index, *attempts, *backoff, steps)
                    .await;
            }
            let mut tries = 0;
            loop {
                tries += 1;
                let this_attempt = attempt + tries - 1;
                self.sinks.emit(Event::StepStarted {
                    slot: self.slot(),
                    index,
                    label: step.label.clone(),
                    kind: kind(&step.action),
                    attempt: this_attempt,
                });
                let began = Instant::now();
                self.measured.clear();
                tracing::debug!(step = %step.label, attempt = this_attempt, "step started");
                let done = match tokio::time::timeout(step.timeout, self.action(step)).await {
                    Ok(done) => done,
                    Err(_) => Done::Error(
                        FailureClass::Infrastructure,
                        format!(
                            "step `{}` did not finish within its timeout of {:?}",
                            step.label, step.timeout
                        ),
                    ),
                };
                for judged in std::mem::take(&mut self.measured) {
                    self.sinks.emit(Event::Measured {
                        slot: self.slot(),
                        index,
                        judged,
                    });
                }
                self.sinks.emit(Event::StepFinished {
                    slot: self.slot(),
                    index,
                    label: step.label.clone(),
                    kind: kind(&step.action),
                    attempt: this_attempt,
                    outcome: done.outcome(),
                    duration: began.elapsed(),
                });
                let retry = matches!(done, Done::Error(FailureClass::Infrastructure, _))
                    && tries <= self.retries;
                match &done {
                    Done::Pass => {}
                    Done::Fail(why) => tracing::info!(step = %step.label, "failed: {why}"),
                    // A retry is worth a warning: it hides a rig going bad behind a pass.
                    Done::Error(class, why) if retry => {
                        tracing::warn!(step = %step.label, ?class, "retrying after: {why}")
                    }
                    Done::Error(class, why) => {
                        tracing::info!(step = %step.label, ?class, "error: {why}")
                    }
                }
                if !retry || self.cancelled() {
                    return done;
                }
            }
        })
    }

    async fn retry_group(
        &mut self,
        group: &BoundStep,
        index: u32,
        attempts: u32,
        backoff: Option<Duration>,
        steps: &[BoundStep],
    ) -> Done {
        let mut last = Done::Pass;
        for attempt in 1..=attempts {
            self.sinks.emit(Event::StepStarted {
                slot: self.slot(),
                index,
                label: group.label.clone(),
                kind: "retry",
                attempt,
            });
            let began = Instant::now();
            last = Done::Pass;
            for step in steps {
                if self.must_stop() {
                    break;
                }
                let done = self.step(step, attempt).await;
                if !matches!(done, Done::Pass) {
                    last = done;
                    break;
                }
            }
            self.sinks.emit(Event::StepFinished {
                slot: self.slot(),
                index,
                label: group.label.clone(),
                kind: "retry",
                attempt,
                outcome: last.outcome(),
                duration: began.elapsed(),
            });
            if matches!(last, Done::Pass) || self.must_stop() {
                break;
            }
            if attempt < attempts
                && let Some(b) = backoff
            {
                tokio::time::sleep(b).await;
            }
        }
        last
    }

    /// Whatever the scenario's teardown did: impairments cleared and power off, recorded as a step.
    async fn safe_state(&mut self) {
        let power = self.plan.all_steps().iter().find_map(|s| match &s.action {
            BoundAction::Power { switch, .. } => Some(switch.clone()),
            _ => None,
        });
        if power.is_none() && self.devices.links.is_empty() {
            return;
        }
        self.sinks.emit(Event::StepStarted {
            slot: self.slot(),
            index: u32::MAX,
            label: "safe-state".into(),
            kind: "teardown",
            attempt: 1,
        });
        let began = Instant::now();
        let mut problems = Vec::new();
        for (name, link) in &self.devices.links {
            if let Err(e) = link.clear().await {
                problems.push(format!("clearing {name}: {e}"));
            }
        }
        if let Some(switch) = power
            && let Err(e) =
                switch_power(&self.devices.instruments, &switch, false, None, None).await
        {
            problems.push(format!("power off: {e}"));
        }
        let done = if problems.is_empty() {
            Done::Pass
        } else {
            Done::Error(FailureClass::Infrastructure, problems.join("; "))
        };
        self.note_problem(&done, false);
        self.sinks.emit(Event::StepFinished {
            slot: self.slot(),
            index: u32::MAX,
            label: "safe-state".into(),
            kind: "teardown",
            attempt: 1,
            outcome: done.outcome(),
            duration: began.elapsed(),
        })
    }
}

/// Switches a slot's power through its instruments.
pub(crate) async fn switch_power(
    instruments: &HashMap<String, Arc<dyn rigor_hal::Instrument>>,
    switch: &PowerBinding,
    on: bool,
    volts: Option<f64>,
    amps: Option<f64>,
) -> Result<(), rigor_hal::HalError> {
    use rigor_hal::Reading;
    let instrument = |name: &str| {
        instruments
            .get(name)
            .cloned()
            .ok_or_else(|| rigor_hal::HalError::Unsupported {
                what: format!("instrument `{name}`"),
                backend: "this slot (no backend was opened for it)".into(),
            })
    };
    match switch {
        PowerBinding::Supply {
            instrument: i,
            enable,
            set_voltage,
            set_current,
        } => {
            let psu = instrument(&i.name)?;
            if on {
                if let (Some(ch), Some(v)) = (set_voltage, volts) {
                    psu.write(ch, Reading::Number(v)).await?;
                }
                if let (Some(ch), Some(a)) = (set_current, amps) {
                    psu.write(ch, Reading::Number(a)).await?;
                }
            }
            psu.write(enable, Reading::Bool(on)).await
        }
        PowerBinding::Relay {
            instrument: i,
            channel,
        } => instrument(&i.name)?.write(channel, Reading::Bool(on)).await,
        // The hub port is opened as a one-channel instrument under its own name.
        PowerBinding::UsbHub { .. } => {
            instrument(&switch.device_name())?
                .write("power", Reading::Bool(on))
                .await
        }
    }
}

/// The YAML key of an action, for events.
pub fn kind(action: &BoundAction) -> &'static str {
    match action {
        BoundAction::Flash { .. } => "flash",
        BoundAction::Power { .. } => "power",
        BoundAction::ConsoleBaud { .. } => "console.baud",
        BoundAction::ConsoleSend { .. } => "console.send",
        BoundAction::ConsoleExpect { .. } => "console.expect",
        BoundAction::ConsoleCapture { .. } => "console.capture",
        BoundAction::GpioSet { .. } => "gpio.set",
        BoundAction::GpioPulse { .. } => "gpio.pulse",
        BoundAction::GpioRead { .. } => "gpio.read",
        BoundAction::GpioExpect { .. } => "gpio.expect",
        BoundAction::GpioWaitEdge { .. } => "gpio.wait-edge",
        BoundAction::GpioMeasure { .. } => "gpio.measure",
        BoundAction::I2cRead { .. } => "i2c.read",
        BoundAction::I2cWrite { .. } => "i2c.write",
        BoundAction::I2cExpect { .. } => "i2c.expect",
        BoundAction::InstrumentRead { .. } => "instrument.read",
        BoundAction::InstrumentWrite { .. } => "instrument.write",
        BoundAction::Measure { .. } => "measure",
        BoundAction::NetImpair { .. } => "net.impair",
        BoundAction::NetClear { .. } => "net.clear",
        BoundAction::OtaOffer { .. } => "ota.offer",
        BoundAction::OtaMeasure { .. } => "ota.measure",
        BoundAction::Wait { .. } => "wait",
        BoundAction::Barrier { .. } => "barrier",
        BoundAction::Retry { .. } => "retry",
        BoundAction::Prompt { .. } => "prompt",
        BoundAction::Shell { .. } => "shell",
    }
}
