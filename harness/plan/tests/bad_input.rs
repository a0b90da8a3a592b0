//! Bad input, across the file kinds, and the exact diagnostics it gets: file, line, column, key
//! path, what is wrong and what would be right. Each case starts from a small valid tree and
//! replaces or adds files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;

use indoc::indoc;

const PROFILE_GEN1: &str = indoc! {r#"
    profile: dev-gen1
    family: dev
    generation: gen1
    mcu: { chip: STM32F030C8Tx }
    flash: { methods: [virtual] }
    signals:
      door: { direction: input, active: low, states: { active: open, inactive: closed } }
      led: { direction: output }
    console: { baud: 9600, boot-banner: 'boot (?P<fw>\S+)' }
    i2c:
      sensor: { address: 0x48, registers: { temp: { address: 0, bytes: 2 } } }
    power: { nominal-volts: 12, current-limit-amps: 1 }
    network:
      uplink: { medium: wifi }
    capabilities: [uplink]
    variables:
      idle: { low: 0.01, high: 0.05, unit: A }
"#};

const PROFILE_GEN2: &str = indoc! {"
    profile: dev-gen2
    extends: dev-gen1
    generation: gen2
"};

const INSTRUMENT: &str = indoc! {"
    instrument-model: psu
    kind: power-supply
    channels:
      output: { table: coil, address: 0, type: bool, writable: true }
      current: { table: input, address: 1, scale: 0.001, unit: A }
      voltage: { table: input, address: 2, scale: 0.01, unit: V }
"};

const RIG: &str = indoc! {"
    rig: bench
    virtual-bench: {}
    instruments:
      psu1: { model: psu, modbus: virtual }
    slots:
      s1:
        kind: socket
        probe: virtual
        serial: { uart0: virtual }
        gpio: { d0: virtual, d1: virtual }
        i2c: { bus0: virtual }
        instruments: { psu: psu1 }
        power: { supply: { instrument: psu } }
        net: { wan0: virtual }
    permissions: { flash: true, provision: true }
"};

const FIXTURE: &str = indoc! {"
    fixture: fx1
    fits: { family: dev, generations: [gen1, gen2] }
    slot-kind: socket
    signals: { door: d0, led: d1 }
    console: uart0
    i2c: bus0
    network: { uplink: wan0 }
"};

const SCENARIO: &str = indoc! {r#"
    scenario: smoke
    version: 1
    applies-to: { family: dev }
    steps:
      - power: on
      - id: banner
        console.expect: 'boot (?P<fw>\S+)'
      - measure: { name: idle, from: psu.current, limits: { low: 0.01, high: 0.05, unit: A } }
"#};

fn base() -> BTreeMap<&'static str, String> {
    [
        ("profiles/gen1.yaml", PROFILE_GEN1),
        ("profiles/gen2.yaml", PROFILE_GEN2),
        ("instruments/psu.yaml", INSTRUMENT),
        ("rigs/bench.yaml", RIG),
        ("fixtures/fx1.yaml", FIXTURE),
        ("scenarios/smoke.yaml", SCENARIO),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// Writes the base tree with `changes` applied, loads and binds it, and renders every diagnostic
/// with paths relative to the tree.
fn diagnostics(changes: &[(&'static str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut files = base();
    for (name, text) in changes {
        files.insert(name, (*text).to_owned());
    }
    for (name, text) in &files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let (catalog, mut diags) = rigor_model::load_paths(&[dir.path().to_path_buf()]);
    let (_, _, bind) = rigor_plan::matrix(&catalog, &BTreeMap::new());
    diags.extend(bind);
    diags.sort();
    let prefix = format!("{}/", dir.path().display());
    diags
        .iter()
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect()
}

#[test]
fn the_base_tree_is_valid() {
    assert_eq!(diagnostics(&[]), Vec::<String>::new());
}

fn with_step(step: &str) -> String {
    format!("{SCENARIO}  {}\n", step.trim_end().replace('\n', "\n  "))
}

struct Case {
    name: &'static str,
    changes: Vec<(&'static str, String)>,
    expected: &'static [&'static str],
}

fn case(
    name: &'static str,
    changes: &[(&'static str, &str)],
    expected: &'static [&'static str],
) -> Case {
    Case {
        name,
        changes: changes.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        expected,
    }
}

fn cases() -> Vec<Case> {
    let scenario = "scenarios/smoke.yaml";
    let step = |name, step: &str, expected| Case {
        name,
        changes: vec![(scenario, with_step(step))],
        expected,
    };
    vec![
        // ---- YAML and file shape
        case(
            "yaml syntax error",
            &[(scenario, "scenario: smoke\nsteps: [power: on\n")],
            &[
                "scenarios/smoke.yaml:3:1: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'",
            ],
        ),
        case(
            "an infinite profile variable",
            &[(
                "profiles/gen1.yaml",
                &PROFILE_GEN1.replace("high: 0.05, unit: A", "high: .inf, unit: A"),
            )],
            &[
                "profiles/gen1.yaml:17:28: variables.idle.high: `inf` is not a finite number\n  help: write a number: NaN and infinity can never judge a unit",
            ],
        ),
        case(
            "duplicate key at its own line",
            &[(
                "fixtures/fx1.yaml",
                &FIXTURE.replace("i2c: bus0\n", "i2c: bus0\nconsole: uart1\n"),
            )],
            &[
                "fixtures/fx1.yaml:7:1: console: duplicate key `console`\n  help: `console` is already set at line 5, column 1; a key may appear once in a mapping",
            ],
        ),
        case(
            "unknown file kind with suggestion",
            &[("rigs/other.yaml", "rigg: other\nslots: {}\n")],
            &[
                "rigs/other.yaml:1:1: cannot tell what kind of rigor file this is\n  help: did you mean `rig`?",
            ],
        ),
        case(
            "two kinds in one file",
            &[("rigs/other.yaml", "rig: other\nfixture: x\nslots: {}\n")],
            &[
                "rigs/other.yaml:2:1: fixture: a file may be one kind only, but has `rig` and `fixture`",
            ],
        ),
        // ---- profiles
        case(
            "profile unknown key with suggestion",
            &[(
                "profiles/gen2.yaml",
                "profile: dev-gen2\nextends: dev-gen1\ngeneration: gen2\ncapabilites: [x]\n",
            )],
            &[
                "profiles/gen2.yaml:4:1: capabilites: unknown key `capabilites`\n  help: did you mean `capabilities`?",
            ],
        ),
        case(
            "profile type error",
            &[(
                "profiles/gen2.yaml",
                "profile: dev-gen2\nextends: dev-gen1\ngeneration: gen2\nconsole: { baud: fast }\n",
            )],
            &["profiles/gen2.yaml:4:18: console.baud: invalid type: string \"fast\", expected u32"],
        ),
        case(
            "profile extends unknown",
            &[(
                "profiles/gen2.yaml",
                "profile: dev-gen2\nextends: dev-gen0\ngeneration: gen2\n",
            )],
            &[
                "profiles/gen2.yaml:2:10: extends: `extends` names an unknown profile `dev-gen0`\n  help: did you mean `dev-gen2`?",
            ],
        ),
        case(
            "extends cycle",
            &[
                (
                    "profiles/gen2.yaml",
                    "profile: dev-gen2\nextends: dev-gen3\ngeneration: gen2\n",
                ),
                (
                    "profiles/gen3.yaml",
                    "profile: dev-gen3\nextends: dev-gen2\ngeneration: gen3\n",
                ),
            ],
            &[
                "profiles/gen3.yaml:2:10: extends: `extends` makes a cycle: dev-gen2 → dev-gen3 → dev-gen2\n  help: a profile may extend an earlier generation, never itself through others",
            ],
        ),
        case(
            "profile missing family",
            &[(
                "profiles/gen1.yaml",
                &PROFILE_GEN1.replace("family: dev\n", ""),
            )],
            &[
                "profiles/gen1.yaml:1:1: missing required key `family`\n  help: set `family` here or in the profile this one extends",
                "profiles/gen2.yaml:1:1: missing required key `family`\n  help: set `family` here or in the profile this one extends",
            ],
        ),
        case(
            "profile bad unit in variable",
            &[(
                "profiles/gen1.yaml",
                &PROFILE_GEN1.replace("unit: A }", "unit: Amp }"),
            )],
            &[
                "profiles/gen1.yaml:17:40: variables.idle.unit: unknown unit `Amp`\n  help: expected one of: V, mV, A, mA, µA, W, mW, Ω, kΩ, Hz, kHz, s, ms, µs, °C, %, dBm, bytes, count",
            ],
        ),
        case(
            "profile bad banner regex",
            &[(
                "profiles/gen2.yaml",
                "profile: dev-gen2\nextends: dev-gen1\ngeneration: gen2\nconsole: { boot-banner: 'boot (' }\n",
            )],
            &[
                "profiles/gen2.yaml:4:25: console.boot-banner: invalid regular expression: unclosed group",
            ],
        ),
        case(
            "profile signing key and floor that are neither",
            &[(
                "profiles/gen2.yaml",
                "profile: dev-gen2\nextends: dev-gen1\ngeneration: gen2\nflash:\n  signing:\n    trusted-keys: { ci: AAAA }\n    anti-rollback-floor: two\n",
            )],
            &[
                "profiles/gen2.yaml:6:25: flash.signing.trusted-keys.ci: `AAAA` is not an ed25519 public key\n  help: 32 bytes in base64 (44 characters), as `rigor image keygen` prints",
                "profiles/gen2.yaml:7:26: flash.signing.anti-rollback-floor: `two` is not a version\n  help: write MAJOR.MINOR.PATCH, e.g. `2.1.0`",
            ],
        ),
        case(
            "profile direction unknown variant",
            &[(
                "profiles/gen1.yaml",
                &PROFILE_GEN1.replace("led: { direction: output }", "led: { direction: outptu }"),
            )],
            &[
                "profiles/gen1.yaml:8:21: signals.led.direction: unknown value `outptu`\n  help: did you mean `output`?",
            ],
        ),
        // ---- instrument models and rigs
        case(
            "coil that is not bool",
            &[(
                "instruments/psu.yaml",
                &INSTRUMENT.replace("type: bool, writable", "type: u16, writable"),
            )],
            &[],
        ),
        case(
            "rig unknown instrument model",
            &[(
                "rigs/bench.yaml",
                &RIG.replace("model: psu,", "model: psuu,"),
            )],
            &[
                "rigs/bench.yaml:4:18: instruments.psu1.model: no instrument model `psuu`\n  help: did you mean `psu`?",
            ],
        ),
        case(
            "rig virtual channel without bench",
            &[("rigs/bench.yaml", &RIG.replace("virtual-bench: {}\n", ""))],
            &[
                "rigs/bench.yaml:3:31: instruments.psu1.modbus: a `virtual` channel on a rig without the virtual bench or QEMU\n  help: add `virtual-bench: {}` or `qemu:` to the rig, or describe the real hardware",
                "rigs/bench.yaml:7:12: slots.s1.probe: a `virtual` channel on a rig without the virtual bench or QEMU\n  help: add `virtual-bench: {}` or `qemu:` to the rig, or describe the real hardware",
                "rigs/bench.yaml:8:22: slots.s1.serial.uart0: a `virtual` channel on a rig without the virtual bench or QEMU\n  help: add `virtual-bench: {}` or `qemu:` to the rig, or describe the real hardware",
                "rigs/bench.yaml:9:17: slots.s1.gpio.d0: a `virtual` channel on a rig without the virtual bench or QEMU\n  help: add `virtual-bench: {}` or `qemu:` to the rig, or describe the real hardware",
                "rigs/bench.yaml:9:30: slots.s1.gpio.d1: a `virtual` channel on a rig without the virtual bench or QEMU\n  help: add `virtual-bench: {}` or `qemu:` to the rig, or describe the real hardware",
                "rigs/bench.yaml:10:18: slots.s1.i2c.bus0: a `virtual` channel on a rig without the virtual bench or QEMU\n  help: add `virtual-bench: {}` or `qemu:` to the rig, or describe the real hardware",
                "rigs/bench.yaml:13:18: slots.s1.net.wan0: a `virtual` channel on a rig without the virtual bench or QEMU\n  help: add `virtual-bench: {}` or `qemu:` to the rig, or describe the real hardware",
            ],
        ),
        case(
            "rig probe with two choices",
            &[(
                "rigs/bench.yaml",
                &RIG.replace(
                    "probe: virtual",
                    "probe: { virtual: {}, gdb-remote: { address: 'x:1' } }",
                ),
            )],
            &[
                "rigs/bench.yaml:8:12: slots.s1.probe: `gdb-remote` cannot be combined with `virtual`\n  help: give exactly one of: probe-rs, gdb-remote, virtual",
            ],
        ),
        case(
            "rig bad usb identity",
            &[(
                "rigs/bench.yaml",
                &RIG.replace("uart0: virtual", "uart0: { usb: '0403-6001' }"),
            )],
            &[
                "rigs/bench.yaml:9:29: slots.s1.serial.uart0.usb: `0403-6001` is not a USB identity\n  help: write VID:PID:SERIAL with hex VID and PID, e.g. `0403:6001:FT5XYZ12`",
            ],
        ),
        case(
            "rig power channel missing in model",
            &[(
                "rigs/bench.yaml",
                &RIG.replace("instrument: psu }", "instrument: psu, enable: outptu }"),
            )],
            &[
                "rigs/bench.yaml:13:49: slots.s1.power.supply.enable: instrument model `psu` has no channel `outptu`\n  help: did you mean `output`?\n  note: the model is at instruments/psu.yaml:4:3",
            ],
        ),
        // ---- fixtures
        case(
            "fixture wires an unknown generation",
            &[(
                "fixtures/fx1.yaml",
                &FIXTURE.replace("[gen1, gen2]", "[gen1, gen4]"),
            )],
            &[
                "fixtures/fx1.yaml:2:42: fits.generations[1]: family `dev` has no generation `gen4`\n  help: did you mean `gen2`?",
            ],
        ),
        case(
            "fixture channel missing on slot",
            &[("fixtures/fx1.yaml", &FIXTURE.replace("led: d1", "led: d7"))],
            &[
                "fixtures/fx1.yaml:4:27: signals.led: slot `s1` of rig `bench` has no GPIO channel `d7`\n  help: expected one of: d0, d1\n  note: the slot is at rigs/bench.yaml:7:5",
            ],
        ),
        case(
            "fixture signal unknown to profiles",
            &[(
                "fixtures/fx1.yaml",
                &FIXTURE.replace("led: d1", "led: d1, lid: d1"),
            )],
            &[
                "fixtures/fx1.yaml:4:31: signals.lid: no generation this fixture fits has a signal `lid`\n  help: expected one of: door, led",
            ],
        ),
        // ---- scenarios, alone
        case(
            "scenario missing field",
            &[(
                scenario,
                "scenario: smoke\napplies-to: { family: dev }\nsteps: []\n",
            )],
            &["scenarios/smoke.yaml:1:1: missing required key `version`"],
        ),
        step(
            "unknown step key with suggestion",
            "- consle.expect: 'x'",
            &[
                "scenarios/smoke.yaml:9:20: steps[3].consle.expect: unknown key `consle.expect`\n  help: did you mean `console.expect`?",
            ],
        ),
        step(
            "step with two actions",
            "- power: off\n  wait: 1s",
            &[
                "scenarios/smoke.yaml:9:5: steps[3]: a step does one thing, but this one has both `power` and `wait`\n  help: split it into two steps",
            ],
        ),
        step(
            "bad power shorthand",
            "- power: sideways",
            &[
                "scenarios/smoke.yaml:9:12: steps[3].power: unknown power state `sideways`\n  help: expected one of: on, off, cycle",
            ],
        ),
        step(
            "bad duration",
            "- wait: 5",
            &[
                "scenarios/smoke.yaml:9:11: steps[3].wait: a duration needs a unit: `5` alone is ambiguous\n  help: write `5s` or `5ms`",
            ],
        ),
        step(
            "bad unit in limits",
            "- measure: { name: v, from: psu.voltage, limits: { low: 1, unit: Volts } }",
            &[
                "scenarios/smoke.yaml:9:68: steps[3].measure.limits.unit: unknown unit `Volts`\n  help: expected one of: V, mV, A, mA, µA, W, mW, Ω, kΩ, Hz, kHz, s, ms, µs, °C, %, dBm, bytes, count",
            ],
        ),
        step(
            "limits low above high",
            "- measure: { name: v, from: psu.voltage, limits: { low: 5, high: 1, unit: V } }",
            &[
                "scenarios/smoke.yaml:9:59: steps[3].measure.limits.low: the lower limit 5 is above the upper limit 1",
            ],
        ),
        step(
            "marginal outside limits",
            "- measure: { name: v, from: psu.voltage, limits: { low: 1, high: 5, unit: V, marginal: { high: 6 } } }",
            &[
                "scenarios/smoke.yaml:9:98: steps[3].measure.limits.marginal.high: the marginal band's high end 6 lies outside the limits",
            ],
        ),
        step(
            "measure without source",
            "- measure: { name: v, limits: { low: 1, unit: V } }",
            &[
                "scenarios/smoke.yaml:9:14: steps[3].measure: a measurement needs a source\n  help: give one of `from: INSTRUMENT.CHANNEL`, `capture: NAME` or `expr: EXPRESSION`",
            ],
        ),
        step(
            "invalid regex",
            "- console.expect: 'boot ('",
            &[
                "scenarios/smoke.yaml:9:21: steps[3].console.expect.pattern: invalid regular expression: unclosed group",
            ],
        ),
        step(
            "duplicate step id",
            "- id: banner\n  console.send: version",
            &[
                "scenarios/smoke.yaml:9:9: steps[3].id: duplicate step id `banner`\n  help: step ids name steps in reports and records, so each must be unique in its scenario\n  note: first used at scenarios/smoke.yaml:6:9",
            ],
        ),
        step(
            "duplicate measurement name",
            "- measure: { name: idle, from: psu.current, limits: { high: 1, unit: A } }",
            &[
                "scenarios/smoke.yaml:9:22: steps[3].measure.name: duplicate measurement name `idle`\n  note: first used at scenarios/smoke.yaml:8:5",
            ],
        ),
        step(
            "retry with one attempt",
            "- retry: { attempts: 1, steps: [ { wait: 1s } ] }",
            &[
                "scenarios/smoke.yaml:9:24: steps[3].retry.attempts: a retry group needs at least 2 attempts",
            ],
        ),
        step(
            "ota.offer cuts without cut-after",
            "- ota.offer: { image: fw.elf, cuts: 2 }",
            &[
                "scenarios/smoke.yaml:9:16: steps[3].ota.offer: slot `s1` of rig `bench` has no update server\n  help: add `update-server: virtual` (the virtual bench) or `update-server: { listen: HOST:PORT }` to the slot\n  note: the rig is at rigs/bench.yaml:1:1",
                "scenarios/smoke.yaml:9:33: steps[3].ota.offer.cuts: `cuts` says how many transfers to cut; it needs `cut-after`",
            ],
        ),
        // ---- binding
        step(
            "an update step on a slot without an update server",
            "- ota.measure: { name: redl, quantity: bytes-redownloaded, limits: { high: 0, unit: bytes } }",
            &[
                "scenarios/smoke.yaml:9:18: steps[3].ota.measure: slot `s1` of rig `bench` has no update server\n  help: add `update-server: virtual` (the virtual bench) or `update-server: { listen: HOST:PORT }` to the slot\n  note: the rig is at rigs/bench.yaml:1:1",
            ],
        ),
        step(
            "unit mismatch with instrument channel",
            "- measure: { name: v, from: psu.voltage, limits: { low: 1, high: 2, unit: A } }",
            &[
                "scenarios/smoke.yaml:9:77: steps[3].measure.limits.unit: the limits are in A, but the value is measured in V\n  help: write the limits in V or another unit of the same kind\n  note: the channel is at instruments/psu.yaml:6:12",
            ],
        ),
        step(
            "limits in mA against an A channel are accepted",
            "- measure: { name: i2, from: psu.current, limits: { high: 80, unit: mA } }",
            &[],
        ),
        step(
            "signal the profile lacks",
            "- gpio.set: { signal: dor, level: open }",
            &[
                "scenarios/smoke.yaml:9:25: steps[3].gpio.set.signal: profile `dev-gen1` has no signal `dor`\n  help: did you mean `door`?\n  note: the profile's signals are at profiles/gen1.yaml:7:3",
                "scenarios/smoke.yaml:9:25: steps[3].gpio.set.signal: profile `dev-gen2` has no signal `dor`\n  help: did you mean `door`?\n  note: the profile's signals are at profiles/gen1.yaml:7:3",
            ],
        ),
        case(
            "signal the fixture does not wire",
            &[
                ("fixtures/fx1.yaml", &FIXTURE.replace("door: d0, ", "")),
                (scenario, &with_step("- gpio.read: { signal: door, as: d }")),
            ],
            &[
                "scenarios/smoke.yaml:9:26: steps[3].gpio.read.signal: fixture `fx1` does not wire signal `door`\n  help: wire it in the fixture: `signals: { door: CHANNEL }`\n  note: the fixture is at fixtures/fx1.yaml:4:10",
            ],
        ),
        step(
            "driving an output",
            "- gpio.set: { signal: led, level: active }",
            &[
                "scenarios/smoke.yaml:9:25: steps[3].gpio.set.signal: `led` is an output of the device; the rig can only read it\n  note: the signal is at profiles/gen1.yaml:8:8",
            ],
        ),
        step(
            "unknown level name",
            "- gpio.set: { signal: door, level: opne }",
            &[
                "scenarios/smoke.yaml:9:38: steps[3].gpio.set.level: `opne` is not a level of `door`\n  help: did you mean `open`?\n  note: the signal is at profiles/gen1.yaml:7:9",
            ],
        ),
        step(
            "unknown instrument channel",
            "- measure: { name: v, from: psu.currnet, limits: { high: 1, unit: A } }",
            &[
                "scenarios/smoke.yaml:9:31: steps[3].measure.from: instrument model `psu` has no channel `currnet`\n  help: did you mean `current`?\n  note: the model is at instruments/psu.yaml:4:3",
            ],
        ),
        step(
            "unknown instrument alias",
            "- instrument.read: { channel: dmm.voltage, as: v }",
            &[
                "scenarios/smoke.yaml:9:33: steps[3].instrument.read.channel: slot `s1` has no instrument named `dmm`\n  help: expected one of: psu\n  note: the slot is at rigs/bench.yaml:12:18",
            ],
        ),
        step(
            "write to read-only channel",
            "- instrument.write: { channel: psu.voltage, value: 3 }",
            &[
                "scenarios/smoke.yaml:9:34: steps[3].instrument.write.channel: channel `voltage` of `psu` is read-only\n  note: the channel is at instruments/psu.yaml:6:12",
            ],
        ),
        step(
            "capture used before defined",
            "- measure: { name: t, capture: temp, unit: degC, limits: { high: 8, unit: degC } }",
            &[
                "scenarios/smoke.yaml:9:34: steps[3].measure.capture: no earlier step captures `temp`\n  help: capture it first, e.g. with `as: NAME` or a `(?P<NAME>...)` group in console.expect",
            ],
        ),
        step(
            "expression over unknown name",
            "- measure: { name: t, expr: 'raw * 0.0625', limits: { high: 8, unit: degC } }",
            &[
                "scenarios/smoke.yaml:9:31: steps[3].measure.expr: `raw` in the expression is neither captured by an earlier step nor a numeric variable\n  help: expected one of: fw",
            ],
        ),
        step(
            "unknown variable",
            "- flash: { image: '${build_dri}/fw.elf' }",
            &[
                "scenarios/smoke.yaml:9:21: steps[3].flash.image: unknown variable `${build_dri}`\n  help: expected one of: boot_banner, family, fixture, generation, profile, rig, scenario, slot",
            ],
        ),
        step(
            "NaN and infinite limits",
            "- measure: { name: i2, from: psu.current, limits: { high: .nan, low: -.inf, unit: A } }",
            &[
                "scenarios/smoke.yaml:9:61: steps[3].measure.limits.high: `NaN` is not a finite number\n  help: write a number: NaN and infinity can never judge a unit",
                "scenarios/smoke.yaml:9:72: steps[3].measure.limits.low: `-inf` is not a finite number\n  help: write a number: NaN and infinity can never judge a unit",
            ],
        ),
        step(
            "shell on a rig that does not allow it",
            "- shell: { run: 'true' }",
            &[
                "scenarios/smoke.yaml:9:12: steps[3].shell: rig `bench` does not permit this step to run shell commands (permission `shell`)\n  help: a station does this only if its owner says so: `permissions: { shell: true }` in the rig\n  note: the rig is at rigs/bench.yaml:1:1",
            ],
        ),
        step(
            "from-profile unknown variable",
            "- measure: { name: i3, from: psu.current, limits: { from-profile: idel } }",
            &[
                "scenarios/smoke.yaml:9:69: steps[3].measure.limits.from-profile: profile `dev-gen1` has no variable `idel`\n  help: did you mean `idle`?\n  note: the profile's variables are at profiles/gen1.yaml:17:3",
                "scenarios/smoke.yaml:9:69: steps[3].measure.limits.from-profile: profile `dev-gen2` has no variable `idel`\n  help: did you mean `idle`?\n  note: the profile's variables are at profiles/gen1.yaml:17:3",
            ],
        ),
        step(
            "unknown network link",
            "- net.impair: { link: uplnk, partition: true }",
            &[
                "scenarios/smoke.yaml:9:25: steps[3].net.impair.link: profile `dev-gen1` has no network link `uplnk`\n  help: did you mean `uplink`?\n  note: the profile's network links are at profiles/gen1.yaml:14:3",
                "scenarios/smoke.yaml:9:25: steps[3].net.impair.link: profile `dev-gen2` has no network link `uplnk`\n  help: did you mean `uplink`?\n  note: the profile's network links are at profiles/gen1.yaml:14:3",
            ],
        ),
        step(
            "unknown i2c register",
            "- i2c.read: { device: sensor, register: tmp, as: raw }",
            &[
                "scenarios/smoke.yaml:9:43: steps[3].i2c.read.register: I²C part `sensor` has no register `tmp`\n  help: did you mean `temp`?\n  note: the part is at profiles/gen1.yaml:11:11",
            ],
        ),
        step(
            "within beyond the step's timeout",
            "- timeout: 2s\n  console.expect: { pattern: 'x', within: 5s }",
            &[
                "scenarios/smoke.yaml:10:45: steps[3].console.expect.within: waits 5s but the step's timeout is 2s\n  help: raise `timeout` or lower the wait",
            ],
        ),
        // ---- includes
        case(
            "include cycle",
            &[
                (
                    scenario,
                    &with_step("- include: { fragment: ../fragments/a.yaml }"),
                ),
                (
                    "fragments/a.yaml",
                    "fragment: a\nsteps:\n  - include: { fragment: b.yaml }\n",
                ),
                (
                    "fragments/b.yaml",
                    "fragment: b\nsteps:\n  - include: { fragment: a.yaml }\n",
                ),
            ],
            &[
                "fragments/b.yaml:3:26: steps[0].include.fragment: include cycle: a.yaml → b.yaml → a.yaml\n  help: a fragment may not include itself, directly or through others",
            ],
        ),
        case(
            "include with unknown argument",
            &[
                (
                    scenario,
                    &with_step("- include: { fragment: ../fragments/a.yaml, with: { volts: 5 } }"),
                ),
                (
                    "fragments/a.yaml",
                    "fragment: a\nparameters: { voltage: { default: 12 } }\nsteps:\n  - wait: 1s\n",
                ),
            ],
            &[
                "scenarios/smoke.yaml:9:55: steps[3].include.with.volts: fragment `a` has no parameter `volts`\n  help: did you mean `voltage`?\n  note: the fragment is at fragments/a.yaml:2:13",
            ],
        ),
    ]
}

#[test]
fn bad_inputs_get_exact_diagnostics() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 30, "the issue asks for at least 30 bad inputs");
    for c in all {
        let changes: Vec<(&'static str, &str)> =
            c.changes.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = diagnostics(&changes);
        if got != c.expected {
            failures.push(format!(
                "--- {}\n{}",
                c.name,
                got.iter()
                    .map(|s| format!("    {s:?},"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_fixture_that_does_not_fit_the_generation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in base().into_iter().chain([(
        "fixtures/fx2.yaml",
        FIXTURE
            .replace("fixture: fx1", "fixture: fx2")
            .replace("[gen1, gen2]", "[gen2]"),
    )]) {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let (cat, diags) = rigor_model::load_paths(&[dir.path().to_path_buf()]);
    assert!(diags.is_empty(), "{diags}");
    let target = rigor_plan::Target {
        scenario: &cat.scenarios["smoke"],
        profile: &cat.profiles["dev-gen1"],
        fixture: &cat.fixtures["fx2"],
        rig: &cat.rigs["bench"],
        slot: "s1",
    };
    let err = rigor_plan::bind(&cat, target, &BTreeMap::new()).unwrap_err();
    let prefix = format!("{}/", dir.path().display());
    let got: Vec<String> = err
        .iter()
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect();
    assert_eq!(
        got,
        [
            "fixtures/fx2.yaml:2:7: fits: fixture `fx2` does not fit `dev-gen1`\n  help: it holds dev gen2; use a fixture made for gen1\n  note: the profile is at profiles/gen1.yaml:1:1"
        ]
    );
}

/// Destructive acts need the rig's permission: a rig that grants none refuses a flash and an
/// EEPROM write at `rigor check`, naming the step, the permission and where to grant it.
#[test]
fn flashing_and_provisioning_need_the_rigs_permission() {
    let rig = RIG.replace("permissions: { flash: true, provision: true }\n", "");
    let profile = PROFILE_GEN1.replace(
        "i2c:\n",
        "i2c:\n  eeprom: { address: 0x50, size: 256, registers: { serial: { address: 0, bytes: 16 } } }\n",
    );
    let scenario = with_step(
        "- flash: { image: fw.elf }\n- i2c.write: { device: eeprom, register: serial, data: [0x46] }",
    );
    assert_eq!(
        diagnostics(&[
            ("rigs/bench.yaml", &rig),
            ("profiles/gen1.yaml", &profile),
            ("scenarios/smoke.yaml", &scenario)
        ]),
        [
            "scenarios/smoke.yaml:9:12: steps[3].flash: rig `bench` does not permit this step to erase and write a unit's flash (permission `flash`)\n  help: a station does this only if its owner says so: `permissions: { flash: true }` in the rig\n  note: the rig is at rigs/bench.yaml:1:1",
            "scenarios/smoke.yaml:10:16: steps[4].i2c.write: rig `bench` does not permit this step to write a unit's non-volatile memory (permission `provision`)\n  help: a station does this only if its owner says so: `permissions: { provision: true }` in the rig\n  note: the rig is at rigs/bench.yaml:1:1",
        ]
    );
}
