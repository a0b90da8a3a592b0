//! The gpiocdev backend against gpio-sim.

use std::time::Duration;

use rigor_drivers::gpio_cdev::{GpioCdevLine, Role};
use rigor_hal::{DigitalLine, Edge, HalError, Transition};

use crate::gpio_sim::SimChip;
use crate::rig;

/// A chip named as rack-a's slot a1 names its lines, at the rig's offsets: `a1.dio0` at line 0.
fn rack_a_chip(label: &str) -> (SimChip, Vec<(String, u32)>) {
    let lines: Vec<(String, u32)> = rig::gpiochip_lines(&rig::rack_a(), "a1")
        .into_iter()
        .map(|(name, _chip, offset)| (name, offset))
        .collect();
    assert_eq!(lines.len(), 7, "rack-a's a1 has dio0..dio6 on a gpiochip");
    let names: Vec<(u32, String)> = lines.iter().map(|(n, o)| (*o, format!("a1.{n}"))).collect();
    (SimChip::new(label, 16, &names), lines)
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_the_rig_drives_reach_the_line_it_names_and_only_that_line() {
    let (sim, lines) = rack_a_chip("rigor-drive");
    let chip = gpiocdev::chip::Chip::from_path(sim.dev_path()).unwrap();
    let mut driven = Vec::new();
    for (name, offset) in &lines {
        // The rig's offset is the line the simulator named after the rig's channel.
        assert_eq!(chip.line_info(*offset).unwrap().name, format!("a1.{name}"));
        driven.push(GpioCdevLine::open(&sim.label, *offset, Role::Drive).unwrap());
    }
    for (i, line) in driven.iter().enumerate() {
        line.set(true).await.unwrap();
        let high: Vec<bool> = lines.iter().map(|(_, o)| sim.value(*o)).collect();
        let expected: Vec<bool> = (0..lines.len()).map(|j| j == i).collect();
        assert_eq!(high, expected, "after driving {} high", lines[i].0);
        // The backend reads back what it drives from the kernel, too.
        assert!(line.get().await.unwrap());
        line.set(false).await.unwrap();
        assert!(!sim.value(lines[i].1));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inputs_follow_the_level_the_device_pulls_them_to() {
    let (sim, lines) = rack_a_chip("rigor-sense");
    let offset = lines[3].1;
    let line = GpioCdevLine::open(&sim.label, offset, Role::Sense).unwrap();
    for high in [true, false, true] {
        sim.pull(offset, high);
        assert_eq!(line.get().await.unwrap(), high);
    }
    // A line the rig only observes refuses to be driven.
    let err = line.set(false).await.unwrap_err();
    assert!(matches!(err, HalError::Misconfigured { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_is_reported_when_the_kernel_sees_it_and_the_wrong_edge_is_not() {
    let (sim, lines) = rack_a_chip("rigor-edge");
    let offset = lines[0].1;
    sim.pull(offset, false);
    let line = GpioCdevLine::open(&sim.label, offset, Role::Sense).unwrap();

    // Nothing happens: no edge within the window.
    let none = line.wait_edge(Edge::Any, Duration::from_millis(100)).await;
    assert_eq!(none.unwrap(), None);

    // The device raises the line while the rig waits for it.
    let waiter = tokio::spawn(async move {
        let edge = line.wait_edge(Edge::Rising, Duration::from_secs(10)).await;
        (line, edge)
    });
    let pulled = std::time::Instant::now();
    sim.pull(offset, true);
    let (line, edge) = waiter.await.unwrap();
    let edge = edge.unwrap().expect("the rising edge");
    assert!(edge.high);
    assert!(pulled.elapsed() < Duration::from_secs(10));

    // A wait for a rising edge skips a falling one: the device drops the line and raises it
    // again while the rig waits.
    let waiter =
        tokio::spawn(async move { line.wait_edge(Edge::Rising, Duration::from_secs(10)).await });
    let sim = tokio::task::spawn_blocking(move || {
        let pulse = (Duration::from_millis(50), Duration::from_millis(50));
        let made = sim.pulse_train(offset, Duration::from_millis(200), pulse, 1);
        (sim, made)
    })
    .await
    .unwrap();
    let edge = waiter.await.unwrap().unwrap().expect("the rising edge");
    assert!(edge.high);
    assert_eq!(
        sim.1.iter().map(|(_, high)| *high).collect::<Vec<_>>(),
        [true, false]
    );
}

/// Frequency (Hz) from successive rising edges, and mean high time.
fn frequency_and_pulse_width(transitions: &[Transition]) -> (f64, Duration) {
    let rises: Vec<Duration> = transitions
        .iter()
        .filter(|t| t.high)
        .map(|t| t.at)
        .collect();
    let span = (*rises.last().unwrap() - rises[0]).as_secs_f64();
    let frequency = (rises.len() - 1) as f64 / span;
    let widths: Vec<Duration> = transitions
        .windows(2)
        .filter(|w| w[0].high && !w[1].high)
        .map(|w| w[1].at - w[0].at)
        .collect();
    let width = widths.iter().sum::<Duration>() / widths.len() as u32;
    (frequency, width)
}

#[tokio::test(flavor = "multi_thread")]
async fn frequency_and_pulse_width_come_from_the_kernels_timestamps() {
    let (sim, lines) = rack_a_chip("rigor-pwm");
    let offset = lines[5].1;
    sim.pull(offset, false);
    let line = GpioCdevLine::open(&sim.label, offset, Role::Sense).unwrap();
    // 5 Hz, 40 % duty, toggled by the simulator while the rig watches the line. Slow enough for
    // an emulated CPU under load: the kernel names an edge by the level its interrupt thread
    // reads, so a thread that runs after the next edge would name it wrongly.
    let (high, low, periods) = (Duration::from_millis(80), Duration::from_millis(120), 5);
    let watch = tokio::spawn(async move { line.watch(Duration::from_millis(1600)).await });
    // The chip stays until the watch is over: its removal would end the request.
    let (sim, pulled) = tokio::task::spawn_blocking(move || {
        let pulled = sim.pulse_train(offset, Duration::from_millis(200), (high, low), periods);
        (sim, pulled)
    })
    .await
    .unwrap();
    let (level, transitions) = watch.await.unwrap().unwrap();
    assert!(!level, "the line was low when the watch began");
    assert_eq!(transitions.len(), 2 * periods as usize, "{transitions:?}");
    assert_eq!(
        transitions.iter().map(|t| t.high).collect::<Vec<_>>(),
        pulled.iter().map(|(_, high)| *high).collect::<Vec<_>>()
    );
    // Each interval is the simulator's, to within milliseconds: the kernel stamped each edge as
    // the pull happened.
    for (t, p) in transitions.windows(2).zip(pulled.windows(2)) {
        let (seen, made) = (t[1].at - t[0].at, p[1].0 - p[0].0);
        let off = seen.abs_diff(made);
        assert!(off < Duration::from_millis(10), "{seen:?} vs {made:?}");
    }
    let (frequency, width) = frequency_and_pulse_width(&transitions);
    // The bounds allow for a userspace pulse generator on an emulated CPU.
    assert!((4.5..5.5).contains(&frequency), "{frequency} Hz");
    assert!(
        width > Duration::from_millis(70) && width < Duration::from_millis(90),
        "{width:?}"
    );
    drop(sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_another_consumer_holds_is_busy_and_says_so() {
    let (sim, lines) = rack_a_chip("rigor-busy");
    let offset = lines[1].1;
    let _held = GpioCdevLine::open(&sim.label, offset, Role::Drive).unwrap();
    let err = GpioCdevLine::open(&sim.label, offset, Role::Sense)
        .err()
        .expect("the line is held");
    assert!(matches!(err, HalError::Misconfigured { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "gpio line {}:{offset}: another consumer holds the line (see `gpioinfo`)",
            sim.dev_path().display()
        )
    );
    // Another line of the same chip is free.
    GpioCdevLine::open(&sim.label, lines[2].1, Role::Sense).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chip_that_is_not_there_is_named_with_the_chips_that_are() {
    let sim = SimChip::new("rigor-present", 4, &[]);
    let err = GpioCdevLine::open("rigor-absent", 0, Role::Sense)
        .err()
        .expect("no such chip");
    assert!(matches!(err, HalError::Misconfigured { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("gpio chip `rigor-absent`: no chip has that label; chips: "),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} (rigor-present)", sim.dev_path().display())),
        "{text}"
    );

    let err = GpioCdevLine::open("/dev/gpiochip99", 0, Role::Sense)
        .err()
        .expect("no such device");
    assert!(matches!(err, HalError::Disconnected { .. }), "{err}");
    assert_eq!(err.to_string(), "gpio chip /dev/gpiochip99 is gone");
}
