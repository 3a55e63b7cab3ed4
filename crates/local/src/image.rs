//! Decoding (once per image, EXIF orientation applied, size guarded) and resizing (once per model).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use spotlight_core::error::RejectReason;
use spotlight_core::ports::DetectError;

/// The longest side the validate step accepts (Rekognition's limit); larger images are refused
/// before their pixels are decoded.
pub const MAX_SIDE: u32 = 10_000;

/// Decodes a JPEG or PNG into 8-bit RGB: EXIF orientation applied, transparency composited over
/// white. Refuses an image over [`MAX_SIDE`] from its header alone (`TooLarge`), another format
/// (`UnsupportedFormat`) and anything that does not decode (`Corrupt`).
pub fn decode(bytes: &[u8]) -> Result<RgbImage, DetectError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| rejected(RejectReason::Corrupt, format!("cannot read the image: {e}")))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png) => {}
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
    let mut decoder = reader.into_decoder().map_err(|e| {
        rejected(
            RejectReason::Corrupt,
            format!("cannot decode the image: {e}"),
        )
    })?;
    let (width, height) = decoder.dimensions();
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(rejected(
            RejectReason::TooLarge,
            format!("image is {width}×{height} px; the limit is {MAX_SIDE} px a side"),
        ));
    }
    if width == 0 || height == 0 {
        return Err(rejected(
            RejectReason::Corrupt,
            format!("image is {width}×{height} px"),
        ));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| {
        rejected(
            RejectReason::Corrupt,
            format!("cannot decode the image: {e}"),
        )
    })?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(flatten(image))
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
    let mut sums = vec![0u32; dw as usize * 3];
    let mut counts = vec![0u32; dw as usize];
    let mut out = RgbImage::new(dw, dh);
    let raw = src.as_raw();
    let out_raw: &mut [u8] = &mut out;
    for dy in 0..dh {
        sums.iter_mut().for_each(|s| *s = 0);
        counts.iter_mut().for_each(|c| *c = 0);
        let y_end = ((dy + 1) * factor).min(sh);
        for y in dy * factor..y_end {
            let row = &raw[(y * sw * 3) as usize..((y + 1) * sw * 3) as usize];
            for (x, px) in row.chunks_exact(3).enumerate() {
                let dx = x / factor as usize;
                sums[dx * 3] += u32::from(px[0]);
                sums[dx * 3 + 1] += u32::from(px[1]);
                sums[dx * 3 + 2] += u32::from(px[2]);
                counts[dx] += 1;
            }
        }
        let out_row = &mut out_raw[(dy * dw * 3) as usize..((dy + 1) * dw * 3) as usize];
        for dx in 0..dw as usize {
            let n = counts[dx].max(1);
            for c in 0..3 {
                out_row[dx * 3 + c] = ((sums[dx * 3 + c] + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// For each output coordinate: the two source indices and the weight of the second.
fn taps(src_len: u32, dst_len: u32) -> Vec<(usize, usize, f32)> {
    let scale = src_len as f32 / dst_len as f32;
    let last = src_len.saturating_sub(1) as usize;
    (0..dst_len)
        .map(|d| {
            let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(last);
            let i1 = (i0 + 1).min(last);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

fn bilinear(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (sw, _) = src.dimensions();
    let xs = taps(sw, width);
    let ys = taps(src.height(), height);
    let raw = src.as_raw();
    let stride = sw as usize * 3;
    let mut out = RgbImage::new(width, height);
    let out_raw: &mut [u8] = &mut out;
    let mut row0 = vec![0f32; width as usize * 3];
    let mut row1 = vec![0f32; width as usize * 3];
    for (oy, &(y0, y1, fy)) in ys.iter().enumerate() {
        horizontal(&raw[y0 * stride..(y0 + 1) * stride], &xs, &mut row0);
        horizontal(&raw[y1 * stride..(y1 + 1) * stride], &xs, &mut row1);
        let out_row = &mut out_raw[oy * width as usize * 3..(oy + 1) * width as usize * 3];
        for ((o, a), b) in out_row.iter_mut().zip(&row0).zip(&row1) {
            *o = (a + (b - a) * fy).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn horizontal(row: &[u8], xs: &[(usize, usize, f32)], out: &mut [f32]) {
    for (o, &(x0, x1, fx)) in out.chunks_exact_mut(3).zip(xs) {
        for c in 0..3 {
            let a = f32::from(row[x0 * 3 + c]);
            let b = f32::from(row[x1 * 3 + c]);
            o[c] = a + (b - a) * fx;
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
}
