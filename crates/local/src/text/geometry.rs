//! The geometry the text pipeline needs without OpenCV: convex hulls, minimum-area rectangles,
//! point order, and cutting a quadrilateral out of the image with a perspective warp.

use image::RgbImage;
use spotlight_core::contracts::BoundingBox;

use super::Point;

/// Andrew's monotone chain; counter-clockwise, no repeated end point.
pub(super) fn convex_hull(mut points: Vec<Point>) -> Vec<Point> {
    points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let cross = |o: Point, a: Point, b: Point| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<Point> = Vec::with_capacity(points.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(points.iter())
        } else {
            Box::new(points.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// A rotated rectangle: centre, size along its own axes, and the direction of its `w` side.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rect {
    pub(super) cx: f32,
    pub(super) cy: f32,
    pub(super) w: f32,
    pub(super) h: f32,
    pub(super) angle: f32,
}

impl Rect {
    pub(super) fn short_side(&self) -> f32 {
        self.w.min(self.h)
    }

    pub(super) fn corners(&self) -> [Point; 4] {
        let (s, c) = self.angle.sin_cos();
        let (hw, hh) = (self.w / 2.0, self.h / 2.0);
        [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
            .map(|(dx, dy)| [self.cx + dx * c - dy * s, self.cy + dx * s + dy * c])
    }
}

/// The minimum-area rectangle around a convex hull (rotating calipers over its edges). Pixel
/// centres span one pixel less than the pixels do, as in OpenCV's `minAreaRect` on a contour.
pub(super) fn min_area_rect(hull: &[Point]) -> Option<Rect> {
    if hull.is_empty() {
        return None;
    }
    if hull.len() < 3 {
        let (a, b) = (hull[0], hull[hull.len() - 1]);
        return Some(Rect {
            cx: (a[0] + b[0]) / 2.0,
            cy: (a[1] + b[1]) / 2.0,
            w: dist(a, b),
            h: 0.0,
            angle: (b[1] - a[1]).atan2(b[0] - a[0]),
        });
    }
    let mut best: Option<(f32, Rect)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let len = dist(a, b);
        if len == 0.0 {
            continue;
        }
        let (ux, uy) = ((b[0] - a[0]) / len, (b[1] - a[1]) / len);
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in hull {
            let (dx, dy) = (p[0] - a[0], p[1] - a[1]);
            let u = dx * ux + dy * uy;
            let v = -dx * uy + dy * ux;
            min_u = min_u.min(u);
            max_u = max_u.max(u);
            min_v = min_v.min(v);
            max_v = max_v.max(v);
        }
        let area = (max_u - min_u) * (max_v - min_v);
        if best.as_ref().is_none_or(|(a, _)| area < *a) {
            let (cu, cv) = ((min_u + max_u) / 2.0, (min_v + max_v) / 2.0);
            best = Some((
                area,
                Rect {
                    cx: a[0] + cu * ux - cv * uy,
                    cy: a[1] + cu * uy + cv * ux,
                    w: max_u - min_u,
                    h: max_v - min_v,
                    angle: uy.atan2(ux),
                },
            ));
        }
    }
    best.map(|(_, r)| r)
}

/// Whether `p` is inside (or on) the convex quadrilateral, half a pixel of tolerance.
pub(super) fn inside(quad: &[Point; 4], p: Point) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        let len = dist(a, b).max(1e-6);
        let cross = ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) / len;
        if cross.abs() <= 0.5 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

/// Top-left, top-right, bottom-right, bottom-left (as the reference orders them).
pub(super) fn order_points(points: [Point; 4]) -> [Point; 4] {
    let mut by_x = points;
    by_x.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (mut left, mut right) = ([by_x[0], by_x[1]], [by_x[2], by_x[3]]);
    left.sort_by(|a, b| a[1].total_cmp(&b[1]));
    right.sort_by(|a, b| a[1].total_cmp(&b[1]));
    [left[0], right[0], right[1], left[1]]
}

/// A line cut out of the image, upright.
pub(super) struct Crop {
    pub(super) image: RgbImage,
    /// Turned 90° counter-clockwise because the box was tall.
    pub(super) rotated: bool,
    /// Turned 180° by the angle classifier.
    pub(super) flipped: bool,
}

impl Crop {
    pub(super) fn ratio(&self) -> f32 {
        self.image.width() as f32 / self.image.height().max(1) as f32
    }
}

pub(super) fn dist(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Cuts the quadrilateral out with a perspective warp (bicubic as OpenCV's `INTER_CUBIC`, edges
/// replicated); a box at
/// least 1.5 times taller than wide is turned 90° counter-clockwise.
pub(super) fn crop(img: &RgbImage, quad: &[Point; 4]) -> Crop {
    let cw = dist(quad[0], quad[1]).max(dist(quad[2], quad[3])) as u32;
    let ch = dist(quad[0], quad[3]).max(dist(quad[1], quad[2])) as u32;
    let (cw, ch) = (cw.max(1), ch.max(1));
    let target = [
        [0.0, 0.0],
        [cw as f32, 0.0],
        [cw as f32, ch as f32],
        [0.0, ch as f32],
    ];
    // Maps crop pixels to image pixels.
    let m =
        homography(&target, quad).unwrap_or([1.0, 0.0, quad[0][0], 0.0, 1.0, quad[0][1], 0.0, 0.0]);
    let (w, h) = img.dimensions();
    let raw = img.as_raw();
    let mut out = RgbImage::new(cw, ch);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (u, v) = (x as f32, y as f32);
        let d = m[6] * u + m[7] * v + 1.0;
        let sx = ((m[0] * u + m[1] * v + m[2]) / d).clamp(0.0, (w - 1) as f32);
        let sy = ((m[3] * u + m[4] * v + m[5]) / d).clamp(0.0, (h - 1) as f32);
        let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
        let (wx, wy) = (cubic_weights(fx), cubic_weights(fy));
        let (bx, by) = (sx.floor() as i64 - 1, sy.floor() as i64 - 1);
        let mut acc = [0f32; 3];
        for (j, wyj) in wy.iter().enumerate() {
            let yy = (by + j as i64).clamp(0, i64::from(h) - 1) as usize;
            for (i, wxi) in wx.iter().enumerate() {
                let xx = (bx + i as i64).clamp(0, i64::from(w) - 1) as usize;
                let at = (yy * w as usize + xx) * 3;
                let weight = wxi * wyj;
                for (c, a) in acc.iter_mut().enumerate() {
                    *a += f32::from(raw[at + c]) * weight;
                }
            }
        }
        for c in 0..3 {
            px[c] = acc[c].round().clamp(0.0, 255.0) as u8;
        }
    }
    if ch as f32 / cw as f32 >= 1.5 {
        return Crop {
            image: image::imageops::rotate270(&out),
            rotated: true,
            flipped: false,
        };
    }
    Crop {
        image: out,
        rotated: false,
        flipped: false,
    }
}

/// OpenCV's bicubic weights (A = −0.75) for the four taps around a sample at fraction `t`.
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let w = [far(t + 1.0), near(t), near(1.0 - t), 0.0];
    [w[0], w[1], w[2], 1.0 - w[0] - w[1] - w[2]]
}

/// The homography taking `from[i]` to `to[i]` (8 coefficients, the 9th is 1).
fn homography(from: &[Point; 4], to: &[Point; 4]) -> Option<[f32; 8]> {
    let mut a = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (f64::from(from[i][0]), f64::from(from[i][1]));
        let (u, v) = (f64::from(to[i][0]), f64::from(to[i][1]));
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        for row in 0..8 {
            if row != col {
                let f = a[row][col] / a[col][col];
                let pivot_row = a[col];
                for (value, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                    *value -= f * p;
                }
            }
        }
    }
    let mut m = [0f32; 8];
    for (i, value) in m.iter_mut().enumerate() {
        *value = (a[i][8] / a[i][i]) as f32;
    }
    Some(m)
}

pub(super) fn aabb(points: &[Point]) -> BoundingBox {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    BoundingBox {
        left: x0,
        top: y0,
        width: (x1 - x0).max(0.0),
        height: (y1 - y0).max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_area_rect_finds_a_rotated_rectangle() {
        let rect = Rect {
            cx: 50.0,
            cy: 40.0,
            w: 60.0,
            h: 10.0,
            angle: 0.3,
        };
        let hull = convex_hull(rect.corners().to_vec());
        let found = min_area_rect(&hull);
        assert!(found.is_some_and(|r| {
            let (a, b) = (r.w.max(r.h), r.w.min(r.h));
            (a - 60.0).abs() < 0.01 && (b - 10.0).abs() < 0.01 && (r.cx - 50.0).abs() < 0.01
        }));
    }

    #[test]
    fn a_homography_maps_corners_onto_corners() {
        let from = [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]];
        let to = [[3.0, 4.0], [23.0, 6.0], [22.0, 16.0], [2.0, 14.0]];
        let m = homography(&from, &to);
        assert!(m.is_some_and(|m| {
            from.iter().zip(&to).all(|(f, t)| {
                let d = m[6] * f[0] + m[7] * f[1] + 1.0;
                let x = (m[0] * f[0] + m[1] * f[1] + m[2]) / d;
                let y = (m[3] * f[0] + m[4] * f[1] + m[5]) / d;
                (x - t[0]).abs() < 1e-3 && (y - t[1]).abs() < 1e-3
            })
        }));
    }
}
