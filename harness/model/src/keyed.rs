//! Choices written as a mapping with exactly one key, the key naming the choice:
//! `probe: { probe-rs: "0483:374b:0668FF" }` or `serial: virtual`.
//!
//! `yaml_serde` reads enums only from YAML tags (`!probe-rs ...`), which people do not write by
//! hand; serde's untagged and internally tagged forms lose the error location. This macro writes
//! the small `Deserialize` and `JsonSchema` impls that make the one-key form first class.

/// Declares an enum read from a one-key mapping (`{ key: value }`), or from a bare string for
/// variants without a payload (`key`).
#[macro_export]
macro_rules! keyed_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $key:literal => $variant:ident $(($ty:ty))? ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $key)] $variant $(($ty))? ),+
        }

        impl $name {
            /// The keys of which a mapping of this kind has exactly one.
            pub const KEYS: &'static [&'static str] = &[$($key),+];

            /// The key that names this choice.
            pub fn key(&self) -> &'static str {
                match self { $( $crate::keyed_enum!(@pat $name $variant $(, $ty)?) => $key ),+ }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "a mapping with one of the keys {}", $name::KEYS.join(", "))
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        $( if s == $key {
                            if let Some(v) = $crate::keyed_enum!(@bare $name $variant $(, $ty)?) {
                                return Ok(v);
                            }
                            return Err(E::custom(format!(
                                "`{}` needs settings\nhelp: write `{}: {{ ... }}`", s, s
                            )));
                        } )+
                        Err(E::unknown_variant(s, $name::KEYS))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let Some(key) = map.next_key::<String>()? else {
                            return Err(serde::de::Error::custom(format!(
                                "an empty mapping\nhelp: give exactly one of: {}", $name::KEYS.join(", ")
                            )));
                        };
                        let value = match key.as_str() {
                            $( $key => $crate::keyed_enum!(@value map $name $variant $(, $ty)?), )+
                            other => return Err(serde::de::Error::unknown_variant(other, $name::KEYS)),
                        };
                        if let Some(extra) = map.next_key::<String>()? {
                            return Err(serde::de::Error::custom(format!(
                                "`{extra}` cannot be combined with `{key}`\nhelp: give exactly one of: {}",
                                $name::KEYS.join(", ")
                            )));
                        }
                        Ok(value)
                    }
                }
                d.deserialize_any(V)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let choices: Vec<serde_json::Value> = vec![
                    $( $crate::keyed_enum!(@schema generator $key $(, $ty)?) ),+
                ];
                schemars::json_schema!({ "oneOf": choices })
            }
        }
    };

    (@pat $name:ident $variant:ident) => { $name::$variant };
    (@pat $name:ident $variant:ident, $ty:ty) => { $name::$variant(_) };
    (@bare $name:ident $variant:ident) => { Some($name::$variant) };
    // A choice whose settings all have defaults may be written bare, too.
    (@bare $name:ident $variant:ident, $ty:ty) => {
        <$ty as serde::Deserialize>::deserialize(
            serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(std::iter::empty::<(String, String)>()),
        )
        .ok()
        .map($name::$variant)
    };
    (@value $map:ident $name:ident $variant:ident) => {{
        let _: $crate::keyed::Empty = $map.next_value()?;
        $name::$variant
    }};
    (@value $map:ident $name:ident $variant:ident, $ty:ty) => { $name::$variant($map.next_value::<$ty>()?) };
    (@schema $g:ident $key:literal) => {
        serde_json::json!({ "oneOf": [
            { "const": $key },
            { "type": "object", "required": [$key], "additionalProperties": false,
              "properties": { $key: { "type": ["object", "null"], "additionalProperties": false } } }
        ] })
    };
    (@schema $g:ident $key:literal, $ty:ty) => {
        serde_json::json!({ "type": "object", "required": [$key], "additionalProperties": false,
            "properties": { $key: $g.subschema_for::<$ty>() } })
    };
}

/// The settings of a choice that takes none: `{}` or nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Empty;

impl<'de> serde::Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Nothing {}
        Option::<Nothing>::deserialize(d).map(|_| Empty)
    }
}
