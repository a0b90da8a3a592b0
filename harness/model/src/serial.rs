//! What a unit's serial number may be. It keys the unit's footprint for the rest of its life and
//! goes into JUnit attributes, STDF, file names and terminals, so it is checked at the door: 1 to
//! 64 characters, letters and digits and `- _ . : / + #`, nothing that a report or a terminal
//! could read differently (no spaces, tabs, newlines or other control characters).

/// The characters a serial number may hold besides ASCII letters and digits.
pub const PUNCTUATION: &str = "-_.:/+#";

/// The longest serial number.
pub const MAX_LEN: usize = 64;

/// Why a text is not a serial number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    /// Nothing at all.
    #[error("a serial number cannot be empty")]
    Empty,
    /// Too long.
    #[error("a serial number has at most {MAX_LEN} characters, not {0}")]
    TooLong(usize),
    /// A character outside the set, shown escaped.
    #[error(
        "{:?} is not a serial number: {} at character {} is not allowed (letters, digits and `{PUNCTUATION}` are)",
        text, character.escape_default(), position + 1
    )]
    Character {
        /// The whole text.
        text: String,
        /// The first character refused.
        character: char,
        /// Its place, from 0.
        position: usize,
    },
}

/// Checks `text` against the rule above.
pub fn check(text: &str) -> Result<(), SerialError> {
    if text.is_empty() {
        return Err(SerialError::Empty);
    }
    let len = text.chars().count();
    if len > MAX_LEN {
        return Err(SerialError::TooLong(len));
    }
    match text
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || PUNCTUATION.contains(*c)))
    {
        Some((position, character)) => Err(SerialError::Character {
            text: text.to_owned(),
            character,
            position,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_as_labels_print_them_pass_and_control_characters_do_not() {
        for good in ["FC2-000201", "SN:42/a+b#1", "QF-000001"] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        assert_eq!(check(""), Err(SerialError::Empty));
        assert_eq!(
            check("FC2\t000201").unwrap_err().to_string(),
            "\"FC2\\t000201\" is not a serial number: \\t at character 4 is not allowed (letters, digits and `-_.:/+#` are)"
        );
        assert!(check("FC2-0002\n").is_err());
        assert!(check("FC1=0001").is_err());
        assert_eq!(check(&"x".repeat(65)), Err(SerialError::TooLong(65)));
    }
}
