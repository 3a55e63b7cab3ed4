//! Cutting text to fit where people read it: the CLI's one-line summaries, the console's graph
//! labels.

/// `text` when it has at most `max_chars` characters; otherwise its first `max_chars - 1`
/// characters and `…`, so the result never has more than `max_chars` characters (one, `…`, when
/// `max_chars` is 0). Cuts between characters, never inside one.
pub fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some(_) => {
            let kept = max_chars.saturating_sub(1);
            let end = text
                .char_indices()
                .nth(kept)
                .map_or(text.len(), |(at, _)| at);
            format!("{}…", &text[..end])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn text_that_fits_is_left_alone() {
        assert_eq!(cut("short", 5), "short");
        assert_eq!(cut("short", 100), "short");
        assert_eq!(cut("", 0), "");
    }

    #[test]
    fn longer_text_ends_with_an_ellipsis_within_the_limit() {
        assert_eq!(cut("shorter", 5), "shor…");
        assert_eq!(cut("ab", 1), "…");
        assert_eq!(cut("ab", 0), "…");
    }

    #[test]
    fn cuts_fall_between_characters() {
        let long = "é".repeat(105);
        let got = cut(&long, 101);
        assert_eq!(got.chars().count(), 101);
        assert_eq!(got, format!("{}…", "é".repeat(100)));
        assert_eq!(cut("日本語テキスト", 4), "日本語…");
    }
}
