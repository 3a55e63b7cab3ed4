//! The validate step against real image bytes in an in-memory bucket.

use spotlight_core::contracts::{ImageFacts, ImageFormat, ObjectRequest};
use spotlight_core::fakes::MemoryObjects;
use spotlight_core::{ErrorName, StepError};
use spotlight_fixtures as fixtures;
use spotlight_validate::{handle, Limits, HEAD_BYTES, TAIL_BYTES};

const BUCKET: &str = "uploads";

async fn validate(key: &str, bytes: Vec<u8>) -> (Result<ImageFacts, StepError>, MemoryObjects) {
    let objects = MemoryObjects::new();
    objects.insert(BUCKET, key, bytes);
    let result = handle(
        &ObjectRequest::new(BUCKET, key),
        &objects,
        &Limits::default(),
    )
    .await;
    (result, objects)
}

async fn rejection(bytes: Vec<u8>) -> (ErrorName, String) {
    match validate("photo.jpg", bytes).await.0 {
        Ok(facts) => panic!("expected a rejection, got {facts:?}"),
        Err(error) => (error.name(), error.to_string()),
    }
}

#[tokio::test]
async fn a_jpeg_is_described_from_its_header() {
    let (facts, _) = validate("a.jpg", fixtures::jpeg(640, 480)).await;
    let facts = facts.unwrap();
    assert_eq!(facts.format, ImageFormat::Jpeg);
    assert_eq!((facts.width, facts.height), (640, 480));
    assert_eq!(facts.bucket, BUCKET);
    assert_eq!(facts.key, "a.jpg");
    assert!(facts.revision.starts_with("1:"), "{}", facts.revision);
}

#[tokio::test]
async fn a_png_is_described_from_its_header() {
    let bytes = fixtures::png(300, 200);
    let size = bytes.len() as u64;
    let (facts, _) = validate("b.png", bytes).await;
    let facts = facts.unwrap();
    assert_eq!(facts.format, ImageFormat::Png);
    assert_eq!((facts.width, facts.height), (300, 200));
    assert_eq!(facts.size_bytes, size);
}

#[tokio::test]
async fn the_format_comes_from_the_bytes_not_the_name() {
    let (facts, _) = validate("actually-a-png.jpg", fixtures::png(100, 100)).await;
    assert_eq!(facts.unwrap().format, ImageFormat::Png);
}

#[tokio::test]
async fn only_the_head_and_the_tail_are_read() {
    let bytes = fixtures::jpeg(2400, 1800);
    let size = bytes.len() as u64;
    assert!(
        size > 4 * HEAD_BYTES,
        "the fixture should be large, is {size}"
    );
    let (facts, objects) = validate("big.jpg", bytes).await;
    facts.unwrap();
    let reads = objects.reads();
    assert_eq!(reads, vec![0..HEAD_BYTES, size - TAIL_BYTES..size]);
    assert!(objects.bytes_read() < size / 4);
}

#[tokio::test]
async fn a_frame_header_past_the_first_read_is_found_with_more_ranges() {
    let bytes = fixtures::jpeg_with_big_metadata(120, 90, 3);
    let (facts, objects) = validate("exif.jpg", bytes).await;
    let facts = facts.unwrap();
    assert_eq!((facts.width, facts.height), (120, 90));
    assert!(objects.reads().len() > 2, "{:?}", objects.reads());
}

#[tokio::test]
async fn too_much_metadata_before_the_frame_header_is_refused() {
    let (name, message) = rejection(fixtures::jpeg_with_big_metadata(120, 90, 40)).await;
    assert_eq!(name, ErrorName::Corrupt, "{message}");
    assert!(message.contains("frame header not found"), "{message}");
}

#[tokio::test]
async fn an_empty_object_is_corrupt() {
    let (name, message) = rejection(Vec::new()).await;
    assert_eq!(name, ErrorName::Corrupt);
    assert!(message.contains("empty"), "{message}");
}

#[tokio::test]
async fn truncated_files_are_corrupt() {
    let jpeg = fixtures::jpeg(400, 300);
    let png = fixtures::png(400, 300);
    let cases = [
        (
            "jpeg cut in half",
            fixtures::truncated(jpeg.clone(), jpeg.len() / 2),
        ),
        (
            "jpeg without its last byte",
            fixtures::truncated(jpeg.clone(), jpeg.len() - 1),
        ),
        (
            "jpeg cut in its header",
            fixtures::truncated(jpeg.clone(), 40),
        ),
        ("jpeg signature only", fixtures::truncated(jpeg, 2)),
        (
            "png cut in half",
            fixtures::truncated(png.clone(), png.len() / 2),
        ),
        (
            "png without IEND",
            fixtures::truncated(png.clone(), png.len() - 12),
        ),
        ("png cut in IHDR", fixtures::truncated(png.clone(), 20)),
        ("png signature only", fixtures::truncated(png, 5)),
    ];
    for (case, bytes) in cases {
        let (name, message) = rejection(bytes).await;
        assert_eq!(name, ErrorName::Corrupt, "{case}: {message}");
    }
}

#[tokio::test]
async fn a_thumbnail_end_marker_does_not_hide_a_truncated_image() {
    let (whole, thumbnail_end) = fixtures::jpeg_with_thumbnail();
    let (facts, _) = validate("thumb.jpg", whole.clone()).await;
    assert!(facts.is_ok(), "the untruncated file is valid: {facts:?}");
    // Cut inside the main image, close enough to the thumbnail that the tail window still
    // covers the thumbnail's end marker.
    let keep = thumbnail_end + 300;
    assert!(keep < whole.len() && (keep - thumbnail_end) < TAIL_BYTES as usize);
    let (name, message) = rejection(fixtures::truncated(whole, keep)).await;
    assert_eq!(name, ErrorName::Corrupt, "{message}");
}

#[tokio::test]
async fn other_formats_are_unsupported_and_named() {
    let cases = [
        (
            "GIF",
            fixtures::encoded(100, 100, fixtures::ImageFormat::Gif),
        ),
        (
            "TIFF",
            fixtures::encoded(100, 100, fixtures::ImageFormat::Tiff),
        ),
        (
            "WebP",
            fixtures::encoded(100, 100, fixtures::ImageFormat::WebP),
        ),
        (
            "BMP",
            fixtures::encoded(100, 100, fixtures::ImageFormat::Bmp),
        ),
        ("HEIC", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec()),
    ];
    for (format, bytes) in cases {
        let (name, message) = rejection(bytes).await;
        assert_eq!(name, ErrorName::UnsupportedFormat, "{format}: {message}");
        assert!(message.contains(format), "{format}: {message}");
    }
}

#[tokio::test]
async fn a_text_file_named_jpg_is_unsupported() {
    let (name, message) = rejection(b"hello, I am definitely a photo\n".to_vec()).await;
    assert_eq!(name, ErrorName::UnsupportedFormat);
    assert!(message.contains("text"), "{message}");
}

#[tokio::test]
async fn sides_must_be_between_80_and_10000_pixels() {
    let cases = [
        ("1×1", fixtures::png(1, 1), Some(ErrorName::TooSmall)),
        ("79×200", fixtures::png(79, 200), Some(ErrorName::TooSmall)),
        ("80×80", fixtures::jpeg(80, 80), None),
        ("10000×80", fixtures::png(10_000, 80), None),
        (
            "10001×80",
            fixtures::png(10_001, 80),
            Some(ErrorName::TooLarge),
        ),
        (
            "20000×20000 JPEG",
            fixtures::jpeg_claiming(20_000, 20_000),
            Some(ErrorName::TooLarge),
        ),
        (
            "30000×30000 PNG bomb",
            fixtures::png_claiming(30_000, 30_000),
            Some(ErrorName::TooLarge),
        ),
    ];
    for (case, bytes, expected) in cases {
        let (result, _) = validate("sized.png", bytes).await;
        match (result, expected) {
            (Ok(_), None) => {}
            (Err(error), Some(name)) => assert_eq!(error.name(), name, "{case}: {error}"),
            (result, expected) => panic!("{case}: expected {expected:?}, got {result:?}"),
        }
    }
}

#[tokio::test]
async fn impossible_dimensions_are_corrupt() {
    let (name, _) = rejection(fixtures::png_claiming(0, 500)).await;
    assert_eq!(name, ErrorName::Corrupt);
    let (name, _) = rejection(fixtures::jpeg_claiming(500, 0)).await;
    assert_eq!(name, ErrorName::Corrupt);
}

#[tokio::test]
async fn an_object_over_15_mb_is_refused_before_reading_it() {
    let objects = MemoryObjects::new();
    objects.insert(BUCKET, "huge.jpg", vec![0xff; 15 * 1024 * 1024 + 1]);
    let error = handle(
        &ObjectRequest::new(BUCKET, "huge.jpg"),
        &objects,
        &Limits::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.name(), ErrorName::TooLarge);
    assert!(objects.reads().is_empty());
}

#[tokio::test]
async fn a_missing_object_is_not_found() {
    let objects = MemoryObjects::new();
    let error = handle(
        &ObjectRequest::new(BUCKET, "gone.jpg"),
        &objects,
        &Limits::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.name(), ErrorName::NotFound);
    assert!(error.to_string().contains("gone.jpg"));
    let error = handle(
        &ObjectRequest::new(BUCKET, ""),
        &objects,
        &Limits::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.name(), ErrorName::NotFound);
}

#[tokio::test]
async fn nasty_keys_pass_through_unchanged() {
    for key in [
        "with space.jpg",
        "a+b.jpg",
        "ünïcødé/猫.jpg",
        "../../etc/passwd.jpg",
        "%20.jpg",
    ] {
        let (facts, _) = validate(key, fixtures::jpeg(100, 100)).await;
        assert_eq!(facts.unwrap().key, key);
    }
}

#[tokio::test]
async fn the_revision_orders_uploads_by_sequencer_then_time() {
    let objects = MemoryObjects::new();
    objects.insert(BUCKET, "k.jpg", fixtures::jpeg(100, 100));
    let mut request = ObjectRequest::new(BUCKET, "k.jpg");
    let timed = handle(&request, &objects, &Limits::default())
        .await
        .unwrap();
    request.sequencer = Some("0062E99A88DC407460".to_owned());
    let first = handle(&request, &objects, &Limits::default())
        .await
        .unwrap();
    request.sequencer = Some("0062E99A88DC407461".to_owned());
    let second = handle(&request, &objects, &Limits::default())
        .await
        .unwrap();
    assert!(timed.revision < first.revision);
    assert!(first.revision < second.revision);
}

#[tokio::test]
async fn random_bytes_never_crash_and_are_always_refused() {
    for seed in 0..300u64 {
        let len = (seed as usize * 37) % 5000;
        let mut bytes = fixtures::noise(len, seed);
        // Give a third of them a valid signature, so the header parsers see garbage too.
        match seed % 3 {
            0 if len >= 3 => bytes[..3].copy_from_slice(b"\xff\xd8\xff"),
            1 if len >= 8 => bytes[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n"),
            _ => {}
        }
        let (result, _) = validate("noise.jpg", bytes).await;
        let error = result.expect_err("noise is never a valid image");
        assert!(error.name().is_rejection(), "seed {seed}: {error}");
    }
}

#[tokio::test]
async fn a_url_encoded_key_from_an_s3_notification_is_decoded() {
    let objects = MemoryObjects::new();
    objects.insert(BUCKET, "beach day+1 ünï.jpg", fixtures::jpeg(100, 100));
    let mut request = ObjectRequest::new(BUCKET, "beach+day%2B1+%C3%BCn%C3%AF.jpg");
    request.key_encoding = Some(spotlight_core::contracts::KeyEncoding::Url);
    let facts = handle(&request, &objects, &Limits::default())
        .await
        .unwrap();
    assert_eq!(facts.key, "beach day+1 ünï.jpg");
}

// Hostile files (issue 18): each refused from the bytes validation reads, with the reason.

#[tokio::test]
async fn an_exif_block_whose_ifd_offsets_loop_is_corrupt() {
    let (name, message) = rejection(fixtures::jpeg_with_exif_loop()).await;
    assert_eq!(name, ErrorName::Corrupt);
    assert!(message.contains("IFD offsets form a loop"), "{message}");

    // The same EXIF without the loop (IFD1 ends the chain) passes: only the loop is refused.
    let mut bytes = fixtures::jpeg_with_exif_loop();
    let at = bytes
        .windows(6)
        .position(|w| w == b"Exif\0\0")
        .expect("the fixture has EXIF")
        + 6;
    // IFD1 starts at TIFF offset 26; its next-IFD offset is its last 4 bytes (26 + 2 + 12).
    bytes[at + 40..at + 44].copy_from_slice(&0u32.to_le_bytes());
    let (facts, _) = validate("photo.jpg", bytes).await;
    assert_eq!((facts.unwrap().width), 100);
}

#[tokio::test]
async fn a_jpeg_declaring_65535_by_65535_is_too_large_from_its_header() {
    let (name, message) = rejection(fixtures::jpeg_claiming(65_535, 65_535)).await;
    assert_eq!(name, ErrorName::TooLarge);
    assert!(message.contains("65535×65535"), "{message}");
}
