//! Decoding (once per image, EXIF orientation applied, size guarded) and resizing (once per model).
//!
//! What one photo may cost to decode, whatever its bytes say: at most [`MAX_IMAGE_SIDE`] pixels
//! a side (checked from the header, before any pixel), at most [`MAX_DECODE_ALLOC`] bytes
//! allocated by the decoder (the image crate's `Limits`) plus the RGB copy the models read (at
//! most 300 MB at the largest sides), at most [`MAX_JPEG_SCANS`] scans in a JPEG, and at most
//! [`MAX_PNG_METADATA`] bytes inflated from any compressed PNG metadata chunk. A file over a
//! limit is rejected before its pixels are decoded; the analysers' deadline bounds the time.

use std::io::Cursor;

use image::error::ImageError;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use spotlight_core::error::RejectReason;
use spotlight_core::limits::MAX_IMAGE_SIDE;
use spotlight_core::ports::DetectError;

/// The most the decoder may allocate for one image: a 10,000 × 10,000 RGBA buffer (400 MB) and
/// the decoder's own tables fit; a header that asks for more is refused before allocating.
pub const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;

/// The most scans a JPEG may hold. Encoders write about ten to a progressive JPEG (baseline
/// has one); every scan makes the decoder walk every block again, so thousands of tiny scans
/// are a CPU bomb. zune-jpeg (the image crate's JPEG decoder) stops at 100 itself, but only
/// after decoding them: counting first refuses the file before any work, with a clear reason.
pub const MAX_JPEG_SCANS: usize = 100;

/// The most a compressed PNG metadata chunk (`iCCP`, `zTXt`, `iTXt`) may inflate to. Real ICC
/// profiles are a few hundred KiB at most; a few hundred KiB of zlib can inflate to gigabytes.
pub const MAX_PNG_METADATA: usize = 16 * 1024 * 1024;

/// Decodes a JPEG or PNG into 8-bit RGB: EXIF orientation applied, transparency composited over
/// white. Refuses an image over [`MAX_IMAGE_SIDE`] (the validate step's limit) from its header
/// alone (`TooLarge`), another format (`UnsupportedFormat`), a file over the other limits of this
/// module (`TooLarge`, or `Corrupt` for a structure that lies) and anything that does not decode
/// (`Corrupt`).
pub fn decode(bytes: &[u8]) -> Result<RgbImage, DetectError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| rejected(RejectReason::Corrupt, format!("cannot read the image: {e}")))?;
    match reader.format() {
        Some(ImageFormat::Jpeg) => check_jpeg_scans(bytes)?,
        Some(ImageFormat::Png) => check_png_chunks(bytes)?,
        Some(other) => {
            return Err(rejected(
                RejectReason::UnsupportedFormat,
                format!("{other:?} images are not analysed (JPEG or PNG only)"),
            ))
        }
        None => {
            return Err(rejected(
                RejectReason::UnsupportedFormat,
                "not a JPEG or PNG image".to_string(),
            ))
        }
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(rejected(
            RejectReason::TooLarge,
            format!("image is {width}×{height} px; the limit is {MAX_IMAGE_SIDE} px a side"),
        ));
    }
    if width == 0 || height == 0 {
        return Err(rejected(
            RejectReason::Corrupt,
            format!("image is {width}×{height} px"),
        ));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(flatten(image))
}

/// A limit the decoder hit is `TooLarge`; anything else did not decode: `Corrupt`.
fn decode_error(e: ImageError) -> DetectError {
    match e {
        ImageError::Limits(limit) => rejected(
            RejectReason::TooLarge,
            format!(
                "the image needs more than the decoder may use ({limit}; at most {MAX_IMAGE_SIDE} px a \
                 side and {} MiB)",
                MAX_DECODE_ALLOC / (1024 * 1024)
            ),
        ),
        other => rejected(
            RejectReason::Corrupt,
            format!("cannot decode the image: {other}"),
        ),
    }
}

/// Counts the JPEG's start-of-scan markers. Entropy-coded data never holds `FF DA` (a data
/// `FF` is always followed by `00` or a restart marker), so each one is a scan (an embedded
/// thumbnail's own scan counts too, which a cap of 100 can afford).
fn check_jpeg_scans(bytes: &[u8]) -> Result<(), DetectError> {
    let scans = bytes.windows(2).filter(|w| w == &[0xff, 0xda]).count();
    if scans > MAX_JPEG_SCANS {
        return Err(rejected(
            RejectReason::Corrupt,
            format!(
                "the JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are decoded (thousands of \
                 scans are a decoder CPU bomb)"
            ),
        ));
    }
    Ok(())
}

/// Walks the PNG's chunks before the decoder does: a chunk whose length runs past the end of
/// the file (or past PNG's 2^31 − 1) is `Corrupt`, and a compressed metadata chunk that
/// inflates past [`MAX_PNG_METADATA`] is `TooLarge` (its bomb is inflated here only up to the
/// limit).
fn check_png_chunks(bytes: &[u8]) -> Result<(), DetectError> {
    let corrupt = |why: String| rejected(RejectReason::Corrupt, why);
    let mut pos = 8usize; // past the signature
    while pos < bytes.len() {
        let Some(header) = bytes.get(pos..pos + 8) else {
            return Err(corrupt(format!(
                "truncated PNG: the chunk header at byte {pos} is cut off"
            )));
        };
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = String::from_utf8_lossy(&header[4..8]).into_owned();
        if length > i32::MAX as u32 {
            return Err(corrupt(format!(
                "corrupt PNG: the {kind} chunk at byte {pos} claims {length} bytes; a chunk \
                 holds at most 2^31 − 1"
            )));
        }
        let data_start = pos + 8;
        let data_end = data_start + length as usize;
        if data_end + 4 > bytes.len() {
            return Err(corrupt(format!(
                "corrupt PNG: the {kind} chunk at byte {pos} claims {length} bytes, past the end \
                 of the file ({} bytes)",
                bytes.len()
            )));
        }
        let data = &bytes[data_start..data_end];
        if let Some(compressed) = compressed_metadata(&header[4..8], data) {
            if let Err(fdeflate::BoundedDecompressionError::OutputTooLarge { .. }) =
                fdeflate::decompress_to_vec_bounded(compressed, MAX_PNG_METADATA)
            {
                return Err(rejected(
                    RejectReason::TooLarge,
                    format!(
                        "the PNG's {kind} chunk inflates to more than {} MiB (a decompression \
                         bomb); metadata may hold at most that",
                        MAX_PNG_METADATA / (1024 * 1024)
                    ),
                ));
            }
        }
        if &header[4..8] == b"IEND" {
            break;
        }
        pos = data_end + 4;
    }
    Ok(())
}

/// The zlib stream inside a compressed metadata chunk, if it has one: `iCCP` and `zTXt` are a
/// keyword, a NUL and a compression method; `iTXt` adds a compression flag, a language tag and a
/// translated keyword, each NUL-terminated.
fn compressed_metadata<'a>(kind: &[u8], data: &'a [u8]) -> Option<&'a [u8]> {
    let after_nul = |bytes: &'a [u8]| -> Option<&'a [u8]> {
        let nul = bytes.iter().position(|&b| b == 0)?;
        bytes.get(nul + 1..)
    };
    match kind {
        b"iCCP" | b"zTXt" => after_nul(data)?.get(1..),
        b"iTXt" => {
            let rest = after_nul(data)?;
            let (&flag, rest) = rest.split_first()?;
            if flag != 1 {
                return None;
            }
            after_nul(after_nul(rest.get(1..)?)?)
        }
        _ => None,
    }
}

fn rejected(reason: RejectReason, message: String) -> DetectError {
    DetectError::Rejected { reason, message }
}

/// RGB, with any alpha composited over white (what a viewer shows for a transparent PNG).
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            let v = (u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255;
            dst[c] = v.min(255) as u8;
        }
    }
    out
}

/// Resizes with bilinear interpolation (pixel centres aligned, as OpenCV's `INTER_LINEAR`).
/// With `antialias`, a shrink by more than 2× first averages whole blocks of pixels, so a large
/// photo does not alias on its way to a 224-pixel model input (close to Pillow's bilinear).
pub fn resize(src: &RgbImage, width: u32, height: u32, antialias: bool) -> RgbImage {
    let width = width.max(1);
    let height = height.max(1);
    if src.dimensions() == (width, height) {
        return src.clone();
    }
    if antialias {
        let factor = (src.width() / width).min(src.height() / height) / 2;
        if factor >= 2 {
            let reduced = box_reduce(src, factor);
            return bilinear(&reduced, width, height);
        }
    }
    bilinear(src, width, height)
}

/// Averages `factor`×`factor` blocks (the last partial row and column are averaged over what
/// they have).
fn box_reduce(src: &RgbImage, factor: u32) -> RgbImage {
    let (sw, sh) = src.dimensions();
    let dw = sw.div_ceil(factor);
    let dh = sh.div_ceil(factor);
    let block_bytes = factor as usize * 3;
    let mut sums = vec![0u32; dw as usize * 3];
    let mut out = RgbImage::new(dw, dh);
    let raw = src.as_raw();
    let out_raw: &mut [u8] = &mut out;
    for dy in 0..dh {
        sums.iter_mut().for_each(|s| *s = 0);
        let y_end = ((dy + 1) * factor).min(sh);
        for y in dy * factor..y_end {
            let row = &raw[(y * sw * 3) as usize..((y + 1) * sw * 3) as usize];
            // Block by block rather than `x / factor` per pixel: a division per pixel was most
            // of this function's time on a 2000 px photo.
            for (block, sum) in row.chunks(block_bytes).zip(sums.chunks_exact_mut(3)) {
                for px in block.chunks_exact(3) {
                    sum[0] += u32::from(px[0]);
                    sum[1] += u32::from(px[1]);
                    sum[2] += u32::from(px[2]);
                }
            }
        }
        let rows = y_end - dy * factor;
        let out_row = &mut out_raw[(dy * dw * 3) as usize..((dy + 1) * dw * 3) as usize];
        for (dx, (px, sum)) in out_row
            .chunks_exact_mut(3)
            .zip(sums.chunks_exact(3))
            .enumerate()
        {
            let columns = (sw - dx as u32 * factor).min(factor);
            let n = (columns * rows).max(1);
            for c in 0..3 {
                px[c] = ((sum[c] + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// Fixed-point precision of the bilinear weights: 11 bits, as OpenCV's `INTER_LINEAR` on 8-bit
/// images (`INTER_RESIZE_COEF_BITS`), so a weighted sum of two rows of two pixels fits an `i32`.
const WEIGHT_BITS: u32 = 11;
const WEIGHT_ONE: i32 = 1 << WEIGHT_BITS;

/// For each output coordinate: the two source indices and the weight of the second, out of
/// [`WEIGHT_ONE`].
fn taps(src_len: u32, dst_len: u32) -> Vec<(usize, usize, i32)> {
    let scale = src_len as f32 / dst_len as f32;
    let last = src_len.saturating_sub(1) as usize;
    (0..dst_len)
        .map(|d| {
            let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(last);
            let i1 = (i0 + 1).min(last);
            let weight = ((s - i0 as f32) * WEIGHT_ONE as f32).round() as i32;
            (i0, i1, weight.clamp(0, WEIGHT_ONE))
        })
        .collect()
}

/// Bilinear interpolation in integers (within one level of the exact interpolation, several
/// times faster than floats on a 12 MP photo). When the image shrinks vertically and not by
/// much more across, each output row blends its two source rows first, over their whole width
/// (a straight run the compiler vectorises), then interpolates across once; otherwise each
/// source row is interpolated across once and kept while the next output row still needs it.
/// Both orders compute the same sum of four products, rounded once.
fn bilinear(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (sw, sh) = src.dimensions();
    let xs: Vec<(usize, usize, i32)> = taps(sw, width)
        .into_iter()
        .map(|(x0, x1, w)| (x0 * 3, x1 * 3, w))
        .collect();
    let ys = taps(sh, height);
    let raw = src.as_raw();
    let stride = sw as usize * 3;
    let row_len = width as usize * 3;
    let mut out = RgbImage::new(width, height);
    let out_raw: &mut [u8] = &mut out;
    let source_row = |y: usize| &raw[y * stride..(y + 1) * stride];
    if height < sh && sw < 4 * width {
        let mut blended = vec![0i32; stride];
        let mut across = vec![0i32; row_len];
        for (out_row, &(y0, y1, wy)) in out_raw.chunks_exact_mut(row_len).zip(&ys) {
            let wa = WEIGHT_ONE - wy;
            for ((v, &a), &b) in blended.iter_mut().zip(source_row(y0)).zip(source_row(y1)) {
                *v = i32::from(a) * wa + i32::from(b) * wy;
            }
            horizontal(&blended, &xs, &mut across);
            for (o, &v) in out_row.iter_mut().zip(&across) {
                *o = round_weighted(v);
            }
        }
        return out;
    }
    // The interpolated source rows at hand, and which source rows they are.
    let mut upper = (usize::MAX, vec![0i32; row_len]);
    let mut lower = (usize::MAX, vec![0i32; row_len]);
    for (out_row, &(y0, y1, wy)) in out_raw.chunks_exact_mut(row_len).zip(&ys) {
        if upper.0 != y0 {
            if lower.0 == y0 {
                std::mem::swap(&mut upper, &mut lower);
            } else {
                horizontal(source_row(y0), &xs, &mut upper.1);
                upper.0 = y0;
            }
        }
        if lower.0 != y1 {
            horizontal(source_row(y1), &xs, &mut lower.1);
            lower.0 = y1;
        }
        let wa = WEIGHT_ONE - wy;
        for ((o, &a), &b) in out_row.iter_mut().zip(&upper.1).zip(&lower.1) {
            *o = round_weighted(a * wa + b * wy);
        }
    }
    out
}

/// A pixel value times [`WEIGHT_ONE`] squared, back to a byte, rounded.
fn round_weighted(v: i32) -> u8 {
    ((v + (1 << (2 * WEIGHT_BITS - 1))) >> (2 * WEIGHT_BITS)) as u8
}

/// One row (of bytes, or of two rows already blended) interpolated to the output's width: each
/// value is the row's value times [`WEIGHT_ONE`].
fn horizontal<T: Copy>(row: &[T], xs: &[(usize, usize, i32)], out: &mut [i32])
where
    i32: From<T>,
{
    for (o, &(x0, x1, w1)) in out.chunks_exact_mut(3).zip(xs) {
        let w0 = WEIGHT_ONE - w1;
        for c in 0..3 {
            o[c] = i32::from(row[x0 + c]) * w0 + i32::from(row[x1 + c]) * w1;
        }
    }
}

/// Channel order of a model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red (models trained on OpenCV or Caffe images).
    Bgr,
}

/// Writes `img` as planar CHW floats `(v * scale - mean[c]) / std[c]` into `out` (at least
/// 3 × `out_width` × `img.height()` values), leaving columns past the image's width untouched:
/// the caller pads.
pub fn write_chw(
    img: &RgbImage,
    channels: Channels,
    scale: f32,
    mean: [f32; 3],
    std: [f32; 3],
    out: &mut [f32],
    out_width: usize,
) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let plane = out_width * h;
    for (y, row) in img.as_raw().chunks_exact(w * 3).enumerate() {
        for (x, px) in row.chunks_exact(3).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                let plane_index = match channels {
                    Channels::Rgb => c,
                    Channels::Bgr => 2 - c,
                };
                out[plane_index * plane + y * out_width + x] =
                    (f32::from(v) * scale - mean[plane_index]) / std[plane_index];
            }
        }
    }
}

/// The centre `size`×`size` square of `img` (which must be at least that large).
pub fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let x = img.width().saturating_sub(size) / 2;
    let y = img.height().saturating_sub(size) / 2;
    image::imageops::crop_imm(img, x, y, size.min(img.width()), size.min(img.height())).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn bilinear_keeps_a_flat_colour_and_shrinks_a_gradient_smoothly() {
        let flat = RgbImage::from_pixel(300, 200, Rgb([10, 200, 30]));
        let small = resize(&flat, 30, 20, true);
        assert!(small.pixels().all(|p| p.0 == [10, 200, 30]));

        let gradient = RgbImage::from_fn(256, 1, |x, _| Rgb([x as u8, 0, 0]));
        let half = resize(&gradient, 128, 1, false);
        for (x, p) in half.pixels().enumerate() {
            let expected = (2 * x) as f32 + 0.5;
            assert!((f32::from(p[0]) - expected).abs() <= 1.0, "{x}: {}", p[0]);
        }
    }

    #[test]
    fn box_reduce_averages_every_block_and_the_partial_ones_at_the_edges() {
        let img = RgbImage::from_fn(37, 23, |x, y| {
            Rgb([
                (x * 7 + y * 3) as u8,
                (x * y % 251) as u8,
                (255 - x - y) as u8,
            ])
        });
        for factor in [2, 3, 4, 8] {
            let reduced = box_reduce(&img, factor);
            assert_eq!(
                reduced.dimensions(),
                (37u32.div_ceil(factor), 23u32.div_ceil(factor))
            );
            for (dx, dy, px) in reduced.enumerate_pixels() {
                for c in 0..3 {
                    let (mut sum, mut n) = (0u32, 0u32);
                    for y in dy * factor..((dy + 1) * factor).min(23) {
                        for x in dx * factor..((dx + 1) * factor).min(37) {
                            sum += u32::from(img.get_pixel(x, y)[c]);
                            n += 1;
                        }
                    }
                    assert_eq!(
                        px[c],
                        ((sum + n / 2) / n) as u8,
                        "factor {factor} ({dx}, {dy})"
                    );
                }
            }
        }
    }

    #[test]
    fn garbage_is_corrupt_and_gif_is_unsupported() {
        let err = decode(b"\xff\xd8\xff\xe0 not really a jpeg").err();
        assert!(matches!(
            err,
            Some(DetectError::Rejected {
                reason: RejectReason::Corrupt,
                ..
            })
        ));
        let err = decode(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").err();
        assert!(matches!(
            err,
            Some(DetectError::Rejected {
                reason: RejectReason::UnsupportedFormat,
                ..
            })
        ));
    }

    #[test]
    fn an_oversized_png_is_refused_from_its_header() {
        // A real 20,000 × 100 px PNG (tiny once compressed): refused before its pixels are read.
        let big = RgbImage::new(20_000, 100);
        let mut png = Vec::new();
        let encoded = image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            big.as_raw(),
            20_000,
            100,
            image::ExtendedColorType::Rgb8,
        );
        assert!(encoded.is_ok());
        let err = decode(&png).err();
        assert!(
            matches!(
                err,
                Some(DetectError::Rejected {
                    reason: RejectReason::TooLarge,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    fn rejection(bytes: &[u8]) -> (RejectReason, String) {
        match decode(bytes) {
            Err(DetectError::Rejected { reason, message }) => (reason, message),
            other => panic!(
                "expected a rejection, got {:?}",
                other.map(|i| i.dimensions())
            ),
        }
    }

    #[test]
    fn a_progressive_jpeg_with_thousands_of_scans_is_refused_before_decoding() {
        // The generator makes real progressive JPEGs: with one AC scan it decodes.
        let sane = spotlight_fixtures::progressive_jpeg_bomb(128, 128, 1);
        let image = decode(&sane).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(image.dimensions(), (128, 128));

        let bomb = spotlight_fixtures::progressive_jpeg_bomb(128, 128, 5_000);
        let started = std::time::Instant::now();
        let (reason, message) = rejection(&bomb);
        println!(
            "progressive bomb ({} bytes, 5,001 scans): refused in {:?}",
            bomb.len(),
            started.elapsed()
        );
        assert_eq!(reason, RejectReason::Corrupt);
        assert!(message.contains("5001 scans"), "{message}");
    }

    #[test]
    fn a_png_chunk_that_lies_about_its_length_is_corrupt() {
        for claimed in [1_000_000, u32::MAX] {
            let (reason, message) = rejection(&spotlight_fixtures::png_lying_chunk_length(claimed));
            assert_eq!(reason, RejectReason::Corrupt, "{claimed}: {message}");
            assert!(
                message.contains(&format!("claims {claimed} bytes")),
                "{message}"
            );
        }
    }

    #[test]
    fn compressed_png_metadata_is_inflated_only_up_to_its_limit() {
        // The hand-made zlib streams are exact (checked against a real inflater)…
        for len in [1, 2, 3, 260, 258 * 3 + 1, 100_000] {
            let stream = spotlight_fixtures::zlib_zeros(len);
            let inflated = fdeflate::decompress_to_vec(&stream).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(inflated, vec![0; len], "{len}");
        }
        // …and a PNG carrying a small compressed text or profile decodes as usual.
        let small = spotlight_fixtures::png_metadata_bomb(b"zTXt", 10_000);
        assert!(decode(&small).is_ok());

        for kind in [b"zTXt", b"iCCP"] {
            let bomb = spotlight_fixtures::png_metadata_bomb(kind, 50_000_000);
            let started = std::time::Instant::now();
            let (reason, message) = rejection(&bomb);
            println!(
                "{} bomb: {} bytes inflating to 50 MB, refused in {:?}",
                String::from_utf8_lossy(kind),
                bomb.len(),
                started.elapsed()
            );
            assert_eq!(reason, RejectReason::TooLarge, "{message}");
            assert!(
                message.contains("inflates to more than 16 MiB"),
                "{message}"
            );
        }
    }
}
