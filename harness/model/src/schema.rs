//! JSON Schemas of the file kinds, for editors (yaml-language-server) and for checking files.

use serde_json::Value;

use crate::load::Kind;

/// The JSON Schema of a file kind.
pub fn json_schema(kind: Kind) -> Value {
    let schema = match kind {
        Kind::Profile => schemars::schema_for!(crate::profile::Profile),
        Kind::Rig => schemars::schema_for!(crate::rig::Rig),
        Kind::Fixture => schemars::schema_for!(crate::fixture::Fixture),
        Kind::InstrumentModel => schemars::schema_for!(crate::instrument::InstrumentModel),
        Kind::Scenario => schemars::schema_for!(crate::scenario::Scenario),
        Kind::Fragment => schemars::schema_for!(crate::scenario::Fragment),
        Kind::Route => schemars::schema_for!(crate::route::Route),
    };
    let mut value = schema.to_value();
    if kind == Kind::Profile {
        as_partial(&mut value, true);
    }
    value
}

/// A profile file may `extends:` another, so it states only what differs: no key below the top is
/// required in the file, and `null` removes an inherited entry. The merged profile is checked in
/// full by `rigor check`.
fn as_partial(schema: &mut Value, root: bool) {
    let Value::Object(map) = schema else { return };
    if !root {
        map.remove("required");
    }
    for key in ["properties", "$defs"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            for child in children.values_mut() {
                as_partial(child, false);
                if key == "properties" {
                    nullable(child);
                }
            }
        }
    }
    if let Some(extra) = map.get_mut("additionalProperties")
        && extra.is_object()
    {
        as_partial(extra, false);
        nullable(extra);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(options)) = map.get_mut(key) {
            options.iter_mut().for_each(|o| as_partial(o, false));
        }
    }
}

fn nullable(schema: &mut Value) {
    let original = std::mem::take(schema);
    *schema = serde_json::json!({ "anyOf": [original, { "type": "null" }] });
}

/// The file name a kind's schema is kept under in `harness/model/schemas/`.
pub fn file_name(kind: Kind) -> String {
    format!("{}.schema.json", kind.key())
}
