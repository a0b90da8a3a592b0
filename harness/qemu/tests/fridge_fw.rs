//! The QEMU rig against real firmware (`fixtures/qemu-fridge-fw`) on QEMU's lm3s6965evb: the
//! console over the pty QMP names, the TMP105 set through QMP and read by the firmware over I2C,
//! the door switch driven and the LED observed through qtest, and a firmware that locks up.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::time::Duration;

use common::{ANSWER, DOOR, LED, SENSOR_ID, SERIAL, ask, boot, boot_started, config, images, re};
use rigor_console::LineEnding;
use rigor_hal::{Blame, DigitalLine, Edge, HalError};
use rigor_qemu::{
    MachineExit, QemuConfig, QemuError, QemuGpio, QemuMachine, Tmp105, gpio_port_path,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_and_version_report_the_version_the_image_was_built_with() {
    for (image, built) in [(&images().v1, "1.0.0"), (&images().v2, "2.0.0")] {
        let (machine, mut console, version, serial) = boot(&config(image)).await;
        assert_eq!((version.as_str(), serial.as_str()), (built, SERIAL));
        assert_eq!(
            ask(&mut console, "version").await,
            format!("version {built}")
        );
        assert_eq!(
            ask(&mut console, "serial").await,
            format!("serial {SERIAL}")
        );
        assert_eq!(ask(&mut console, "reboot").await, "error: unknown command");
        console.close().await;
        assert_eq!(
            machine.quit(ANSWER).await.unwrap(),
            MachineExit::Code(0),
            "quit ends qemu cleanly"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firmware_reads_the_temperature_set_through_qmp() {
    let (machine, mut console, _, _) = boot(&config(&images().v1)).await;
    let sensor = Tmp105::new(machine.qmp().clone(), SENSOR_ID);
    for milli in [21_500, 36_000, -10_250] {
        sensor.set_millicelsius(milli).await.unwrap();
        assert_eq!(sensor.millicelsius().await.unwrap(), milli);
        assert_eq!(ask(&mut console, "temp").await, format!("temp {milli}"));
    }
    // QEMU's TMP105 takes -128 °C to 128 °C; outside that the rig asked for the impossible.
    let err = sensor.set_millicelsius(200_000).await.unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    assert_eq!(HalError::from(err).blame(), Blame::Rig);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_sensor_the_firmware_says_temp_error() {
    let (_machine, mut console, _, _) = boot(&QemuConfig::new(&images().v1)).await;
    assert_eq!(ask(&mut console, "temp").await, "temp error");
}

/// The door input and LED output of a started (still halted) machine.
async fn door_and_led(machine: &QemuMachine) -> (QemuGpio, QemuGpio) {
    let qmp = machine.qmp();
    let door_port = gpio_port_path(qmp, DOOR.0).await.unwrap();
    let led_port = gpio_port_path(qmp, LED.0).await.unwrap();
    assert_eq!(
        (door_port.as_str(), led_port.as_str()),
        (
            "/machine/unattached/device[14]",
            "/machine/unattached/device[13]"
        ),
        "QEMU 7.2 creates the lm3s6965evb's GPIO ports A to G as device[8] to device[14]"
    );
    let door = QemuGpio::input(machine.qtest().clone(), door_port, DOOR.1);
    // Intercepted before the guest runs, so qtest's record of the LED starts right.
    let led = QemuGpio::output(machine.qtest().clone(), led_port, LED.1)
        .await
        .unwrap();
    (door, led)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_led_follows_the_door_switch() {
    let machine = QemuMachine::start(&config(&images().v1)).await.unwrap();
    let (door, led) = door_and_led(&machine).await;
    let (machine, mut console, _, _) = boot_started(machine).await;
    assert_eq!(ask(&mut console, "gpio").await, "gpio door=0 led=0");
    assert!(!led.get().await.unwrap());

    // `biased` polls the wait first, so it listens before the door moves.
    let (rise, set) = tokio::join!(biased; led.wait_edge(Edge::Rising, ANSWER), door.set(true));
    set.unwrap();
    assert!(
        rise.unwrap().is_some_and(|t| t.high),
        "the LED lights when the door opens"
    );
    assert!(led.get().await.unwrap() && door.get().await.unwrap());
    assert_eq!(ask(&mut console, "gpio").await, "gpio door=1 led=1");

    let (fall, set) = tokio::join!(biased; led.wait_edge(Edge::Falling, ANSWER), door.set(false));
    set.unwrap();
    assert!(
        fall.unwrap().is_some_and(|t| !t.high),
        "the LED goes out when the door closes"
    );
    assert_eq!(ask(&mut console, "gpio").await, "gpio door=0 led=0");

    // The console can light it too; the LED stays lit until the door next changes.
    assert_eq!(ask(&mut console, "led on").await, "led on");
    assert!(led.get().await.unwrap());
    assert_eq!(
        led.wait_edge(Edge::Rising, Duration::from_millis(100))
            .await
            .unwrap(),
        None,
        "no second rising edge without a fall"
    );
    drop(machine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_the_led_records_every_change_in_the_window() {
    let machine = QemuMachine::start(&config(&images().v1)).await.unwrap();
    let (door, led) = door_and_led(&machine).await;
    let (_machine, mut console, _, _) = boot_started(machine).await;
    let window = Duration::from_secs(3);
    // `biased` polls the watch first, so it listens before the door moves.
    let (watched, ()) = tokio::join!(biased; led.watch(window), async {
        // Each level confirmed on the console before the next, so none is coalesced.
        for (high, answer) in [
            (true, "gpio door=1 led=1"),
            (false, "gpio door=0 led=0"),
            (true, "gpio door=1 led=1"),
        ] {
            door.set(high).await.unwrap();
            assert_eq!(ask(&mut console, "gpio").await, answer);
        }
    });
    let (start, transitions) = watched.unwrap();
    assert!(!start);
    let levels: Vec<bool> = transitions.iter().map(|t| t.high).collect();
    assert_eq!(levels, [true, false, true]);
    assert!(
        transitions.windows(2).all(|w| w[0].at <= w[1].at) && transitions[2].at < window,
        "{transitions:?}"
    );
    // An output of the device cannot be driven, an input is not watched.
    assert!(matches!(
        led.set(true).await,
        Err(HalError::Unsupported { .. })
    ));
    assert!(matches!(
        door.watch(Duration::ZERO).await,
        Err(HalError::Unsupported { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_reset_reboots_the_firmware() {
    let (machine, mut console, _, _) = boot(&config(&images().v2)).await;
    let mut events = machine.qmp().events();
    machine.qmp().system_reset().await.unwrap();
    let banner = console
        .expect(&re(r"fridge-ctl qemu fw 2\.0\.0 serial \S+\r\n> "), ANSWER)
        .await;
    assert!(banner.is_ok(), "{banner:?}");
    let reset = tokio::time::timeout(ANSWER, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reset.name, "RESET");
    assert_eq!(reset.data["reason"], "host-qmp-system-reset");
    assert_eq!(
        machine.qmp().query_status().await.unwrap().status,
        "running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_that_locks_up_is_a_dead_device_not_a_rig_failure() {
    let machine = QemuMachine::start(&config(&images().lockup)).await.unwrap();
    let (door, _led) = door_and_led(&machine).await;
    let (machine, console, version, _) = boot_started(machine).await;
    assert_eq!(version, "1.0.0", "the firmware boots");
    assert!(machine.check().is_ok(), "and runs until asked something");
    console
        .send("version", LineEnding::CrLf, None)
        .await
        .unwrap();
    let exit = machine.wait_exit(ANSWER).await.unwrap();
    match &exit {
        MachineExit::Aborted { fatal: Some(fatal) } => assert!(
            fatal.contains("Lockup: can't escalate"),
            "QEMU's reason: {fatal}"
        ),
        other => panic!("expected an abort, got {other:?}"),
    }
    assert!(exit.to_string().contains("exit code 134"), "{exit}");
    assert_eq!(exit.blame(), Blame::Device);
    let err = machine.check().unwrap_err();
    assert!(matches!(err, QemuError::DeviceDead { .. }), "{err:?}");
    assert_eq!(err.blame(), Blame::Device);
    // The seam says so too: driving a line of the dead device blames the device.
    let err = door.set(true).await.unwrap_err();
    assert_eq!(err.blame(), Blame::Device, "{err}");
    assert!(err.to_string().contains("Lockup"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_refusing_its_command_line_is_a_startup_error_of_the_rig() {
    let mut config = config(&images().v1);
    config.devices.push("no-such-device".to_owned());
    let err = QemuMachine::start(&config).await.err().expect("no start");
    match &err {
        QemuError::Startup { exit, stderr } => {
            assert_eq!(exit, &MachineExit::Code(1));
            assert!(stderr.contains("no-such-device"), "{stderr}");
        }
        other => panic!("expected a startup error, got {other:?}"),
    }
    assert_eq!(err.blame(), Blame::Rig);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_machine_kills_qemu() {
    let machine = QemuMachine::start(&config(&images().v1)).await.unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", machine.pid().unwrap()));
    assert!(proc_dir.exists());
    drop(machine);
    let deadline = tokio::time::Instant::now() + ANSWER;
    // Gone, or a zombie for the moment before Tokio reaps it.
    let gone = || {
        std::fs::read_to_string(proc_dir.join("stat"))
            .map_or(true, |stat| stat.split(' ').nth(2) == Some("Z"))
    };
    while !gone() {
        assert!(tokio::time::Instant::now() < deadline, "qemu still runs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gdb_stub_listens_where_configured() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gdb = free.local_addr().unwrap();
    drop(free);
    let mut config = config(&images().v1);
    config.gdb = Some(gdb);
    let machine = QemuMachine::start(&config).await.unwrap();
    assert!(
        machine
            .command_line()
            .windows(2)
            .any(|w| w[0] == "-gdb" && w[1] == format!("tcp:{gdb}"))
    );
    let mut stub = tokio::net::TcpStream::connect(gdb).await.unwrap();
    // `?`: why the target stopped. A halted (-S) QEMU answers with a stop reply.
    stub.write_all(b"$?#3f").await.unwrap();
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    // A packet is `$...#` and two checksum digits.
    let whole = |heard: &[u8]| {
        heard
            .iter()
            .position(|b| *b == b'#')
            .is_some_and(|hash| heard.len() >= hash + 3)
    };
    while !whole(&heard) {
        let n = tokio::time::timeout(ANSWER, stub.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stub hung up after {heard:?}");
        heard.extend_from_slice(&buf[..n]);
    }
    let heard = String::from_utf8_lossy(&heard);
    assert!(
        heard.starts_with("+$T05") || heard.starts_with("+$S05"),
        "{heard}"
    );
    drop(stub);
    assert_eq!(machine.quit(ANSWER).await.unwrap(), MachineExit::Code(0));
}
