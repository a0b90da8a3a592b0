//! Reading one rigor file on its own: its text, its YAML with positions, its kind and id, and its
//! typed value. Nothing here needs another file, so the load does this for every file at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_serde::Value;

use crate::diagnostic::{Diagnostic, Diagnostics, FileContext};
use crate::fixture::Fixture;
use crate::instrument::InstrumentModel;
use crate::load::Kind;
use crate::rig::Rig;
use crate::route::Route;
use crate::scenario::{Fragment, Scenario};
use crate::source::{from_ctx, read_value};
use crate::suggest;

/// A typed value, or the one problem serde found typing it.
pub(crate) type Typing<T> = Result<T, Box<Diagnostic>>;

/// One file read, told apart and typed on its own, with the problems found doing so in order.
pub(crate) struct ReadFile {
    pub(crate) path: PathBuf,
    pub(crate) text: Option<Arc<str>>,
    pub(crate) diags: Diagnostics,
    pub(crate) typed: Option<TypedFile>,
}

/// A file of a known kind with its id and context.
pub(crate) struct TypedFile {
    pub(crate) kind: Kind,
    pub(crate) id: String,
    pub(crate) ctx: FileContext,
    pub(crate) value: Typing<Typed>,
}

/// What each kind of file types into. Profiles stay untyped until `extends` is merged; a
/// scenario's typing problem is reported when scenarios are taken, after profiles.
pub(crate) enum Typed {
    Profile(Value),
    Scenario(Typing<Scenario>),
    Rig(Rig),
    Fixture(Fixture),
    InstrumentModel(InstrumentModel),
    Route(Route),
    Fragment(Fragment),
}

impl ReadFile {
    pub(crate) fn read(file: &Path) -> ReadFile {
        let mut out = ReadFile {
            path: file.to_path_buf(),
            text: None,
            diags: Diagnostics::default(),
            typed: None,
        };
        let Some(text) = crate::discover::read_text(file, &mut out.diags) else {
            return out;
        };
        out.text = Some(text.clone());
        let (value, ctx) = match read_value(file, &text) {
            Ok(v) => v,
            Err(d) => {
                out.diags.extend(d);
                return out;
            }
        };
        let Some(kind) = kind_of(&value, &ctx, &mut out.diags) else {
            return out;
        };
        let id = value
            .get(kind.key())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let value = match kind {
            Kind::Profile => Ok(Typed::Profile(value)),
            Kind::Scenario => Ok(Typed::Scenario(from_ctx(value, &ctx))),
            Kind::Rig => from_ctx(value, &ctx).map(Typed::Rig),
            Kind::Fixture => from_ctx(value, &ctx).map(Typed::Fixture),
            Kind::InstrumentModel => from_ctx(value, &ctx).map(Typed::InstrumentModel),
            Kind::Route => from_ctx(value, &ctx).map(Typed::Route),
            Kind::Fragment => from_ctx(value, &ctx).map(Typed::Fragment),
        };
        out.typed = Some(TypedFile {
            kind,
            id,
            ctx,
            value,
        });
        out
    }
}

/// Which kind a file is, by its top-level key.
fn kind_of(value: &Value, ctx: &FileContext, diags: &mut Diagnostics) -> Option<Kind> {
    let Some(map) = value.as_mapping() else {
        diags.push(
            ctx.error("", "a rigor file is a mapping at its top level")
                .with_help(kinds_help()),
        );
        return None;
    };
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| map.contains_key(k.key()))
        .collect();
    match kinds.as_slice() {
        [one] => Some(*one),
        [] => {
            let first = map
                .keys()
                .next()
                .and_then(Value::as_str)
                .unwrap_or_default();
            let help = suggest::nearest(first, Kind::ALL.iter().map(|k| k.key()))
                .map_or_else(kinds_help, |k| format!("did you mean `{k}`?"));
            diags.push(
                ctx.error("", "cannot tell what kind of rigor file this is")
                    .with_help(help),
            );
            None
        }
        several => {
            let keys: Vec<&str> = several.iter().map(|k| k.key()).collect();
            diags.push(ctx.key_error(
                several[1].key(),
                format!(
                    "a file may be one kind only, but has `{}`",
                    keys.join("` and `")
                ),
            ));
            None
        }
    }
}

fn kinds_help() -> String {
    let keys: Vec<String> = Kind::ALL.iter().map(|k| format!("`{}`", k.key())).collect();
    format!(
        "start the file with one of the keys {} followed by its id",
        keys.join(", ")
    )
}
