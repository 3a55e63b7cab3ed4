//! URL decoding for the places keys and queries arrive encoded.
//!
//! S3 event notifications (the `Records` shape) carry object keys URL-encoded as HTML forms
//! encode them (`+` for a space); EventBridge events carry them as they are.

use std::borrow::Cow;

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte. Bytes that
/// do not form UTF-8 are replaced rather than refused, so a bad key still yields a readable
/// name in the record that rejects it.
pub fn form_decode(text: &str) -> String {
    let spaced: Cow<'_, str> = if text.contains('+') {
        Cow::Owned(text.replace('+', " "))
    } else {
        Cow::Borrowed(text)
    };
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn notification_keys_decode_to_the_real_key() {
        assert_eq!(
            form_decode("beach+day%2B1+%C3%BCn%C3%AF.jpg"),
            "beach day+1 ünï.jpg"
        );
        assert_eq!(form_decode("..%2F..%2Fetc"), "../../etc");
        assert_eq!(form_decode("plain.jpg"), "plain.jpg");
        assert_eq!(form_decode("bad%ZZ%FF.jpg"), "bad%ZZ\u{fffd}.jpg");
    }
}
