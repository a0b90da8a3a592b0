//! What a YAML file's problem is, said so a person can fix it: the YAML libraries report the
//! symptom (`more than one document`, `found a tab` a line early, `mapping values are not
//! allowed`), these read the text around it and name the cause and the fix.

use crate::diagnostic::Location;

/// A file in another encoding than UTF-8, told by its byte-order mark (or its NUL bytes).
pub(crate) fn foreign_encoding(bytes: &[u8]) -> Option<String> {
    let named = |encoding: &str, mark: &str| {
        format!(
            "the file is {encoding} (it starts with the byte-order mark {mark}); save it as UTF-8"
        )
    };
    // UTF-32 first: its little-endian mark begins with UTF-16's.
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) {
        return Some(named("UTF-32 little-endian", "FF FE 00 00"));
    }
    if bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Some(named("UTF-32 big-endian", "00 00 FE FF"));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) {
        return Some(named("UTF-16 little-endian", "FF FE"));
    }
    if bytes.starts_with(&[0xFE, 0xFF]) {
        return Some(named("UTF-16 big-endian", "FE FF"));
    }
    // Without a mark, UTF-16 text of ASCII characters has a NUL in every other byte.
    let head = &bytes[..bytes.len().min(64)];
    if head.len() >= 4 && head.iter().filter(|b| **b == 0).count() * 3 >= head.len() {
        return Some("the file is UTF-16 (every other byte is NUL); save it as UTF-8".to_owned());
    }
    None
}

/// More than one byte-order mark at the start (an editor added its own before an existing one),
/// which the YAML reader takes for the start of a second document.
pub(crate) fn extra_byte_order_marks(text: &str) -> Option<String> {
    let marks = text.chars().take_while(|c| *c == '\u{FEFF}').count();
    (marks > 1).then(|| {
        format!(
            "the file starts with {marks} byte-order marks (EF BB BF each) where UTF-8 allows at \
             most one; save it as UTF-8 without a byte-order mark"
        )
    })
}

/// Whether the file holds nothing but blank lines and comments.
pub(crate) fn only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim_start_matches('\u{FEFF}').trim();
        l.is_empty() || l.starts_with('#')
    })
}

/// The first tab in the indentation of a line at or after `from` (1-based), where the YAML
/// scanner reports it at the end of the line before.
pub(crate) fn tab_in_indentation(text: &str, from: u32) -> Option<Location> {
    text.lines()
        .enumerate()
        .skip(usize::try_from(from.saturating_sub(1)).unwrap_or(0))
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indent].find('\t').map(|col| Location {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                column: u32::try_from(col + 1).unwrap_or(u32::MAX),
            })
        })
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The key of a `key: value` line, if it has one.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start().trim_start_matches("- ");
    let (key, _) = t.split_once(':')?;
    (!key.is_empty() && !key.contains([' ', '{', '[', '"', '\''])).then_some(key)
}

/// A key indented deeper than the key above it, whose value is plain text: YAML reads the line
/// as more of that text, then finds a `:` it cannot place. Returns where the key is and the hint.
pub(crate) fn over_indented_key(text: &str, line: u32) -> Option<(Location, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let at = usize::try_from(line).ok()?.checked_sub(1)?;
    let here = *lines.get(at)?;
    let key = key_of(here)?;
    let (above_at, above) = lines[..at]
        .iter()
        .enumerate()
        .rev()
        .find(|(_, l)| is_content(l))?;
    let above_key = key_of(above)?;
    let (deep, shallow) = (indentation(here), indentation(above));
    if deep <= shallow {
        return None;
    }
    // The column of the key above: `- name:` puts the key two past the dash.
    let expected =
        shallow + (above.trim_start().len() - above.trim_start().trim_start_matches("- ").len());
    let location = Location {
        line,
        column: u32::try_from(deep + 1).unwrap_or(u32::MAX),
    };
    Some((
        location,
        format!(
            "`{key}` is indented {deep} spaces, deeper than `{above_key}` on line {} whose value \
             is not a mapping; to set `{key}` beside `{above_key}`, indent it {expected} spaces",
            above_at + 1
        ),
    ))
}
