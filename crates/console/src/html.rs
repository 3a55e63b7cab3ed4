//! HTML output: the one escaping function every untrusted string goes through, and the page
//! frame.
//!
//! Pages are built with `format!`/`write!`; any value that is not a literal or a number is
//! wrapped in [`Esc`]. Templates (askama, maud) would add a proc-macro build to a crate whose
//! pages are a few tables; one audited escaper is smaller to review.

use std::fmt;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// Text made safe for HTML element content and for quoted attribute values: `&`, `<`, `>`, `"`
/// and `'` become character references; everything else passes unchanged.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// [`Esc`] as a `String`.
pub fn escape(text: &str) -> String {
    Esc(text).to_string()
}

/// One path segment or query value, percent-encoded (the result is also safe in HTML).
pub fn url_part(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// A whole page: the frame around `body`, whose untrusted parts the caller has escaped.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Spotlight</title><link rel=\"stylesheet\" href=\"/assets/console.css\">\
         </head><body><header><a class=\"brand\" href=\"/\">Spotlight</a><nav>\
         <a href=\"/\">Gallery</a><a href=\"/review\">Review</a><a href=\"/failures\">Failures</a>\
         <a href=\"/executions\">Executions</a><a href=\"/themes\">Themes</a></nav></header>\
         <main>{body}</main></body></html>\n",
        Esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(escape("plain ünïcødé"), "plain ünïcødé");
        assert_eq!(escape(""), "");
    }
}
