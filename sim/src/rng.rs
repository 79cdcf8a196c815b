//! The workloads' seeded random source: `rand_pcg`'s PCG-64 MCG (`Pcg64Mcg`), seeded with
//! `rand_core`'s portable `seed_from_u64`, behind the two draws the workloads use.
//!
//! Both crates promise value-stable output for a given seed (the generator's algorithm and
//! `seed_from_u64`'s expansion are part of their contract), so a scenario's results do not
//! change with a crate version. The draws ([`Rng::below`], [`Rng::unit`]) are written here
//! rather than taken from `rand`'s distributions, whose values `rand` does not promise to keep
//! across versions.

use rand_core::{Rng as _, SeedableRng as _};
use rand_pcg::Pcg64Mcg;

/// A seeded generator: the same seed gives the same sequence on every machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng(Pcg64Mcg);

impl Rng {
    /// A generator whose whole sequence is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Pcg64Mcg::seed_from_u64(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A value in `0..n` (0 when `n` is 0), by multiply-shift (bias below 2^-64 × n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_of_a_seed_is_pinned() {
        // Recorded with rand_pcg 0.10.3 / rand_core 0.10.1. A change here means every
        // simulation result moves: it must be a deliberate, documented upgrade.
        let mut r = Rng::new(1);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, PINNED_SEED_1);
    }

    const PINNED_SEED_1: [u64; 3] = [
        15_803_641_690_485_367_939,
        2_537_432_388_316_380_799,
        8_678_483_373_067_562_792,
    ];

    #[test]
    fn same_seed_same_sequence_and_bounds() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            let x = a.next_u64();
            assert_eq!(x, b.next_u64());
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        let mut c = Rng::new(7);
        for _ in 0..1000 {
            assert!(c.below(10) < 10);
            let u = c.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(c.below(0), 0);
    }
}
