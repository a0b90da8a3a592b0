//! Scenario steps: one action each, with an id, a timeout and a failure policy beside it.
//!
//! ```yaml
//! - id: banner
//!   timeout: 5s
//!   console.expect: 'boot: fw (?P<fw>\S+)'
//! ```

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::action::{self, FromShorthand};
use crate::duration::HumanDuration;

/// What happens to the run when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnFail {
    /// Stop the steps and go to teardown (default for actions).
    Stop,
    /// Record the failure and go on (default for measurements, so a unit's footprint has every value).
    Continue,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Step {
    /// A name for the step, unique in its scenario; reports and records use it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the step is for, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How long the step may take (default: scenario, then profile, then rig defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// What a failure of this step does to the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_fail: Option<OnFail>,
    /// What the step does.
    #[serde(flatten)]
    pub action: Action,
}

/// Reads a body that may be written as a string.
struct Shorthand<T>(T);

impl<'de, T: Deserialize<'de> + FromShorthand> Deserialize<'de> for Shorthand<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + FromShorthand> Visitor<'de> for V<T> {
            type Value = Shorthand<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a mapping")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Shorthand<T>, E> {
                T::from_shorthand(s).map(Shorthand).map_err(E::custom)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Shorthand<T>, E> {
                T::from_yaml11_bool(b).map(Shorthand).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shorthand<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Shorthand)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Rejects an unknown key from inside its value, so the error's path (and so its place) is the key's.
struct UnknownKey<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for UnknownKey<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        let candidates = Action::KEYS.iter().chain(COMMON_KEYS).copied();
        let help = crate::suggest::help(self.0, candidates).unwrap_or_default();
        Err(de::Error::custom(format!(
            "unknown key `{}`\nhelp: {help}",
            self.0
        )))
    }
}

const COMMON_KEYS: &[&str] = &["id", "name", "timeout", "on-fail"];

macro_rules! actions {
    ($( $(#[$doc:meta])* $key:literal => $variant:ident($ty:ty) $([$short:ident])? ),+ $(,)?) => {
        /// What a step does; the key naming it in YAML is given with each kind.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub enum Action {
            $( $(#[$doc])* #[serde(rename = $key)] $variant($ty), )+
        }

        impl Action {
            /// The keys that name a step's action.
            pub const KEYS: &'static [&'static str] = &[$($key),+];

            /// The key that names this action in YAML.
            pub fn key(&self) -> &'static str {
                match self { $(Action::$variant(_) => $key),+ }
            }

            fn read<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Option<Action>, A::Error> {
                Ok(Some(match key {
                    $( $key => Action::$variant(actions!(@read map $ty $(, $short)?)), )+
                    _ => return Ok(None),
                }))
            }

            fn schemas(g: &mut schemars::SchemaGenerator) -> serde_json::Map<String, serde_json::Value> {
                let mut m = serde_json::Map::new();
                $( m.insert($key.to_owned(), actions!(@schema g $ty $(, $short)?)); )+
                m
            }
        }
    };
    (@read $map:ident $ty:ty) => { $map.next_value::<$ty>()? };
    (@read $map:ident $ty:ty, shorthand) => { $map.next_value::<Shorthand<$ty>>()?.0 };
    (@schema $g:ident $ty:ty) => { $g.subschema_for::<$ty>().to_value() };
    (@schema $g:ident $ty:ty, shorthand) => {{
        let mut forms = vec![serde_json::json!({ "type": "string" }), $g.subschema_for::<$ty>().to_value()];
        if <$ty as FromShorthand>::YAML11_BOOLEANS {
            forms.push(serde_json::json!({ "type": "boolean" }));
        }
        serde_json::json!({ "oneOf": forms })
    }};
}

actions! {
    /// Write firmware into the device.
    "flash" => Flash(action::Flash),
    /// Switch power: `on`, `off`, `cycle`, or `{ state, volts, off-for }`.
    "power" => Power(action::Power) [shorthand],
    /// Send text to the console.
    "console.send" => ConsoleSend(action::ConsoleSend) [shorthand],
    /// Wait for console output matching a pattern.
    "console.expect" => ConsoleExpect(action::ConsoleExpect) [shorthand],
    /// Capture console output as a value.
    "console.capture" => ConsoleCapture(action::ConsoleCapture),
    /// Change the console's baud rate (a bootloader hands over to the application).
    "console.baud" => ConsoleBaud(u32),
    /// Drive a device input.
    "gpio.set" => GpioSet(action::GpioSet),
    /// Pulse a device input.
    "gpio.pulse" => GpioPulse(action::GpioPulse),
    /// Read a signal's level into a value.
    "gpio.read" => GpioRead(action::GpioRead),
    /// Check a signal's level.
    "gpio.expect" => GpioExpect(action::GpioExpect),
    /// Wait for an edge.
    "gpio.wait-edge" => GpioWaitEdge(action::GpioWaitEdge),
    /// Measure frequency, pulse width or duty cycle.
    "gpio.measure" => GpioMeasure(action::GpioMeasure),
    /// Read I²C bytes into a value.
    "i2c.read" => I2cRead(action::I2cRead),
    /// Write I²C bytes.
    "i2c.write" => I2cWrite(action::I2cWrite),
    /// Read and compare I²C bytes.
    "i2c.expect" => I2cExpect(action::I2cExpect),
    /// Read an instrument channel into a value.
    "instrument.read" => InstrumentRead(action::InstrumentRead),
    /// Write an instrument channel.
    "instrument.write" => InstrumentWrite(action::InstrumentWrite),
    /// Take a measurement and judge it against limits.
    "measure" => Measure(action::Measure),
    /// Impair a network link.
    "net.impair" => NetImpair(action::NetImpair),
    /// Clear a link's impairments.
    "net.clear" => NetClear(action::NetClear) [shorthand],
    /// Tell the slot's update server what to offer, and how to misbehave.
    "ota.offer" => OtaOffer(action::OtaOffer),
    /// Measure the update transfers from the update server's log.
    "ota.measure" => OtaMeasure(action::OtaMeasure),
    /// Wait.
    "wait" => Wait(HumanDuration),
    /// In a multi-device scenario: wait until every role that names this barrier reaches it.
    "barrier" => Barrier(String),
    /// Retry a group of steps.
    "retry" => Retry(action::Retry),
    /// Ask the operator.
    "prompt" => Prompt(action::Prompt),
    /// Insert a fragment's steps.
    "include" => Include(action::Include),
    /// Run a shell command on the station.
    "shell" => Shell(action::Shell),
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step: a mapping with one action key (like `power`, `console.expect` or `measure`)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
                let mut step = (None, None, None, None);
                let mut action: Option<Action> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "id" => step.0 = Some(map.next_value()?),
                        "name" => step.1 = Some(map.next_value()?),
                        "timeout" => step.2 = Some(map.next_value()?),
                        "on-fail" => step.3 = Some(map.next_value()?),
                        k => {
                            let previous = action.as_ref().map(Action::key);
                            match Action::read(k, &mut map)? {
                                Some(a) => {
                                    if let Some(previous) = previous {
                                        return Err(de::Error::custom(format!(
                                            "a step does one thing, but this one has both `{previous}` and `{k}`\nhelp: split it into two steps"
                                        )));
                                    }
                                    action = Some(a);
                                }
                                None => map.next_value_seed(UnknownKey(k))?,
                            }
                        }
                    }
                }
                let Some(action) = action else {
                    return Err(de::Error::custom(
                        "a step without an action\nhelp: add one key naming what it does, like `power: on`, `console.expect: ...` or `measure: {...}`",
                    ));
                };
                Ok(Step {
                    id: step.0,
                    name: step.1,
                    timeout: step.2,
                    on_fail: step.3,
                    action,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl JsonSchema for Step {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Step".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut properties = Action::schemas(g);
        properties.insert("id".into(), serde_json::json!({ "type": "string" }));
        properties.insert("name".into(), serde_json::json!({ "type": "string" }));
        properties.insert(
            "timeout".into(),
            g.subschema_for::<HumanDuration>().to_value(),
        );
        properties.insert("on-fail".into(), g.subschema_for::<OnFail>().to_value());
        let one_action: Vec<serde_json::Value> = Action::KEYS
            .iter()
            .map(|k| serde_json::json!({ "required": [k] }))
            .collect();
        schemars::json_schema!({
            "description": "A step: one action key, plus optional `id`, `name`, `timeout` and `on-fail`.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
            "oneOf": one_action,
        })
    }
}

impl Step {
    /// The step's label in reports: its id, else its name, else a measurement's or barrier's
    /// name, else its action key.
    pub fn label(&self) -> &str {
        let measured = match &self.action {
            Action::Measure(m) => Some(m.name.as_str()),
            Action::GpioMeasure(m) => Some(m.name.as_str()),
            Action::OtaMeasure(m) => Some(m.name.as_str()),
            Action::Barrier(name) => Some(name.as_str()),
            _ => None,
        };
        self.id
            .as_deref()
            .or(self.name.as_deref())
            .or(measured)
            .unwrap_or(self.action.key())
    }
}
