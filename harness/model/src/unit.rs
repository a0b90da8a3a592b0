//! The fixed set of measurement units, and which of them can be compared with which.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a unit measures; two units can be compared only when their dimensions agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    /// Electric potential.
    Voltage,
    /// Electric current.
    Current,
    /// Power.
    Power,
    /// Resistance.
    Resistance,
    /// Frequency.
    Frequency,
    /// Time.
    Time,
    /// Temperature.
    Temperature,
    /// A ratio in percent.
    Ratio,
    /// Power level relative to 1 mW.
    PowerLevel,
    /// Amount of data.
    Data,
    /// A count of things, or a plain number.
    Count,
}

macro_rules! units {
    ($( $variant:ident => $symbol:literal, $dim:ident, $scale:expr, [$($alias:literal),*], $doc:literal; )+) => {
        /// A unit from rigor's fixed set. Limits, instrument channels and measurements all carry one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Unit {
            $( #[doc = $doc] $variant, )+
        }

        impl Unit {
            /// Every unit, in the order the docs list them.
            pub const ALL: &'static [Unit] = &[$(Unit::$variant),+];

            /// The canonical symbol, as written in files and reports.
            pub fn symbol(self) -> &'static str {
                match self { $(Unit::$variant => $symbol),+ }
            }

            /// What this unit measures.
            pub fn dimension(self) -> Dimension {
                match self { $(Unit::$variant => Dimension::$dim),+ }
            }

            /// The factor that turns a value in this unit into the dimension's base unit.
            pub fn scale(self) -> f64 {
                match self { $(Unit::$variant => $scale),+ }
            }

            /// Parses a symbol or one of its accepted spellings.
            pub fn parse(s: &str) -> Option<Unit> {
                match s {
                    $( $symbol $(| $alias)* => Some(Unit::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

units! {
    Volt => "V", Voltage, 1.0, ["volt", "volts"], "volts";
    Millivolt => "mV", Voltage, 1e-3, [], "millivolts";
    Ampere => "A", Current, 1.0, ["amp", "amps"], "amperes";
    Milliampere => "mA", Current, 1e-3, [], "milliamperes";
    Microampere => "µA", Current, 1e-6, ["uA"], "microamperes";
    Watt => "W", Power, 1.0, ["watt", "watts"], "watts";
    Milliwatt => "mW", Power, 1e-3, [], "milliwatts";
    Ohm => "Ω", Resistance, 1.0, ["ohm", "Ohm", "ohms"], "ohms";
    Kiloohm => "kΩ", Resistance, 1e3, ["kohm", "kOhm"], "kiloohms";
    Hertz => "Hz", Frequency, 1.0, ["hz"], "hertz";
    Kilohertz => "kHz", Frequency, 1e3, [], "kilohertz";
    Second => "s", Time, 1.0, ["sec"], "seconds";
    Millisecond => "ms", Time, 1e-3, [], "milliseconds";
    Microsecond => "µs", Time, 1e-6, ["us"], "microseconds";
    DegreeCelsius => "°C", Temperature, 1.0, ["degC"], "degrees Celsius";
    Percent => "%", Ratio, 1.0, ["percent"], "percent";
    DecibelMilliwatt => "dBm", PowerLevel, 1.0, [], "decibels relative to one milliwatt";
    Byte => "bytes", Data, 1.0, ["B", "byte"], "bytes";
    Count => "count", Count, 1.0, ["1"], "a plain count or number";
}

impl Unit {
    /// Converts `value` in this unit to `target`; `None` when their dimensions differ.
    pub fn convert(self, value: f64, target: Unit) -> Option<f64> {
        (self.dimension() == target.dimension()).then(|| value * self.scale() / target.scale())
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Unit::parse(&s).ok_or_else(|| {
            let symbols: Vec<&str> = Unit::ALL.iter().map(|u| u.symbol()).collect();
            let help = crate::suggest::help(&s, symbols.iter().copied()).unwrap_or_default();
            serde::de::Error::custom(format!("unknown unit `{s}`\nhelp: {help}"))
        })
    }
}

impl Serialize for Unit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.symbol())
    }
}

impl schemars::JsonSchema for Unit {
    fn schema_name() -> Cow<'static, str> {
        "Unit".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let symbols: Vec<&str> = Unit::ALL.iter().map(|u| u.symbol()).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "A unit from rigor's fixed set.",
            "enum": symbols,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_within_a_dimension_only() {
        assert_eq!(Unit::Milliampere.convert(40.0, Unit::Ampere), Some(0.04));
        assert_eq!(Unit::Volt.convert(1.0, Unit::Ampere), None);
        assert_eq!(Unit::parse("degC"), Some(Unit::DegreeCelsius));
        assert_eq!(Unit::parse("Volts"), None);
    }
}
