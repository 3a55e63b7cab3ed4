//! Objects and people, located: MediaPipe's SSD-MobileNetV2 Open Images v4 detector (23
//! classes: Person, Dog, Cat, Car, Vehicle, Bicycle, Chair, Laptop, …), its anchors, box
//! decoding and non-maximum suppression, and the labels it gives in Rekognition's shape:
//! names, parents and categories from `assets/oidv4-labels.json`, and one instance per kept
//! box with its `BoundingBox` as ratios of the image.
//!
//! The numbers follow MediaPipe's own graph for this model
//! (`mediapipe/modules/objectron/object_detection_oid_v4_cpu.pbtxt`): the whole image stretched
//! to 300×300 with pixels in [-1, 1]; 1917 anchors from `SsdAnchorsCalculator` (6 layers,
//! strides 16–512, scales 0.2–0.95, aspect ratios 1, 2, ½, 3, ⅓ plus an interpolated scale, the
//! lowest layer reduced to 3 boxes); boxes decoded as (y, x, h, w) with scales 10, 10, 5, 5 and
//! exponential sizes; sigmoid scores, class 0 (background) ignored, each anchor keeping its best
//! class; then greedy non-maximum suppression at IoU 0.5. Two choices differ from that graph:
//! suppression is per class (a `Car` box does not remove the `Vehicle` box around the same
//! car, and Rekognition reports both), and the score floor is [`MIN_SCORE`], not 0.5.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use image::RgbImage;
use serde::Deserialize;
use spotlight_core::contracts::{BoundingBox, Label, LabelInstance};

use crate::engine::{EngineError, Model, Tensor};
use crate::labels::merge_labels;

/// The detector's input side, in pixels.
pub const INPUT_SIZE: u32 = 300;
/// How many anchors (and rows in each output) the model has.
pub const NUM_ANCHORS: usize = 1917;
/// Output classes, background (index 0) included.
pub const NUM_CLASSES: usize = 24;
/// The score (sigmoid, 0–1) a box needs to be kept. MediaPipe uses 0.5; on the test photos the
/// detector gives the portrait of Grace Hopper's person 0.49 and its strongest wrong box
/// scores 0.30 (a `Bottle` on the astronaut), so 0.4 keeps the one and drops the other.
pub const MIN_SCORE: f32 = 0.4;
/// Boxes of one class overlapping a better one by more than this IoU are dropped.
pub const NMS_IOU: f32 = 0.5;
/// At most this many boxes per image (MediaPipe's `max_num_detections`).
pub const MAX_DETECTIONS: usize = 100;

const LABELS_JSON: &str = include_str!("../../../assets/oidv4-labels.json");

/// One SSD anchor, in ratios of the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    /// Centre, 0–1 from the left.
    pub x_center: f32,
    /// Centre, 0–1 from the top.
    pub y_center: f32,
    /// Width, ratio of the image width.
    pub w: f32,
    /// Height, ratio of the image height.
    pub h: f32,
}

const STRIDES: [u32; 6] = [16, 32, 64, 128, 256, 512];
const ASPECT_RATIOS: [f32; 5] = [1.0, 2.0, 0.5, 3.0, 0.3333];
const MIN_SCALE: f32 = 0.2;
const MAX_SCALE: f32 = 0.95;
const BOX_SCALES: [f32; 4] = [10.0, 10.0, 5.0, 5.0];

fn layer_scale(layer: usize) -> f32 {
    MIN_SCALE + (MAX_SCALE - MIN_SCALE) * layer as f32 / (STRIDES.len() - 1) as f32
}

/// The 1917 anchors, in the order of the model's outputs: layer by layer (finest first), then
/// row, column, and the layer's boxes.
pub fn ssd_anchors() -> Vec<Anchor> {
    let mut anchors = Vec::with_capacity(NUM_ANCHORS);
    for (layer, &stride) in STRIDES.iter().enumerate() {
        let scale = layer_scale(layer);
        // The lowest layer has three boxes, the first one small, as SSD-MobileNet was trained.
        let shapes: Vec<(f32, f32)> = if layer == 0 {
            vec![(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        } else {
            let next = if layer + 1 == STRIDES.len() {
                1.0
            } else {
                layer_scale(layer + 1)
            };
            ASPECT_RATIOS
                .iter()
                .map(|&ratio| (scale, ratio))
                .chain(std::iter::once(((scale * next).sqrt(), 1.0)))
                .collect()
        };
        let side = INPUT_SIZE.div_ceil(stride);
        for y in 0..side {
            for x in 0..side {
                for &(scale, ratio) in &shapes {
                    let root = ratio.sqrt();
                    anchors.push(Anchor {
                        x_center: (x as f32 + 0.5) / side as f32,
                        y_center: (y as f32 + 0.5) / side as f32,
                        w: scale * root,
                        h: scale / root,
                    });
                }
            }
        }
    }
    anchors
}

/// One decoded box against its anchor, clipped to the image, as Rekognition's ratios.
pub fn decode_box(raw: [f32; 4], anchor: &Anchor) -> BoundingBox {
    let [ry, rx, rh, rw] = raw;
    let y_center = ry / BOX_SCALES[0] * anchor.h + anchor.y_center;
    let x_center = rx / BOX_SCALES[1] * anchor.w + anchor.x_center;
    let h = (rh / BOX_SCALES[2]).exp() * anchor.h;
    let w = (rw / BOX_SCALES[3]).exp() * anchor.w;
    let clip = |v: f32| {
        if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let left = clip(x_center - w / 2.0);
    let top = clip(y_center - h / 2.0);
    let right = clip(x_center + w / 2.0);
    let bottom = clip(y_center + h / 2.0);
    BoundingBox {
        left,
        top,
        width: (right - left).max(0.0),
        height: (bottom - top).max(0.0),
    }
}

/// Intersection over union of two boxes (0 when either is empty).
pub fn iou(a: &BoundingBox, b: &BoundingBox) -> f32 {
    let w = (a.left + a.width).min(b.left + b.width) - a.left.max(b.left);
    let h = (a.top + a.height).min(b.top + b.height) - a.top.max(b.top);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    let union = a.width * a.height + b.width * b.height - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// One object the detector found.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDetection {
    /// The model's class index, 1–23.
    pub class: usize,
    /// Sigmoid score, 0–1.
    pub score: f32,
    /// Where, as ratios of the image.
    pub bounding_box: BoundingBox,
}

/// Greedy non-maximum suppression within each class: the best box stays, boxes of the same
/// class overlapping it by more than `threshold` go. At most [`MAX_DETECTIONS`] are kept, best
/// first.
pub fn non_max_suppression(
    mut detections: Vec<ObjectDetection>,
    threshold: f32,
) -> Vec<ObjectDetection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<ObjectDetection> = Vec::new();
    for candidate in detections {
        if kept.len() == MAX_DETECTIONS {
            break;
        }
        let overlaps = kept.iter().any(|k| {
            k.class == candidate.class && iou(&k.bounding_box, &candidate.bounding_box) > threshold
        });
        if !overlaps {
            kept.push(candidate);
        }
    }
    kept
}

/// The raw outputs turned into detections: best class per anchor (sigmoid), the score floor,
/// box decoding, then [`non_max_suppression`].
pub fn decode(
    boxes: &[f32],
    logits: &[f32],
    anchors: &[Anchor],
    min_score: f32,
) -> Result<Vec<ObjectDetection>, EngineError> {
    if boxes.len() != anchors.len() * 4 || logits.len() != anchors.len() * NUM_CLASSES {
        return Err(EngineError::new(format!(
            "detector outputs have {} box and {} score values for {} anchors",
            boxes.len(),
            logits.len(),
            anchors.len()
        )));
    }
    let mut found = Vec::new();
    for (i, anchor) in anchors.iter().enumerate() {
        let row = &logits[i * NUM_CLASSES..(i + 1) * NUM_CLASSES];
        // Skip the background column; the sigmoid is monotonic, so compare logits.
        let Some((class, &logit)) = row
            .iter()
            .enumerate()
            .skip(1)
            .max_by(|a, b| a.1.total_cmp(b.1))
        else {
            continue;
        };
        let score = 1.0 / (1.0 + (-logit).exp());
        if score.is_nan() || score < min_score {
            continue;
        }
        let raw = [
            boxes[i * 4],
            boxes[i * 4 + 1],
            boxes[i * 4 + 2],
            boxes[i * 4 + 3],
        ];
        let bounding_box = decode_box(raw, anchor);
        if bounding_box.width > 0.0 && bounding_box.height > 0.0 {
            found.push(ObjectDetection {
                class,
                score,
                bounding_box,
            });
        }
    }
    Ok(non_max_suppression(found, NMS_IOU))
}

/// One detector class in Rekognition's terms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ObjectClass {
    /// The model's class index, 1–23.
    pub index: usize,
    /// The Open Images name in the model's label map, e.g. `Computer mouse`.
    pub oid: String,
    /// Rekognition's name, e.g. `Mouse`.
    pub name: String,
    /// Nearest first.
    pub parents: Vec<String>,
    /// Rekognition's categories.
    pub categories: Vec<String>,
}

#[derive(Deserialize)]
struct ClassFile {
    labels: Vec<ObjectClass>,
}

/// The 23 classes, by model index (entry 0 is unused: background).
#[derive(Debug)]
pub struct ObjectClasses {
    by_index: Vec<Option<ObjectClass>>,
}

impl ObjectClasses {
    /// The shipped table (`assets/oidv4-labels.json`), parsed once.
    pub fn shipped() -> Result<&'static ObjectClasses, EngineError> {
        static SHIPPED: OnceLock<Result<ObjectClasses, String>> = OnceLock::new();
        SHIPPED
            .get_or_init(|| ObjectClasses::from_json(LABELS_JSON))
            .as_ref()
            .map_err(|e| EngineError::new(e.clone()))
    }

    /// Parses a table: every class 1..24 exactly once.
    pub fn from_json(json: &str) -> Result<ObjectClasses, String> {
        let file: ClassFile =
            serde_json::from_str(json).map_err(|e| format!("oidv4-labels.json: {e}"))?;
        let mut by_index: Vec<Option<ObjectClass>> = vec![None; NUM_CLASSES];
        for class in file.labels {
            let index = class.index;
            match by_index.get_mut(index) {
                Some(slot @ None) if index > 0 => *slot = Some(class),
                _ => {
                    return Err(format!(
                        "oidv4-labels.json: class {index} is out of range or twice"
                    ))
                }
            }
        }
        if by_index.iter().skip(1).any(Option::is_none) {
            return Err(format!(
                "oidv4-labels.json must list classes 1..{} once each",
                NUM_CLASSES - 1
            ));
        }
        Ok(ObjectClasses { by_index })
    }

    /// The class at a model index.
    pub fn get(&self, index: usize) -> Option<&ObjectClass> {
        self.by_index.get(index).and_then(Option::as_ref)
    }

    /// Rekognition-shaped labels for `detections`: one label per detected class, its
    /// confidence its best box's score (percent) and every kept box an instance, best first;
    /// then each parent as a label of its own (as Rekognition lists them), as confident as its
    /// best child and without boxes. Names that occur twice are joined by [`merge_labels`].
    pub fn labels(&self, detections: &[ObjectDetection]) -> Vec<Label> {
        let mut by_class: BTreeMap<usize, Vec<&ObjectDetection>> = BTreeMap::new();
        for detection in detections {
            by_class.entry(detection.class).or_default().push(detection);
        }
        let mut labels = Vec::new();
        for (index, mut found) in by_class {
            let Some(class) = self.get(index) else {
                continue;
            };
            found.sort_by(|a, b| b.score.total_cmp(&a.score));
            let instances: Vec<LabelInstance> = found
                .iter()
                .map(|d| LabelInstance {
                    bounding_box: d.bounding_box,
                    confidence: d.score * 100.0,
                })
                .collect();
            let confidence = instances.first().map_or(0.0, |i| i.confidence);
            for (at, parent) in class.parents.iter().enumerate() {
                labels.push(Label {
                    name: parent.clone(),
                    confidence,
                    parents: class.parents[at + 1..].to_vec(),
                    categories: class.categories.clone(),
                    instances: Vec::new(),
                });
            }
            labels.push(Label {
                name: class.name.clone(),
                confidence,
                parents: class.parents.clone(),
                categories: class.categories.clone(),
                instances,
            });
        }
        merge_labels(vec![labels])
    }
}

/// The detector: `ssd-mobilenetv2-oidv4.onnx` and its class table.
pub struct ObjectDetector {
    model: Box<dyn Model>,
    anchors: Vec<Anchor>,
    classes: &'static ObjectClasses,
}

impl ObjectDetector {
    /// Wraps a loaded `ssd-mobilenetv2-oidv4.onnx`.
    pub fn new(model: Box<dyn Model>) -> Result<Self, EngineError> {
        Ok(ObjectDetector {
            model,
            anchors: ssd_anchors(),
            classes: ObjectClasses::shipped()?,
        })
    }

    /// The model's input: the whole image stretched to 300×300 (so boxes are ratios of the
    /// image as it is), NHWC, RGB in [-1, 1].
    pub fn preprocess(img: &RgbImage) -> Result<Tensor, EngineError> {
        let resized = crate::image::resize(img, INPUT_SIZE, INPUT_SIZE, true);
        let data = resized
            .as_raw()
            .iter()
            .map(|&v| f32::from(v) / 127.5 - 1.0)
            .collect();
        let side = INPUT_SIZE as usize;
        Tensor::new(vec![1, side, side, 3], data)
    }

    /// The objects in an image, best first.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<ObjectDetection>, EngineError> {
        let outputs = self.model.run(Self::preprocess(img)?)?;
        let [boxes, logits] = outputs.as_slice() else {
            return Err(EngineError::new(format!(
                "the detector gave {} outputs, expected 2",
                outputs.len()
            )));
        };
        decode(&boxes.data, &logits.data, &self.anchors, MIN_SCORE)
    }

    /// The labels of an image (see [`ObjectClasses::labels`]) from the boxes that score at
    /// least `min_confidence` percent: the same floor as the classifier's labels, which never
    /// goes below [`MIN_SCORE`].
    pub fn labels(&self, img: &RgbImage, min_confidence: f32) -> Result<Vec<Label>, EngineError> {
        let floor = MIN_SCORE.max(min_confidence / 100.0);
        let mut detections = self.detect(img)?;
        detections.retain(|d| d.score >= floor);
        Ok(self.classes.labels(&detections))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(left: f32, top: f32, width: f32, height: f32) -> BoundingBox {
        BoundingBox {
            left,
            top,
            width,
            height,
        }
    }

    #[test]
    fn anchors_follow_mediapipes_ssd_layout() {
        let anchors = ssd_anchors();
        // 19² × 3 + 10² × 6 + 5² × 6 + 3² × 6 + 2² × 6 + 1 × 6
        assert_eq!(anchors.len(), 19 * 19 * 3 + (100 + 25 + 9 + 4 + 1) * 6);
        assert_eq!(anchors.len(), NUM_ANCHORS);
        // The first anchor: cell (0, 0) of the 19×19 layer, the small square box.
        let first = anchors[0];
        assert!((first.x_center - 0.5 / 19.0).abs() < 1e-6);
        assert!((first.w - 0.1).abs() < 1e-6 && (first.h - 0.1).abs() < 1e-6);
        // Its third box is aspect ratio ½: half as wide as tall (scale 0.2).
        let third = anchors[2];
        assert!((third.w / third.h - 0.5).abs() < 1e-5);
        assert!((third.w * third.h - 0.04).abs() < 1e-6);
        // The last layer is one cell centred on the image; its sixth box is the interpolated
        // scale between 0.95 and 1.
        let last = anchors[NUM_ANCHORS - 1];
        assert_eq!((last.x_center, last.y_center), (0.5, 0.5));
        assert!((last.w - (0.95f32 * 1.0).sqrt()).abs() < 1e-6);
        // Second layer starts after the first: 10×10 grid.
        let second = anchors[19 * 19 * 3];
        assert!((second.x_center - 0.05).abs() < 1e-6);
        let scale = 0.2 + 0.75 / 5.0;
        assert!((second.w - scale).abs() < 1e-6);
    }

    #[test]
    fn a_zero_encoding_decodes_to_its_anchor_and_offsets_move_it() {
        let anchor = Anchor {
            x_center: 0.5,
            y_center: 0.4,
            w: 0.2,
            h: 0.1,
        };
        let b = decode_box([0.0; 4], &anchor);
        assert!((b.left - 0.4).abs() < 1e-6 && (b.top - 0.35).abs() < 1e-6);
        assert!((b.width - 0.2).abs() < 1e-6 && (b.height - 0.1).abs() < 1e-6);
        // y offset 1 moves the centre by a tenth of the anchor's height; h 5 multiplies it by e.
        let moved = decode_box([1.0, -2.0, 5.0, 0.0], &anchor);
        let h = 0.1 * std::f32::consts::E;
        assert!((moved.top - (0.41 - h / 2.0)).abs() < 1e-6);
        assert!((moved.height - h).abs() < 1e-6);
        assert!((moved.left - (0.46 - 0.1)).abs() < 1e-6);
        // A box past the edge is clipped to the image.
        let huge = decode_box([0.0, 0.0, 50.0, 50.0], &anchor);
        assert_eq!(huge, bbox(0.0, 0.0, 1.0, 1.0));
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = bbox(0.0, 0.0, 0.5, 0.5);
        assert!((iou(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(iou(&a, &bbox(0.5, 0.5, 0.5, 0.5)), 0.0);
        // Half overlapping: intersection 0.125, union 0.375.
        let b = bbox(0.25, 0.0, 0.5, 0.5);
        assert!((iou(&a, &b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&a, &bbox(0.1, 0.1, 0.0, 0.3)), 0.0);
    }

    #[test]
    fn suppression_is_greedy_and_per_class() {
        let d = |class, score, left| ObjectDetection {
            class,
            score,
            bounding_box: bbox(left, 0.0, 0.4, 0.4),
        };
        let kept = non_max_suppression(
            vec![
                d(4, 0.6, 0.02), // overlaps the better person box: dropped
                d(4, 0.9, 0.0),
                d(23, 0.7, 0.0),  // same place, other class: kept
                d(4, 0.5, 0.55),  // a second person elsewhere: kept
                d(23, 0.65, 0.3), // IoU 0.14 with the car: kept
            ],
            NMS_IOU,
        );
        let summary: Vec<(usize, f32)> = kept.iter().map(|k| (k.class, k.score)).collect();
        assert_eq!(summary, vec![(4, 0.9), (23, 0.7), (23, 0.65), (4, 0.5)]);
    }

    #[test]
    fn decoding_keeps_the_best_class_above_the_floor() {
        let anchors = [
            Anchor {
                x_center: 0.5,
                y_center: 0.5,
                w: 0.5,
                h: 0.5,
            },
            Anchor {
                x_center: 0.2,
                y_center: 0.2,
                w: 0.2,
                h: 0.2,
            },
        ];
        let mut logits = vec![-9.0; 2 * NUM_CLASSES];
        logits[0] = 9.0; // background is never a class
        logits[4] = 2.0; // anchor 0: Person, sigmoid 0.88
        logits[8] = 1.0; // and Cat, lower: not this anchor's class
        logits[NUM_CLASSES + 20] = -1.0; // anchor 1: Dog at 0.27, under the floor
        let boxes = vec![0.0; 8];
        let found = decode(&boxes, &logits, &anchors, MIN_SCORE).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].class, 4);
        assert!((found[0].score - 0.880_797).abs() < 1e-5);
        assert_eq!(found[0].bounding_box, bbox(0.25, 0.25, 0.5, 0.5));
        assert!(decode(&boxes[..4], &logits, &anchors, MIN_SCORE).is_err());
    }

    #[test]
    fn the_shipped_classes_use_rekognition_names_parents_and_categories() {
        let classes = ObjectClasses::shipped().unwrap();
        let person = classes.get(4).unwrap();
        assert_eq!(
            (person.oid.as_str(), person.name.as_str()),
            ("Person", "Person")
        );
        assert_eq!(person.categories, ["Person Description"]);
        let dog = classes.get(20).unwrap();
        assert_eq!(dog.parents, ["Canine", "Pet", "Mammal", "Animal"]);
        let car = classes.get(23).unwrap();
        assert_eq!(car.parents, ["Vehicle", "Transportation"]);
        assert_eq!(classes.get(9).unwrap().name, "Mouse");
        assert!(classes.get(0).is_none() && classes.get(24).is_none());
        assert!(ObjectClasses::from_json(r#"{"labels":[]}"#).is_err());
    }

    #[test]
    fn detections_become_labels_with_instances_and_parent_labels() {
        let classes = ObjectClasses::shipped().unwrap();
        let detections = vec![
            ObjectDetection {
                class: 23,
                score: 0.8,
                bounding_box: bbox(0.1, 0.2, 0.3, 0.4),
            },
            ObjectDetection {
                class: 23,
                score: 0.6,
                bounding_box: bbox(0.6, 0.2, 0.3, 0.4),
            },
            ObjectDetection {
                class: 18,
                score: 0.9,
                bounding_box: bbox(0.1, 0.2, 0.3, 0.4),
            },
        ];
        let labels = classes.labels(&detections);
        let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["Transportation", "Vehicle", "Car"]);
        let car = &labels[2];
        assert!((car.confidence - 80.0).abs() < 1e-4);
        assert_eq!(car.instances.len(), 2);
        assert!((car.instances[1].confidence - 60.0).abs() < 1e-4);
        assert_eq!(car.instances[0].bounding_box, bbox(0.1, 0.2, 0.3, 0.4));
        // Vehicle is both a detected class (its own box) and the car's parent: one entry.
        let vehicle = &labels[1];
        assert!((vehicle.confidence - 90.0).abs() < 1e-4);
        assert_eq!(vehicle.instances.len(), 1);
        assert_eq!(vehicle.parents, ["Transportation"]);
        assert!(labels[0].instances.is_empty());
        assert!(classes.labels(&[]).is_empty());
    }
}
