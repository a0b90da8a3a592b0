//! JSON Schemas of the file kinds, for editors (yaml-language-server) and for checking files.

use crate::load::Kind;

/// The JSON Schema of a file kind, pretty-printed.
pub fn json_schema(kind: Kind) -> serde_json::Value {
    let schema = match kind {
        Kind::Profile => schemars::schema_for!(crate::profile::Profile),
        Kind::Rig => schemars::schema_for!(crate::rig::Rig),
        Kind::Fixture => schemars::schema_for!(crate::fixture::Fixture),
        Kind::InstrumentModel => schemars::schema_for!(crate::instrument::InstrumentModel),
        Kind::Scenario => schemars::schema_for!(crate::scenario::Scenario),
        Kind::Fragment => schemars::schema_for!(crate::scenario::Fragment),
    };
    schema.to_value()
}

/// The file name a kind's schema is kept under in `harness/model/schemas/`.
pub fn file_name(kind: Kind) -> String {
    format!("{}.schema.json", kind.key())
}
