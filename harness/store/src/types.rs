//! Small value types shared by records and queries: ids, timestamps and the enumerations that
//! the schema stores as checked text.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// A run's id: the `runs.id` row id, unique within one store file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ToSql for RunId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.0.into())
    }
}

impl FromSql for RunId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(RunId)
    }
}

/// A wall-clock instant in microseconds since the Unix epoch (UTC), as stored in the `*_us`
/// columns. The runner supplies it, so tests can use fixed times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Now, by the system clock; the epoch itself if the clock reads before 1970.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        let micros = time
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(micros)
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.0.into())
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(Timestamp)
    }
}

/// Declares an enumeration stored as text under a `CHECK (column IN (...))` constraint, with the
/// same spelling in SQL, serde and `Display`.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database and printed in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// Parses the stored text.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    FromSqlError::Other(
                        format!("unknown {} {text:?}", stringify!($name)).into(),
                    )
                })
            }
        }
    };
}

text_enum! {
    /// How a run ended (`run_ends.outcome`).
    pub enum RunOutcome {
        /// Every step passed.
        Pass => "pass",
        /// A measurement or check failed its limits.
        Fail => "fail",
        /// Something went wrong that is not a verdict on the device (see [`FailureClass`]).
        Error => "error",
        /// Stopped before the end (operator, signal, timeout of the whole run).
        Aborted => "aborted",
    }
}

text_enum! {
    /// Whose fault a run that did not pass was (`run_ends.failure_class`).
    pub enum FailureClass {
        /// The rig, fixture, instrument or host failed; the device says nothing.
        Infrastructure => "infrastructure",
        /// The device under test failed.
        Device => "device",
        /// The scenario itself is wrong (bad limits, a step that cannot work).
        Scenario => "scenario",
    }
}

text_enum! {
    /// How a step ended (`steps.outcome`).
    pub enum StepOutcome {
        /// The step did what it should.
        Pass => "pass",
        /// The step's check or measurement failed.
        Fail => "fail",
        /// The step could not be carried out.
        Error => "error",
        /// The step was not run (an earlier failure, a condition).
        Skipped => "skipped",
    }
}

text_enum! {
    /// A measurement's verdict against its limits (`measurements.outcome`); marginal is a flag
    /// beside a pass.
    pub enum MeasurementOutcome {
        /// Within limits.
        Pass => "pass",
        /// Outside limits.
        Fail => "fail",
    }
}

text_enum! {
    /// A run's state as the `run_summary` view shows it: its end outcome, or `incomplete` when
    /// no end row exists (still running, or the process died).
    pub enum RunStatus {
        /// Ended, passed.
        Pass => "pass",
        /// Ended, failed.
        Fail => "fail",
        /// Ended in error.
        Error => "error",
        /// Ended by an abort.
        Aborted => "aborted",
        /// No end row.
        Incomplete => "incomplete",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_enums_round_trip_and_serialize_as_stored() {
        for outcome in RunStatus::ALL {
            assert_eq!(RunStatus::parse(outcome.as_str()), Some(*outcome));
        }
        assert_eq!(
            serde_json::to_string(&FailureClass::Infrastructure).ok(),
            Some("\"infrastructure\"".to_owned())
        );
        assert_eq!(StepOutcome::parse("passed"), None);
    }

    #[test]
    fn timestamp_before_epoch_clamps_to_epoch() {
        let before = UNIX_EPOCH - std::time::Duration::from_secs(5);
        assert_eq!(Timestamp::from(before), Timestamp(0));
        let after = UNIX_EPOCH + std::time::Duration::from_micros(1_500_000);
        assert_eq!(Timestamp::from(after).as_micros(), 1_500_000);
    }
}
