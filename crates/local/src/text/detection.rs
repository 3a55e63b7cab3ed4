//! DB post-processing of the text detector's probability map: threshold and dilate, one
//! minimum-area rectangle per connected component, scored, unclipped, in reading order.

use super::geometry::{convex_hull, dist, inside, min_area_rect, order_points, Rect};
use super::Point;

/// A pixel over this probability is text (the reference's `thresh`).
pub(super) const BINARY_THRESHOLD: f32 = 0.3;
const BOX_THRESH: f32 = 0.5;
const UNCLIP_RATIO: f32 = 1.6;
const MAX_CANDIDATES: usize = 1000;
const MIN_BOX_SIDE: f32 = 3.0;

/// DB post-processing on the probability map (`w`×`h`); boxes in the coordinates of an image
/// `dest_w`×`dest_h`.
pub(super) fn db_boxes(
    pred: &[f32],
    w: usize,
    h: usize,
    dest_w: f32,
    dest_h: f32,
) -> Vec<[Point; 4]> {
    // Threshold, then dilate with a 2×2 kernel anchored at its centre: a pixel is set when it
    // or its left, upper or upper-left neighbour is.
    let bitmap: Vec<bool> = pred.iter().map(|&p| p > BINARY_THRESHOLD).collect();
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

/// Top to bottom, then left to right within 10 px of the same height (the reference's order).
pub(super) fn sort_reading_order(boxes: &mut [[Point; 4]]) {
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
    fn boxes_sort_top_to_bottom_then_left_to_right() {
        let quad = |x: f32, y: f32| [[x, y], [x + 10.0, y], [x + 10.0, y + 5.0], [x, y + 5.0]];
        let mut boxes = vec![quad(50.0, 3.0), quad(0.0, 40.0), quad(0.0, 0.0)];
        sort_reading_order(&mut boxes);
        assert_eq!(boxes[0][0], [0.0, 0.0]);
        assert_eq!(boxes[1][0], [50.0, 3.0]);
        assert_eq!(boxes[2][0], [0.0, 40.0]);
    }
}
