//! What names a step can use: `${variables}` in text, and values captured by earlier steps.

use std::collections::{BTreeMap, BTreeSet};

use rigor_model::value::Scalar;

/// Values substituted for `${name}`: built-ins (`generation`, `slot`, ...), scenario parameters,
/// profile variables and, inside a fragment, the fragment's arguments.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    values: BTreeMap<String, Scalar>,
}

/// A `${name}` that no scope defines.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownVariable {
    /// The name.
    pub name: String,
    /// The nearest defined name, or the list.
    pub help: Option<String>,
}

impl Scope {
    /// Defines (or redefines) a value.
    pub fn set(&mut self, name: impl Into<String>, value: Scalar) {
        self.values.insert(name.into(), value);
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Scalar> {
        self.values.get(name)
    }

    /// Every defined name.
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.values.keys().map(String::as_str)
    }

    /// A copy with more values (a fragment's arguments) on top.
    pub fn with(&self, more: &BTreeMap<String, Scalar>) -> Scope {
        let mut s = self.clone();
        for (k, v) in more {
            s.set(k.clone(), v.clone());
        }
        s
    }

    /// Replaces every `${name}` in `text`; `$${` stands for a literal `${`.
    pub fn substitute(&self, text: &str) -> Result<String, UnknownVariable> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            if rest[..i].ends_with('$') {
                out.push_str(&rest[..i - 1]);
                out.push_str("${");
                rest = &rest[i + 2..];
                continue;
            }
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[i..]);
                return Ok(out);
            };
            let name = after[..end].trim();
            match self.values.get(name) {
                Some(v) => out.push_str(&v.to_string()),
                None => {
                    return Err(UnknownVariable {
                        name: name.to_owned(),
                        help: rigor_model::suggest::help(name, self.names()),
                    });
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Names of values captured so far in a run of the plan, in step order.
#[derive(Debug, Clone, Default)]
pub struct Captures {
    names: BTreeSet<String>,
}

impl Captures {
    /// Records that a step captures `name`.
    pub fn define(&mut self, name: &str) {
        self.names.insert(name.to_owned());
    }

    /// True when an earlier step captured `name`.
    pub fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Captured names.
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.names.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_escapes() {
        let mut s = Scope::default();
        s.set("generation", Scalar::Text("gen2".into()));
        s.set("build_dir", Scalar::Text("out".into()));
        assert_eq!(
            s.substitute("${build_dir}/fw-${generation}.elf").unwrap(),
            "out/fw-gen2.elf"
        );
        assert_eq!(s.substitute("cost $${x} ok$").unwrap(), "cost ${x} ok$");
        let e = s.substitute("${generaton}").unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `generation`?"));
    }
}
