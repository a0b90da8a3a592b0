//! Routes: what a factory station does with each unit an operator scans. A route names the
//! rig, the scenarios the station runs in order, how many times a failed unit may be retested,
//! how a scanned label tells the unit's generation, and the label printed after a pass.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::pattern::WholeMatch;
use crate::value::Scalar;

/// A station's route, as written in a route file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "rigor route")]
pub struct Route {
    /// The route's id, unique among routes.
    pub route: String,
    /// What the station is for, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The rig the station runs on (`on-rig`: a file's `rig:` key would make it a rig file).
    pub on_rig: String,
    /// The scenarios, in the order each unit runs them; a unit runs those that apply to its
    /// generation, and stops at the first that does not pass.
    pub scenarios: Vec<String>,
    /// How many times a unit that failed may be tested again before it goes to repair.
    #[serde(default = "default_retest_limit")]
    pub retest_limit: u32,
    /// Device profile → the pattern its labels match (the whole label), e.g. `FC2-\d{6}`.
    pub serials: BTreeMap<String, WholeMatch>,
    /// Values for the scenarios' parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Scalar>,
    /// The label printed after a unit passes the whole route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// The badge ids of the operators who may test units here; empty: any badge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<String>,
    /// The badge ids of the technicians who may record maintenance, repairs, retest overrides
    /// and abort every slot; empty: any badge (fine for a bench, not for a line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub technicians: Vec<String>,
}

fn on_roster(roster: &[String], badge: &str) -> bool {
    roster.is_empty() || roster.iter().any(|b| b == badge)
}

fn default_retest_limit() -> u32 {
    2
}

/// A label printer reached over TCP (a ZPL printer listens on port 9100).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Label {
    /// The printer's address, `host:port`.
    pub tcp: String,
    /// What is sent, with `${serial}`, `${generation}`, `${profile}` and `${route}` filled in.
    pub template: String,
}

/// The placeholders a label template may use.
pub const LABEL_FIELDS: [&str; 4] = ["serial", "generation", "profile", "route"];

impl Route {
    /// Whether `badge` may test units here: on the operators' roster, or there is none.
    pub fn admits_operator(&self, badge: &str) -> bool {
        on_roster(&self.operators, badge)
    }

    /// Whether `badge` may act as a technician here: on the technicians' roster, or there is
    /// none.
    pub fn admits_technician(&self, badge: &str) -> bool {
        on_roster(&self.technicians, badge)
    }

    /// The profile whose label pattern matches the whole of `label`, if any. Patterns that do
    /// not compile match nothing (`rigor check` reports them).
    pub fn profile_of(&self, label: &str) -> Option<&str> {
        self.serials.iter().find_map(|(profile, pattern)| {
            let whole = pattern.regex().ok()?;
            whole.is_match(label).then_some(profile.as_str())
        })
    }
}

impl Label {
    /// The template with `fields` filled in.
    pub fn render(&self, fields: &[(&str, &str)]) -> String {
        fields.iter().fold(self.template.clone(), |text, (k, v)| {
            text.replace(&format!("${{{k}}}"), v)
        })
    }
}
