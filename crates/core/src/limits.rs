//! The limits an image must meet to be analysed: Rekognition's, kept the same in local mode. The
//! validate step refuses an image outside them, and whatever decodes pixels afterwards (the
//! local analysers, the console's thumbnails) refuses to decode more, whatever the file says.

/// The longest side of an image, in pixels (Rekognition: 10,000).
pub const MAX_IMAGE_SIDE: u32 = 10_000;
