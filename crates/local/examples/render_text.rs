//! Renders the text test images (`tests/photos/text/*.png`) with a real font, so the truth is
//! known: each image's lines are in `tests/photos/text/TRUTH.tsv`. Run from the crate folder:
//!
//! ```sh
//! cargo run -p spotlight-local --example render_text -- /usr/share/fonts/truetype/dejavu tests/photos/text
//! ```
//!
//! The font is DejaVu (Debian `fonts-dejavu-core`; Bitstream Vera licence, free to redistribute
//! the rendered images).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ab_glyph::FontVec;
use image::{Rgb, RgbImage};
use spotlight_fixtures::draw_text;

/// One line: font file, size in px, colour, x, y (top), text.
type Line = (&'static str, f32, [u8; 3], f32, f32, &'static str);

/// One image: its name, size, background, and lines.
struct Page {
    name: &'static str,
    size: (u32, u32),
    background: [u8; 3],
    lines: &'static [Line],
}

const SANS: &str = "DejaVuSans.ttf";
const BOLD: &str = "DejaVuSans-Bold.ttf";
const SERIF: &str = "DejaVuSerif.ttf";
const MONO: &str = "DejaVuSansMono.ttf";

const PAGES: &[Page] = &[
    Page {
        name: "sign",
        size: (640, 360),
        background: [245, 240, 225],
        lines: &[
            (BOLD, 72.0, [20, 20, 20], 60.0, 80.0, "OPEN DAILY"),
            (
                SANS,
                40.0,
                [150, 20, 20],
                60.0,
                200.0,
                "Fresh coffee and pastries",
            ),
        ],
    },
    Page {
        name: "paragraph",
        size: (800, 420),
        background: [255, 255, 255],
        lines: &[
            (
                SERIF,
                30.0,
                [0, 0, 0],
                40.0,
                40.0,
                "The quick brown fox jumps over",
            ),
            (
                SERIF,
                30.0,
                [0, 0, 0],
                40.0,
                100.0,
                "the lazy dog near the river bank.",
            ),
            (
                SERIF,
                30.0,
                [0, 0, 0],
                40.0,
                160.0,
                "Spotlight reads every photo that",
            ),
            (
                SERIF,
                30.0,
                [0, 0, 0],
                40.0,
                220.0,
                "users submit to be featured.",
            ),
            (
                SERIF,
                30.0,
                [0, 0, 0],
                40.0,
                280.0,
                "Marketing searches them by label.",
            ),
        ],
    },
    Page {
        name: "dark",
        size: (700, 300),
        background: [20, 40, 90],
        lines: &[
            (BOLD, 56.0, [255, 255, 255], 50.0, 60.0, "SUMMER SALE"),
            (
                SANS,
                36.0,
                [255, 210, 60],
                50.0,
                170.0,
                "Save 25% on all tickets",
            ),
        ],
    },
    Page {
        name: "menu",
        size: (640, 420),
        background: [250, 250, 250],
        lines: &[
            (MONO, 32.0, [30, 30, 30], 40.0, 40.0, "Espresso      3.50"),
            (MONO, 32.0, [30, 30, 30], 40.0, 110.0, "Cappuccino    4.20"),
            (MONO, 32.0, [30, 30, 30], 40.0, 180.0, "Green tea     2.75"),
            (MONO, 32.0, [30, 30, 30], 40.0, 250.0, "Croissant     2.10"),
            (
                MONO,
                24.0,
                [90, 90, 90],
                40.0,
                330.0,
                "Open 7am to 6pm, Monday to Saturday",
            ),
        ],
    },
    Page {
        name: "small",
        size: (600, 260),
        background: [255, 255, 255],
        lines: &[
            (
                SANS,
                20.0,
                [0, 0, 0],
                30.0,
                30.0,
                "Photos must be at least 80 pixels wide.",
            ),
            (
                SANS,
                20.0,
                [0, 0, 0],
                30.0,
                80.0,
                "Uploads larger than 15 MB are refused.",
            ),
            (
                SANS,
                20.0,
                [0, 0, 0],
                30.0,
                130.0,
                "Contact support@example.com for help.",
            ),
            (
                SANS,
                20.0,
                [0, 0, 0],
                30.0,
                180.0,
                "Version 2.4.1, released 12 March 2026",
            ),
        ],
    },
    Page {
        name: "banner",
        size: (900, 120),
        background: [255, 230, 0],
        lines: &[(BOLD, 64.0, [0, 0, 0], 40.0, 20.0, "WELCOME TO THE HARBOUR")],
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(fonts), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: render_text FONT_DIR OUT_DIR");
        return ExitCode::from(2);
    };
    match render_all(Path::new(fonts), Path::new(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render_all(fonts: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let mut truth = String::from("# image\tlines, separated by |\n");
    for page in PAGES {
        let mut img = RgbImage::from_pixel(page.size.0, page.size.1, Rgb(page.background));
        for &(font, px, colour, x, y, text) in page.lines {
            let font = FontVec::try_from_vec(std::fs::read(fonts.join(font))?)?;
            draw_text(&mut img, &font, px, colour, (x, y), text);
        }
        let path: PathBuf = out.join(format!("{}.png", page.name));
        img.save(&path)?;
        let lines: Vec<&str> = page.lines.iter().map(|l| l.5).collect();
        writeln!(truth, "{}.png\t{}", page.name, lines.join("|"))?;
        eprintln!("wrote {}", path.display());
    }
    std::fs::write(out.join("TRUTH.tsv"), truth)?;
    Ok(())
}
