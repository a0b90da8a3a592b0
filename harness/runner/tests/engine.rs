//! The engine end to end on fakes: the shipped smoke scenario, bound for gen2 on the virtual
//! bench's slot1, run against fake backends that play a fridge controller.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rigor_hal::fake::{
    ConsoleDevice, FakeConsole, FakeFlasher, FakeI2c, FakeInstrument, FakeLine, FakeNet,
};
use rigor_hal::{HalError, Reading};
use rigor_model::value::Scalar;
use rigor_runner::devices::SlotDevices;
use rigor_runner::engine::{RunRequest, RunResult, Sinks, run};
use rigor_runner::event::{Event, FailureClass, RunOutcome, StepOutcome};
use rigor_runner::recorder::{Entry, EntryResult, MemoryRecorder, RecordError, Recorder};

fn plan(build_dir: &Path) -> rigor_plan::BoundPlan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let paths: Vec<_> = ["device-profiles", "rigs", "fixtures", "examples"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    let (cat, diags) = rigor_model::load_paths(&paths);
    assert!(diags.is_empty(), "{diags}");
    let target = rigor_plan::Target {
        scenario: &cat.scenarios["smoke"],
        profile: &cat.profiles["fridge-ctl-gen2"],
        fixture: &cat.fixtures["fx-fridge-gen2"],
        rig: &cat.rigs["virtual-bench"],
        slot: "slot1",
    };
    let params = BTreeMap::from([(
        "build_dir".to_owned(),
        Scalar::Text(build_dir.display().to_string()),
    )]);
    rigor_plan::bind(&cat, target, &params).unwrap()
}

/// Fake backends wired as fx-fridge-gen2 wires a gen2 board, and a device task playing its firmware.
struct Bench {
    psu: FakeInstrument,
    lines: BTreeMap<&'static str, FakeLine>,
    flasher: FakeFlasher,
}

fn fake_bench(temp_reported: &'static str) -> (Bench, SlotDevices) {
    let psu = FakeInstrument::default();
    psu.set("current", Reading::Number(0.070));
    psu.set("voltage", Reading::Number(12.01));
    psu.set("power", Reading::Number(5.2));
    let mut lines = BTreeMap::new();
    for (name, ch) in [
        ("btn_up", "dio0"),
        ("btn_down", "dio1"),
        ("btn_set", "dio2"),
        ("door_switch", "dio4"),
        ("alarm_led", "dio5"),
        ("compressor_relay", "dio6"),
        ("btn_light", "dio7"),
    ] {
        // Buttons and the door switch are active low: idle high.
        let idle_high = matches!(
            name,
            "btn_up" | "btn_down" | "btn_set" | "btn_light" | "door_switch"
        );
        lines.insert(ch, FakeLine::new(idle_high));
        let _ = name;
    }
    lines["dio5"].blink(Duration::from_secs(1));
    let i2c = FakeI2c::default();
    i2c.add_part(0x49);
    // 4.25 °C as a TMP102 reads it: 68 LSB of 0.0625 °C, left-justified by 4 bits.
    i2c.poke(0x49, 0x00, &[0x04, 0x40]);
    let (console, device) = FakeConsole::pair();
    tokio::spawn(light_button(device.clone(), lines["dio7"].clone()));
    tokio::spawn(boot_banner(device.clone(), psu.clone()));
    tokio::spawn(firmware(
        device,
        lines["dio6"].clone(),
        psu.clone(),
        temp_reported,
    ));
    let flasher = FakeFlasher::default();
    let net = FakeNet::default();
    let devices = SlotDevices {
        console: Some(Box::new(console)),
        flasher: Some(Box::new(flasher.clone())),
        lines: lines
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    Arc::new(v.clone()) as Arc<dyn rigor_hal::DigitalLine>,
                )
            })
            .collect(),
        i2c: [(
            "bus0".to_owned(),
            Arc::new(i2c) as Arc<dyn rigor_hal::I2cBus>,
        )]
        .into(),
        instruments: [(
            "psu-1".to_owned(),
            Arc::new(psu.clone()) as Arc<dyn rigor_hal::Instrument>,
        )]
        .into(),
        links: [(
            "wan0".to_owned(),
            Arc::new(net) as Arc<dyn rigor_hal::NetImpairment>,
        )]
        .into(),
        operator: None,
        ..SlotDevices::default()
    };
    (
        Bench {
            psu,
            lines,
            flasher,
        },
        devices,
    )
}

/// Plays a gen2 firmware's shell on the console: banner at once, then answers commands.
async fn firmware(
    device: ConsoleDevice,
    compressor: FakeLine,
    psu: FakeInstrument,
    temp: &'static str,
) {
    device.send("fridge-ctl gen2 fw 2.1.0\r\nfridge> ");
    let mut line = Vec::new();
    while let Some(chunk) = device.received().await {
        line.extend(chunk);
        while let Some(end) = line.iter().position(|b| *b == b'\n') {
            let cmd = String::from_utf8_lossy(&line[..end]).trim().to_owned();
            line.drain(..=end);
            let answer = match cmd.as_str() {
                "temp" => format!("temp: {temp} C"),
                "version" => "fw 2.1.0".into(),
                "relay on" => {
                    // Compressor firmware waits a start delay before closing the relay.
                    let (line, psu) = (compressor.clone(), psu.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        line.drive(true);
                        psu.set("current", Reading::Number(0.48));
                    });
                    "relay: on".into()
                }
                "relay off" => {
                    compressor.drive(false);
                    psu.set("current", Reading::Number(0.070));
                    "relay: off".into()
                }
                "selftest" => "selftest: sensor ok\r\nselftest: eeprom ok\r\nselftest: ok".into(),
                _ => format!("unknown command: {cmd}"),
            };
            device.send(format!("{answer}\r\nfridge> "));
        }
    }
}

/// The firmware boots (prints its banner) each time the supply's output goes on.
async fn boot_banner(device: ConsoleDevice, psu: FakeInstrument) {
    let mut on = false;
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = psu.value("output") == Some(Reading::Bool(true));
        if now && !on {
            device.send("fridge-ctl gen2 fw 2.1.0\r\nfridge> ");
        }
        on = now;
    }
}

/// The firmware's light button handler: a press (the line pulled low) toggles the cabinet light.
async fn light_button(device: ConsoleDevice, button: FakeLine) {
    let mut presses = 0;
    let mut light = false;
    loop {
        // The firmware scans its buttons every 10 ms.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = button.driven().iter().filter(|high| !**high).count();
        if now > presses {
            presses = now;
            light = !light;
            device.send(format!(
                "light: {}\r\nfridge> ",
                if light { "on" } else { "off" }
            ));
        }
    }
}

/// A recorder the test can read after the run.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<MemoryRecorder>>);

impl Recorder for Shared {
    fn write(&mut self, group: &[Entry]) -> Result<Vec<EntryResult>, RecordError> {
        self.0.lock().unwrap().write(group)
    }
}

impl Shared {
    fn steps(&self) -> Vec<(String, u32, StepOutcome)> {
        self.0
            .lock()
            .unwrap()
            .events
            .iter()
            .filter_map(|e| match e {
                Event::StepFinished {
                    label,
                    attempt,
                    outcome,
                    ..
                } => Some((label.clone(), *attempt, outcome.clone())),
                _ => None,
            })
            .collect()
    }
    fn measured(&self) -> BTreeMap<String, String> {
        self.0
            .lock()
            .unwrap()
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Measured { judged, .. } => Some((
                    judged.name.clone(),
                    format!("{:?} {}", judged.verdict, judged.describe()),
                )),
                _ => None,
            })
            .collect()
    }
}

async fn go(
    devices: SlotDevices,
    recorder: &Shared,
    build: &Path,
    retries: u32,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> RunResult {
    go_with(plan(build), devices, recorder, retries, cancel).await
}

/// Runs `plan` on unit FC2-000042, whose firmware the station does not know.
async fn go_with(
    plan: rigor_plan::BoundPlan,
    devices: SlotDevices,
    recorder: &Shared,
    retries: u32,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> RunResult {
    let request = RunRequest {
        plan,
        unit: Some("FC2-000042".into()),
        operator: None,
        infrastructure_retries: retries,
        gate: None,
        session: None,
        installed_firmware: None,
    };
    let sinks = Sinks::new(Box::new(recorder.clone()), Vec::new());
    run(request, devices, sinks, cancel).await.unwrap()
}

/// A folder with a gen2 build of `version`, signed as gen2's profile requires.
fn signed_build(version: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("fridge-ctl-gen2.elf");
    std::fs::write(&image, b"\x7fELF fake image").unwrap();
    let key = rigor_bench::firmware::demo_release_key("gen2").unwrap();
    rigor_image::sign_file(
        &image,
        &key,
        "fridge-ctl",
        "gen2",
        &version.parse().unwrap(),
    )
    .unwrap();
    dir
}

fn firmware_dir() -> tempfile::TempDir {
    signed_build("2.1.0")
}

#[tokio::test(start_paused = true)]
async fn unsigned_and_downgraded_images_are_refused_before_anything_is_written() {
    for (dir, why) in [
        (
            {
                let dir = signed_build("2.1.0");
                std::fs::remove_file(dir.path().join("fridge-ctl-gen2.elf.manifest.json")).unwrap();
                dir
            },
            "is unsigned",
        ),
        (
            signed_build("1.9.0"),
            "below gen2's anti-rollback floor 2.0.0",
        ),
    ] {
        let (bench, devices) = fake_bench("4.25");
        let recorder = Shared::default();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let result = go(devices, &recorder, dir.path(), 0, rx).await;
        assert_eq!(result.outcome, RunOutcome::Error);
        assert_eq!(result.class, Some(FailureClass::Scenario));
        let message = result.message.unwrap_or_default();
        assert!(
            message.starts_with("refused: ") && message.contains(why),
            "{message}"
        );
        assert!(bench.flasher.images().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_good_unit_passes_smoke_and_is_left_powered_off() {
    let (bench, devices) = fake_bench("4.25");
    let dir = firmware_dir();
    let recorder = Shared::default();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let result = go(devices, &recorder, dir.path(), 0, rx).await;
    let failures: Vec<_> = recorder
        .steps()
        .into_iter()
        .filter(|s| s.2 != StepOutcome::Pass)
        .collect();
    assert_eq!(result.outcome, RunOutcome::Pass, "{failures:#?}");
    assert_eq!(result.attempt, 1);
    let m = recorder.measured();
    assert_eq!(
        m["idle_current"],
        "Pass idle_current = 0.07 A, limits 0.055 <= x <= 0.095 A"
    );
    assert_eq!(
        m["sensor_temp"],
        "Pass sensor_temp = 4.25 °C, limits 2 <= x <= 8 °C"
    );
    assert_eq!(
        m["alarm_blink"],
        "Pass alarm_blink = 1 Hz, limits 0.8 <= x <= 1.2 Hz"
    );
    assert_eq!(
        m["compressor_current"],
        "Pass compressor_current = 0.48 A, limits 0.37 <= x <= 0.68 A"
    );
    assert_eq!(
        m["fw_version"],
        "Pass fw_version = \"2.1.0\", limits x =~ /\\d+\\.\\d+\\.\\d+/"
    );
    assert_eq!(bench.flasher.images().len(), 1);
    // The door was opened and closed through the active-low line: low, then high.
    assert_eq!(bench.lines["dio4"].driven(), [false, true]);
    // The light button was pulsed low and released.
    assert_eq!(bench.lines["dio7"].driven(), [false, true]);
    assert_eq!(bench.psu.value("output"), Some(Reading::Bool(false)));
    assert_eq!(bench.psu.value("voltage_set"), Some(Reading::Number(12.0)));
}

#[tokio::test(start_paused = true)]
async fn a_bad_reading_fails_the_unit_and_the_run_goes_on() {
    // A firmware with the wrong sensor scaling reports twice the temperature.
    let (_bench, devices) = fake_bench("8.50");
    let dir = firmware_dir();
    let recorder = Shared::default();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let result = go(devices, &recorder, dir.path(), 0, rx).await;
    assert_eq!(result.outcome, RunOutcome::Fail);
    assert_eq!(result.class, Some(FailureClass::Device));
    assert_eq!(
        result.message.as_deref(),
        Some("firmware_temp = 8.5 °C, limits 2 <= x <= 8 °C")
    );
    // Measurements go on after a failed one: the footprint has every value.
    assert!(recorder.measured()["compressor_current"].starts_with("Pass"));
    assert!(recorder.steps().iter().all(|s| s.2 != StepOutcome::Skipped));
}

#[tokio::test(start_paused = true)]
async fn a_transport_fault_is_retried_per_rig_policy_and_recorded() {
    let (bench, devices) = fake_bench("4.25");
    bench.psu.fail_next(HalError::Disconnected {
        what: "psu-1 at 127.0.0.1:5020".into(),
        source: None,
    });
    let dir = firmware_dir();
    let recorder = Shared::default();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let result = go(devices, &recorder, dir.path(), 1, rx).await;
    assert_eq!(result.outcome, RunOutcome::Pass);
    let power: Vec<_> = recorder
        .steps()
        .into_iter()
        .filter(|s| s.0 == "power-on")
        .collect();
    assert_eq!(
        power,
        [
            (
                "power-on".to_owned(),
                1,
                StepOutcome::Error {
                    class: FailureClass::Infrastructure,
                    message: "psu-1 at 127.0.0.1:5020 is gone".into()
                }
            ),
            ("power-on".to_owned(), 2, StepOutcome::Pass),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn without_retries_an_infrastructure_error_stops_the_run_and_teardown_still_runs() {
    let (bench, devices) = fake_bench("4.25");
    bench.psu.fail_next(HalError::Timeout {
        what: "psu-1".into(),
        after: Duration::from_secs(1),
    });
    let dir = firmware_dir();
    let recorder = Shared::default();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let result = go(devices, &recorder, dir.path(), 0, rx).await;
    assert_eq!(result.outcome, RunOutcome::Error);
    assert_eq!(result.class, Some(FailureClass::Infrastructure));
    let steps = recorder.steps();
    assert_eq!(
        steps.iter().find(|s| s.0 == "banner").map(|s| &s.2),
        Some(&StepOutcome::Skipped)
    );
    // Teardown's power off and the safe state ran.
    assert_eq!(
        steps
            .iter()
            .rev()
            .take(2)
            .map(|s| (s.0.as_str(), &s.2))
            .collect::<Vec<_>>(),
        [
            ("safe-state", &StepOutcome::Pass),
            ("power", &StepOutcome::Pass)
        ]
    );
    assert_eq!(bench.psu.value("output"), Some(Reading::Bool(false)));
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_run_is_aborted_after_teardown_and_a_second_run_is_attempt_2() {
    let (first, devices) = fake_bench("4.25");
    let bench = first;
    let dir = firmware_dir();
    let recorder = Shared::default();
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Interrupt as soon as the compressor runs (mid-scenario).
    let compressor = bench.lines["dio6"].clone();
    tokio::spawn(async move {
        use rigor_hal::DigitalLine;
        while !compressor.get().await.unwrap() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tx.send(true).unwrap();
    });
    let result = go(devices, &recorder, dir.path(), 0, rx).await;
    assert_eq!(result.outcome, RunOutcome::Aborted);
    assert_eq!(bench.psu.value("output"), Some(Reading::Bool(false)));
    assert!(recorder.steps().iter().any(|s| s.2 == StepOutcome::Skipped));

    let (_again, devices) = fake_bench("4.25");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    assert_eq!(go(devices, &recorder, dir.path(), 0, rx).await.attempt, 2);
}

/// A recorder whose store fills up after `room` entries.
struct FillsUp {
    room: usize,
}

impl Recorder for FillsUp {
    fn write(&mut self, group: &[Entry]) -> Result<Vec<EntryResult>, RecordError> {
        if group.len() > self.room {
            return Err(RecordError::backend(
                format!("a group of {} records", group.len()),
                std::io::Error::other("database or disk is full"),
            ));
        }
        self.room -= group.len();
        Ok(group
            .iter()
            .map(|e| Ok(matches!(e, Entry::Begin(_)).then_some(1)))
            .collect())
    }
}

/// Regression (issue 9.1): a recording failure ended the run at once, leaving the unit powered
/// and its impairments on. Now the run stops testing, tears down, reaches the safe state, and
/// only then reports that its record is incomplete.
#[tokio::test(start_paused = true)]
async fn a_store_that_fills_up_mid_run_still_ends_with_teardown_and_power_off() {
    let (bench, devices) = fake_bench("4.25");
    // Powered, as a unit is once the scenario's power step ran: only the safe state switches it off.
    bench.psu.set("output", Reading::Bool(true));
    let dir = firmware_dir();
    let request = RunRequest {
        plan: plan(dir.path()),
        unit: Some("FC2-000042".into()),
        operator: None,
        infrastructure_retries: 0,
        gate: None,
        session: None,
        installed_firmware: None,
    };
    let sinks = Sinks::new(Box::new(FillsUp { room: 12 }), Vec::new());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let err = run(request, devices, sinks, rx).await.unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(text.contains("database or disk is full"), "{text}");
    // The unit was powered, then the teardown and the safe state switched it off.
    assert_eq!(bench.psu.value("output"), Some(Reading::Bool(false)));
}

/// A gate that closes at its fifth question, as a rig lease lost mid-run would.
#[derive(Debug, Default)]
struct LostLease(std::sync::atomic::AtomicU32);

impl rigor_runner::engine::StepGate for LostLease {
    fn closed(&self) -> Option<String> {
        let asked = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (asked >= 4).then(|| "lease lost: token 7 is stale".to_owned())
    }
}

#[tokio::test(start_paused = true)]
async fn a_closed_gate_stops_the_run_before_its_next_step_and_records_why() {
    let (bench, devices) = fake_bench("4.25");
    let dir = firmware_dir();
    let recorder = Shared::default();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let request = RunRequest {
        plan: plan(dir.path()),
        unit: Some("FC2-000042".into()),
        operator: None,
        infrastructure_retries: 0,
        gate: Some(Arc::new(LostLease::default())),
        session: None,
        installed_firmware: None,
    };
    let sinks = Sinks::new(Box::new(recorder.clone()), Vec::new());
    let result = run(request, devices, sinks, rx).await.unwrap();
    assert_eq!(result.outcome, RunOutcome::Aborted);
    assert_eq!(
        result.message.as_deref(),
        Some("stopped: lease lost: token 7 is stale; teardown done")
    );
    // Four steps ran; the fifth and the rest of the test were skipped.
    let steps = recorder.steps();
    let ran = steps.iter().filter(|s| s.2 != StepOutcome::Skipped).count();
    assert!(
        steps.iter().any(|s| s.2 == StepOutcome::Skipped),
        "{steps:#?}"
    );
    assert!(ran >= 4 && ran < steps.len(), "{steps:#?}");
    // Teardown still ran: the unit is powered off.
    assert_eq!(bench.psu.value("output"), Some(Reading::Bool(false)));
}

/// The smoke plan without its flash step, as a run on a unit flashed at an earlier station.
fn unflashed_plan(build: &Path) -> rigor_plan::BoundPlan {
    let mut plan = plan(build);
    for steps in [&mut plan.setup, &mut plan.steps, &mut plan.teardown] {
        steps.retain(|s| !matches!(s.action, rigor_plan::plan::BoundAction::Flash { .. }));
    }
    plan
}

/// The firmware the run's start names, as the record keeps it.
fn recorded_firmware(recorder: &Shared) -> (Option<String>, Option<String>) {
    let events = &recorder.0.lock().unwrap().events;
    events
        .iter()
        .find_map(|e| match e {
            Event::RunStarted { run } => {
                Some((run.firmware_version.clone(), run.firmware_sha256.clone()))
            }
            _ => None,
        })
        .unwrap()
}

async fn go_unflashed(plan: rigor_plan::BoundPlan, devices: SlotDevices) -> (RunResult, Shared) {
    let recorder = Shared::default();
    let (_tx, cancel) = tokio::sync::watch::channel(false);
    let result = go_with(plan, devices, &recorder, 0, cancel).await;
    (result, recorder)
}

/// Issue 8: a run that flashes nothing on a rig that cannot know what the unit carries recorded
/// no firmware; the profile's `identity.firmware` question now names it.
#[tokio::test(start_paused = true)]
async fn a_run_that_flashes_nothing_records_the_firmware_the_unit_tells() {
    let (bench, devices) = fake_bench("4.25");
    let dir = firmware_dir();
    let plan = unflashed_plan(dir.path());
    assert!(plan.firmware_query.is_some(), "the shipped profile asks");
    let (result, recorder) = go_unflashed(plan, devices).await;
    assert_eq!(result.outcome, RunOutcome::Pass, "{:#?}", recorder.steps());
    assert_eq!(recorded_firmware(&recorder), (Some("2.1.0".into()), None));
    assert!(bench.flasher.images().is_empty());
    assert_eq!(bench.psu.value("output"), Some(Reading::Bool(false)));
}

#[tokio::test(start_paused = true)]
async fn a_unit_that_does_not_tell_its_firmware_is_run_with_none_recorded() {
    let (bench, devices) = fake_bench("4.25");
    let dir = firmware_dir();
    let mut plan = unflashed_plan(dir.path());
    let query = plan.firmware_query.as_mut().unwrap();
    // A question this firmware does not answer, and a pattern its banner does not hold.
    query.send = "fwinfo".into();
    query.expect =
        serde_json::from_value(serde_json::json!("firmware=(?P<firmware>\\S+)")).unwrap();
    let (result, recorder) = go_unflashed(plan, devices).await;
    assert_eq!(result.outcome, RunOutcome::Pass, "{:#?}", recorder.steps());
    assert_eq!(recorded_firmware(&recorder), (None, None));
    assert_eq!(bench.psu.value("output"), Some(Reading::Bool(false)));
}
