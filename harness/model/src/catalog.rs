//! The second pass's result: every file typed, indexed by id, with its place for later diagnostics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{FileContext, Origin};
use crate::fixture::Fixture;
use crate::instrument::InstrumentModel;
use crate::profile::Profile;
use crate::rig::Rig;
use crate::scenario::{Fragment, Scenario};
use crate::step::Step;
use crate::value::Scalar;

/// A typed file and the context that locates problems in it.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// The typed content.
    pub value: T,
    /// The file and its source map.
    pub ctx: FileContext,
}

impl<T> Entry<T> {
    /// The origin of the value at `path` in this file.
    pub fn origin(&self, path: &str) -> Origin {
        self.ctx.origin(path)
    }
}

/// A profile with `extends` merged in, and the files it came from (child first).
#[derive(Debug, Clone)]
pub struct ProfileEntry {
    /// The merged profile.
    pub value: Profile,
    /// The profile's own file, then each profile it extends.
    pub chain: Vec<FileContext>,
}

impl ProfileEntry {
    /// The origin of the value at `path`: the first file in the chain that sets it.
    pub fn origin(&self, path: &str) -> Origin {
        locate_in_chain(&self.chain, path, false)
    }

    /// The profile's own file.
    pub fn file(&self) -> &Path {
        self.chain.first().map_or(Path::new(""), |c| &c.file)
    }

    /// The family (checked present when the catalog is built).
    pub fn family(&self) -> &str {
        self.value.family.as_deref().unwrap_or_default()
    }

    /// The generation (checked present when the catalog is built).
    pub fn generation(&self) -> &str {
        self.value.generation.as_deref().unwrap_or_default()
    }
}

/// Finds the file of a chain (child first) that sets `path`, falling back to enclosing paths.
pub fn locate_in_chain(chain: &[FileContext], path: &str, key: bool) -> Origin {
    let mut p = path;
    loop {
        for ctx in chain {
            if ctx.map.contains(p) {
                return if key {
                    ctx.key_origin(p)
                } else {
                    ctx.origin(p)
                };
            }
        }
        if p.is_empty() {
            break;
        }
        p = match p.rfind(['.', '[']) {
            Some(i) => &p[..i],
            None => "",
        };
    }
    chain.first().map_or_else(
        || Origin::new(Arc::from(Path::new("")), None),
        |c| c.origin(""),
    )
}

/// A step with where it was written, and what its fragment's parameters are.
#[derive(Debug, Clone)]
pub struct PlacedStep {
    /// The step as written (a `retry` keeps its own steps; see `inner`).
    pub step: Step,
    /// The file it was written in.
    pub ctx: FileContext,
    /// Its key path in that file.
    pub path: String,
    /// For `retry`: its steps, placed, with includes expanded.
    pub inner: Vec<PlacedStep>,
    /// Parameter values given to the fragment this step came from, if any.
    pub fragment_arguments: Option<Arc<BTreeMap<String, Scalar>>>,
}

impl PlacedStep {
    /// Where the step is.
    pub fn origin(&self) -> Origin {
        self.ctx.origin(&self.path)
    }
}

/// A scenario with its includes expanded.
#[derive(Debug, Clone)]
pub struct ScenarioEntry {
    /// The scenario as written.
    pub value: Scenario,
    /// Its file.
    pub ctx: FileContext,
    /// Setup steps, includes expanded.
    pub setup: Vec<PlacedStep>,
    /// Test steps, includes expanded.
    pub steps: Vec<PlacedStep>,
    /// Teardown steps, includes expanded.
    pub teardown: Vec<PlacedStep>,
    /// SHA-256 of the scenario file and every fragment it includes, in include order.
    pub content_hash: String,
    /// A multi-device scenario's roles, by name.
    pub roles: Vec<RoleEntry>,
}

impl ScenarioEntry {
    /// Whether the scenario runs several devices at once.
    pub fn is_multi(&self) -> bool {
        !self.value.roles.is_empty()
    }

    /// The role `name`.
    pub fn role(&self, name: &str) -> Option<&RoleEntry> {
        self.roles.iter().find(|r| r.name == name)
    }
}

/// One role of a multi-device scenario, as a single-device scenario of its own: each of its units
/// binds to its slot as any scenario does, so binding and running need nothing new.
#[derive(Debug, Clone)]
pub struct RoleEntry {
    /// The role's name.
    pub name: String,
    /// How many units play it.
    pub count: u32,
    /// The role's steps as a scenario: the parent's name, version, parameters and defaults,
    /// the role's `applies-to` and steps (placed at `roles.NAME.steps[i]` in the parent's file).
    pub entry: ScenarioEntry,
}

impl RoleEntry {
    /// The role `name` of `parent`, its sections placed; `None` if the parent has no such role.
    pub fn derive(
        parent: &Scenario,
        ctx: &FileContext,
        name: &str,
        [setup, steps, teardown]: [Vec<PlacedStep>; 3],
        content_hash: &str,
    ) -> Option<RoleEntry> {
        let role = parent.roles.get(name)?;
        let value = Scenario {
            applies_to: Some(role.applies_to()),
            setup: role.setup.clone(),
            steps: role.steps.clone(),
            teardown: role.teardown.clone(),
            roles: BTreeMap::new(),
            ..parent.clone()
        };
        Some(RoleEntry {
            name: name.to_owned(),
            count: role.count,
            entry: ScenarioEntry {
                value,
                ctx: ctx.clone(),
                setup,
                steps,
                teardown,
                content_hash: content_hash.to_owned(),
                roles: Vec::new(),
            },
        })
    }
}

/// Everything loaded: every file typed and checked on its own, indexed by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Device profiles by id, `extends` merged.
    pub profiles: BTreeMap<String, ProfileEntry>,
    /// Rigs by id.
    pub rigs: BTreeMap<String, Entry<Rig>>,
    /// Fixtures by id.
    pub fixtures: BTreeMap<String, Entry<Fixture>>,
    /// Instrument models by id.
    pub instruments: BTreeMap<String, Entry<Arc<InstrumentModel>>>,
    /// Scenarios by name.
    pub scenarios: BTreeMap<String, ScenarioEntry>,
    /// Fragments by file.
    pub fragments: BTreeMap<PathBuf, Entry<Fragment>>,
    /// Station routes by id.
    pub routes: BTreeMap<String, Entry<crate::route::Route>>,
    /// Ids of files that did not load, so their absence is not reported again where they are named.
    pub broken: Broken,
}

/// Ids of files that did not load, by kind.
#[derive(Debug, Clone, Default)]
pub struct Broken {
    /// Profiles.
    pub profiles: std::collections::BTreeSet<String>,
    /// Instrument models.
    pub instruments: std::collections::BTreeSet<String>,
    /// Rigs.
    pub rigs: std::collections::BTreeSet<String>,
    /// Fixtures.
    pub fixtures: std::collections::BTreeSet<String>,
}

impl Catalog {
    /// The number of files of each kind, for summaries.
    pub fn counts(&self) -> [(&'static str, usize); 7] {
        [
            ("profiles", self.profiles.len()),
            ("rigs", self.rigs.len()),
            ("fixtures", self.fixtures.len()),
            ("instrument models", self.instruments.len()),
            ("scenarios", self.scenarios.len()),
            ("fragments", self.fragments.len()),
            ("routes", self.routes.len()),
        ]
    }
}
