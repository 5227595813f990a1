//! Text rules: stored text is NFC-normalized and free of NUL and of invisible format
//! characters; search ignores case and Vietnamese diacritics (the database folds with
//! `search_fold`, this module escapes patterns); [`comparison_key`] is how names that must
//! differ (sibling organizations) are compared.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether `character` is a format character (Unicode general category Cf): zero-width space
/// and joiners, soft hyphen, byte-order mark, bidirectional controls. They are invisible, so a
/// name holding one looks like another name (a lookalike that passes a duplicate check) or
/// shows in another order than it is stored (bidi spoofing). Vietnamese text needs none.
fn is_format(character: char) -> bool {
    character.general_category() == GeneralCategory::Format
}

/// NFC form of `input` without format characters ("Hoà" typed with a combining accent becomes
/// the precomposed form; "Nguyễn\u{200B}Văn" becomes "NguyễnVăn"). Format characters go first,
/// so that one standing between a letter and its accent does not keep them apart.
pub fn nfc(input: &str) -> String {
    input.chars().filter(|c| !is_format(*c)).nfc().collect()
}

/// How sibling names are compared: [`nfc`] (so NFD input and invisible characters make no
/// difference), lower-case, white space collapsed. Diacritics are kept on purpose: in
/// Vietnamese they tell letters and tones apart ("Xóm An", "Xóm Ân" and "Xóm Án" are three
/// names, a < ă < â are distinct letters), so the accent-blind folding of search
/// (`search_fold`) would refuse real, distinct units.
pub fn comparison_key(input: &str) -> String {
    squash_spaces(&nfc(input).to_lowercase())
}

/// The words of a search `q`, each escaped for `LIKE`: a row matches when its folded text
/// contains every word, in any order ("hoa my" finds "Mỹ Hòa"; runs of spaces separate like one).
pub fn search_words(q: &str) -> impl Iterator<Item = String> + '_ {
    q.split_whitespace().map(like_escape)
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

/// A `LIKE` pattern that finds `needle` anywhere (format characters dropped, as in stored text).
pub fn contains_pattern(needle: &str) -> String {
    format!("%{}%", like_escape(nfc(needle).trim()))
}

/// The text without surrounding white space, or nothing when that leaves it empty (an optional
/// member sent blank is cleared).
pub fn trimmed(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// Collapses runs of white space and trims, for comparing names typed by people.
pub fn squash_spaces(input: &str) -> String {
    input.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How many evidence links a pledge's progress report or a nomination may carry.
pub const EVIDENCE_MAX: usize = 20;
/// The longest evidence link, in bytes.
pub const EVIDENCE_URL_MAX: usize = 2_000;

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

    /// At most [`EVIDENCE_MAX`] links of evidence, each an http(s) URL of at most
    /// [`EVIDENCE_URL_MAX`] bytes.
    pub fn evidence_links(&mut self, pointer: &str, links: &[String]) {
        if links.len() > EVIDENCE_MAX {
            self.fail(pointer, format!("at most {EVIDENCE_MAX} links"));
        }
        for (index, link) in links.iter().enumerate() {
            let valid = link.len() <= EVIDENCE_URL_MAX
                && url::Url::parse(link)
                    .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
            if !valid {
                self.fail(
                    &format!("{pointer}/{index}"),
                    format!("must be an http(s) URL of at most {EVIDENCE_URL_MAX} characters"),
                );
            }
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
    fn format_characters_are_dropped_before_composition() {
        assert_eq!(
            nfc("Nguy\u{200B}ễn\u{FEFF} Văn\u{00AD}A\u{202E}"),
            "Nguyễn VănA"
        );
        assert_eq!(nfc("Ho\u{200D}\u{0300}a"), "Hòa");
    }

    #[test]
    fn comparison_keys_ignore_case_form_spacing_and_invisible_characters_but_not_accents() {
        let key = comparison_key("Xã Mỹ Hòa");
        assert_eq!(key, "xã mỹ hòa");
        for variant in [
            "xã  mỹ hòa ",
            "XÃ MỸ HÒA",
            "Xa\u{0303} My\u{0303} Ho\u{0300}a",
            "Xã Mỹ\u{200B} Hòa",
        ] {
            assert_eq!(comparison_key(variant), key, "{variant:?}");
        }
        assert_ne!(comparison_key("Xóm An"), comparison_key("Xóm Ân"));
        assert_ne!(comparison_key("Xóm Dông"), comparison_key("Xóm Đông"));
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
