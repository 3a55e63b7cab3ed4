//! The photos behind the records, as the pages show them: a small thumbnail for the grid and a
//! larger preview for a photo's page — never the original file. Each is made once from the
//! original (EXIF orientation applied) and kept in a cache folder outside the photo folders.
//!
//! Serving only these renditions is also what keeps a photo's metadata private: a rendition is
//! encoded from decoded pixels alone, so the GPS position, camera serials, EXIF, XMP, IPTC,
//! comments and embedded thumbnails of the original never reach a browser. Stripping originals
//! instead would mean knowing every container each format hides metadata in (APPn segments,
//! MPF, data after EOI, PNG text chunks, WebP chunks) and getting each one right.
//!
//! A record names its photo by bucket (a folder) and key. The photo is served only when that
//! folder is one the console serves and the key names a file inside it: `..`, absolute keys and
//! symlinks that leave the folder are refused by [`spotlight_storage::resolve`], and anything
//! refused is a plain 404.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder as _, ImageReader, Limits};
use sha2::{Digest, Sha256};

/// Which rendition of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendition {
    /// For the gallery's cards.
    Thumbnail,
    /// For a photo's own page.
    Preview,
}

impl Rendition {
    /// The longest side, in pixels: twice the size it is shown at, for high-density screens.
    pub fn longest_side(self) -> u32 {
        match self {
            Rendition::Thumbnail => 480,
            Rendition::Preview => 1600,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Rendition::Thumbnail => "thumbnail",
            Rendition::Preview => "preview",
        }
    }
}

/// Why a photo cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The record's folder is not served, or its key names no file inside it.
    #[error("the photo is not in a served folder: {0}")]
    NotServed(String),
    /// The file is there but is not an image we can draw (or is too large to decode).
    #[error("the photo cannot be drawn: {0}")]
    Undrawable(String),
    /// The cache could not be written.
    #[error("the thumbnail cache failed: {0}")]
    Cache(#[from] std::io::Error),
}

/// The photo folders the console may read, and where it keeps what it draws.
#[derive(Debug, Clone)]
pub struct Photos {
    folders: Option<Vec<PathBuf>>,
    cache: PathBuf,
}

/// The largest image we decode: what validation accepts (10,000 px a side) and no more memory
/// than a 10,000 × 10,000 RGBA picture needs.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(spotlight_core::limits::MAX_IMAGE_SIDE);
    limits.max_image_height = Some(spotlight_core::limits::MAX_IMAGE_SIDE);
    limits.max_alloc = Some(400 * 1024 * 1024);
    limits
}

impl Photos {
    /// Serves photos from `folders` (all the folders the store remembers when `None`), keeping
    /// thumbnails in `cache`.
    pub fn new(folders: Option<Vec<PathBuf>>, cache: PathBuf) -> Self {
        let folders = folders.map(|folders| {
            folders
                .into_iter()
                .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
                .collect()
        });
        Photos { folders, cache }
    }

    /// The cache folder.
    pub fn cache(&self) -> &Path {
        &self.cache
    }

    /// The file of the photo `key` in `bucket`, if the console serves it. `remembered` are the
    /// folders the store has seen, used when no folders were given.
    pub fn locate(
        &self,
        bucket: &str,
        key: &str,
        remembered: &[String],
    ) -> Result<PathBuf, PhotoError> {
        let refused = || PhotoError::NotServed(format!("{key:?} in {bucket:?}"));
        let folder = std::fs::canonicalize(bucket).map_err(|_| refused())?;
        let served = match &self.folders {
            Some(folders) => folders.contains(&folder),
            None => remembered
                .iter()
                .any(|r| std::fs::canonicalize(r).is_ok_and(|r| r == folder)),
        };
        if !served {
            return Err(refused());
        }
        spotlight_storage::resolve(&folder.to_string_lossy(), key).map_err(|_| refused())
    }

    /// Where the JPEG of `source` at `rendition` is cached, drawn or not. The entry is named by
    /// the file's path, then its size and modification time, so a changed photo gets a new one
    /// and every entry of one photo shares a beginning ([`Photos::forget`]).
    pub fn cache_path(&self, source: &Path, rendition: Rendition) -> Result<PathBuf, PhotoError> {
        let metadata = std::fs::metadata(source)?;
        let modified = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let mut digest = Sha256::new();
        digest.update(source.as_os_str().as_encoded_bytes());
        digest.update(metadata.len().to_le_bytes());
        digest.update(modified.to_le_bytes());
        digest.update(rendition.name().as_bytes());
        let name = hex(&digest.finalize());
        Ok(self
            .cache
            .join(format!("{}-{name}.jpg", photo_prefix(source))))
    }

    /// Removes every cached rendition of the photo at `source` (which may be gone already),
    /// as a takedown must; returns how many files were removed.
    pub fn forget(&self, source: &Path) -> std::io::Result<usize> {
        let prefix = format!("{}-", photo_prefix(source));
        let entries = match std::fs::read_dir(&self.cache) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(error),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    // A console drawing and a delete at once: gone either way.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(removed)
    }

    /// The cached JPEG of `source` at `rendition` ([`Photos::cache_path`]), drawn now if it is
    /// not in the cache yet.
    pub fn rendition(&self, source: &Path, rendition: Rendition) -> Result<PathBuf, PhotoError> {
        let cached = self.cache_path(source, rendition)?;
        if cached.is_file() {
            return Ok(cached);
        }
        let image = draw(source, rendition.longest_side())?;
        std::fs::create_dir_all(&self.cache)?;
        // Written aside and renamed into place, so a reader never sees half a file and two
        // requests drawing the same photo at once both end with a whole one.
        let partial = tempfile::NamedTempFile::new_in(&self.cache)?;
        {
            let mut writer = BufWriter::new(partial.as_file());
            // Pixels only: no EXIF, XMP or ICC profile is handed to the encoder (see the
            // module's doc), so its JFIF header is the only segment besides the image data.
            JpegEncoder::new_with_quality(&mut writer, 82)
                .encode_image(&image)
                .map_err(|e| PhotoError::Undrawable(e.to_string()))?;
            writer.flush()?;
        }
        partial
            .persist(&cached)
            .map_err(|e| PhotoError::Cache(e.error))?;
        Ok(cached)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What every cached rendition of the photo at `source` is named with first: a digest of its
/// path alone, so that a deleted photo's renditions are found without the file.
fn photo_prefix(source: &Path) -> String {
    hex(&Sha256::digest(source.as_os_str().as_encoded_bytes())[..16])
}

/// Decodes `source` within [`limits`], turns it upright as its EXIF orientation says, shrinks it
/// to fit `longest` and flattens any transparency onto white.
pub fn draw(source: &Path, longest: u32) -> Result<DynamicImage, PhotoError> {
    let undrawable = |e: image::ImageError| PhotoError::Undrawable(e.to_string());
    let mut reader = ImageReader::new(BufReader::new(File::open(source)?))
        .with_guessed_format()
        .map_err(PhotoError::Cache)?;
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(undrawable)?;
    let orientation = decoder.orientation().map_err(undrawable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(undrawable)?;
    image.apply_orientation(orientation);
    if image.width() > longest || image.height() > longest {
        image = image.thumbnail(longest, longest);
    }
    Ok(DynamicImage::ImageRgb8(on_white(image)))
}

fn on_white(image: DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend =
            |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawing_turns_the_photo_upright_and_shrinks_it() {
        let dir = tempfile::tempdir().unwrap();
        // 60 × 20 pixels stored, EXIF orientation 6 (rotate 90° clockwise to view): 20 × 60.
        let path = dir.path().join("sideways.jpg");
        std::fs::write(&path, spotlight_fixtures::jpeg_with_orientation(60, 20, 6)).unwrap();
        let image = draw(&path, 480).unwrap();
        assert_eq!((image.width(), image.height()), (20, 60));

        let big = dir.path().join("big.png");
        std::fs::write(&big, spotlight_fixtures::png(1000, 500)).unwrap();
        let image = draw(&big, 480).unwrap();
        assert_eq!((image.width(), image.height()), (480, 240));
    }

    #[test]
    fn a_rendition_is_drawn_once_and_cached_outside_the_folder() {
        let photos_dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let photo = photos_dir.path().join("a.png");
        std::fs::write(&photo, spotlight_fixtures::png(800, 600)).unwrap();
        let photos = Photos::new(
            Some(vec![photos_dir.path().to_path_buf()]),
            cache.path().into(),
        );
        let first = photos.rendition(&photo, Rendition::Thumbnail).unwrap();
        assert!(first.starts_with(cache.path()));
        let made = std::fs::metadata(&first).unwrap().modified().unwrap();
        let second = photos.rendition(&photo, Rendition::Thumbnail).unwrap();
        assert_eq!(first, second);
        assert_eq!(
            std::fs::metadata(&second).unwrap().modified().unwrap(),
            made
        );
        let preview = photos.rendition(&photo, Rendition::Preview).unwrap();
        assert_ne!(preview, first);
        let thumb = image::open(&first).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (480, 360));
        assert_eq!(std::fs::read_dir(photos_dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn renditions_carry_none_of_the_originals_metadata() {
        let photos_dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let photo = photos_dir.path().join("paris.jpg");
        std::fs::write(&photo, spotlight_fixtures::PHOTO_WITH_METADATA).unwrap();
        let photos = Photos::new(
            Some(vec![photos_dir.path().to_path_buf()]),
            cache.path().into(),
        );
        let original = image::load_from_memory(spotlight_fixtures::PHOTO_WITH_METADATA)
            .unwrap()
            .into_rgb8();
        for rendition in [Rendition::Thumbnail, Rendition::Preview] {
            let jpeg = std::fs::read(photos.rendition(&photo, rendition).unwrap()).unwrap();
            assert_eq!(
                spotlight_fixtures::metadata_in_jpeg(&jpeg),
                Vec::<String>::new(),
                "{rendition:?}"
            );
            let (segments, _) = spotlight_fixtures::jpeg_segments(&jpeg).unwrap();
            assert!(
                segments
                    .iter()
                    .all(|s| !(0xe1..=0xef).contains(&s.marker) && s.marker != 0xfe),
                "{rendition:?}: only JFIF's APP0 is kept"
            );
            let drawn = image::load_from_memory(&jpeg).unwrap().into_rgb8();
            let (width, height) = spotlight_fixtures::PHOTO_WITH_METADATA_SIZE;
            let longest = rendition.longest_side();
            if longest >= width {
                // Not shrunk: the same pixels, but for JPEG's loss.
                assert_eq!(drawn.dimensions(), (width, height));
                let diff: u64 = drawn
                    .as_raw()
                    .iter()
                    .zip(original.as_raw())
                    .map(|(a, b)| u64::from(a.abs_diff(*b)))
                    .sum();
                let mean = diff as f64 / drawn.as_raw().len() as f64;
                assert!(mean < 4.0, "{rendition:?} differs by {mean} a channel");
            } else {
                assert_eq!(drawn.width(), longest);
                let expected = f64::from(height) * f64::from(longest) / f64::from(width);
                assert!((f64::from(drawn.height()) - expected).abs() <= 1.0);
            }
        }
    }

    #[test]
    fn undrawable_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("note.jpg");
        std::fs::write(&text, b"just some text").unwrap();
        assert!(matches!(draw(&text, 480), Err(PhotoError::Undrawable(_))));
        let bomb = dir.path().join("bomb.png");
        std::fs::write(&bomb, spotlight_fixtures::png_claiming(30_000, 30_000)).unwrap();
        assert!(matches!(draw(&bomb, 480), Err(PhotoError::Undrawable(_))));
    }

    #[test]
    fn only_files_inside_a_served_folder_are_located() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("in.jpg"), b"x").unwrap();
        std::fs::write(outside.path().join("secret.jpg"), b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            outside.path().join("secret.jpg"),
            root.path().join("link.jpg"),
        )
        .unwrap();
        let bucket = std::fs::canonicalize(root.path()).unwrap();
        let bucket = bucket.to_string_lossy();
        let other = std::fs::canonicalize(outside.path()).unwrap();
        let other = other.to_string_lossy();
        let photos = Photos::new(Some(vec![root.path().to_path_buf()]), "/nonexistent".into());
        assert!(photos.locate(&bucket, "in.jpg", &[]).is_ok());
        let secret = outside.path().join("secret.jpg");
        for key in [
            "../secret.jpg",
            "link.jpg",
            secret.to_str().unwrap(),
            "",
            ".",
            "%2e%2e/secret.jpg",
            "..%2Fsecret.jpg",
        ] {
            assert!(
                photos.locate(&bucket, key, &[]).is_err(),
                "{key:?} was served"
            );
        }
        assert!(photos.locate(&other, "secret.jpg", &[]).is_err());
        // Without folders given, the store's remembered ones are served, and only those.
        let remembered = Photos::new(None, "/nonexistent".into());
        assert!(remembered
            .locate(&bucket, "in.jpg", &[bucket.to_string()])
            .is_ok());
        assert!(remembered
            .locate(&other, "secret.jpg", &[bucket.to_string()])
            .is_err());
    }
}
