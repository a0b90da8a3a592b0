//! Scenarios (QA engineers' test plans) and fragments (reusable step lists they include).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::step::{OnFail, Step};
use crate::value::Scalar;

/// A versioned test plan, as written in `examples/scenarios/*.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "rigor scenario")]
pub struct Scenario {
    /// The scenario's name, unique among scenarios.
    pub scenario: String,
    /// Its version; records keep it with every run, with a hash of the file.
    pub version: u32,
    /// What it checks, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which devices it is for; a scenario with `roles` says it per role instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to: Option<AppliesTo>,
    /// Words to select scenarios by. `slow` and `destructive` (it changes the unit for good, as
    /// provisioning does) keep the scenario out of `rigor test` runs unless asked for
    /// (`--ignored`, `--include-ignored`), as `#[ignore]` does for a Rust test.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Values a run may set (`--param name=value`), substituted as `${name}`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
    /// Step defaults.
    #[serde(default)]
    pub defaults: ScenarioDefaults,
    /// Steps that prepare the unit; a failure here is an error, not a failed unit.
    #[serde(default)]
    pub setup: Vec<Step>,
    /// The test (a scenario with `roles` gives each role its own).
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Steps that always run at the end, whatever happened (power off, clear faults).
    #[serde(default)]
    pub teardown: Vec<Step>,
    /// Several devices in one scenario: each role is one or more units on their own slots,
    /// running their own steps at the same time; `barrier:` steps line them up.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, Role>,
}

/// One role of a multi-device scenario: which devices play it, how many, and what each does.
///
/// ```yaml
/// roles:
///   sensor:
///     family: fridge-ctl
///     count: 2
///     steps:
///       - power: on
///       - barrier: reporting
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Role {
    /// The family of the devices that play it.
    pub family: String,
    /// Only these generations (default: all of the family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generations: Option<Vec<String>>,
    /// Capabilities the generation must have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// How many units play it, each on its own slot (`${sensor[0].serial}` names the first).
    #[serde(default = "one")]
    pub count: u32,
    /// Steps that prepare each unit of the role.
    #[serde(default)]
    pub setup: Vec<Step>,
    /// The role's test.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Steps that always run at the end of each unit of the role.
    #[serde(default)]
    pub teardown: Vec<Step>,
}

fn one() -> u32 {
    1
}

impl Role {
    /// What the role applies to, as a scenario says it.
    pub fn applies_to(&self) -> AppliesTo {
        AppliesTo {
            family: self.family.clone(),
            generations: self.generations.clone(),
            requires: self.requires.clone(),
        }
    }
}

/// Which devices a scenario is for.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AppliesTo {
    /// The family.
    pub family: String,
    /// Only these generations (default: all of the family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generations: Option<Vec<String>>,
    /// Capabilities the generation must have; others are skipped, with the reason.
    #[serde(default)]
    pub requires: Vec<String>,
}

/// A scenario or fragment parameter.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Parameter {
    /// The value when a run gives none; without it the run must give one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Scalar>,
    /// What it means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Step defaults of a scenario.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScenarioDefaults {
    /// Timeout of a step that sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout: Option<HumanDuration>,
    /// Failure policy of actions that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_fail: Option<OnFail>,
}

/// A reusable list of steps, included by scenarios (`include: { fragment: path }`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "rigor scenario fragment")]
pub struct Fragment {
    /// The fragment's name.
    pub fragment: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Values the including step gives with `with:`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
    /// The steps.
    pub steps: Vec<Step>,
}
