//! The geometry of the tiled full-size text detection: a grid of cores that cover the
//! detector's input exactly once, each run with a margin of context around it; which tiles the
//! presence pass's map points at; and which neighbours a run tile's text spills towards.
//!
//! All sizes are in pixels of the full detection input. Cores and margins are multiples of 32
//! (the detector's stride), so a tile's input, clipped at the image's edge, is a multiple of 32
//! on both sides whenever the input is, and a tile sees the same 32 px cells the whole image
//! would.

/// A half-open rectangle `[x0, x1) × [y0, y1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Rect {
    pub fn width(&self) -> u32 {
        self.x1 - self.x0
    }

    pub fn height(&self) -> u32 {
        self.y1 - self.y0
    }
}

/// The tiles over a `width`×`height` detection input.
#[derive(Debug, Clone)]
pub(super) struct Grid {
    width: u32,
    height: u32,
    margin: u32,
    /// The cores' spans `[start, end)` across and down.
    xs: Vec<(u32, u32)>,
    ys: Vec<(u32, u32)>,
}

impl Grid {
    /// Cores of at most `core` px a side (balanced, so no sliver is left at the edge), each run
    /// with `margin` px of context on every side that has image there.
    pub fn new(width: u32, height: u32, core: u32, margin: u32) -> Self {
        Grid {
            width,
            height,
            margin,
            xs: spans(width, core),
            ys: spans(height, core),
        }
    }

    /// The number of tiles.
    pub fn len(&self) -> usize {
        self.xs.len() * self.ys.len()
    }

    fn cols(&self) -> usize {
        self.xs.len()
    }

    /// The part of the input tile `i` is responsible for.
    pub fn core(&self, i: usize) -> Rect {
        let (x0, x1) = self.xs[i % self.cols()];
        let (y0, y1) = self.ys[i / self.cols()];
        Rect { x0, y0, x1, y1 }
    }

    /// What the detector sees for tile `i`: its core and the margin around it, clipped to the
    /// input.
    pub fn input(&self, i: usize) -> Rect {
        let c = self.core(i);
        Rect {
            x0: c.x0.saturating_sub(self.margin),
            y0: c.y0.saturating_sub(self.margin),
            x1: (c.x1 + self.margin).min(self.width),
            y1: (c.y1 + self.margin).min(self.height),
        }
    }

    /// The tiles whose cores the pixels of `map` (`map_w`×`map_h`, the same image at another
    /// size) over `threshold` touch, once each pixel is mapped to this grid's size and grown by
    /// `dilate` px on every side.
    pub fn seeds(
        &self,
        map: &[f32],
        map_w: usize,
        map_h: usize,
        threshold: f32,
        dilate: u32,
    ) -> Vec<bool> {
        let mut hit = vec![false; self.len()];
        if map_w == 0 || map_h == 0 {
            return hit;
        }
        let sx = self.width as f32 / map_w as f32;
        let sy = self.height as f32 / map_h as f32;
        let dilate = dilate as f32;
        // Which core spans a range of positions falls in (`spans` sorted and contiguous).
        let touched = |spans: &[(u32, u32)], from: f32, to: f32| {
            let first = spans.partition_point(|&(_, end)| (end as f32) <= from);
            let last = spans.partition_point(|&(start, _)| (start as f32) < to);
            first..last.max(first)
        };
        for (py, row) in map.chunks_exact(map_w).take(map_h).enumerate() {
            let mut hot = row
                .iter()
                .enumerate()
                .filter(|(_, &p)| p > threshold)
                .peekable();
            if hot.peek().is_none() {
                continue;
            }
            let ys = touched(
                &self.ys,
                py as f32 * sy - dilate,
                (py + 1) as f32 * sy + dilate,
            );
            for (px, _) in hot {
                let xs = touched(
                    &self.xs,
                    px as f32 * sx - dilate,
                    (px + 1) as f32 * sx + dilate,
                );
                for row in ys.clone() {
                    for col in xs.clone() {
                        hit[row * self.cols() + col] = true;
                    }
                }
            }
        }
        hit
    }

    /// The neighbours of tile `i` that its text may continue into: those next to a band of
    /// `band` px along its core's edge (or a `band`×`band` corner, for a diagonal neighbour)
    /// holding a pixel of `map` (the stitched full-size map) over `threshold`.
    pub fn spills(&self, i: usize, map: &[f32], threshold: f32, band: u32) -> Vec<usize> {
        let c = self.core(i);
        let (col, row) = ((i % self.cols()) as i64, (i / self.cols()) as i64);
        let band_w = band.min(c.width());
        let band_h = band.min(c.height());
        let w = self.width as usize;
        let hot = |r: Rect| {
            (r.y0..r.y1).any(|y| {
                let line = &map[y as usize * w..(y as usize + 1) * w];
                line[r.x0 as usize..r.x1 as usize]
                    .iter()
                    .any(|&p| p > threshold)
            })
        };
        let mut out = Vec::new();
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                if dx == 0 && dy == 0 {
                    continue;
                }
                let (ncol, nrow) = (col + dx, row + dy);
                if ncol < 0
                    || nrow < 0
                    || ncol >= self.cols() as i64
                    || nrow >= self.ys.len() as i64
                {
                    continue;
                }
                let (x0, x1) = match dx {
                    -1 => (c.x0, c.x0 + band_w),
                    1 => (c.x1 - band_w, c.x1),
                    _ => (c.x0, c.x1),
                };
                let (y0, y1) = match dy {
                    -1 => (c.y0, c.y0 + band_h),
                    1 => (c.y1 - band_h, c.y1),
                    _ => (c.y0, c.y1),
                };
                if hot(Rect { x0, y0, x1, y1 }) {
                    out.push(nrow as usize * self.cols() + ncol as usize);
                }
            }
        }
        out
    }
}

/// `len` split into the fewest spans of at most `core` px, as equal as whole 32 px cells allow
/// (the first ones a cell larger), the last one ending at `len`.
fn spans(len: u32, core: u32) -> Vec<(u32, u32)> {
    let cells = len.div_ceil(32).max(1);
    let per = (core / 32).max(1);
    let n = cells.div_ceil(per);
    let (base, extra) = (cells / n, cells % n);
    let mut out = Vec::with_capacity(n as usize);
    let mut start = 0;
    for k in 0..n {
        let size = (base + u32::from(k < extra)) * 32;
        let end = (start + size).min(len);
        out.push((start, end));
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_cover_the_input_exactly_once_and_margins_are_clipped() {
        for (w, h, core, margin) in [
            (2016, 1504, 768, 64),
            (2016, 1504, 512, 32),
            (1312, 736, 1024, 64),
            (736, 4000, 640, 96),
            (100, 70, 512, 64),
            (32, 32, 32, 32),
        ] {
            let grid = Grid::new(w, h, core, margin);
            let mut count = vec![0u8; (w * h) as usize];
            for i in 0..grid.len() {
                let c = grid.core(i);
                assert!(c.width() <= core && c.height() <= core, "{c:?}");
                assert!(c.width() > 0 && c.height() > 0, "{c:?}");
                for y in c.y0..c.y1 {
                    for x in c.x0..c.x1 {
                        count[(y * w + x) as usize] += 1;
                    }
                }
                let input = grid.input(i);
                assert_eq!(input.x0, c.x0.saturating_sub(margin));
                assert_eq!(input.y0, c.y0.saturating_sub(margin));
                assert_eq!(input.x1, (c.x1 + margin).min(w));
                assert_eq!(input.y1, (c.y1 + margin).min(h));
                assert!(input.width() <= core + 2 * margin, "{input:?}");
                assert!(input.height() <= core + 2 * margin, "{input:?}");
                if w % 32 == 0 && h % 32 == 0 {
                    assert_eq!(input.width() % 32, 0, "{input:?}");
                    assert_eq!(input.height() % 32, 0, "{input:?}");
                }
            }
            assert!(
                count.iter().all(|&n| n == 1),
                "{w}×{h} core {core}: every pixel in exactly one core"
            );
        }
    }

    #[test]
    fn cores_are_balanced() {
        // 2016 = 63 cells; at most 24 cells a core → 3 cores of 21 cells.
        assert_eq!(spans(2016, 768), vec![(0, 672), (672, 1344), (1344, 2016)]);
        assert_eq!(spans(1504, 768), vec![(0, 768), (768, 1504)]);
        assert_eq!(spans(512, 768), vec![(0, 512)]);
    }

    #[test]
    fn the_presence_map_seeds_the_tiles_under_its_text() {
        let grid = Grid::new(2048, 1024, 512, 64); // 4 × 2 tiles
        let (mw, mh) = (512, 256); // a quarter of the size each way
        let mut map = vec![0f32; mw * mh];
        map[10 * mw + 10] = 0.9; // top-left tile, far from its edges
        map[200 * mw + 300] = 0.4; // (1200, 800): bottom row, third column
        map[5 * mw + 400] = 0.2; // under the threshold: ignored
        let hit = grid.seeds(&map, mw, mh, 0.3, 16);
        let run: Vec<usize> = (0..grid.len()).filter(|&i| hit[i]).collect();
        assert_eq!(run, vec![0, 6]);
        // Dilation reaches across a core's edge: x = 127 → [508, 512) + 16 px.
        let mut map = vec![0f32; mw * mh];
        map[10 * mw + 127] = 0.9;
        let hit = grid.seeds(&map, mw, mh, 0.3, 16);
        let run: Vec<usize> = (0..grid.len()).filter(|&i| hit[i]).collect();
        assert_eq!(run, vec![0, 1]);
    }

    #[test]
    fn text_at_a_cores_edge_spills_into_that_neighbour_only() {
        let (w, h) = (1536u32, 1024u32);
        let grid = Grid::new(w, h, 512, 64); // 3 × 2 tiles, tile 1 is the top middle
        let mut map = vec![0f32; (w * h) as usize];
        assert!(grid.spills(1, &map, 0.3, 16).is_empty());
        // Text ending 5 px before tile 1's right edge, mid-height: tile 2 only.
        map[(200 * w + 1019) as usize] = 0.8;
        assert_eq!(grid.spills(1, &map, 0.3, 16), vec![2]);
        // Text in its bottom-left corner: left, below, and the diagonal.
        map[(510 * w + 515) as usize] = 0.8;
        let mut spills = grid.spills(1, &map, 0.3, 16);
        spills.sort_unstable();
        assert_eq!(spills, vec![0, 2, 3, 4]);
        // Outside the core (in tile 0's core) does not count for tile 1.
        let mut map = vec![0f32; (w * h) as usize];
        map[(200 * w + 500) as usize] = 0.8;
        assert!(grid.spills(1, &map, 0.3, 16).is_empty());
    }
}
