//! The statistics behind capability and control charts, in one place so that the tests can hold
//! them against numpy.

/// d2 for subgroups of two: the expected moving range of two normal readings is 1.128 σ, so
/// σ within = mean moving range / 1.128 (AIAG SPC manual, individuals charts).
pub const D2: f64 = 1.128;

/// D4 for subgroups of two: the moving-range chart's upper control limit is 3.267 × mean
/// moving range (its lower limit, D3 × mean, is 0).
pub const D4: f64 = 3.267;

/// Running sums for mean, overall σ and moving range, fed one reading at a time in time order,
/// so a large store is summarised in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Accumulator {
    /// Readings seen.
    pub n: u64,
    // Welford's update: a plain sum of squares loses every digit when readings sit far from
    // zero (3.300 V ± 1 mV).
    // The crate's summary cache stores and reloads these exactly.
    pub(crate) mean: f64,
    pub(crate) m2: f64,
    pub(crate) first: Option<f64>,
    pub(crate) last: Option<f64>,
    pub(crate) mr_sum: f64,
    pub(crate) mr_n: u64,
    /// Smallest reading.
    pub min: f64,
    /// Largest reading.
    pub max: f64,
}

impl Accumulator {
    /// Adds the next reading.
    pub fn push(&mut self, x: f64) {
        if self.n == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
        if let Some(last) = self.last {
            self.mr_sum += (x - last).abs();
            self.mr_n += 1;
        }
        self.first.get_or_insert(x);
        self.last = Some(x);
    }

    /// Adds `later`, the sums of the readings that follow this one's in time order, as if they
    /// had been pushed here one by one: a store scanned in parts, one per core, is summarised
    /// part by part. The moving range across the seam (this one's last reading to `later`'s
    /// first) is counted; mean and spread combine by Chan's formula, equal to pushing up to
    /// rounding.
    pub fn merge(&mut self, later: &Accumulator) {
        let (Some(last), Some(next)) = (self.last, later.first) else {
            if self.n == 0 {
                *self = *later;
            }
            return;
        };
        let n = self.n + later.n;
        let delta = later.mean - self.mean;
        self.mean += delta * later.n as f64 / n as f64;
        self.m2 += later.m2 + delta * delta * (self.n as f64 * later.n as f64 / n as f64);
        self.n = n;
        self.mr_sum += later.mr_sum + (next - last).abs();
        self.mr_n += later.mr_n + 1;
        self.last = later.last;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
    }

    /// Mean, when there is a reading.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean)
    }

    /// Sample standard deviation (n − 1), when there are two readings.
    pub fn sigma_overall(&self) -> Option<f64> {
        (self.n > 1).then(|| (self.m2 / (self.n - 1) as f64).sqrt())
    }

    /// Mean moving range of consecutive readings, when there are two.
    pub fn mean_moving_range(&self) -> Option<f64> {
        (self.mr_n > 0).then(|| self.mr_sum / self.mr_n as f64)
    }

    /// σ within: mean moving range / [`D2`].
    pub fn sigma_within(&self) -> Option<f64> {
        self.mean_moving_range().map(|mr| mr / D2)
    }
}

/// The standard normal distribution function Φ(z).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The complementary error function, to about 1.2e-7 relative error everywhere (the Chebyshev
/// fit of Numerical Recipes, `erfcc`): far finer than any fraction outside a process reports.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulator_matches_textbook_values() {
        let mut acc = Accumulator::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            acc.push(x);
        }
        assert_eq!(acc.mean(), Some(5.0));
        // Sample variance 32 / 7.
        let sd = acc.sigma_overall().unwrap_or_default();
        assert!((sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        // Moving ranges 2,0,0,1,0,2,2: mean 1.
        assert_eq!(acc.mean_moving_range(), Some(1.0));
        assert_eq!((acc.min, acc.max), (2.0, 9.0));
    }

    #[test]
    fn merged_parts_equal_one_pass() {
        let xs = [3.3, 3.31, 3.29, 3.35, 3.28, 3.3, 3.32, 3.27, 3.31];
        let mut whole = Accumulator::default();
        xs.iter().for_each(|x| whole.push(*x));
        for cut in [0, 1, 4, 8, 9] {
            let (mut a, mut b) = (Accumulator::default(), Accumulator::default());
            xs[..cut].iter().for_each(|x| a.push(*x));
            xs[cut..].iter().for_each(|x| b.push(*x));
            a.merge(&b);
            assert_eq!((a.n, a.min, a.max), (whole.n, whole.min, whole.max));
            for (ours, want) in [
                (a.mean(), whole.mean()),
                (a.sigma_overall(), whole.sigma_overall()),
                (a.mean_moving_range(), whole.mean_moving_range()),
            ] {
                let (ours, want) = (ours.unwrap_or_default(), want.unwrap_or_default());
                assert!((ours - want).abs() < 1e-14, "cut {cut}: {ours} vs {want}");
            }
        }
    }

    #[test]
    fn welford_keeps_digits_far_from_zero() {
        let mut acc = Accumulator::default();
        for x in [1e9 + 4.0, 1e9 + 7.0, 1e9 + 13.0, 1e9 + 16.0] {
            acc.push(x);
        }
        let sd = acc.sigma_overall().unwrap_or_default();
        assert!((sd - 30.0f64.sqrt()).abs() < 1e-6, "{sd}");
    }

    #[test]
    fn normal_cdf_known_points() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975_002_1).abs() < 1e-6);
        assert!((normal_cdf(-3.0) - 0.001_349_9).abs() < 1e-6);
    }
}
