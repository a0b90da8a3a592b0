//! Loading: find the files, tell their kinds, type them, merge `extends`, expand includes, and
//! check each on its own. Every problem of every file is collected; nothing stops at the first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use yaml_serde::Value;

use crate::action::Include;
use crate::catalog::{Catalog, Entry, PlacedStep, ProfileEntry, ScenarioEntry, locate_in_chain};
use crate::check;
use crate::diagnostic::{Diagnostics, FileContext, index, join};
use crate::parsed::SharedParses;
use crate::read::{ReadFile, Typed, TypedFile, Typing};
use crate::route::Route;
use crate::scenario::{Fragment, Scenario};
use crate::source::from_value;
use crate::step::{Action, Step};
use crate::suggest;
use crate::value::Scalar;

/// The kinds of rigor file, each told by its first top-level key, which also holds its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `profile:` — a device generation.
    Profile,
    /// `rig:` — a rack or station.
    Rig,
    /// `fixture:` — an adapter between a generation and a slot kind.
    Fixture,
    /// `instrument-model:` — a Modbus register map.
    InstrumentModel,
    /// `scenario:` — a test plan.
    Scenario,
    /// `fragment:` — steps included by scenarios.
    Fragment,
    /// `route:` — what a factory station runs on each unit scanned.
    Route,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::Profile,
        Kind::Rig,
        Kind::Fixture,
        Kind::InstrumentModel,
        Kind::Scenario,
        Kind::Fragment,
        Kind::Route,
    ];

    /// The top-level key that marks this kind.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Profile => "profile",
            Kind::Rig => "rig",
            Kind::Fixture => "fixture",
            Kind::InstrumentModel => "instrument-model",
            Kind::Scenario => "scenario",
            Kind::Fragment => "fragment",
            Kind::Route => "route",
        }
    }

    /// Parses a kind's name as the CLI takes it.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == s)
    }
}

pub use crate::discover::discover;

/// Loads every rigor file under `paths` into a catalog, with every problem found.
pub fn load_paths(paths: &[PathBuf]) -> (Catalog, Diagnostics) {
    let (files, mut diags) = discover(paths);
    // Reading and typing a file needs no other file: do it for all of them at once, on every
    // core, then take them in file order, so ids, duplicates and diagnostics come out as one
    // reader in that order would give them. Within the load, a text written in many files (a
    // pattern, an expression) is parsed once.
    let shared = SharedParses::new();
    let read: Vec<ReadFile> = files
        .par_iter()
        .map(|file| shared.enter(|| ReadFile::read(file)))
        .collect();
    let mut loader = Loader::default();
    for file in read {
        loader.take(file, &mut diags);
    }
    let catalog = shared.enter(|| loader.finish(&mut diags));
    diags.sort();
    (catalog, diags)
}

#[derive(Default)]
struct Loader {
    texts: HashMap<PathBuf, Arc<str>>,
    profiles: Vec<(Value, FileContext)>,
    scenarios: Vec<(Typing<Scenario>, FileContext)>,
    catalog: Catalog,
}

impl Loader {
    /// Reads a file not found by discovery (a fragment an include names).
    fn read(&mut self, file: &Path, diags: &mut Diagnostics) {
        self.take(ReadFile::read(file), diags);
    }

    /// Takes a file read on its own into the catalog.
    fn take(&mut self, file: ReadFile, diags: &mut Diagnostics) {
        diags.extend(file.diags);
        if let Some(text) = file.text {
            self.texts.insert(file.path.clone(), text);
        }
        let Some(TypedFile {
            kind,
            id,
            ctx,
            value,
        }) = file.typed
        else {
            return;
        };
        let before = diags.len();
        match value {
            Err(d) => diags.push(*d),
            Ok(Typed::Profile(value)) => self.profiles.push((value, ctx)),
            Ok(Typed::Scenario(scenario)) => self.scenarios.push((scenario, ctx)),
            Ok(Typed::Rig(v)) => insert_unique(
                &mut self.catalog.rigs,
                "rig",
                Entry { value: v, ctx },
                |r| r.rig.clone(),
                diags,
            ),
            Ok(Typed::Fixture(v)) => insert_unique(
                &mut self.catalog.fixtures,
                "fixture",
                Entry { value: v, ctx },
                |f| f.fixture.clone(),
                diags,
            ),
            Ok(Typed::InstrumentModel(v)) => insert_unique(
                &mut self.catalog.instruments,
                "instrument-model",
                Entry {
                    value: Arc::new(v),
                    ctx,
                },
                |m| m.instrument_model.clone(),
                diags,
            ),
            Ok(Typed::Route(v)) => insert_unique(
                &mut self.catalog.routes,
                "route",
                Entry { value: v, ctx },
                |r: &Route| r.route.clone(),
                diags,
            ),
            Ok(Typed::Fragment(v)) => {
                let key = canonical(&file.path);
                self.catalog.fragments.insert(key, Entry { value: v, ctx });
            }
        }
        if diags.len() > before {
            let broken = &mut self.catalog.broken;
            match kind {
                Kind::Rig => broken.rigs.insert(id),
                Kind::Fixture => broken.fixtures.insert(id),
                Kind::InstrumentModel => broken.instruments.insert(id),
                Kind::Profile | Kind::Scenario | Kind::Fragment | Kind::Route => false,
            };
        }
    }

    fn finish(mut self, diags: &mut Diagnostics) -> Catalog {
        self.resolve_profiles(diags);
        let scenarios = std::mem::take(&mut self.scenarios);
        for (typed, ctx) in scenarios {
            self.add_scenario(typed, ctx, diags);
        }
        check::catalog(&self.catalog, diags);
        self.catalog
    }

    fn resolve_profiles(&mut self, diags: &mut Diagnostics) {
        let mut by_id: BTreeMap<String, (Value, FileContext)> = BTreeMap::new();
        for (value, ctx) in std::mem::take(&mut self.profiles) {
            let Some(id) = value
                .get("profile")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                diags.push(ctx.error("profile", "a profile's id must be text"));
                continue;
            };
            if let Some((_, first)) = by_id.get(&id) {
                diags.push(
                    ctx.error("profile", format!("a second profile with the id `{id}`"))
                        .with_related("the first one is", first.origin("profile")),
                );
                continue;
            }
            by_id.insert(id, (value, ctx));
        }
        for (id, (_, ctx)) in &by_id {
            let mut chain = vec![ctx.clone()];
            let mut merged = by_id[id].0.clone();
            let mut seen = vec![id.clone()];
            let mut current = id.clone();
            let mut broken = false;
            while let Some(parent) = by_id[&current]
                .0
                .get("extends")
                .and_then(Value::as_str)
                .map(str::to_owned)
            {
                let here = &by_id[&current].1;
                if seen.contains(&parent) {
                    seen.push(parent.clone());
                    self.catalog.broken.profiles.insert(id.clone());
                    // Every member of a cycle finds it; report it once, at its first member by name.
                    let start = seen.iter().position(|s| *s == parent).unwrap_or(0);
                    if seen[start..].iter().min() != Some(id) {
                        broken = true;
                        break;
                    }
                    diags.push(
                        here.error("extends", format!("`extends` makes a cycle: {}", seen.join(" → ")))
                            .with_help("a profile may extend an earlier generation, never itself through others"),
                    );
                    broken = true;
                    break;
                }
                let Some((parent_value, parent_ctx)) = by_id.get(&parent) else {
                    self.catalog.broken.profiles.insert(id.clone());
                    let help = suggest::help(&parent, by_id.keys().map(String::as_str));
                    diags.push(
                        here.error(
                            "extends",
                            format!("`extends` names an unknown profile `{parent}`"),
                        )
                        .with_optional_help(help),
                    );
                    broken = true;
                    break;
                };
                merged = merge(parent_value.clone(), merged);
                chain.push(parent_ctx.clone());
                seen.push(parent.clone());
                current = parent;
            }
            if broken {
                continue;
            }
            match from_value(merged, |path, key| locate_in_chain(&chain, path, key)) {
                Ok(value) => {
                    let entry = ProfileEntry { value, chain };
                    check::profile(&entry, diags);
                    if entry.value.family.is_none() || entry.value.generation.is_none() {
                        self.catalog.broken.profiles.insert(id.clone());
                    } else {
                        self.catalog.profiles.insert(id.clone(), entry);
                    }
                }
                Err(d) => {
                    self.catalog.broken.profiles.insert(id.clone());
                    diags.push(*d);
                }
            }
        }
    }

    fn add_scenario(&mut self, typed: Typing<Scenario>, ctx: FileContext, diags: &mut Diagnostics) {
        let scenario = match typed {
            Ok(s) => s,
            Err(d) => return diags.push(*d),
        };
        let mut hasher = Sha256::new();
        if let Some(text) = self.texts.get(ctx.file.as_ref()) {
            hasher.update(text.as_bytes());
        }
        let mut stack = vec![canonical(&ctx.file)];
        let mut expand =
            |steps: &[Step], section: &str, this: &mut Self, diags: &mut Diagnostics| {
                this.expand(steps, &ctx, section, None, &mut stack, &mut hasher, diags)
            };
        let setup = expand(&scenario.setup, "setup", self, diags);
        let steps = expand(&scenario.steps, "steps", self, diags);
        let teardown = expand(&scenario.teardown, "teardown", self, diags);
        let mut roles = Vec::new();
        for (name, role) in &scenario.roles {
            let base = crate::diagnostic::join("roles", name);
            let mut section = |s: &str, steps: &[Step]| {
                expand(steps, &crate::diagnostic::join(&base, s), self, diags)
            };
            let placed = [
                section("setup", &role.setup),
                section("steps", &role.steps),
                section("teardown", &role.teardown),
            ];
            roles.push((name.clone(), placed));
        }
        let content_hash = hex(&hasher.finalize());
        let roles = roles
            .into_iter()
            .filter_map(|(name, [setup, steps, teardown])| {
                crate::catalog::RoleEntry::derive(
                    &scenario,
                    &ctx,
                    &name,
                    [setup, steps, teardown],
                    &content_hash,
                )
            })
            .collect();
        let entry = ScenarioEntry {
            value: scenario,
            ctx,
            setup,
            steps,
            teardown,
            content_hash,
            roles,
        };
        check::scenario(&entry, diags);
        if let Some(first) = self.catalog.scenarios.get(&entry.value.scenario) {
            diags.push(
                entry
                    .ctx
                    .error(
                        "scenario",
                        format!("a second scenario named `{}`", entry.value.scenario),
                    )
                    .with_related("the first one is", first.ctx.origin("scenario")),
            );
            return;
        }
        self.catalog
            .scenarios
            .insert(entry.value.scenario.clone(), entry);
    }

    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        steps: &[Step],
        ctx: &FileContext,
        base: &str,
        arguments: Option<&Arc<BTreeMap<String, Scalar>>>,
        stack: &mut Vec<PathBuf>,
        hasher: &mut Sha256,
        diags: &mut Diagnostics,
    ) -> Vec<PlacedStep> {
        let mut out = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let path = index(base, i);
            match &step.action {
                Action::Include(include) => {
                    out.extend(self.include(include, ctx, &path, stack, hasher, diags));
                }
                Action::Retry(retry) => {
                    let inner = self.expand(
                        &retry.steps,
                        ctx,
                        &join(&path, "retry.steps"),
                        arguments,
                        stack,
                        hasher,
                        diags,
                    );
                    out.push(PlacedStep {
                        step: step.clone(),
                        ctx: ctx.clone(),
                        path,
                        inner,
                        fragment_arguments: arguments.cloned(),
                    });
                }
                _ => out.push(PlacedStep {
                    step: step.clone(),
                    ctx: ctx.clone(),
                    path,
                    inner: Vec::new(),
                    fragment_arguments: arguments.cloned(),
                }),
            }
        }
        out
    }

    fn include(
        &mut self,
        include: &Include,
        ctx: &FileContext,
        path: &str,
        stack: &mut Vec<PathBuf>,
        hasher: &mut Sha256,
        diags: &mut Diagnostics,
    ) -> Vec<PlacedStep> {
        let at = join(path, "include.fragment");
        let target = ctx
            .file
            .parent()
            .unwrap_or(Path::new(""))
            .join(&include.fragment);
        let key = canonical(&target);
        if let Some(pos) = stack.iter().position(|p| *p == key) {
            let cycle: Vec<String> = stack[pos..]
                .iter()
                .chain(std::iter::once(&key))
                .map(|p| {
                    p.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                })
                .collect();
            diags.push(
                ctx.error(&at, format!("include cycle: {}", cycle.join(" → ")))
                    .with_help("a fragment may not include itself, directly or through others"),
            );
            return Vec::new();
        }
        if !self.catalog.fragments.contains_key(&key) {
            if !target.is_file() {
                diags.push(
                    ctx.error(&at, format!("no fragment file at `{}`", target.display()))
                        .with_help("the path is relative to the file that includes it"),
                );
                return Vec::new();
            }
            let mut found = Diagnostics::default();
            self.read(&target, &mut found);
            let is_fragment = self.catalog.fragments.contains_key(&key);
            if !found.is_empty() || !is_fragment {
                if found.is_empty() {
                    diags.push(
                        ctx.error(&at, format!("`{}` is not a fragment", target.display()))
                            .with_help(
                                "an included file starts with `fragment: NAME` and has `steps:`",
                            ),
                    );
                }
                diags.extend(found);
                return Vec::new();
            }
        }
        let Some(fragment) = self.catalog.fragments.get(&key).cloned() else {
            return Vec::new();
        };
        if let Some(text) = self.texts.get(fragment.ctx.file.as_ref()) {
            hasher.update(text.as_bytes());
        }
        let arguments = fragment_arguments(include, &fragment, ctx, path, diags);
        stack.push(key);
        let steps = self.expand(
            &fragment.value.steps,
            &fragment.ctx,
            "steps",
            Some(&Arc::new(arguments)),
            stack,
            hasher,
            diags,
        );
        stack.pop();
        steps
    }
}

/// Checks an include's `with:` against the fragment's parameters; returns every parameter's value.
fn fragment_arguments(
    include: &Include,
    fragment: &Entry<Fragment>,
    ctx: &FileContext,
    path: &str,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Scalar> {
    let params = &fragment.value.parameters;
    let mut values = BTreeMap::new();
    for (name, value) in &include.arguments {
        if params.contains_key(name) {
            values.insert(name.clone(), value.clone());
        } else {
            let help = suggest::help(name, params.keys().map(String::as_str));
            diags.push(
                ctx.key_error(
                    join(path, &format!("include.with.{name}")),
                    format!(
                        "fragment `{}` has no parameter `{name}`",
                        fragment.value.fragment
                    ),
                )
                .with_optional_help(help)
                .with_related("the fragment is", fragment.ctx.origin("parameters")),
            );
        }
    }
    for (name, param) in params {
        if values.contains_key(name) {
            continue;
        }
        match &param.default {
            Some(d) => {
                values.insert(name.clone(), d.clone());
            }
            None => diags.push(
                ctx.error(
                    join(path, "include"),
                    format!(
                        "fragment `{}` needs a value for `{name}`",
                        fragment.value.fragment
                    ),
                )
                .with_help(format!("add `with: {{ {name}: ... }}`"))
                .with_related(
                    "the parameter is declared",
                    fragment.ctx.origin(&join("parameters", name)),
                ),
            ),
        }
    }
    values
}

fn insert_unique<T>(
    map: &mut BTreeMap<String, Entry<T>>,
    key: &str,
    entry: Entry<T>,
    id: impl Fn(&T) -> String,
    diags: &mut Diagnostics,
) {
    let id = id(&entry.value);
    if let Some(first) = map.get(&id) {
        diags.push(
            entry
                .ctx
                .error(key, format!("a second {key} with the id `{id}`"))
                .with_related("the first one is", first.ctx.origin(key)),
        );
        return;
    }
    map.insert(id, entry);
}

/// Merges `child` over `parent`: mappings merge key by key, `null` removes a key, anything else replaces.
pub fn merge(parent: Value, child: Value) -> Value {
    match (parent, child) {
        (Value::Mapping(mut p), Value::Mapping(c)) => {
            for (k, v) in c {
                if v.is_null() {
                    p.remove(&k);
                    continue;
                }
                let merged = match p.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                p.insert(k, merged);
            }
            Value::Mapping(p)
        }
        (_, c) => c,
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
