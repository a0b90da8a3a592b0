//! Fixtures: the adapter that holds one device generation in one kind of rig slot, and how the
//! device's signals land on the slot's channels.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A fixture, as written in `fixtures/*.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "rigor fixture")]
pub struct Fixture {
    /// The fixture's id, unique among fixtures (and engraved on it).
    pub fixture: String,
    /// What it is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which devices it holds.
    pub fits: Fits,
    /// The kind of rig slot it plugs into.
    pub slot_kind: String,
    /// Device signal → the slot's GPIO channel it is wired to.
    #[serde(default)]
    pub signals: BTreeMap<String, String>,
    /// The slot's serial channel the device console is wired to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    /// The slot's I²C channel the device's bus is wired to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i2c: Option<String>,
    /// Device network link → the slot's impairment point it goes through.
    #[serde(default)]
    pub network: BTreeMap<String, String>,
    /// Wear limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wear: Option<Wear>,
}

/// Which devices a fixture holds.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fits {
    /// The family.
    pub family: String,
    /// The generations of that family.
    pub generations: Vec<String>,
}

impl Fits {
    /// Whether a device of `family` and `generation` fits: the one rule binding, `rigor check`'s
    /// matrix and a station's choice of fixture share.
    pub fn admits(&self, family: &str, generation: &str) -> bool {
        self.family == family && self.generations.iter().any(|g| g == generation)
    }
}

/// Wear limits of a fixture's contacts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Wear {
    /// Insertion cycles after which the pogo pins are due for replacement.
    pub insertion_limit: u32,
}
