//! Rate-quality points, their Pareto front and the upper convex hull of the front.
//!
//! The hull is taken in the plain (rate, quality) plane, as Netflix's per-title encoding does:
//! a rung on the hull is one that no mix of two other encodes beats, because switching between
//! two encodes in time gives every rate-quality point on the straight segment between them.
//! (In a (log rate, quality) plane the segments would not be reachable by such a mix.)

use serde::{Deserialize, Serialize};

/// One encode: its rate in kbit/s, its quality (VMAF, PSNR in dB, ...: higher is better) and the
/// caller's identifier (an index into its own list of encodes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub kbps: f64,
    pub quality: f64,
    pub id: usize,
}

impl Point {
    fn is_finite(&self) -> bool {
        self.kbps.is_finite() && self.quality.is_finite()
    }
}

/// The points that no other point dominates (another point dominates `p` when its rate is
/// `<= p`'s and its quality `>= p`'s, strictly better in at least one), sorted by rate; rate and
/// quality then both increase strictly along the result.
///
/// Exact duplicates (same rate and quality) dominate neither each other: the one with the lowest
/// `id` represents them. Points whose rate or quality is not finite are left out.
pub fn pareto_front(points: &[Point]) -> Vec<Point> {
    let mut sorted: Vec<Point> = points.iter().copied().filter(Point::is_finite).collect();
    // Cheapest first; at equal rate the best quality first, then the lowest id.
    sorted.sort_by(|a, b| {
        a.kbps
            .total_cmp(&b.kbps)
            .then(b.quality.total_cmp(&a.quality))
            .then(a.id.cmp(&b.id))
    });
    let mut front: Vec<Point> = Vec::new();
    for p in sorted {
        // A point enters only when it is better than everything cheaper or as cheap.
        if front.last().is_none_or(|last| p.quality > last.quality) {
            front.push(p);
        }
    }
    front
}

/// The vertices of the upper convex hull of the Pareto front in the (rate, quality) plane,
/// sorted by rate: the concave chain from the cheapest point of the front to its best one.
/// Points on a straight segment between two vertices are not vertices (a mix of the two ends
/// reaches them).
pub fn upper_convex_hull(points: &[Point]) -> Vec<Point> {
    let mut hull: Vec<Point> = Vec::new();
    for p in pareto_front(points) {
        while let [.., a, b] = hull[..] {
            // Drop b when it lies on or below the segment from a to p (the turn a -> b -> p
            // is not clockwise).
            let cross = (b.kbps - a.kbps) * (p.quality - a.quality)
                - (b.quality - a.quality) * (p.kbps - a.kbps);
            if cross >= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    hull
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(list: &[(f64, f64)]) -> Vec<Point> {
        list.iter()
            .enumerate()
            .map(|(id, &(kbps, quality))| Point { kbps, quality, id })
            .collect()
    }

    fn ids(points: &[Point]) -> Vec<usize> {
        points.iter().map(|p| p.id).collect()
    }

    #[test]
    fn pareto_front_drops_dominated_points() {
        let points = pts(&[
            (100.0, 50.0), // 0: front
            (200.0, 45.0), // 1: dominated by 0
            (200.0, 70.0), // 2: front
            (300.0, 70.0), // 3: dominated by 2 (same quality, more bits)
            (150.0, 60.0), // 4: front
            (400.0, 90.0), // 5: front
            (100.0, 40.0), // 6: dominated by 0 (same rate, less quality)
        ]);
        assert_eq!(ids(&pareto_front(&points)), [0, 4, 2, 5]);
    }

    #[test]
    fn duplicates_and_single_points() {
        let points = pts(&[(100.0, 50.0), (100.0, 50.0), (300.0, 80.0), (300.0, 80.0)]);
        assert_eq!(ids(&pareto_front(&points)), [0, 2]);
        assert_eq!(ids(&upper_convex_hull(&points)), [0, 2]);
        let single = pts(&[(500.0, 42.0)]);
        assert_eq!(pareto_front(&single), single);
        assert_eq!(upper_convex_hull(&single), single);
        assert!(upper_convex_hull(&[]).is_empty());
    }

    #[test]
    fn non_finite_points_are_left_out() {
        let points = pts(&[(f64::NAN, 99.0), (100.0, 50.0), (200.0, f64::INFINITY)]);
        assert_eq!(ids(&pareto_front(&points)), [1]);
    }

    #[test]
    fn hull_keeps_only_the_concave_chain() {
        // Rates 100..500; quality 50, 60, 80, 85, 95. Slopes between neighbours: 0.1, 0.2,
        // 0.05, 0.1. Point 1 (200, 60) is below the segment 0 -> 2 (which gives 65 at 200),
        // point 3 (400, 85) below the segment 2 -> 4 (87.5 at 400).
        let points = pts(&[
            (100.0, 50.0),
            (200.0, 60.0),
            (300.0, 80.0),
            (400.0, 85.0),
            (500.0, 95.0),
        ]);
        assert_eq!(ids(&pareto_front(&points)), [0, 1, 2, 3, 4]);
        assert_eq!(ids(&upper_convex_hull(&points)), [0, 2, 4]);
    }

    #[test]
    fn collinear_points_are_not_vertices() {
        let points = pts(&[(100.0, 10.0), (200.0, 20.0), (300.0, 30.0), (400.0, 35.0)]);
        assert_eq!(ids(&upper_convex_hull(&points)), [0, 2, 3]);
    }

    #[test]
    fn hull_of_a_typical_two_resolution_set() {
        // Low resolution saturates early, high resolution wins at high rates; dominated and
        // interior points from both families.
        let points = pts(&[
            (200.0, 60.0),  // 0 low res: hull (cheapest)
            (400.0, 72.0),  // 1 low res: hull
            (800.0, 78.0),  // 2 low res: under 1 -> 5 (80 at 800)
            (1600.0, 80.0), // 3 low res: dominated by 5
            (400.0, 55.0),  // 4 high res: dominated by 1
            (1000.0, 84.0), // 5 high res: hull
            (2000.0, 92.0), // 6 high res: hull
            (4000.0, 95.0), // 7 high res: hull (best)
        ]);
        assert_eq!(ids(&pareto_front(&points)), [0, 1, 2, 5, 6, 7]);
        assert_eq!(ids(&upper_convex_hull(&points)), [0, 1, 5, 6, 7]);
    }
}
