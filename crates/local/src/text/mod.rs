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
//!
//! Two departures from the reference, for speed and memory (issue 15), both switchable:
//!
//! - The presence pass ([`TextModel::with_presence_pass`]): the detector first sees the image at
//!   about half the full detection size each way, and the full-size detection runs only when
//!   that finds a pixel over the binarisation threshold.
//! - Tiled full-size detection ([`TextModel::with_tiled_detection`]). When the full detection
//!   input is larger than one tile (core + 2 × margin, [`TILE_CORE`] + 2 × [`TILE_MARGIN`] =
//!   1024 px) both ways, as a large photo's 2016×1504 is, the detector runs on tiles: cores of
//!   at most [`TILE_CORE`] px a side that cover the input exactly once, each seen with
//!   [`TILE_MARGIN`] px of context on every side that has image (so one run's input, and ONNX
//!   Runtime's arena, is at most (core + 2 × margin)²). Only a core's probabilities go into
//!   the full-size map, which is zero elsewhere, and the DB post-processing runs on that map
//!   unchanged. The tiles that run are those the presence pass's text pixels touch (mapped to
//!   full size and grown by [`SEED_DILATION`] px); then, while a run tile's core has a text
//!   pixel within [`SPILL_BAND`] px of its edge next to a tile that has not run, that
//!   neighbour runs too, so a line crossing tiles is read whole. Without a presence map (the
//!   pass is off) every tile runs. An input whose shorter side fits in one tile (a small image
//!   raised to the 736 px minimum, a strip) is detected whole, exactly as before: cut across,
//!   such images' large letters lose their boxes. The detector pools over its whole input
//!   (squeeze-and-excitation, 40 global average pools), so a tile's map is close to, not
//!   exactly, the whole image's; the margin (measured: 64 px split large letters, 128 px kept
//!   the test cases' text) keeps the lines' boxes. Text the presence pass cannot see is not
//!   read, now also when other text elsewhere set the full pass off.
//!
//! The stages live apart: `detection` (DB post-processing), `geometry` (hulls, rectangles, the
//! perspective crop), `tiles` (the tile grid) and `ctc` (decoding and word boxes); this module
//! runs them.

mod ctc;
mod detection;
mod geometry;
mod tiles;

use image::RgbImage;
use spotlight_core::contracts::TextLine;

use crate::engine::{EngineError, Model, Tensor};
use crate::image::{resize, write_chw, Channels};
use ctc::{words, Read};
use detection::{db_boxes, sort_reading_order};
use geometry::{aabb, crop, Crop};
use tiles::Grid;

const MAX_SIDE: u32 = 2000;
const MIN_SIDE: u32 = 30;
const MIN_HEIGHT: u32 = 30;
const WIDTH_HEIGHT_RATIO: f32 = 8.0;
const DET_LIMIT_SIDE: u32 = 736;
const CLS_SHAPE: (usize, usize) = (48, 192);
const CLS_THRESH: f32 = 0.9;
const REC_HEIGHT: usize = 48;
const REC_MIN_WIDTH: usize = 320;
const BATCH: usize = 6;
const HALF: [f32; 3] = [0.5; 3];
/// The presence pass's input: its longer side between these…
const PRESENCE_MIN_SIDE: u32 = 512;
const PRESENCE_MAX_SIDE: u32 = 640;
/// …and at least this much smaller than the full detection's, or it is not worth running.
const PRESENCE_MIN_REDUCTION: f32 = 1.4;
/// The default side of a tile's core in the tiled full-size detection, in pixels of the
/// detection input (a multiple of 32; see the module documentation).
pub const TILE_CORE: u32 = 768;
/// The default context around a tile's core on each side, in pixels (a multiple of 32).
pub const TILE_MARGIN: u32 = 128;
/// How far a text pixel of the presence map reaches, once at full size, when choosing tiles.
pub const SEED_DILATION: u32 = 32;
/// A text pixel this close to a run core's edge makes the tile across that edge run too.
pub const SPILL_BAND: u32 = 16;

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
    /// Look for text at low resolution before the full-size detection (see
    /// [`TextModel::with_presence_pass`]).
    presence_pass: bool,
    /// Run the full-size detection on tiles (see [`TextModel::with_tiled_detection`]).
    tiled: bool,
    /// A tile's core and margin, multiples of 32.
    tile_core: u32,
    tile_margin: u32,
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
    /// Whether the full-size detection ran (not when the presence pass found no text).
    pub full_detection: bool,
    /// Time spent inside the detector's runs (presence pass and full size), the part of
    /// `detection` that does not depend on how this crate was compiled.
    pub detector_model: f64,
    /// Pixels the detector was given, summed over its runs (presence pass, whole image or
    /// tiles with their margins): its cost is about proportional.
    pub detector_pixels: u64,
    /// Tiles the full-size detection ran, and how many the grid has (0 and 0 when it ran on the
    /// whole image or not at all).
    pub tiles_run: usize,
    /// See `tiles_run`.
    pub tiles_total: usize,
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
            presence_pass: true,
            tiled: true,
            tile_core: TILE_CORE,
            tile_margin: TILE_MARGIN,
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

    /// Whether to look for text at low resolution first (on by default).
    ///
    /// Most photos hold no text, and the full-size detection (the shorter side at least 736 px,
    /// up to 2000 px on the longer) is four fifths of a photo's analysis. With the presence
    /// pass the detector first sees the image at about half that size in each direction (a
    /// quarter of the pixels), and the full-size pass, whose boxes and text are exactly those
    /// of the reference pipeline (when it is not tiled), runs only when the small one finds a
    /// pixel it takes for text; on a large photo, only on the tiles around those pixels (see
    /// [`TextModel::with_tiled_detection`]). The cost is text too small to show at half size
    /// (on the test photos, a digit about 7 px tall, and one false reading); off, every photo
    /// gets the full-size pass, on every tile.
    pub fn with_presence_pass(mut self, on: bool) -> Self {
        self.presence_pass = on;
        self
    }

    /// Whether to run the full-size detection on tiles when its input is larger than one tile
    /// both ways (on by default).
    ///
    /// The whole-image detection of a 12 MP photo (a 2016×1504 input) costs over a second of
    /// CPU and grows ONNX Runtime's arena to that input's activations in every detector
    /// session. Tiled, each run sees at most (core + 2 × margin)² pixels, and only the tiles the
    /// presence pass saw text in, and their neighbours the text runs into, are run (see the
    /// module documentation for the rule). Off, the detector sees the whole image at once, as
    /// the reference pipeline does.
    pub fn with_tiled_detection(mut self, on: bool) -> Self {
        self.tiled = on;
        self
    }

    /// The tiles' core side and context margin in pixels of the detection input (defaults
    /// [`TILE_CORE`] and [`TILE_MARGIN`]), each made a multiple of 32 (the core rounded, at
    /// least 32; the margin rounded down).
    pub fn with_tile_size(mut self, core: u32, margin: u32) -> Self {
        self.tile_core = round32(core);
        self.tile_margin = margin / 32 * 32;
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
        let presence = if self.presence_pass {
            self.presence_map(&work.image, &mut timings)?
        } else {
            None
        };
        if let Some(map) = &presence {
            if !map.data.iter().any(|&p| p > detection::BINARY_THRESHOLD) {
                timings.detection = start.elapsed().as_secs_f64();
                return Ok((Vec::new(), timings));
            }
        }
        timings.full_detection = true;
        let boxes = self.detect(&work.image, presence.as_ref(), &mut timings)?;
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
    /// in reading order. `presence` is the presence pass's map, when it ran.
    fn detect(
        &self,
        img: &RgbImage,
        presence: Option<&Map>,
        timings: &mut TextTimings,
    ) -> Result<Vec<[Point; 4]>, EngineError> {
        let (w, h) = img.dimensions();
        let (dw, dh) = detection_size(w, h);
        let tile = self.tile_core + 2 * self.tile_margin;
        // Only inputs larger than a tile both ways are tiled: one whose shorter side fits is a
        // small image raised to the 736 px minimum (or a strip), whose text is large for its
        // size; cut across, its lines' boxes and text change (the rendered text fixtures' CER
        // moved by 0.012 to 0.03 with every tile size tried).
        let pred = if self.tiled && dw.min(dh) > tile {
            let resized = resize(img, dw, dh, false);
            self.tiled_probability_map(&resized, presence, timings)?
        } else {
            self.probability_map(img, dw, dh, timings)?.data
        };
        let mut boxes = db_boxes(&pred, dw as usize, dh as usize, w as f32, h as f32);
        sort_reading_order(&mut boxes);
        Ok(boxes)
    }

    /// The detector's text probability per pixel of `img` resized to `dw`×`dh`.
    fn probability_map(
        &self,
        img: &RgbImage,
        dw: u32,
        dh: u32,
        timings: &mut TextTimings,
    ) -> Result<Map, EngineError> {
        let resized = resize(img, dw, dh, false);
        let data = self.run_detector(&resized, timings)?;
        Ok(Map {
            data,
            width: dw as usize,
            height: dh as usize,
        })
    }

    /// One run of the detector on `img` as it is.
    fn run_detector(
        &self,
        img: &RgbImage,
        timings: &mut TextTimings,
    ) -> Result<Vec<f32>, EngineError> {
        let (dw, dh) = (img.width() as usize, img.height() as usize);
        let mut data = vec![0f32; 3 * dw * dh];
        write_chw(img, Channels::Bgr, 1.0 / 255.0, HALF, HALF, &mut data, dw);
        let start = std::time::Instant::now();
        let outputs = self.det.run(Tensor::new(vec![1, 3, dh, dw], data)?)?;
        timings.detector_model += start.elapsed().as_secs_f64();
        timings.detector_pixels += (dw * dh) as u64;
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
        Ok(pred.data)
    }

    /// The full-size probability map of `img` (already at the detection size), detected tile by
    /// tile: the tiles under the presence map's text (every tile without one), then, until
    /// none is added, the neighbours a run tile's text reaches. Cores not run stay zero.
    fn tiled_probability_map(
        &self,
        img: &RgbImage,
        presence: Option<&Map>,
        timings: &mut TextTimings,
    ) -> Result<Vec<f32>, EngineError> {
        let (w, h) = img.dimensions();
        let grid = Grid::new(w, h, self.tile_core, self.tile_margin);
        let mut queued = match presence {
            Some(map) => grid.seeds(
                &map.data,
                map.width,
                map.height,
                detection::BINARY_THRESHOLD,
                SEED_DILATION,
            ),
            None => vec![true; grid.len()],
        };
        let mut queue: Vec<usize> = (0..grid.len()).filter(|&i| queued[i]).collect();
        queue.reverse();
        let mut full = vec![0f32; w as usize * h as usize];
        timings.tiles_total = grid.len();
        while let Some(i) = queue.pop() {
            let input = grid.input(i);
            let core = grid.core(i);
            let view =
                image::imageops::crop_imm(img, input.x0, input.y0, input.width(), input.height())
                    .to_image();
            let pred = self.run_detector(&view, timings)?;
            timings.tiles_run += 1;
            let tw = input.width() as usize;
            let (dx, cw) = ((core.x0 - input.x0) as usize, core.width() as usize);
            for y in core.y0..core.y1 {
                let from = (y - input.y0) as usize * tw + dx;
                let to = y as usize * w as usize + core.x0 as usize;
                full[to..to + cw].copy_from_slice(&pred[from..from + cw]);
            }
            for next in grid.spills(i, &full, detection::BINARY_THRESHOLD, SPILL_BAND) {
                if !queued[next] {
                    queued[next] = true;
                    queue.push(next);
                }
            }
        }
        Ok(full)
    }

    /// The presence pass: the detector's map of the working image at about half its full
    /// detection size in each direction (its longer side 512 to 640 px); the full-size pass runs
    /// when a pixel is over the binarisation threshold, on the tiles under such pixels. Text the
    /// full-size pass can read is almost always visible at half that size (see
    /// [`TextModel::with_presence_pass`] for what is not). An image whose full detection size is
    /// already small gets no presence pass (`None`).
    fn presence_map(
        &self,
        img: &RgbImage,
        timings: &mut TextTimings,
    ) -> Result<Option<Map>, EngineError> {
        let (w, h) = img.dimensions();
        let (full_w, full_h) = detection_size(w, h);
        let longer = full_w.max(full_h);
        let side = (longer / 2).clamp(PRESENCE_MIN_SIDE, PRESENCE_MAX_SIDE);
        if side as f32 > longer as f32 / PRESENCE_MIN_REDUCTION {
            return Ok(None);
        }
        let (dw, dh) = scaled32(w, h, side as f32 / w.max(h) as f32);
        self.probability_map(img, dw, dh, timings).map(Some)
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
                let mut read = ctc::decode(rows, classes, &self.charset, self.gap_spaces);
                // Time step → x in the crop: the input is `width` wide, the crop took `rw` of it.
                let crop_w = crops[index].image.width() as f32;
                read.x_per_step = width as f32 / steps as f32 * crop_w / resized_widths[i] as f32;
                reads[index] = Some(read);
            }
        }
        Ok(reads.into_iter().map(Option::unwrap_or_default).collect())
    }
}

/// A probability map from the detector, `width`×`height`, row by row.
struct Map {
    data: Vec<f32>,
    width: usize,
    height: usize,
}

/// The image the detector and the crops work on, and how to get back to the original.
struct Work {
    image: RgbImage,
    scale_x: f32,
    scale_y: f32,
    pad_top: u32,
    pad_left: u32,
}

/// The size [`prepare`] reduces an image of `w`×`h` to (at most 2000 px a side, both sides
/// multiples of 32), or `None` when it is small enough as it is. Reducing an image to this
/// size beforehand (with [`resize`], no antialiasing, as here) leaves the text read unchanged.
pub fn reduced_size(w: u32, h: u32) -> Option<(u32, u32)> {
    if w.max(h) <= MAX_SIDE {
        return None;
    }
    Some(scaled32(w, h, MAX_SIDE as f32 / w.max(h) as f32))
}

/// The reference's global pre-processing: at most 2000 px a side, at least 30, and a black
/// letterbox above and below a thin strip.
fn prepare(img: &RgbImage) -> Work {
    let (w, h) = img.dimensions();
    let mut image = None;
    let (mut cw, mut ch) = (w, h);
    if let Some((rw, rh)) = reduced_size(w, h) {
        (cw, ch) = (rw, rh);
    }
    if cw.min(ch) < MIN_SIDE {
        (cw, ch) = scaled32(cw, ch, MIN_SIDE as f32 / cw.min(ch) as f32);
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

/// The detector's input size for a working image of `w`×`h`: the shorter side at least
/// [`DET_LIMIT_SIDE`], both multiples of 32.
fn detection_size(w: u32, h: u32) -> (u32, u32) {
    let ratio = if w.min(h) < DET_LIMIT_SIDE {
        DET_LIMIT_SIDE as f32 / w.min(h) as f32
    } else {
        1.0
    };
    scaled32(w, h, ratio)
}

/// `w`×`h` scaled by `ratio`, each side rounded to a multiple of 32 (at least 32).
fn scaled32(w: u32, h: u32, ratio: f32) -> (u32, u32) {
    (
        round32((w as f32 * ratio) as u32),
        round32((h as f32 * ratio) as u32),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Model;

    /// A detector that calls a pixel text when it is dark (its blue channel, normalised, below
    /// zero): pointwise, so tiles must give exactly the whole image's map.
    struct DarkIsText;

    impl Model for DarkIsText {
        fn run(&self, input: Tensor) -> Result<Vec<Tensor>, EngineError> {
            let (h, w) = (input.shape[2], input.shape[3]);
            let data = input.data[..w * h]
                .iter()
                .map(|&v| if v < 0.0 { 0.9 } else { 0.0 })
                .collect();
            Ok(vec![Tensor::new(vec![1, 1, h, w], data)?])
        }

        fn metadata(&self, _key: &str) -> Result<Option<String>, EngineError> {
            Ok(Some("a\nb".into()))
        }
    }

    fn model() -> TextModel {
        TextModel::new(
            Box::new(DarkIsText),
            Box::new(DarkIsText),
            Box::new(DarkIsText),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .with_tile_size(512, 64)
    }

    /// A white 2048×1024 image (4 × 2 tiles of 512) with a dark bar across the top row of
    /// tiles, from x = 300 to 1800 at y = 100..120.
    fn bar() -> RgbImage {
        RgbImage::from_fn(2048, 1024, |x, y| {
            if (300..1800).contains(&x) && (100..120).contains(&y) {
                image::Rgb([10, 10, 10])
            } else {
                image::Rgb([250, 250, 250])
            }
        })
    }

    #[test]
    fn a_line_seen_in_one_tile_grows_into_the_tiles_it_crosses() {
        let img = bar();
        // The presence map (a quarter of the size) saw only the bar's start, in tile 0.
        let (mw, mh) = (512, 256);
        let mut data = vec![0f32; mw * mh];
        data[27 * mw + 80] = 0.9;
        let presence = Map {
            data,
            width: mw,
            height: mh,
        };
        let model = model();
        let mut timings = TextTimings::default();
        let tiled = model
            .tiled_probability_map(&img, Some(&presence), &mut timings)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((timings.tiles_run, timings.tiles_total), (4, 8));
        let mut whole_timings = TextTimings::default();
        let whole = model
            .probability_map(&img, 2048, 1024, &mut whole_timings)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(tiled == whole.data, "the whole bar, and nothing else");
        // Each top tile saw its core and a 64 px margin (clipped at the image's edges).
        assert_eq!(
            timings.detector_pixels,
            (576 + 640 + 640 + 576) * 576,
            "{timings:?}"
        );
    }

    #[test]
    fn without_a_presence_map_every_tile_runs() {
        let model = model();
        let mut timings = TextTimings::default();
        let tiled = model
            .tiled_probability_map(&bar(), None, &mut timings)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((timings.tiles_run, timings.tiles_total), (8, 8));
        assert_eq!(tiled.iter().filter(|&&p| p > 0.5).count(), 1500 * 20);
    }

    #[test]
    fn an_input_that_fits_in_one_tile_is_detected_whole() {
        let img = RgbImage::from_pixel(640, 640, image::Rgb([250, 250, 250]));
        let mut timings = TextTimings::default();
        let boxes = model()
            .with_tile_size(TILE_CORE, TILE_MARGIN)
            .detect(&img, None, &mut timings)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(boxes.is_empty());
        assert_eq!((timings.tiles_run, timings.tiles_total), (0, 0));
        assert_eq!(timings.detector_pixels, 736 * 736);
    }
}
