//! Moderation: a local model's findings in Rekognition's moderation taxonomy (levels 1–3), so
//! `config/moderation-policy.json` reads them exactly as it reads Rekognition's.
//!
//! - **open_nsfw** (default): one NSFW probability. At or above the reporting floor it becomes
//!   `Explicit Nudity` (level 2) under `Explicit` (level 1), both with that confidence; below it,
//!   nothing is reported, so an ordinary photo has no moderation labels at all.
//! - **NudeNet 320n** (optional, AGPL-3.0 licence file in its wheel): body-part detections mapped
//!   onto level-3 labels (`Exposed Female Nipple` → `Explicit Nudity` → `Explicit`, …), every
//!   ancestor reported too with the highest confidence below it, as Rekognition does. Its face
//!   detections are not moderation labels: the label detector reports them as `Person`/`Face`.

use std::collections::BTreeMap;

use image::RgbImage;
use spotlight_core::contracts::{BoundingBox, Label, LabelInstance, ModerationLabel};

use crate::engine::{EngineError, Model, Tensor};
use crate::image::{center_crop, resize};
use crate::objects::iou;

/// open_nsfw's input: 256×256, centre 224, BGR minus the Caffe means, NHWC.
const NSFW_RESIZE: u32 = 256;
const NSFW_CROP: u32 = 224;
const NSFW_MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];

/// open_nsfw: an NSFW probability for the whole image.
pub struct OpenNsfw {
    model: Box<dyn Model>,
}

impl OpenNsfw {
    /// Wraps a loaded `open-nsfw.onnx`.
    pub fn new(model: Box<dyn Model>) -> Self {
        OpenNsfw { model }
    }

    /// The model's input for `img`. The reference re-encodes the 224² crop as JPEG to match the
    /// original Caffe scores to the last digit; we do not (see the crate README).
    pub fn preprocess(img: &RgbImage) -> Result<Tensor, EngineError> {
        let crop = center_crop(&resize(img, NSFW_RESIZE, NSFW_RESIZE, true), NSFW_CROP);
        let mut data = Vec::with_capacity((NSFW_CROP * NSFW_CROP * 3) as usize);
        for px in crop.pixels() {
            data.push(f32::from(px[2]) - NSFW_MEAN_BGR[0]);
            data.push(f32::from(px[1]) - NSFW_MEAN_BGR[1]);
            data.push(f32::from(px[0]) - NSFW_MEAN_BGR[2]);
        }
        let side = NSFW_CROP as usize;
        Tensor::new(vec![1, side, side, 3], data)
    }

    /// The NSFW probability, 0–1.
    pub fn score(&self, input: Tensor) -> Result<f32, EngineError> {
        let out = self
            .model
            .run(input)?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::new("open_nsfw gave no output"))?;
        match out.data.as_slice() {
            [_, nsfw] => Ok(*nsfw),
            other => Err(EngineError::new(format!(
                "open_nsfw gave {} values, expected 2",
                other.len()
            ))),
        }
    }

    /// The moderation labels for an NSFW probability `p` (0–1): see the module docs.
    pub fn labels_for(p: f32, min_confidence: f32) -> Vec<ModerationLabel> {
        let confidence = (p * 100.0).clamp(0.0, 100.0);
        if confidence < min_confidence {
            return Vec::new();
        }
        vec![
            ModerationLabel {
                name: "Explicit".into(),
                parent_name: None,
                confidence,
                taxonomy_level: 1,
            },
            ModerationLabel {
                name: "Explicit Nudity".into(),
                parent_name: Some("Explicit".into()),
                confidence,
                taxonomy_level: 2,
            },
        ]
    }
}

/// NudeNet's classes, in its output order (from `nudenet/nudenet.py`).
pub const NUDENET_CLASSES: [&str; 18] = [
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
];

const NUDENET_SIZE: u32 = 320;
const NUDENET_MIN_SCORE: f32 = 0.2;
const NUDENET_NMS_SCORE: f32 = 0.25;
const NUDENET_NMS_IOU: f32 = 0.45;

/// One NudeNet detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The class, one of [`NUDENET_CLASSES`].
    pub class: &'static str,
    /// 0–1.
    pub score: f32,
    /// Where, as fractions of the image.
    pub bounding_box: BoundingBox,
}

/// The NudeNet 320n detector.
pub struct NudeNet {
    model: Box<dyn Model>,
}

impl NudeNet {
    /// Wraps a loaded `nudenet-320n.onnx`.
    pub fn new(model: Box<dyn Model>) -> Self {
        NudeNet { model }
    }

    /// The model's input: the image padded right and bottom to a square (black), resized to
    /// 320², BGR, `x/255`, NCHW. Also returns the padded side in original pixels.
    pub fn preprocess(img: &RgbImage) -> Result<(Tensor, u32), EngineError> {
        let side = img.width().max(img.height());
        // Resize first (the padding stays black either way), so a big photo is not copied whole.
        let scale = NUDENET_SIZE as f32 / side as f32;
        let rw = ((img.width() as f32 * scale).round() as u32).clamp(1, NUDENET_SIZE);
        let rh = ((img.height() as f32 * scale).round() as u32).clamp(1, NUDENET_SIZE);
        let small = resize(img, rw, rh, true);
        let n = NUDENET_SIZE as usize;
        let mut data = vec![0f32; 3 * n * n];
        for (x, y, px) in small.enumerate_pixels() {
            for c in 0..3 {
                // BGR planes: the reference turns OpenCV's BGR into RGB with `COLOR_RGBA2BGR`
                // (a swap), then `blobFromImage(swapRB=True)` swaps it back.
                data[(2 - c) * n * n + y as usize * n + x as usize] = f32::from(px[c]) / 255.0;
            }
        }
        Ok((Tensor::new(vec![1, 3, n, n], data)?, side))
    }

    /// Detections in `img` (class-agnostic non-maximum suppression, as the reference).
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Detection>, EngineError> {
        let (input, side) = Self::preprocess(img)?;
        let out = self
            .model
            .run(input)?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::new("NudeNet gave no output"))?;
        let rows = 4 + NUDENET_CLASSES.len();
        if out.shape.len() != 3 || out.shape[1] != rows {
            return Err(EngineError::new(format!("NudeNet gave {:?}", out.shape)));
        }
        let anchors = out.shape[2];
        let at = |r: usize, a: usize| out.data[r * anchors + a];
        let scale = side as f32 / NUDENET_SIZE as f32;
        let (iw, ih) = (img.width() as f32, img.height() as f32);
        let mut candidates = Vec::new();
        for a in 0..anchors {
            let (class, score) = (0..NUDENET_CLASSES.len())
                .map(|c| (c, at(4 + c, a)))
                .fold((0, f32::MIN), |best, x| if x.1 > best.1 { x } else { best });
            if score < NUDENET_MIN_SCORE {
                continue;
            }
            let (cx, cy, w, h) = (at(0, a), at(1, a), at(2, a), at(3, a));
            let x = ((cx - w / 2.0) * scale).clamp(0.0, iw);
            let y = ((cy - h / 2.0) * scale).clamp(0.0, ih);
            let w = (w * scale).min(iw - x);
            let h = (h * scale).min(ih - y);
            // In pixels until suppression is done (overlap does not depend on the unit).
            let pixels = BoundingBox {
                left: x,
                top: y,
                width: w,
                height: h,
            };
            candidates.push((class, score, pixels));
        }
        candidates.retain(|c| c.1 >= NUDENET_NMS_SCORE);
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut kept: Vec<(usize, f32, BoundingBox)> = Vec::new();
        for c in candidates {
            if kept.iter().all(|k| iou(&k.2, &c.2) <= NUDENET_NMS_IOU) {
                kept.push(c);
            }
        }
        Ok(kept
            .into_iter()
            .map(|(class, score, pixels)| Detection {
                class: NUDENET_CLASSES[class],
                score,
                bounding_box: BoundingBox {
                    left: pixels.left / iw,
                    top: pixels.top / ih,
                    width: pixels.width / iw,
                    height: pixels.height / ih,
                },
            })
            .collect())
    }

    /// NudeNet's detections as Rekognition moderation labels, each with its ancestors.
    pub fn moderation_labels(
        detections: &[Detection],
        min_confidence: f32,
    ) -> Vec<ModerationLabel> {
        let mut best: BTreeMap<&'static str, (f32, Option<&'static str>, u8)> = BTreeMap::new();
        for d in detections {
            let confidence = d.score * 100.0;
            if confidence < min_confidence {
                continue;
            }
            let Some(chain) = taxonomy_chain(d.class) else {
                continue;
            };
            // chain: the label itself first, then its ancestors up to level 1.
            let depth = chain.len() as u8;
            for (i, name) in chain.iter().enumerate() {
                let level = depth - i as u8;
                let parent = chain.get(i + 1).copied();
                let entry = best.entry(name).or_insert((0.0, parent, level));
                entry.0 = entry.0.max(confidence);
            }
        }
        let mut labels: Vec<ModerationLabel> = best
            .into_iter()
            .map(|(name, (confidence, parent, level))| ModerationLabel {
                name: name.to_string(),
                parent_name: parent.map(str::to_string),
                confidence,
                taxonomy_level: level,
            })
            .collect();
        labels.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        labels
    }

    /// NudeNet's faces as `Face` (with the face boxes) and `Person` labels.
    pub fn face_labels(detections: &[Detection], min_confidence: f32) -> Vec<Label> {
        let instances: Vec<LabelInstance> = detections
            .iter()
            .filter(|d| d.class.starts_with("FACE_") && d.score * 100.0 >= min_confidence)
            .map(|d| LabelInstance {
                bounding_box: d.bounding_box,
                confidence: d.score * 100.0,
            })
            .collect();
        let Some(confidence) = instances.iter().map(|i| i.confidence).reduce(f32::max) else {
            return Vec::new();
        };
        let label = |name: &str, parents: Vec<String>, instances: Vec<LabelInstance>| Label {
            name: name.into(),
            confidence,
            parents,
            categories: vec!["Person Description".into()],
            instances,
        };
        // The boxes are faces: they locate `Face`. People are located by the object detector,
        // whose `Person` boxes these are merged with, so a face box there would count one
        // person twice.
        vec![
            label("Person", Vec::new(), Vec::new()),
            label("Face", vec!["Person".into()], instances),
        ]
    }
}

/// A NudeNet class's place in Rekognition's taxonomy: the label, then its ancestors.
fn taxonomy_chain(class: &str) -> Option<&'static [&'static str]> {
    const EXPLICIT: &str = "Explicit";
    const EXPLICIT_NUDITY: &str = "Explicit Nudity";
    const NON_EXPLICIT: &str = "Non-Explicit Nudity of Intimate parts and Kissing";
    const NON_EXPLICIT_NUDITY: &str = "Non-Explicit Nudity";
    const SWIMWEAR: &str = "Swimwear or Underwear";
    Some(match class {
        "FEMALE_GENITALIA_EXPOSED" => &["Exposed Female Genitalia", EXPLICIT_NUDITY, EXPLICIT],
        "MALE_GENITALIA_EXPOSED" => &["Exposed Male Genitalia", EXPLICIT_NUDITY, EXPLICIT],
        "BUTTOCKS_EXPOSED" | "ANUS_EXPOSED" => {
            &["Exposed Buttocks or Anus", EXPLICIT_NUDITY, EXPLICIT]
        }
        "FEMALE_BREAST_EXPOSED" => &["Exposed Female Nipple", EXPLICIT_NUDITY, EXPLICIT],
        "MALE_BREAST_EXPOSED" => &["Exposed Male Nipple", NON_EXPLICIT_NUDITY, NON_EXPLICIT],
        "FEMALE_BREAST_COVERED" | "FEMALE_GENITALIA_COVERED" => {
            &["Female Swimwear or Underwear", SWIMWEAR]
        }
        // Faces, feet, bellies, armpits and covered buttocks are ordinary in photos of people.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(class: &'static str, score: f32) -> Detection {
        Detection {
            class,
            score,
            bounding_box: BoundingBox {
                left: 0.1,
                top: 0.1,
                width: 0.2,
                height: 0.2,
            },
        }
    }

    #[test]
    fn open_nsfw_reports_nothing_below_the_floor_and_two_levels_above() {
        assert!(OpenNsfw::labels_for(0.03, 20.0).is_empty());
        let labels = OpenNsfw::labels_for(0.9, 20.0);
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[1].name, "Explicit Nudity");
        assert_eq!(labels[1].parent_name.as_deref(), Some("Explicit"));
        assert_eq!(labels[1].taxonomy_level, 2);
        assert!((labels[0].confidence - 90.0).abs() < 1e-3);
    }

    #[test]
    fn nudenet_classes_map_onto_level_three_with_their_ancestors() {
        let labels = NudeNet::moderation_labels(
            &[
                detection("FEMALE_BREAST_EXPOSED", 0.8),
                detection("FACE_FEMALE", 0.9),
                detection("BUTTOCKS_EXPOSED", 0.6),
            ],
            20.0,
        );
        let get = |n: &str| labels.iter().find(|l| l.name == n);
        assert_eq!(
            get("Exposed Female Nipple").map(|l| l.taxonomy_level),
            Some(3)
        );
        assert_eq!(
            get("Explicit Nudity").map(|l| (l.taxonomy_level, l.confidence.round())),
            Some((2, 80.0))
        );
        assert_eq!(get("Explicit").map(|l| l.parent_name.clone()), Some(None));
        assert!(get("Exposed Buttocks or Anus").is_some());
        assert_eq!(
            labels.len(),
            4,
            "faces are not moderation labels: {labels:?}"
        );
    }

    #[test]
    fn faces_become_person_and_face_labels_with_boxes_on_the_face() {
        let labels = NudeNet::face_labels(&[detection("FACE_MALE", 0.7)], 20.0);
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[0].name, "Person");
        assert!(
            labels[0].instances.is_empty(),
            "people are located by the detector"
        );
        assert_eq!(labels[1].parents, vec!["Person".to_string()]);
        assert_eq!(labels[1].instances.len(), 1);
        assert!(NudeNet::face_labels(&[detection("FEET_EXPOSED", 0.7)], 20.0).is_empty());
    }
}
