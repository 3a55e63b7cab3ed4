//! Record ids: a URL-safe, reversible encoding of bucket + key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The id of the record for `key` in `bucket`: both parts in URL-safe base64, joined by a dot
/// (which base64 never produces, so the id splits back unambiguously whatever the key holds).
pub fn record_id(bucket: &str, key: &str) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(bucket),
        URL_SAFE_NO_PAD.encode(key)
    )
}

/// Bucket and key back from a record id, or `None` if it is not one.
pub fn parse_record_id(id: &str) -> Option<(String, String)> {
    let (bucket, key) = id.split_once('.')?;
    let bucket = String::from_utf8(URL_SAFE_NO_PAD.decode(bucket).ok()?).ok()?;
    let key = String::from_utf8(URL_SAFE_NO_PAD.decode(key).ok()?).ok()?;
    Some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_nasty_keys() {
        for key in ["a b+c.jpg", "ünïcødé/猫.png", "../etc/passwd", "x.y.z", ""] {
            let id = record_id("/photos/in box", key);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
            assert_eq!(
                parse_record_id(&id),
                Some(("/photos/in box".to_owned(), key.to_owned()))
            );
        }
        assert_eq!(parse_record_id("no-dot"), None);
        assert_eq!(parse_record_id("!!.??"), None);
    }
}
