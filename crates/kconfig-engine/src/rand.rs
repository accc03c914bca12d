//! glibc's `rand()` (the TYPE_3 additive feedback generator behind `srand`),
//! so `KCONFIG_SEED` gives the same randconfig as the kernel's `conf`.

/// A generator in the state glibc's `srand(seed)` leaves.
pub struct GlibcRand {
    buf: Vec<i32>,
}

impl GlibcRand {
    /// Seed as `srand(seed)` does.
    pub fn new(seed: u32) -> Self {
        let mut r = [0i32; 34];
        let seed = if seed == 0 { 1 } else { seed };
        r[0] = seed as i32;
        for i in 1..31 {
            // r[i] = (16807 * r[i-1]) % 2147483647, computed without overflow
            let hi = (r[i - 1] as i64) / 127773;
            let lo = (r[i - 1] as i64) % 127773;
            let mut word = 16807 * lo - 2836 * hi;
            if word < 0 {
                word += 2147483647;
            }
            r[i] = word as i32;
        }
        for i in 31..34 {
            r[i] = r[i - 31];
        }
        let mut g = GlibcRand { buf: r.to_vec() };
        for _ in 0..310 {
            g.step();
        }
        g
    }

    fn step(&mut self) -> u32 {
        let n = self.buf.len();
        let v = self.buf[n - 31].wrapping_add(self.buf[n - 3]);
        self.buf.push(v);
        if self.buf.len() > 4096 {
            self.buf.drain(..self.buf.len() - 64);
        }
        (v as u32) >> 1
    }

    /// The next value of `rand()`, in 0..=RAND_MAX.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> i32 {
        self.step() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        fn srand(seed: u32);
        fn rand() -> i32;
    }

    #[test]
    fn agrees_with_the_c_library() {
        for seed in [0u32, 1, 2, 42, 0xdead_beef, u32::MAX] {
            let mut g = GlibcRand::new(seed);
            // SAFETY: srand/rand are plain libc calls; this test is the only
            // user of the C generator in this process's test binary.
            unsafe { srand(seed) };
            for _ in 0..1000 {
                assert_eq!(g.next(), unsafe { rand() }, "seed {seed}");
            }
        }
    }
}
