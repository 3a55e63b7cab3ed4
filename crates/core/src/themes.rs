//! Themes: named sets of labels ("ocean", "animals", …), shipped in `config/themes.json` and
//! editable. A search by theme expands it to its labels when it runs; a record keeps the themes
//! it matched only for display.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contracts::Label;

/// The themes shipped in `config/themes.json`.
pub const DEFAULT_THEMES_JSON: &str = include_str!("../../../config/themes.json");

/// Theme name → label names.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Themes {
    /// The themes.
    pub themes: BTreeMap<String, Vec<String>>,
}

/// A themes file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid themes file: {0}")]
pub struct ThemesError(String);

impl Themes {
    /// The shipped themes.
    pub fn shipped() -> Self {
        // The shipped file is checked by a test; this cannot fail in a build that passed it.
        Self::from_json(DEFAULT_THEMES_JSON).unwrap_or_default()
    }

    /// Parses a themes file.
    pub fn from_json(json: &str) -> Result<Self, ThemesError> {
        let themes: Themes = serde_json::from_str(json).map_err(|e| ThemesError(e.to_string()))?;
        if let Some((name, _)) = themes.themes.iter().find(|(_, labels)| labels.is_empty()) {
            return Err(ThemesError(format!("theme {name:?} has no labels")));
        }
        Ok(themes)
    }

    /// The labels of a theme (case-insensitive name).
    pub fn expand(&self, theme: &str) -> Option<&[String]> {
        self.themes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(theme))
            .map(|(_, labels)| labels.as_slice())
    }

    /// The themes whose labels appear among `labels`, by name or parent, case-insensitively.
    pub fn matching(&self, labels: &[Label]) -> Vec<String> {
        self.themes
            .iter()
            .filter(|(_, theme_labels)| {
                labels.iter().any(|label| {
                    std::iter::once(&label.name)
                        .chain(&label.parents)
                        .any(|name| theme_labels.iter().any(|t| t.eq_ignore_ascii_case(name)))
                })
            })
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str, parents: &[&str]) -> Label {
        Label {
            name: name.to_owned(),
            confidence: 90.0,
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            categories: Vec::new(),
            instances: Vec::new(),
        }
    }

    #[test]
    fn the_shipped_themes_parse_and_cover_the_design() {
        let themes = Themes::from_json(DEFAULT_THEMES_JSON).unwrap();
        for theme in ["ocean", "animals", "concert", "landmark"] {
            assert!(themes.expand(theme).is_some(), "missing theme {theme}");
        }
        assert_eq!(themes, Themes::shipped());
    }

    #[test]
    fn labels_match_themes_by_name_or_parent() {
        let themes = Themes::shipped();
        let matched =
            themes.matching(&[label("Tabby Cat", &["Cat", "Feline", "Mammal", "Animal"])]);
        assert_eq!(matched, vec!["animals".to_owned()]);
        let matched = themes.matching(&[label("seashore", &[])]);
        assert_eq!(matched, vec!["ocean".to_owned()]);
        assert!(themes
            .matching(&[label("Stapler", &["Office Supplies"])])
            .is_empty());
    }

    #[test]
    fn an_empty_theme_is_refused() {
        assert!(Themes::from_json(r#"{"themes":{"x":[]}}"#).is_err());
    }
}
