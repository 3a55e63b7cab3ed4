//! Text: PP-OCRv4 detection → DB box extraction → crop → angle classification → recognition →
//! CTC decoding, as the reference pipeline (`rapidocr-onnxruntime` 1.4.4, its `config.yaml`)
//! does it, without OpenCV.
//!
//! - The image is reduced to at most 2000 px a side (and letterboxed when it is a thin strip);
//!   detection then sees it with its shorter side at least 736 px, both sides multiples of 32,
//!   BGR, `(x/255 − 0.5) / 0.5`.
//! - DB post-processing: probability map > 0.3, dilated 2×2; each 8-connected component gives
//!   the minimum-area rectangle of its boundary; kept when its mean probability ≥ 0.5; unclipped
//!   by `area × 1.6 / perimeter` on every side (what the reference's round-join polygon offset
//!   gives for a rectangle, once its own minimum-area rectangle is taken).
//! - Each box is cut out with a perspective warp (turned upright when it is tall), turned 180°
//!   when the angle classifier is ≥ 0.9 sure, then read by the recogniser in batches of 6 at
//!   height 48; CTC greedy decoding over the character set in the model's metadata (`character`:
//!   blank first, then the characters, then a space). Lines under 50 % confidence are dropped.
//! - Words: a line's text split on spaces; each word's box comes from the CTC time steps of its
//!   first and last character, mapped back through the crop.

use image::RgbImage;
use spotlight_core::contracts::{BoundingBox, TextLine, TextWord};

use crate::engine::{EngineError, Model, Tensor};
use crate::image::{resize, write_chw, Channels};

const MAX_SIDE: u32 = 2000;
const MIN_SIDE: u32 = 30;
const MIN_HEIGHT: u32 = 30;
const WIDTH_HEIGHT_RATIO: f32 = 8.0;
const DET_LIMIT_SIDE: u32 = 736;
const DET_THRESH: f32 = 0.3;
const BOX_THRESH: f32 = 0.5;
const UNCLIP_RATIO: f32 = 1.6;
const MAX_CANDIDATES: usize = 1000;
const MIN_BOX_SIDE: f32 = 3.0;
const CLS_SHAPE: (usize, usize) = (48, 192);
const CLS_THRESH: f32 = 0.9;
const REC_HEIGHT: usize = 48;
const REC_MIN_WIDTH: usize = 320;
const BATCH: usize = 6;
const HALF: [f32; 3] = [0.5; 3];

/// A point in pixels.
type Point = [f32; 2];

/// The three PP-OCR models and the recogniser's character set.
pub struct TextModel {
    det: Box<dyn Model>,
    cls: Box<dyn Model>,
    rec: Box<dyn Model>,
    /// Index 0 is the CTC blank, then the characters, then a space.
    charset: Vec<String>,
    /// Restore spaces the recogniser dropped, from gaps between characters (see
    /// [`TextModel::with_gap_spaces`]).
    gap_spaces: bool,
}

/// Time spent in each stage of one [`TextModel::read_timed`] call, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TextTimings {
    /// Detection (pre-processing, model, box extraction).
    pub detection: f64,
    /// Angle classification.
    pub angle: f64,
    /// Recognition and decoding.
    pub recognition: f64,
}

impl TextModel {
    /// Wraps the loaded models; reads the character set out of the recogniser's metadata.
    pub fn new(
        det: Box<dyn Model>,
        cls: Box<dyn Model>,
        rec: Box<dyn Model>,
    ) -> Result<Self, EngineError> {
        let characters = rec
            .metadata("character")?
            .ok_or_else(|| EngineError::new("the recognition model has no `character` metadata"))?;
        let mut charset = vec![String::new()];
        charset.extend(characters.lines().map(str::to_string));
        charset.push(" ".to_string());
        Ok(TextModel {
            det,
            cls,
            rec,
            charset,
            gap_spaces: true,
        })
    }

    /// Whether to restore the spaces the recogniser drops between words (on by default).
    ///
    /// PP-OCRv4's recogniser, trained mostly on Chinese, often reads small Latin text without
    /// its spaces ("Photosmustbeatleast80pixelswide."), and so does the reference pipeline. A
    /// character's CTC peak sits near its middle, so a space shows as a gap between two peaks
    /// well above the line's usual pitch: in a line where the recogniser wrote no space at all,
    /// a gap of at least 1.5 times the line's median gap (and 2 time steps more; half a median
    /// more again beside a wide letter such as `m` or `W`) becomes a space. Off, the text is the
    /// reference's.
    pub fn with_gap_spaces(mut self, on: bool) -> Self {
        self.gap_spaces = on;
        self
    }

    /// The number of classes the recogniser must output (blank + characters + space).
    pub fn classes(&self) -> usize {
        self.charset.len()
    }

    /// The lines of text in `img` whose confidence is at least `min_confidence` (percent), in
    /// reading order.
    pub fn read(&self, img: &RgbImage, min_confidence: f32) -> Result<Vec<TextLine>, EngineError> {
        self.read_timed(img, min_confidence).map(|(lines, _)| lines)
    }

    /// [`read`](Self::read), and how long each stage took.
    pub fn read_timed(
        &self,
        img: &RgbImage,
        min_confidence: f32,
    ) -> Result<(Vec<TextLine>, TextTimings), EngineError> {
        let mut timings = TextTimings::default();
        let start = std::time::Instant::now();
        let (full_w, full_h) = img.dimensions();
        let work = prepare(img);
        let boxes = self.detect(&work.image)?;
        timings.detection = start.elapsed().as_secs_f64();
        if boxes.is_empty() {
            return Ok((Vec::new(), timings));
        }
        let mut crops: Vec<Crop> = boxes.iter().map(|b| crop(&work.image, b)).collect();

        let start = std::time::Instant::now();
        self.classify_angles(&mut crops)?;
        timings.angle = start.elapsed().as_secs_f64();

        let start = std::time::Instant::now();
        let reads = self.recognise(&crops)?;
        timings.recognition = start.elapsed().as_secs_f64();

        // From the working image's pixels to fractions of the original image.
        let to_fraction = |p: Point| -> Point {
            let x = (p[0] - work.pad_left as f32) * work.scale_x;
            let y = (p[1] - work.pad_top as f32) * work.scale_y;
            [
                (x / full_w as f32).clamp(0.0, 1.0),
                (y / full_h as f32).clamp(0.0, 1.0),
            ]
        };
        let mut lines = Vec::new();
        for ((quad, crop), read) in boxes.iter().zip(&crops).zip(reads) {
            let confidence = read.confidence * 100.0;
            let text = read.text.trim().to_string();
            if confidence < min_confidence || text.is_empty() {
                continue;
            }
            let corners = quad.map(to_fraction);
            let words = words(&read, crop, quad, &to_fraction);
            lines.push(TextLine {
                text,
                confidence,
                bounding_box: aabb(&corners),
                words,
            });
        }
        Ok((lines, timings))
    }

    /// Detection and DB post-processing: boxes (tl, tr, br, bl) in the working image's pixels,
    /// in reading order.
    fn detect(&self, img: &RgbImage) -> Result<Vec<[Point; 4]>, EngineError> {
        let (w, h) = img.dimensions();
        let ratio = if w.min(h) < DET_LIMIT_SIDE {
            DET_LIMIT_SIDE as f32 / w.min(h) as f32
        } else {
            1.0
        };
        let dw = round32((w as f32 * ratio) as u32);
        let dh = round32((h as f32 * ratio) as u32);
        let resized = resize(img, dw, dh, false);
        let (dw, dh) = (dw as usize, dh as usize);
        let mut data = vec![0f32; 3 * dw * dh];
        write_chw(
            &resized,
            Channels::Bgr,
            1.0 / 255.0,
            HALF,
            HALF,
            &mut data,
            dw,
        );
        let outputs = self.det.run(Tensor::new(vec![1, 3, dh, dw], data)?)?;
        let pred = outputs
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::new("text detection gave no output"))?;
        if pred.data.len() != dw * dh {
            return Err(EngineError::new(format!(
                "text detection gave {:?} for a {dw}×{dh} input",
                pred.shape
            )));
        }
        let mut boxes = db_boxes(&pred.data, dw, dh, w as f32, h as f32);
        sort_reading_order(&mut boxes);
        Ok(boxes)
    }

    fn classify_angles(&self, crops: &mut [Crop]) -> Result<(), EngineError> {
        let (ch, cw) = CLS_SHAPE;
        let mut order: Vec<usize> = (0..crops.len()).collect();
        order.sort_by(|&a, &b| crops[a].ratio().total_cmp(&crops[b].ratio()));
        for batch in order.chunks(BATCH) {
            let mut data = vec![0f32; batch.len() * 3 * ch * cw];
            for (i, &index) in batch.iter().enumerate() {
                let img = &crops[index].image;
                normalise_line(
                    img,
                    ch,
                    cw,
                    &mut data[i * 3 * ch * cw..(i + 1) * 3 * ch * cw],
                );
            }
            let out = self
                .cls
                .run(Tensor::new(vec![batch.len(), 3, ch, cw], data)?)?;
            let probs = out
                .into_iter()
                .next()
                .ok_or_else(|| EngineError::new("angle classifier gave no output"))?;
            if probs.data.len() != batch.len() * 2 {
                return Err(EngineError::new(format!(
                    "angle classifier gave {:?}",
                    probs.shape
                )));
            }
            for (i, &index) in batch.iter().enumerate() {
                let (p0, p180) = (probs.data[2 * i], probs.data[2 * i + 1]);
                if p180 > p0 && p180 > CLS_THRESH {
                    let crop = &mut crops[index];
                    image::imageops::rotate180_in_place(&mut crop.image);
                    crop.flipped = !crop.flipped;
                }
            }
        }
        Ok(())
    }

    fn recognise(&self, crops: &[Crop]) -> Result<Vec<Read>, EngineError> {
        let mut reads: Vec<Option<Read>> = (0..crops.len()).map(|_| None).collect();
        let mut order: Vec<usize> = (0..crops.len()).collect();
        order.sort_by(|&a, &b| crops[a].ratio().total_cmp(&crops[b].ratio()));
        let classes = self.charset.len();
        for batch in order.chunks(BATCH) {
            let max_ratio = batch
                .iter()
                .map(|&i| crops[i].ratio())
                .fold(REC_MIN_WIDTH as f32 / REC_HEIGHT as f32, f32::max);
            let width = (REC_HEIGHT as f32 * max_ratio) as usize;
            let per = 3 * REC_HEIGHT * width;
            let mut data = vec![0f32; batch.len() * per];
            let mut resized_widths = Vec::with_capacity(batch.len());
            for (i, &index) in batch.iter().enumerate() {
                let rw = normalise_line(
                    &crops[index].image,
                    REC_HEIGHT,
                    width,
                    &mut data[i * per..(i + 1) * per],
                );
                resized_widths.push(rw);
            }
            let out = self
                .rec
                .run(Tensor::new(vec![batch.len(), 3, REC_HEIGHT, width], data)?)?;
            let probs = out
                .into_iter()
                .next()
                .ok_or_else(|| EngineError::new("text recognition gave no output"))?;
            if probs.shape.len() != 3 || probs.shape[0] != batch.len() || probs.shape[2] != classes
            {
                return Err(EngineError::new(format!(
                    "text recognition gave {:?}; its character set has {classes} classes",
                    probs.shape
                )));
            }
            let steps = probs.shape[1];
            for (i, &index) in batch.iter().enumerate() {
                let rows = &probs.data[i * steps * classes..(i + 1) * steps * classes];
                let mut read = self.ctc_decode(rows, classes);
                // Time step → x in the crop: the input is `width` wide, the crop took `rw` of it.
                let crop_w = crops[index].image.width() as f32;
                read.x_per_step = width as f32 / steps as f32 * crop_w / resized_widths[i] as f32;
                reads[index] = Some(read);
            }
        }
        Ok(reads.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Greedy CTC: best class per step, repeats collapsed, blanks dropped; the confidence is the
    /// mean probability of the characters kept.
    fn ctc_decode(&self, rows: &[f32], classes: usize) -> Read {
        let mut read = Read::default();
        let mut previous = usize::MAX;
        let mut sum = 0.0;
        let mut decoded = 0usize;
        for (t, row) in rows.chunks_exact(classes).enumerate() {
            let (best, p) =
                row.iter().enumerate().fold(
                    (0, f32::MIN),
                    |acc, (i, &p)| if p > acc.1 { (i, p) } else { acc },
                );
            if best != 0 && best != previous {
                if let Some(ch) = self.charset.get(best) {
                    read.chars.push(Decoded {
                        text: ch.clone(),
                        step: t,
                        confidence: p,
                    });
                    read.text.push_str(ch);
                    sum += p;
                    decoded += 1;
                }
            }
            previous = best;
        }
        if self.gap_spaces {
            insert_gap_spaces(&mut read);
        }
        read.confidence = if read.chars.is_empty() {
            0.0
        } else {
            sum / decoded as f32
        };
        read
    }
}

/// Inserts a space where two characters' CTC peaks are much further apart than the line's
/// median gap (see [`TextModel::with_gap_spaces`]).
fn insert_gap_spaces(read: &mut Read) {
    let is_space = |d: &Decoded| d.text.trim().is_empty();
    // Where the recogniser wrote spaces itself, it saw them: trust it.
    if read.chars.iter().any(is_space) {
        return;
    }
    // Wide letters put their neighbours' peaks further away.
    let wide = |d: &Decoded| matches!(d.text.as_str(), "m" | "w" | "M" | "W" | "@" | "%");
    let mut gaps: Vec<usize> = read
        .chars
        .windows(2)
        .map(|w| w[1].step - w[0].step)
        .collect();
    if gaps.len() < 4 {
        return;
    }
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2] as f32;
    let threshold = (median * 1.5).max(median + 2.0);
    let mut chars = Vec::with_capacity(read.chars.len() + 8);
    let mut previous: Option<(usize, bool, f32)> = None;
    for d in read.chars.drain(..) {
        if let Some((step, previous_wide, confidence)) = previous {
            let allowance = if previous_wide || wide(&d) {
                median / 2.0
            } else {
                0.0
            };
            if (d.step - step) as f32 >= threshold + allowance {
                chars.push(Decoded {
                    text: " ".into(),
                    step: (step + d.step) / 2,
                    confidence: confidence.min(d.confidence),
                });
            }
        }
        previous = Some((d.step, wide(&d), d.confidence));
        chars.push(d);
    }
    read.text = chars.iter().map(|d| d.text.as_str()).collect();
    read.chars = chars;
}

#[derive(Debug, Default)]
struct Read {
    text: String,
    confidence: f32,
    chars: Vec<Decoded>,
    /// Crop pixels per CTC time step.
    x_per_step: f32,
}

#[derive(Debug)]
struct Decoded {
    text: String,
    step: usize,
    confidence: f32,
}

/// A line cut out of the image, upright.
struct Crop {
    image: RgbImage,
    /// Turned 90° counter-clockwise because the box was tall.
    rotated: bool,
    /// Turned 180° by the angle classifier.
    flipped: bool,
}

impl Crop {
    fn ratio(&self) -> f32 {
        self.image.width() as f32 / self.image.height().max(1) as f32
    }
}

/// The image the detector and the crops work on, and how to get back to the original.
struct Work {
    image: RgbImage,
    scale_x: f32,
    scale_y: f32,
    pad_top: u32,
    pad_left: u32,
}

/// The reference's global pre-processing: at most 2000 px a side, at least 30, and a black
/// letterbox above and below a thin strip.
fn prepare(img: &RgbImage) -> Work {
    let (w, h) = img.dimensions();
    let mut image = None;
    let (mut cw, mut ch) = (w, h);
    if w.max(h) > MAX_SIDE {
        let ratio = MAX_SIDE as f32 / w.max(h) as f32;
        cw = round32((w as f32 * ratio) as u32);
        ch = round32((h as f32 * ratio) as u32);
    }
    if cw.min(ch) < MIN_SIDE {
        let ratio = MIN_SIDE as f32 / cw.min(ch) as f32;
        cw = round32((cw as f32 * ratio) as u32);
        ch = round32((ch as f32 * ratio) as u32);
    }
    if (cw, ch) != (w, h) {
        image = Some(resize(img, cw, ch, false));
    }
    let mut pad_top = 0;
    if ch <= MIN_HEIGHT || cw as f32 / ch as f32 > WIDTH_HEIGHT_RATIO {
        let new_h = (((cw as f32 / WIDTH_HEIGHT_RATIO) as u32).max(MIN_HEIGHT)) * 2;
        pad_top = new_h.abs_diff(ch) / 2;
        let mut padded = RgbImage::new(cw, ch + 2 * pad_top);
        let source = image.as_ref().unwrap_or(img);
        image::imageops::replace(&mut padded, source, 0, i64::from(pad_top));
        image = Some(padded);
    }
    Work {
        image: image.unwrap_or_else(|| img.clone()),
        scale_x: w as f32 / cw as f32,
        scale_y: h as f32 / ch as f32,
        pad_top,
        pad_left: 0,
    }
}

fn round32(v: u32) -> u32 {
    (((v as f32 / 32.0).round() as u32) * 32).max(32)
}

/// Resizes a line to `height`, at most `width` wide, into planar BGR `(x/255 − 0.5)/0.5`,
/// zero-padded on the right; returns the resized width.
fn normalise_line(img: &RgbImage, height: usize, width: usize, out: &mut [f32]) -> usize {
    let ratio = img.width() as f32 / img.height().max(1) as f32;
    let rw = ((height as f32 * ratio).ceil() as usize).clamp(1, width);
    let resized = resize(img, rw as u32, height as u32, false);
    write_chw(&resized, Channels::Bgr, 1.0 / 255.0, HALF, HALF, out, width);
    rw
}

/// DB post-processing on the probability map (`w`×`h`); boxes in the coordinates of an image
/// `dest_w`×`dest_h`.
fn db_boxes(pred: &[f32], w: usize, h: usize, dest_w: f32, dest_h: f32) -> Vec<[Point; 4]> {
    // Threshold, then dilate with a 2×2 kernel anchored at its centre: a pixel is set when it
    // or its left, upper or upper-left neighbour is.
    let bitmap: Vec<bool> = pred.iter().map(|&p| p > DET_THRESH).collect();
    let mut mask = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let at = |xx: usize, yy: usize| bitmap[yy * w + xx];
            mask[y * w + x] = at(x, y)
                || (x > 0 && at(x - 1, y))
                || (y > 0 && at(x, y - 1))
                || (x > 0 && y > 0 && at(x - 1, y - 1));
        }
    }
    let mut boxes = Vec::new();
    for component in components(&mask, w, h).into_iter().take(MAX_CANDIDATES) {
        let hull = convex_hull(component);
        let Some(rect) = min_area_rect(&hull) else {
            continue;
        };
        if rect.short_side() < MIN_BOX_SIDE {
            continue;
        }
        let corners = rect.corners();
        if box_score(pred, w, h, &corners) < BOX_THRESH {
            continue;
        }
        let area = rect.w * rect.h;
        let distance = area * UNCLIP_RATIO / (2.0 * (rect.w + rect.h));
        let grown = Rect {
            w: rect.w + 2.0 * distance,
            h: rect.h + 2.0 * distance,
            ..rect
        };
        if grown.short_side() < MIN_BOX_SIDE + 2.0 {
            continue;
        }
        let quad = order_points(grown.corners()).map(|p| {
            [
                (p[0] / w as f32 * dest_w).round().clamp(0.0, dest_w - 1.0),
                (p[1] / h as f32 * dest_h).round().clamp(0.0, dest_h - 1.0),
            ]
        });
        if dist(quad[0], quad[1]) as u32 <= 3 || dist(quad[0], quad[3]) as u32 <= 3 {
            continue;
        }
        boxes.push(quad);
    }
    boxes
}

/// The boundary pixels (pixel centres) of each 8-connected component of `mask`.
fn components(mask: &[bool], w: usize, h: usize) -> Vec<Vec<Point>> {
    let mut label = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !mask[start] || label[start] {
            continue;
        }
        label[start] = true;
        stack.push(start);
        let mut boundary = Vec::new();
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            let mut edge = x == 0 || y == 0 || x + 1 == w || y + 1 == h;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    if dx == 0 && dy == 0 {
                        continue;
                    }
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let n = ny as usize * w + nx as usize;
                    if !mask[n] {
                        edge = true;
                        continue;
                    }
                    if !label[n] {
                        label[n] = true;
                        stack.push(n);
                    }
                }
            }
            if edge {
                boundary.push([x as f32, y as f32]);
            }
        }
        out.push(boundary);
    }
    out
}

/// Andrew's monotone chain; counter-clockwise, no repeated end point.
fn convex_hull(mut points: Vec<Point>) -> Vec<Point> {
    points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let cross = |o: Point, a: Point, b: Point| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<Point> = Vec::with_capacity(points.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(points.iter())
        } else {
            Box::new(points.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// A rotated rectangle: centre, size along its own axes, and the direction of its `w` side.
#[derive(Debug, Clone, Copy)]
struct Rect {
    cx: f32,
    cy: f32,
    w: f32,
    h: f32,
    angle: f32,
}

impl Rect {
    fn short_side(&self) -> f32 {
        self.w.min(self.h)
    }

    fn corners(&self) -> [Point; 4] {
        let (s, c) = self.angle.sin_cos();
        let (hw, hh) = (self.w / 2.0, self.h / 2.0);
        [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
            .map(|(dx, dy)| [self.cx + dx * c - dy * s, self.cy + dx * s + dy * c])
    }
}

/// The minimum-area rectangle around a convex hull (rotating calipers over its edges). Pixel
/// centres span one pixel less than the pixels do, as in OpenCV's `minAreaRect` on a contour.
fn min_area_rect(hull: &[Point]) -> Option<Rect> {
    if hull.is_empty() {
        return None;
    }
    if hull.len() < 3 {
        let (a, b) = (hull[0], hull[hull.len() - 1]);
        return Some(Rect {
            cx: (a[0] + b[0]) / 2.0,
            cy: (a[1] + b[1]) / 2.0,
            w: dist(a, b),
            h: 0.0,
            angle: (b[1] - a[1]).atan2(b[0] - a[0]),
        });
    }
    let mut best: Option<(f32, Rect)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let len = dist(a, b);
        if len == 0.0 {
            continue;
        }
        let (ux, uy) = ((b[0] - a[0]) / len, (b[1] - a[1]) / len);
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in hull {
            let (dx, dy) = (p[0] - a[0], p[1] - a[1]);
            let u = dx * ux + dy * uy;
            let v = -dx * uy + dy * ux;
            min_u = min_u.min(u);
            max_u = max_u.max(u);
            min_v = min_v.min(v);
            max_v = max_v.max(v);
        }
        let area = (max_u - min_u) * (max_v - min_v);
        if best.as_ref().is_none_or(|(a, _)| area < *a) {
            let (cu, cv) = ((min_u + max_u) / 2.0, (min_v + max_v) / 2.0);
            best = Some((
                area,
                Rect {
                    cx: a[0] + cu * ux - cv * uy,
                    cy: a[1] + cu * uy + cv * ux,
                    w: max_u - min_u,
                    h: max_v - min_v,
                    angle: uy.atan2(ux),
                },
            ));
        }
    }
    best.map(|(_, r)| r)
}

/// Mean of `pred` over the pixels whose centres fall inside the quadrilateral (the reference's
/// "fast" score: the box, not the contour).
fn box_score(pred: &[f32], w: usize, h: usize, quad: &[Point; 4]) -> f32 {
    let xs = quad.map(|p| p[0]);
    let ys = quad.map(|p| p[1]);
    let clamp = |v: f32, hi: usize| (v.max(0.0) as usize).min(hi - 1);
    let x0 = clamp(xs.iter().copied().fold(f32::MAX, f32::min).floor(), w);
    let x1 = clamp(xs.iter().copied().fold(f32::MIN, f32::max).ceil(), w);
    let y0 = clamp(ys.iter().copied().fold(f32::MAX, f32::min).floor(), h);
    let y1 = clamp(ys.iter().copied().fold(f32::MIN, f32::max).ceil(), h);
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside(quad, [x as f32, y as f32]) {
                sum += f64::from(pred[y * w + x]);
                n += 1;
            }
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

/// Whether `p` is inside (or on) the convex quadrilateral, half a pixel of tolerance.
fn inside(quad: &[Point; 4], p: Point) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        let len = dist(a, b).max(1e-6);
        let cross = ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) / len;
        if cross.abs() <= 0.5 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

/// Top-left, top-right, bottom-right, bottom-left (as the reference orders them).
fn order_points(points: [Point; 4]) -> [Point; 4] {
    let mut by_x = points;
    by_x.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (mut left, mut right) = ([by_x[0], by_x[1]], [by_x[2], by_x[3]]);
    left.sort_by(|a, b| a[1].total_cmp(&b[1]));
    right.sort_by(|a, b| a[1].total_cmp(&b[1]));
    [left[0], right[0], right[1], left[1]]
}

/// Top to bottom, then left to right within 10 px of the same height (the reference's order).
fn sort_reading_order(boxes: &mut [[Point; 4]]) {
    boxes.sort_by(|a, b| {
        a[0][1]
            .total_cmp(&b[0][1])
            .then(a[0][0].total_cmp(&b[0][0]))
    });
    for i in 0..boxes.len().saturating_sub(1) {
        let mut j = i;
        loop {
            if (boxes[j + 1][0][1] - boxes[j][0][1]).abs() < 10.0
                && boxes[j + 1][0][0] < boxes[j][0][0]
            {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
            if j == 0 {
                break;
            }
            j -= 1;
        }
    }
}

fn dist(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Cuts the quadrilateral out with a perspective warp (bicubic as OpenCV's `INTER_CUBIC`, edges
/// replicated); a box at
/// least 1.5 times taller than wide is turned 90° counter-clockwise.
fn crop(img: &RgbImage, quad: &[Point; 4]) -> Crop {
    let cw = dist(quad[0], quad[1]).max(dist(quad[2], quad[3])) as u32;
    let ch = dist(quad[0], quad[3]).max(dist(quad[1], quad[2])) as u32;
    let (cw, ch) = (cw.max(1), ch.max(1));
    let target = [
        [0.0, 0.0],
        [cw as f32, 0.0],
        [cw as f32, ch as f32],
        [0.0, ch as f32],
    ];
    // Maps crop pixels to image pixels.
    let m =
        homography(&target, quad).unwrap_or([1.0, 0.0, quad[0][0], 0.0, 1.0, quad[0][1], 0.0, 0.0]);
    let (w, h) = img.dimensions();
    let raw = img.as_raw();
    let mut out = RgbImage::new(cw, ch);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (u, v) = (x as f32, y as f32);
        let d = m[6] * u + m[7] * v + 1.0;
        let sx = ((m[0] * u + m[1] * v + m[2]) / d).clamp(0.0, (w - 1) as f32);
        let sy = ((m[3] * u + m[4] * v + m[5]) / d).clamp(0.0, (h - 1) as f32);
        let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
        let (wx, wy) = (cubic_weights(fx), cubic_weights(fy));
        let (bx, by) = (sx.floor() as i64 - 1, sy.floor() as i64 - 1);
        let mut acc = [0f32; 3];
        for (j, wyj) in wy.iter().enumerate() {
            let yy = (by + j as i64).clamp(0, i64::from(h) - 1) as usize;
            for (i, wxi) in wx.iter().enumerate() {
                let xx = (bx + i as i64).clamp(0, i64::from(w) - 1) as usize;
                let at = (yy * w as usize + xx) * 3;
                let weight = wxi * wyj;
                for (c, a) in acc.iter_mut().enumerate() {
                    *a += f32::from(raw[at + c]) * weight;
                }
            }
        }
        for c in 0..3 {
            px[c] = acc[c].round().clamp(0.0, 255.0) as u8;
        }
    }
    if ch as f32 / cw as f32 >= 1.5 {
        return Crop {
            image: image::imageops::rotate270(&out),
            rotated: true,
            flipped: false,
        };
    }
    Crop {
        image: out,
        rotated: false,
        flipped: false,
    }
}

/// OpenCV's bicubic weights (A = −0.75) for the four taps around a sample at fraction `t`.
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let w = [far(t + 1.0), near(t), near(1.0 - t), 0.0];
    [w[0], w[1], w[2], 1.0 - w[0] - w[1] - w[2]]
}

/// The homography taking `from[i]` to `to[i]` (8 coefficients, the 9th is 1).
fn homography(from: &[Point; 4], to: &[Point; 4]) -> Option<[f32; 8]> {
    let mut a = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (f64::from(from[i][0]), f64::from(from[i][1]));
        let (u, v) = (f64::from(to[i][0]), f64::from(to[i][1]));
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        for row in 0..8 {
            if row != col {
                let f = a[row][col] / a[col][col];
                let pivot_row = a[col];
                for (value, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                    *value -= f * p;
                }
            }
        }
    }
    let mut m = [0f32; 8];
    for (i, value) in m.iter_mut().enumerate() {
        *value = (a[i][8] / a[i][i]) as f32;
    }
    Some(m)
}

fn aabb(points: &[Point]) -> BoundingBox {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    BoundingBox {
        left: x0,
        top: y0,
        width: (x1 - x0).max(0.0),
        height: (y1 - y0).max(0.0),
    }
}

/// The line's words (split on spaces) with boxes from their characters' CTC time steps.
fn words(
    read: &Read,
    crop: &Crop,
    quad: &[Point; 4],
    to_fraction: &dyn Fn(Point) -> Point,
) -> Vec<TextWord> {
    let mut words = Vec::new();
    let mut current: Vec<&Decoded> = Vec::new();
    let crop_w = if crop.rotated {
        crop.image.height() as f32
    } else {
        crop.image.width() as f32
    };
    // Time steps per character, over the whole line.
    let pitch = match (read.chars.first(), read.chars.last()) {
        (Some(a), Some(b)) if read.chars.len() > 1 => {
            (b.step - a.step) as f32 / (read.chars.len() - 1) as f32
        }
        _ => 2.0,
    };
    let flush = |current: &mut Vec<&Decoded>, words: &mut Vec<TextWord>| {
        if current.is_empty() {
            return;
        }
        let text: String = current.iter().map(|d| d.text.as_str()).collect();
        let confidence =
            current.iter().map(|d| d.confidence).sum::<f32>() / current.len() as f32 * 100.0;
        let bounding_box = if crop.rotated {
            None
        } else {
            // CTC peaks sit near a character's middle: a word spans from half a character
            // before its first peak to half a character after its last.
            let first = current.first().map_or(0, |d| d.step) as f32 + 0.5;
            let last = current.last().map_or(0, |d| d.step) as f32 + 0.5;
            let (mut u0, mut u1) = (
                (first - pitch / 2.0) * read.x_per_step,
                (last + pitch / 2.0) * read.x_per_step,
            );
            if crop.flipped {
                (u0, u1) = (crop_w - u1, crop_w - u0);
            }
            let (t0, t1) = ((u0 / crop_w).clamp(0.0, 1.0), (u1 / crop_w).clamp(0.0, 1.0));
            let along =
                |a: Point, b: Point, t: f32| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
            let corners = [
                along(quad[0], quad[1], t0),
                along(quad[0], quad[1], t1),
                along(quad[3], quad[2], t1),
                along(quad[3], quad[2], t0),
            ]
            .map(to_fraction);
            Some(aabb(&corners))
        };
        words.push(TextWord {
            text,
            confidence,
            bounding_box,
        });
        current.clear();
    };
    for d in &read.chars {
        if d.text.trim().is_empty() {
            flush(&mut current, &mut words);
        } else {
            current.push(d);
        }
    }
    flush(&mut current, &mut words);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_rectangle_gives_its_box_grown_by_the_unclip_distance() {
        let (w, h) = (64, 32);
        let mut pred = vec![0f32; w * h];
        for y in 10..20 {
            for x in 8..48 {
                pred[y * w + x] = 0.9;
            }
        }
        let boxes = db_boxes(&pred, w, h, w as f32, h as f32);
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let b = boxes[0];
        // Dilation adds a pixel right and down; centres span 40×10 → rect 40×10;
        // distance = 400 × 1.6 / 100 = 6.4 on each side.
        assert!(
            (b[0][0] - 1.0).abs() <= 1.5 && (b[0][1] - 4.0).abs() <= 1.5,
            "{b:?}"
        );
        assert!(
            (b[2][0] - 54.0).abs() <= 1.5 && (b[2][1] - 26.0).abs() <= 1.5,
            "{b:?}"
        );
    }

    #[test]
    fn min_area_rect_finds_a_rotated_rectangle() {
        let rect = Rect {
            cx: 50.0,
            cy: 40.0,
            w: 60.0,
            h: 10.0,
            angle: 0.3,
        };
        let hull = convex_hull(rect.corners().to_vec());
        let found = min_area_rect(&hull);
        assert!(found.is_some_and(|r| {
            let (a, b) = (r.w.max(r.h), r.w.min(r.h));
            (a - 60.0).abs() < 0.01 && (b - 10.0).abs() < 0.01 && (r.cx - 50.0).abs() < 0.01
        }));
    }

    #[test]
    fn boxes_sort_top_to_bottom_then_left_to_right() {
        let quad = |x: f32, y: f32| [[x, y], [x + 10.0, y], [x + 10.0, y + 5.0], [x, y + 5.0]];
        let mut boxes = vec![quad(50.0, 3.0), quad(0.0, 40.0), quad(0.0, 0.0)];
        sort_reading_order(&mut boxes);
        assert_eq!(boxes[0][0], [0.0, 0.0]);
        assert_eq!(boxes[1][0], [50.0, 3.0]);
        assert_eq!(boxes[2][0], [0.0, 40.0]);
    }

    #[test]
    fn a_homography_maps_corners_onto_corners() {
        let from = [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]];
        let to = [[3.0, 4.0], [23.0, 6.0], [22.0, 16.0], [2.0, 14.0]];
        let m = homography(&from, &to);
        assert!(m.is_some_and(|m| {
            from.iter().zip(&to).all(|(f, t)| {
                let d = m[6] * f[0] + m[7] * f[1] + 1.0;
                let x = (m[0] * f[0] + m[1] * f[1] + m[2]) / d;
                let y = (m[3] * f[0] + m[4] * f[1] + m[5]) / d;
                (x - t[0]).abs() < 1e-3 && (y - t[1]).abs() < 1e-3
            })
        }));
    }
}
