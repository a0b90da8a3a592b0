//! Edges reach the engine through the digital-line seam's `wait_edge`, so a line that reports
//! edges (kernel edge events on a gpiochip line) catches pulses no sampling would see.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rigor_hal::fake::FakeLine;
use rigor_runner::devices::SlotDevices;
use rigor_runner::engine::{RunRequest, run};
use rigor_runner::event::RunOutcome;
use rigor_runner::recorder::MemoryRecorder;
use rigor_runner::sinks::Sinks;

/// `steps` bound for gen2 on the virtual bench's slot1 (the alarm LED is dio5 there).
fn plan(steps: &str) -> rigor_plan::BoundPlan {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("edge.yaml"),
        format!(
            "scenario: edge\nversion: 1\napplies-to: {{ family: fridge-ctl }}\nsteps:\n{steps}"
        ),
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths: Vec<_> = ["device-profiles", "rigs", "fixtures"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    paths.push(dir.path().to_path_buf());
    let (cat, diags) = rigor_model::load_paths(&paths);
    assert!(diags.is_empty(), "{diags}");
    let target = rigor_plan::Target {
        scenario: &cat.scenarios["edge"],
        profile: &cat.profiles["fridge-ctl-gen2"],
        fixture: &cat.fixtures["fx-fridge-gen2"],
        rig: &cat.rigs["virtual-bench"],
        slot: "slot1",
    };
    rigor_plan::bind(&cat, target, &Default::default()).unwrap()
}

async fn run_with(line: FakeLine, steps: &str) -> rigor_runner::engine::RunResult {
    let devices = SlotDevices {
        lines: [(
            "dio5".to_owned(),
            Arc::new(line) as Arc<dyn rigor_hal::DigitalLine>,
        )]
        .into(),
        ..SlotDevices::default()
    };
    let request = RunRequest {
        plan: plan(steps),
        unit: Some("FC2-000001".into()),
        operator: None,
        infrastructure_retries: 0,
        gate: None,
        session: None,
        installed_firmware: None,
    };
    let sinks = Sinks::new(Box::new(MemoryRecorder::default()), Vec::new());
    let (_tx, cancel) = tokio::sync::watch::channel(false);
    run(request, devices, sinks, cancel).await.unwrap()
}

/// Regression: `gpio.wait-edge` sampled the line every 5 ms and missed a pulse shorter than
/// that; it now waits on the line's own edges.
///
/// On real time: paused time would jump to the device's pulse while the run's start is being
/// recorded on the writer thread, before the step waits.
#[tokio::test]
async fn a_pulse_shorter_than_any_sampling_is_caught_through_wait_edge() {
    let led = FakeLine::new(false);
    let device = led.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Up and down again at once: no sampler looking every few milliseconds sees it.
        device.drive(true);
        device.drive(false);
    });
    let result = run_with(
        led,
        "  - gpio.wait-edge: { signal: alarm_led, edge: rising, within: 10s }\n",
    )
    .await;
    assert_eq!(result.outcome, RunOutcome::Pass, "{:?}", result.message);
}

#[tokio::test(start_paused = true)]
async fn no_edge_within_the_window_fails_naming_the_edge_and_the_signal() {
    let result = run_with(
        FakeLine::new(false),
        "  - gpio.wait-edge: { signal: alarm_led, edge: rising, within: 300ms }\n",
    )
    .await;
    assert_eq!(result.outcome, RunOutcome::Fail);
    assert_eq!(
        result.message.as_deref(),
        Some("no rising edge on `alarm_led` within 300ms")
    );
}

#[tokio::test(start_paused = true)]
async fn a_level_that_arrives_in_time_passes_gpio_expect() {
    let led = FakeLine::new(false);
    let device = led.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        device.drive(true);
    });
    let result = run_with(
        led,
        "  - gpio.expect: { signal: alarm_led, level: active, within: 1s }\n",
    )
    .await;
    assert_eq!(result.outcome, RunOutcome::Pass, "{:?}", result.message);
}
