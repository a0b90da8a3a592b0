//! The first loading pass: a YAML file's shape with positions, and typed parsing on top of it.
//!
//! `yaml_serde` gives typed values and a position for the first type error, but places duplicate
//! keys at line 1 and knows nothing of positions once a value is parsed. This pass walks the
//! parser's events once and records where every key and value starts, by key path, so later
//! passes (validation, binding) can point at the exact place of a problem.

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Marker, Parser};
use serde::de::DeserializeOwned;

use crate::diagnostic::{Diagnostic, Diagnostics, FileContext, Location, Origin, index, join};
use crate::suggest;

/// Where every key and value of one YAML document starts, by key path (`steps[3].measure.name`).
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    values: HashMap<String, Location>,
    keys: HashMap<String, Location>,
    /// The aliased anchor that expands to the most values: where it is, and how many.
    heaviest_anchor: Option<(Location, u64)>,
}

impl SourceMap {
    /// The start of the value at `path`, or of the nearest enclosing value that has one.
    pub fn locate(&self, path: &str) -> Option<Location> {
        let mut p = path;
        loop {
            if let Some(l) = self.values.get(p) {
                return Some(*l);
            }
            if p.is_empty() {
                return None;
            }
            p = parent(p);
        }
    }

    /// The start of the key whose value is at `path`, if `path` names a mapping entry.
    pub fn locate_key(&self, path: &str) -> Option<Location> {
        self.keys.get(path).copied()
    }

    /// True when the document has a value at exactly `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }
}

/// The path that encloses `path` (`a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``).
fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

fn location(m: &Marker) -> Location {
    Location {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

enum Frame {
    Mapping {
        path: String,
        /// The key whose value comes next, or `None` when a key comes next.
        pending_key: Option<String>,
        seen: HashMap<String, Location>,
    },
    Sequence {
        path: String,
        next: usize,
    },
}

/// Walks the events of `text`, building its source map and reporting syntax errors and duplicate keys.
pub fn scan(ctx_file: &Path, text: &str) -> (SourceMap, Diagnostics) {
    let file: std::sync::Arc<Path> = std::sync::Arc::from(ctx_file);
    let mut map = SourceMap::default();
    let mut diags = Diagnostics::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut documents = 0usize;
    let mut sizes = AnchorSizes::default();

    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(e) => e,
            Err(e) => {
                diags.push(syntax_error(&file, text, e.info(), location(e.marker())));
                return (map, diags);
            }
        };
        let at = location(&span.start);
        sizes.see(&event, at);
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    diags.push(
                        Diagnostic::new(
                            Origin::new(file.clone(), Some(at)),
                            "",
                            "a second YAML document in one file",
                        )
                        .with_help("put each profile, rig, fixture or scenario in its own file"),
                    );
                    return (map, diags);
                }
            }
            Event::Scalar(value, ..) => {
                if let Some(Frame::Mapping {
                    path,
                    pending_key,
                    seen,
                }) = stack.last_mut()
                    && pending_key.is_none()
                {
                    let key = value.into_owned();
                    let key_path = join(path, &key);
                    if let Some(first) = seen.get(&key) {
                        diags.push(
                            Diagnostic::new(
                                Origin::new(file.clone(), Some(at)),
                                key_path.clone(),
                                format!("duplicate key `{key}`"),
                            )
                            .with_help(format!(
                                "`{key}` is already set at line {}, column {}; a key may appear once in a mapping",
                                first.line, first.column
                            )),
                        );
                    } else {
                        seen.insert(key.clone(), at);
                        map.keys.insert(key_path, at);
                    }
                    *pending_key = Some(key);
                    continue;
                }
                let path = child_path(&mut stack);
                map.values.entry(path).or_insert(at);
                finish_value(&mut stack);
            }
            Event::Alias(_) => {
                let path = child_path(&mut stack);
                map.values.entry(path).or_insert(at);
                finish_value(&mut stack);
            }
            Event::MappingStart(..) => {
                let path = child_path(&mut stack);
                map.values.entry(path.clone()).or_insert(at);
                stack.push(Frame::Mapping {
                    path,
                    pending_key: None,
                    seen: HashMap::new(),
                });
            }
            Event::SequenceStart(..) => {
                let path = child_path(&mut stack);
                map.values.entry(path.clone()).or_insert(at);
                stack.push(Frame::Sequence { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                finish_value(&mut stack);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
    map.heaviest_anchor = sizes.heaviest;
    (map, diags)
}

/// How many values each anchor stands for once its aliases are expanded, counted without
/// expanding them, to name the anchor of an alias bomb.
#[derive(Default)]
struct AnchorSizes {
    /// Anchor id → its node's start and size.
    anchors: HashMap<usize, (Location, u64)>,
    /// Open containers: anchor id (0 for none), start, values counted so far.
    open: Vec<(usize, Location, u64)>,
    heaviest: Option<(Location, u64)>,
}

impl AnchorSizes {
    fn see(&mut self, event: &Event<'_>, at: Location) {
        let node = match event {
            Event::Scalar(_, _, anchor, _) => Some((*anchor, at, 1)),
            Event::Alias(id) => {
                let (start, size) = self.anchors.get(id).copied().unwrap_or((at, 1));
                if self.heaviest.is_none_or(|(_, s)| size > s) {
                    self.heaviest = Some((start, size));
                }
                Some((0, at, size))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((*anchor, at, 1));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => self.open.pop(),
            _ => None,
        };
        if let Some((anchor, start, size)) = node {
            if anchor != 0 {
                self.anchors.insert(anchor, (start, size));
            }
            if let Some(parent) = self.open.last_mut() {
                parent.2 = parent.2.saturating_add(size);
            }
        }
    }
}

/// A YAML syntax error, with the cause where the parser's report misleads: a tab is reported at
/// the end of the line before it, an over-indented key as a `:` that is not allowed.
fn syntax_error(file: &std::sync::Arc<Path>, text: &str, info: &str, at: Location) -> Diagnostic {
    let origin = |at| Origin::new(file.clone(), Some(at));
    if info.contains("found a tab") || info.contains("tab") && info.contains("indent") {
        // Only the reported line and the next: a tab further down is another problem.
        if let Some(tab) =
            crate::hints::tab_in_indentation(text, at.line).filter(|t| t.line <= at.line + 1)
        {
            return Diagnostic::new(origin(tab), "", "a tab in the indentation")
                .with_help("YAML indents with spaces only; replace the tab with spaces");
        }
    }
    let message = format!("invalid YAML: {info}");
    if info.starts_with("mapping values are not allowed")
        && let Some((key, help)) = crate::hints::over_indented_key(text, at.line)
    {
        return Diagnostic::new(origin(key), "", message).with_help(help);
    }
    Diagnostic::new(origin(at), "", message)
}

/// The anchor's name, read from the text at or before where its node starts.
fn anchor_name(text: &str, at: Location) -> Option<&str> {
    let line = text
        .lines()
        .nth(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
    let upto = line
        .char_indices()
        .nth(usize::try_from(at.column).ok()?)
        .map_or(line.len(), |(i, _)| i);
    let amp = line[..upto].rfind('&')?;
    let name = &line[amp + 1..];
    let end = name
        .find(|c: char| c.is_whitespace() || ",[]{}".contains(c))
        .unwrap_or(name.len());
    Some(&name[..end]).filter(|n| !n.is_empty())
}

/// The path of the node that starts now, inside the innermost open container.
fn child_path(stack: &mut [Frame]) -> String {
    match stack.last_mut() {
        None => String::new(),
        Some(Frame::Mapping {
            path, pending_key, ..
        }) => match pending_key {
            Some(k) => join(path, k),
            // A complex (non-scalar) key: not something rigor files use; give it a path nobody asks for.
            None => join(path, "?"),
        },
        Some(Frame::Sequence { path, next }) => {
            let p = index(path, *next);
            *next += 1;
            p
        }
    }
}

/// A value just ended: its mapping now expects a key again.
fn finish_value(stack: &mut [Frame]) {
    if let Some(Frame::Mapping { pending_key, .. }) = stack.last_mut() {
        *pending_key = None;
    }
}

/// A parsed file: its typed content and the context that locates problems in it.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    /// The typed content.
    pub value: T,
    /// The file and its source map.
    pub ctx: FileContext,
}

/// Reads `text` (from `file`) as an untyped YAML value, with its source map.
///
/// YAML syntax errors and duplicate keys are reported here, each at its own place (the YAML
/// library places duplicates at line 1).
pub fn read_value(
    file: &Path,
    text: &str,
) -> Result<(yaml_serde::Value, FileContext), Diagnostics> {
    let whole_file = |message: String| {
        let mut diags = Diagnostics::default();
        let start = Location { line: 1, column: 1 };
        diags.push(Diagnostic::new(
            Origin::new(std::sync::Arc::from(file), Some(start)),
            "",
            message,
        ));
        diags
    };
    if let Some(marks) = crate::hints::extra_byte_order_marks(text) {
        return Err(whole_file(marks));
    }
    if crate::hints::only_comments(text) {
        return Err(whole_file(
            "the file holds only comments and blank lines: no rigor content".to_owned(),
        ));
    }
    let (map, diags) = scan(file, text);
    let ctx = FileContext::new(file, map);
    if !diags.is_empty() {
        return Err(diags);
    }
    match yaml_serde::from_str::<yaml_serde::Value>(text) {
        Ok(v) => Ok((v, ctx)),
        Err(e) => {
            let location = e.location().map(|l| Location {
                line: u32::try_from(l.line()).unwrap_or(u32::MAX),
                column: u32::try_from(l.column()).unwrap_or(u32::MAX),
            });
            let raw = strip_decorations(&e.to_string(), "");
            let mut diag = Diagnostic::new(
                Origin::new(ctx.file.clone(), location),
                "",
                format!("invalid YAML: {raw}"),
            );
            if raw.contains("repetition limit exceeded")
                && let Some((at, size)) = ctx.map.heaviest_anchor
            {
                let name = anchor_name(text, at).unwrap_or("?");
                diag = Diagnostic::new(
                    Origin::new(ctx.file.clone(), Some(at)),
                    "",
                    format!(
                        "anchor `&{name}` at line {} stands for {size} values, and its aliases \
                         repeat it past what rigor reads (a YAML alias bomb)",
                        at.line
                    ),
                )
                .with_help("write the values out, or use aliases that do not nest");
            }
            let mut diags = Diagnostics::default();
            diags.push(diag);
            Err(diags)
        }
    }
}

/// Types an untyped value, locating a problem through `locate(path, is_key)`.
///
/// Serde stops at the first structural problem in a value, so this gives at most one diagnostic;
/// the semantic passes after it collect all of theirs.
pub fn from_value<T: DeserializeOwned>(
    value: yaml_serde::Value,
    locate: impl Fn(&str, bool) -> Origin,
) -> Result<T, Box<Diagnostic>> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let raw = e.into_inner().to_string();
        let about_a_key = raw.starts_with("unknown field") || raw.starts_with("duplicate field");
        Box::new(serde_diagnostic(&path, &raw, locate(&path, about_a_key)))
    })
}

/// Types an untyped value of the file `ctx` describes. A required key found one level out (a
/// `limits:` dedented under its step) is named with the indentation it needs.
pub fn from_ctx<T: DeserializeOwned>(
    value: yaml_serde::Value,
    ctx: &FileContext,
) -> Result<T, Box<Diagnostic>> {
    let locate = |path: &str, key: bool| {
        if key {
            ctx.key_origin(path)
        } else {
            ctx.origin(path)
        }
    };
    from_value(value, locate).map_err(|d| Box::new(misplaced_key(*d, ctx)))
}

fn misplaced_key(d: Diagnostic, ctx: &FileContext) -> Diagnostic {
    let Some(name) = d
        .message
        .strip_prefix("missing required key `")
        .and_then(|r| r.strip_suffix('`'))
    else {
        return d;
    };
    if d.path.is_empty() {
        return d;
    }
    let outer = parent(&d.path);
    let Some(stray) = ctx.map.locate_key(&join(outer, name)) else {
        return d;
    };
    let owner = d.path[outer.len()..].trim_start_matches('.');
    // Where the mapping's own keys start, or two spaces in from its key.
    let column = ctx
        .map
        .keys
        .iter()
        .filter(|(k, _)| parent(k) == d.path)
        .map(|(_, l)| l.column)
        .min()
        .or_else(|| ctx.map.locate_key(&d.path).map(|l| l.column + 2))
        .unwrap_or(stray.column + 2);
    let name = name.to_owned();
    let help = format!(
        "`{name}` is at line {}, column {}, one level out: indent it to column {column} to put \
         it under `{owner}`",
        stray.line, stray.column
    );
    d.with_help(help).with_related(
        format!("`{name}` is here"),
        Origin::new(ctx.file.clone(), Some(stray)),
    )
}

/// Parses `text` (from `file`) into `T`, reporting every problem with file, line, column and key path.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<Parsed<T>, Diagnostics> {
    let (value, ctx) = read_value(file, text)?;
    let locate = |path: &str, key: bool| {
        if key {
            ctx.key_origin(path)
        } else {
            ctx.origin(path)
        }
    };
    match from_value(value, locate) {
        Ok(value) => Ok(Parsed { value, ctx }),
        Err(d) => {
            let mut diags = Diagnostics::default();
            diags.push(*d);
            Err(diags)
        }
    }
}

/// Turns a serde error's text into a diagnostic that says what would be right.
fn serde_diagnostic(path: &str, raw: &str, origin: Origin) -> Diagnostic {
    let message = strip_decorations(raw, path);
    // Our own `Deserialize` impls put their hint after a `\nhelp: ` line.
    if let Some((message, help)) = message.split_once("\nhelp: ") {
        return Diagnostic::new(origin, path, message).with_help(help);
    }
    for (what, noun) in [("unknown field", "key"), ("unknown variant", "value")] {
        if let Some(rest) = message.strip_prefix(what) {
            let name = between_backticks(rest).unwrap_or_default();
            let expected: Vec<String> = rest
                .split_once(", expected")
                .map(|(_, list)| backticked(list))
                .unwrap_or_default();
            let help = suggest::help(&name, expected.iter().map(String::as_str));
            return Diagnostic::new(origin, path, format!("unknown {noun} `{name}`"))
                .with_optional_help(help);
        }
    }
    if let Some(rest) = message.strip_prefix("missing field") {
        let name = between_backticks(rest).unwrap_or_default();
        return Diagnostic::new(origin, path, format!("missing required key `{name}`"));
    }
    Diagnostic::new(origin, path, message)
}

/// Removes the `path: ` prefix and ` at line L column C` suffix that yaml_serde adds, since the
/// diagnostic carries both on its own.
fn strip_decorations(raw: &str, path: &str) -> String {
    let mut s = raw;
    if !path.is_empty()
        && let Some(rest) = s.strip_prefix(path).and_then(|r| r.strip_prefix(": "))
    {
        s = rest;
    }
    let s = match s.rfind(" at line ") {
        Some(i) if s[i..].contains(" column ") => &s[..i],
        _ => s,
    };
    s.to_owned()
}

fn between_backticks(s: &str) -> Option<String> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(s[start..start + len].to_owned())
}

fn backticked(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_keys_and_values() {
        let (map, diags) = scan(
            Path::new("f.yaml"),
            "a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n",
        );
        assert!(diags.is_empty());
        assert_eq!(map.locate("a"), Some(Location { line: 1, column: 4 }));
        assert_eq!(map.locate_key("b.c"), Some(Location { line: 3, column: 3 }));
        assert_eq!(
            map.locate("b.c[1]"),
            Some(Location {
                line: 3,
                column: 10
            })
        );
        assert_eq!(
            map.locate("b.d[0].e"),
            Some(Location {
                line: 5,
                column: 10
            })
        );
        // Unknown paths fall back to the nearest enclosing value.
        assert_eq!(
            map.locate("b.d[0].zzz"),
            Some(Location { line: 5, column: 7 })
        );
    }

    #[test]
    fn duplicate_key_is_reported_at_the_duplicate() {
        let (_, diags) = scan(Path::new("f.yaml"), "a: 1\nb:\n  c: 1\n  c: 2\n");
        let d: Vec<_> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(
            d,
            [
                "f.yaml:4:3: b.c: duplicate key `c`\n  help: `c` is already set at line 3, column 3; a key may appear once in a mapping"
            ]
        );
    }
}
