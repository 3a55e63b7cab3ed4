//! The validate step: decides whether an upload can be analysed, reading as little as it can.
//!
//! It reads the object's head, its first bytes and its last bytes (byte ranges, never the whole
//! object), decides the format by magic bytes (never by the name), reads the dimensions from the
//! header without decoding the image, and enforces Rekognition's limits: JPEG or PNG, at most
//! 15 MB, sides between 80 and 10,000 px. A missing end (JPEG `EOI`, PNG `IEND`) means a
//! truncated upload: rejected as corrupt, not failed. An EXIF block whose IFD offsets loop is
//! rejected as corrupt too, before anything downstream follows them.
//!
//! Every read is of one object version: the one the request names (an event's `version-id`),
//! else the one the head found, which the facts then name, so the analysers read it too.
#![warn(missing_docs)]

use spotlight_core::contracts::{ImageFacts, ImageFormat, ObjectRequest};
use spotlight_core::ports::{ObjectReader, ReadError};
use spotlight_core::revision::revision;
use spotlight_core::{RejectReason, StepError};

#[doc(hidden)]
pub mod fuzz;

/// The limits an image must meet. The defaults are Rekognition's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest object, in bytes (Rekognition: 15 MB from S3).
    pub max_bytes: u64,
    /// Shortest allowed side, in pixels.
    pub min_side: u32,
    /// Longest allowed side, in pixels.
    pub max_side: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 15 * 1024 * 1024,
            min_side: 80,
            max_side: spotlight_core::limits::MAX_IMAGE_SIDE,
        }
    }
}

/// How many bytes are read from the start of the object at once.
pub const HEAD_BYTES: u64 = 64 * 1024;
/// How many bytes are read from the end of the object.
pub const TAIL_BYTES: u64 = 1024;
/// A JPEG's header may hold many large metadata segments before the frame header; past this
/// many extra reads the file is refused rather than read further.
const MAX_EXTRA_HEADER_READS: usize = 16;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const PNG_IEND: &[u8] = b"IEND\xae\x42\x60\x82";

/// Validates the object a request names and describes it.
pub async fn handle<R: ObjectReader>(
    request: &ObjectRequest,
    reader: &R,
    limits: &Limits,
) -> Result<ImageFacts, StepError> {
    let key = request.object_key();
    if request.bucket.is_empty() || key.is_empty() {
        return Err(StepError::rejected(
            RejectReason::NotFound,
            "the request names no object (empty bucket or key)",
        ));
    }
    let mut object = Object {
        reader,
        bucket: &request.bucket,
        key: &key,
        version: request.version_id.clone(),
    };
    let head = reader
        .head_version(&request.bucket, &key, object.version.as_deref())
        .await
        .map_err(|e| object.read_error(e))?;
    // Without a named version, the later reads (and the analysers, through the facts) stay on
    // the version the head described, even if the key is overwritten meanwhile.
    if object.version.is_none() {
        object.version.clone_from(&head.version_id);
    }

    if head.size == 0 {
        return Err(StepError::rejected(
            RejectReason::Corrupt,
            "the object is empty (0 bytes)",
        ));
    }
    if head.size > limits.max_bytes {
        return Err(StepError::rejected(
            RejectReason::TooLarge,
            format!(
                "the object is {} bytes; the limit is {} bytes",
                head.size, limits.max_bytes
            ),
        ));
    }

    let first = object.read(0..head.size.min(HEAD_BYTES)).await?;
    let format = sniff_format(&first)?;
    let header = match format {
        ImageFormat::Png => png_dimensions(&first)?,
        ImageFormat::Jpeg => jpeg_dimensions(&object, first, head.size).await?,
    };
    check_sides(header.width, header.height, limits)?;

    let tail_start = head.size.saturating_sub(TAIL_BYTES);
    let tail = object.read(tail_start..head.size).await?;
    check_end(format, &tail, tail_start, header.frame_offset)?;

    let uploaded_at = request.event_time.or(head.last_modified);
    let version_id = object.version;
    Ok(ImageFacts {
        bucket: request.bucket.clone(),
        key,
        format,
        size_bytes: head.size,
        width: header.width,
        height: header.height,
        revision: revision(request.sequencer.as_deref(), uploaded_at),
        etag: head.etag,
        version_id,
        last_modified: head.last_modified,
        uploaded_at,
    })
}

struct Object<'a, R> {
    reader: &'a R,
    bucket: &'a str,
    key: &'a str,
    version: Option<String>,
}

impl<R: ObjectReader> Object<'_, R> {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<Vec<u8>, StepError> {
        self.reader
            .read_version_range(self.bucket, self.key, self.version.as_deref(), range)
            .await
            .map_err(|e| self.read_error(e))
    }

    fn read_error(&self, error: ReadError) -> StepError {
        match error {
            // The reader says why (a folder: a FIFO, a symlink loop…; S3: the object's URL).
            ReadError::NotFound(why) => StepError::rejected(
                RejectReason::NotFound,
                match &self.version {
                    Some(version) => format!(
                        "no version {version:?} of object {:?} in {:?} ({why})",
                        self.key, self.bucket
                    ),
                    None => format!("no object {:?} in {:?} ({why})", self.key, self.bucket),
                },
            ),
            // Validation is the first look at the image; a read that fails for another reason
            // (permissions, the network) is an analysis failure, recorded as FAILED.
            ReadError::Other { message, source } => StepError::AnalyzerFailed {
                message: format!("could not read {:?}: {message}", self.key),
                source,
            },
        }
    }
}

/// Formats recognised only to be refused, with their magic bytes.
const UNSUPPORTED: &[(&str, &[u8])] = &[
    ("GIF", b"GIF87a"),
    ("GIF", b"GIF89a"),
    ("TIFF", b"II*\0"),
    ("TIFF", b"MM\0*"),
    ("BMP", b"BM"),
    ("PDF", b"%PDF"),
    ("JPEG 2000", b"\0\0\0\x0cjP  "),
    ("JPEG XL", b"\xff\x0a"),
    ("ICO", b"\0\0\x01\0"),
    ("PSD", b"8BPS"),
];

/// The format from the magic bytes.
pub fn sniff_format(bytes: &[u8]) -> Result<ImageFormat, StepError> {
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(ImageFormat::Png);
    }
    if bytes.starts_with(b"\xff\xd8\xff") {
        return Ok(ImageFormat::Jpeg);
    }
    let truncated_signature = !bytes.is_empty()
        && (PNG_SIGNATURE.starts_with(bytes) || b"\xff\xd8\xff".starts_with(bytes));
    if truncated_signature {
        return Err(StepError::rejected(
            RejectReason::Corrupt,
            format!(
                "truncated: only {} bytes of an image signature",
                bytes.len()
            ),
        ));
    }
    let name = if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("WebP")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        Some(match &bytes[8..12] {
            b"avif" | b"avis" => "AVIF",
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => "HEIC/HEIF",
            _ => "an ISO media file (MP4/MOV/HEIF)",
        })
    } else {
        UNSUPPORTED
            .iter()
            .find(|(_, magic)| bytes.starts_with(magic))
            .map(|(name, _)| *name)
    };
    let message = match name {
        Some(name) => format!("{name} is not supported; only JPEG and PNG are"),
        None if looks_like_text(bytes) => {
            "the object is text, not an image; only JPEG and PNG are supported".to_owned()
        }
        None => "the content is not a recognised image format; only JPEG and PNG are supported"
            .to_owned(),
    };
    Err(StepError::rejected(
        RejectReason::UnsupportedFormat,
        message,
    ))
}

fn looks_like_text(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(512)];
    std::str::from_utf8(sample).is_ok_and(|s| {
        s.chars()
            .all(|c| !c.is_control() || c.is_ascii_whitespace())
    })
}

/// Dimensions from a header, and where the frame header sits (to tell an embedded thumbnail's
/// end from the image's).
struct Header {
    width: u32,
    height: u32,
    frame_offset: u64,
}

fn png_dimensions(bytes: &[u8]) -> Result<Header, StepError> {
    // Signature (8), then the IHDR chunk: length (4) = 13, type (4), width (4), height (4).
    let ihdr = bytes.get(8..24).ok_or_else(|| {
        StepError::rejected(
            RejectReason::Corrupt,
            "truncated PNG: no complete IHDR chunk",
        )
    })?;
    if ihdr[0..4] != [0, 0, 0, 13] || &ihdr[4..8] != b"IHDR" {
        return Err(StepError::rejected(
            RejectReason::Corrupt,
            "corrupt PNG: the first chunk is not a valid IHDR",
        ));
    }
    let width = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let height = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(StepError::rejected(
            RejectReason::Corrupt,
            format!("corrupt PNG: impossible dimensions {width}×{height}"),
        ));
    }
    Ok(Header {
        width,
        height,
        frame_offset: 8,
    })
}

/// Walks the JPEG's marker segments to the frame header (SOFn), reading further byte ranges
/// when metadata segments push it past the first read.
async fn jpeg_dimensions<R: ObjectReader>(
    object: &Object<'_, R>,
    first: Vec<u8>,
    size: u64,
) -> Result<Header, StepError> {
    let corrupt = |why: String| StepError::rejected(RejectReason::Corrupt, why);
    let mut window = first;
    let mut window_start = 0u64;
    let mut extra_reads = 0;
    let mut pos = 2u64; // past SOI
    loop {
        // Each step needs at most 9 bytes at `pos`: a marker, a length and a frame header start.
        let needed = pos + 9;
        if needed > window_start + window.len() as u64 {
            if pos >= size {
                return Err(corrupt(
                    "truncated JPEG: the file ends before the frame header".to_owned(),
                ));
            }
            if extra_reads == MAX_EXTRA_HEADER_READS {
                return Err(corrupt(format!(
                    "JPEG frame header not found in the first {pos} bytes"
                )));
            }
            extra_reads += 1;
            window = object.read(pos..size.min(pos + HEAD_BYTES)).await?;
            window_start = pos;
            if window.len() < 2 {
                return Err(corrupt(
                    "truncated JPEG: the file ends before the frame header".to_owned(),
                ));
            }
        }
        let at = |offset: u64| -> Option<u8> {
            let index = usize::try_from(pos + offset - window_start).ok()?;
            window.get(index).copied()
        };
        let (Some(0xff), Some(marker)) = (at(0), at(1)) else {
            return Err(corrupt(format!(
                "corrupt JPEG: expected a marker at byte {pos}"
            )));
        };
        match marker {
            // Fill bytes before a marker.
            0xff => {
                pos += 1;
                continue;
            }
            // Markers without a length.
            0x01 | 0xd0..=0xd7 => {
                pos += 2;
                continue;
            }
            0xd9 | 0xda => {
                return Err(corrupt(
                    "corrupt JPEG: no frame header before the image data".to_owned(),
                ))
            }
            _ => {}
        }
        let length = match (at(2), at(3)) {
            (Some(hi), Some(lo)) => u64::from(u16::from_be_bytes([hi, lo])),
            _ => {
                return Err(corrupt(
                    "truncated JPEG: the file ends inside a segment header".to_owned(),
                ))
            }
        };
        if length < 2 {
            return Err(corrupt(format!(
                "corrupt JPEG: segment at byte {pos} has length {length}"
            )));
        }
        if marker == 0xe1 {
            // APP1: EXIF (or XMP). Its bytes, from the window when it fits (it nearly always
            // does), else one read of its own (a segment is at most 64 KiB).
            let start = pos + 4;
            let end = pos + 2 + length;
            let in_window = start - window_start..end - window_start;
            let segment = match window.get(to_index(in_window.start)..to_index(in_window.end)) {
                Some(bytes) => bytes.to_vec(),
                None => object.read(start..end.min(size)).await?,
            };
            check_exif(&segment)?;
        }
        let is_frame_header =
            matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if is_frame_header {
            let (Some(h_hi), Some(h_lo), Some(w_hi), Some(w_lo)) = (at(5), at(6), at(7), at(8))
            else {
                return Err(corrupt(
                    "truncated JPEG: the file ends inside the frame header".to_owned(),
                ));
            };
            let height = u32::from(u16::from_be_bytes([h_hi, h_lo]));
            let width = u32::from(u16::from_be_bytes([w_hi, w_lo]));
            if width == 0 || height == 0 {
                return Err(corrupt(format!(
                    "corrupt JPEG: the frame header says {width}×{height}"
                )));
            }
            return Ok(Header {
                width,
                height,
                frame_offset: pos,
            });
        }
        pos += 2 + length;
    }
}

fn to_index(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

/// The most IFDs an EXIF block may hold: a camera writes four or five (IFD0, its thumbnail's
/// IFD1, the Exif, GPS and interoperability sub-IFDs).
const MAX_EXIF_IFDS: usize = 32;

/// Tags whose value is the offset of a sub-IFD: Exif, GPS, interoperability.
const SUB_IFD_TAGS: [u16; 3] = [0x8769, 0x8825, 0xa005];

/// Refuses an EXIF block whose IFD offsets form a loop (or chain more IFDs than any camera
/// writes): whatever follows them — an orientation reader, a thumbnail extractor — would never
/// end. Offsets that point outside the block are tolerated, as cameras write broken maker
/// notes and every reader stops there anyway.
fn check_exif(segment: &[u8]) -> Result<(), StepError> {
    let Some(tiff) = segment.strip_prefix(b"Exif\0\0") else {
        return Ok(()); // XMP or another APP1 payload: not EXIF
    };
    let little = match tiff.get(0..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return Ok(()),
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = tiff.get(at..at.checked_add(2)?)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<usize> {
        let b = tiff.get(at..at.checked_add(4)?)?;
        let v = if little {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        };
        usize::try_from(v).ok()
    };
    let corrupt = |why: String| StepError::rejected(RejectReason::Corrupt, why);
    let mut pending: Vec<usize> = u32_at(4).into_iter().collect();
    let mut seen: Vec<usize> = Vec::new();
    while let Some(offset) = pending.pop() {
        if offset == 0 {
            continue; // no next IFD
        }
        if seen.contains(&offset) {
            return Err(corrupt(format!(
                "corrupt EXIF: its IFD offsets form a loop (the IFD at byte {offset} of the \
                 EXIF block is reached twice)"
            )));
        }
        if seen.len() == MAX_EXIF_IFDS {
            return Err(corrupt(format!(
                "corrupt EXIF: more than {MAX_EXIF_IFDS} IFDs"
            )));
        }
        seen.push(offset);
        let Some(count) = u16_at(offset) else {
            continue; // outside the block
        };
        for entry in 0..usize::from(count) {
            let at = offset + 2 + entry * 12;
            let Some(tag) = u16_at(at) else { break };
            if SUB_IFD_TAGS.contains(&tag) {
                pending.extend(u32_at(at + 8));
            }
        }
        pending.extend(u32_at(offset + 2 + usize::from(count) * 12));
    }
    Ok(())
}

fn check_sides(width: u32, height: u32, limits: &Limits) -> Result<(), StepError> {
    let longest = width.max(height);
    let shortest = width.min(height);
    if longest > limits.max_side {
        return Err(StepError::rejected(
            RejectReason::TooLarge,
            format!(
                "the image is {width}×{height} px; sides may be at most {} px",
                limits.max_side
            ),
        ));
    }
    if shortest < limits.min_side {
        return Err(StepError::rejected(
            RejectReason::TooSmall,
            format!(
                "the image is {width}×{height} px; sides must be at least {} px",
                limits.min_side
            ),
        ));
    }
    Ok(())
}

/// A complete file ends with its end marker. Trailing bytes after it are tolerated within the
/// tail window (some cameras pad files), but the marker must come after the frame header, so an
/// embedded thumbnail's end does not pass for the image's.
fn check_end(
    format: ImageFormat,
    tail: &[u8],
    tail_start: u64,
    frame_offset: u64,
) -> Result<(), StepError> {
    let marker: &[u8] = match format {
        ImageFormat::Jpeg => b"\xff\xd9",
        ImageFormat::Png => PNG_IEND,
    };
    let found = tail
        .windows(marker.len())
        .enumerate()
        .any(|(i, w)| w == marker && tail_start + i as u64 > frame_offset);
    if found {
        Ok(())
    } else {
        let what = match format {
            ImageFormat::Jpeg => "JPEG end-of-image marker",
            ImageFormat::Png => "PNG IEND chunk",
        };
        Err(StepError::rejected(
            RejectReason::Corrupt,
            format!(
                "truncated {}: no {what} at the end of the file",
                format.as_str()
            ),
        ))
    }
}
