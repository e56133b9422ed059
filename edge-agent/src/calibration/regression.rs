//! Ordinary least squares on a line, with the coefficient of determination: all the fits
//! need is `y = a + b·x` and how much of `y`'s variance the line explains.

/// A fitted line and how well it fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Line {
    /// Intercept.
    pub(super) a: f64,
    /// Slope.
    pub(super) b: f64,
    /// Coefficient of determination, 1 for a perfect fit.
    pub(super) r2: f64,
}

/// The least-squares line through `points`; `None` with fewer than two points or when
/// every `x` is the same (no slope can be told).
pub(super) fn fit_line(points: &[(f64, f64)]) -> Option<Line> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in points {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx <= f64::EPSILON * n * mean_x.abs().max(1.0) {
        return None;
    }
    let b = sxy / sxx;
    let a = mean_y - b * mean_x;
    // A flat y is explained perfectly by a flat line.
    let r2 = if syy > 0.0 {
        (sxy * sxy) / (sxx * syy)
    } else {
        1.0
    };
    Some(Line { a, b, r2 })
}

/// `(max − min) / mean` of the `x`s: how much of the range the samples cover, relative to
/// their size. Zero for no samples.
pub(super) fn relative_spread(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0);
    for x in xs {
        min = min.min(x);
        max = max.max(x);
        sum += x;
        n += 1.0;
    }
    if n == 0.0 || sum <= 0.0 {
        return 0.0;
    }
    (max - min) / (sum / n)
}

/// The median of `values` (sorted in place); `None` when empty.
pub(super) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_line_is_recovered_with_r2_one() {
        let points: Vec<_> = (0..10)
            .map(|i| (f64::from(i), 0.02 + 0.0098 * f64::from(i)))
            .collect();
        let line = fit_line(&points).unwrap();
        assert!((line.a - 0.02).abs() < 1e-12, "{line:?}");
        assert!((line.b - 0.0098).abs() < 1e-12, "{line:?}");
        assert!((line.r2 - 1.0).abs() < 1e-12, "{line:?}");
    }

    #[test]
    fn a_hand_computed_fit_matches() {
        // x = 1, 2, 3; y = 1, 2, 2: b = 0.5, a = 2/3, r² = 0.75.
        let line = fit_line(&[(1.0, 1.0), (2.0, 2.0), (3.0, 2.0)]).unwrap();
        assert!((line.b - 0.5).abs() < 1e-12, "{line:?}");
        assert!((line.a - 2.0 / 3.0).abs() < 1e-12, "{line:?}");
        assert!((line.r2 - 0.75).abs() < 1e-12, "{line:?}");
    }

    #[test]
    fn no_slope_can_be_told_from_one_x() {
        assert_eq!(fit_line(&[(2.0, 1.0), (2.0, 3.0), (2.0, 5.0)]), None);
        assert_eq!(fit_line(&[(2.0, 1.0)]), None);
    }

    #[test]
    fn spread_and_median() {
        assert!((relative_spread([50.0, 100.0, 150.0].into_iter()) - 1.0).abs() < 1e-12);
        assert_eq!(relative_spread(std::iter::empty()), 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
