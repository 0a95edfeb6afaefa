//! Seeded random-walk mark prices. The walk advances one step per elapsed second, so a
//! price depends only on the seed, the symbol and time, and survives restarts through the
//! persisted (price, second) pair.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// At most this many steps are simulated at once (a daemon that slept for a day does not
/// spin through 86,400 steps; it continues from a shorter walk).
const MAX_STEPS: i64 = 600;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Walk {
    pub price: Decimal,
    pub second: i64,
}

impl Walk {
    /// Moves the walk to `now_second` and returns the price there.
    pub fn advance(
        &mut self,
        seed: u64,
        symbol_salt: u64,
        volatility_bps: Decimal,
        now_second: i64,
    ) -> Decimal {
        if now_second <= self.second {
            return self.price;
        }
        let steps = (now_second - self.second).min(MAX_STEPS);
        let scale = volatility_bps / Decimal::from(10_000);
        for i in 0..steps {
            let step_index = now_second - steps + i + 1;
            let z = standard_step(seed ^ symbol_salt, step_index as u64);
            let factor = Decimal::ONE + scale * z;
            // Keep the walk strictly positive and the scale bounded.
            self.price = (self.price * factor).round_dp(8).max(Decimal::new(1, 8));
        }
        self.second = now_second;
        self.price
    }
}

/// An approximately standard-normal step: the sum of three uniforms on [-1, 1] has variance 1.
fn standard_step(seed: u64, index: u64) -> Decimal {
    let mut total = Decimal::ZERO;
    for k in 0..3u64 {
        let r = splitmix64(seed.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ k);
        let uniform = (r % 2_000_001) as i64 - 1_000_000;
        total += Decimal::new(uniform, 6);
    }
    total
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A stable salt per symbol so that symbols do not move in lockstep.
pub fn salt(symbol: &str) -> u64 {
    symbol.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn same_seed_same_path_and_positive() {
        let mut a = Walk {
            price: dec!(100),
            second: 0,
        };
        let mut b = a.clone();
        let pa = a.advance(7, salt("BTCUSDT"), dec!(5), 300);
        let pb = b.advance(7, salt("BTCUSDT"), dec!(5), 300);
        assert_eq!(pa, pb);
        assert!(pa > Decimal::ZERO);
        assert_ne!(pa, dec!(100));
        let mut c = Walk {
            price: dec!(100),
            second: 0,
        };
        assert_ne!(c.advance(8, salt("BTCUSDT"), dec!(5), 300), pa);
    }

    #[test]
    fn walking_in_pieces_equals_walking_at_once() {
        let mut once = Walk {
            price: dec!(50),
            second: 10,
        };
        once.advance(1, 2, dec!(10), 110);
        let mut pieces = Walk {
            price: dec!(50),
            second: 10,
        };
        pieces.advance(1, 2, dec!(10), 60);
        pieces.advance(1, 2, dec!(10), 110);
        assert_eq!(once, pieces);
    }
}
