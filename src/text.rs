//! Text rules: stored text is NFC-normalized and free of NUL; search ignores case and
//! Vietnamese diacritics (the database folds with `search_fold`, this module escapes patterns).

use unicode_normalization::UnicodeNormalization;

/// NFC form of `input` ("Hoà" typed with a combining accent becomes the precomposed form).
pub fn nfc(input: &str) -> String {
    input.nfc().collect()
}

/// Escapes `%`, `_` and `\` so a user's search text matches literally inside `LIKE`.
pub fn like_escape(input: &str) -> String {
    let mut escaped = String::with_capacity(input.len() + 2);
    for character in input.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// A `LIKE` pattern that finds `needle` anywhere.
pub fn contains_pattern(needle: &str) -> String {
    format!("%{}%", like_escape(needle.trim()))
}

/// Collapses runs of white space and trims, for comparing names typed by people.
pub fn squash_spaces(input: &str) -> String {
    input.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Collects the bounds violations of request members, to report them all in one 422.
#[derive(Debug, Default)]
pub struct Checks {
    pub errors: Vec<crate::error::FieldError>,
}

impl Checks {
    /// `value` (trimmed) must have `min..=max` characters.
    pub fn length(&mut self, pointer: &str, value: &str, min: usize, max: usize) {
        let length = value.trim().chars().count();
        if length < min || length > max {
            let detail = if min == 0 {
                format!("must be at most {max} characters")
            } else if length < min && min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be {min} to {max} characters")
            };
            self.fail(pointer, detail);
        }
    }

    pub fn fail(&mut self, pointer: &str, detail: impl Into<String>) {
        self.errors
            .push(crate::error::FieldError::new(pointer, detail));
    }

    /// `Ok` when nothing failed, else one 422 naming every failure.
    pub fn finish(self) -> Result<(), crate::error::AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(crate::error::AppError::validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_and_precomposed_accents_normalize_to_one_form() {
        assert_eq!(nfc("Ho\u{0300}a"), "Hòa");
        assert_eq!(nfc("Hòa"), "Hòa");
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains_pattern(" 50%_a\\ "), "%50\\%\\_a\\\\%");
    }

    #[test]
    fn spaces_are_squashed() {
        assert_eq!(squash_spaces("  Câu lạc bộ   Gương "), "Câu lạc bộ Gương");
    }
}
