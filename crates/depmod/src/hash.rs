//! The iteration order of kmod's string hash tables.
//!
//! depmod lists modules (before `modules.order` is applied) and symbols
//! (`modules.symbols`) in the order its hash tables iterate: bucket by
//! bucket, and within a bucket by `strcmp` of the keys. The bucket is Paul
//! Hsieh's "SuperFastHash" of the key, masked to the table size. This module
//! computes the same hash (with x86's signed `char`), so a sort by
//! [`order_key`] reproduces the order.

/// Buckets of depmod's module-name table.
pub const MODULE_BUCKETS: u32 = 512;
/// Buckets of depmod's symbol table.
pub const SYMBOL_BUCKETS: u32 = 2048;

fn u16le(b: &[u8]) -> u32 {
    u32::from(b[0]) | (u32::from(b[1]) << 8)
}

/// Paul Hsieh's SuperFastHash of `key`, with `char` signed as on x86.
pub fn superfast(key: &[u8]) -> u32 {
    let len = key.len() as u32;
    let mut hash: u32 = len;
    let rem = key.len() & 3;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        hash = hash.wrapping_add(u16le(c));
        let tmp = (u16le(&c[2..]) << 11) ^ hash;
        hash = (hash << 16) ^ tmp;
        hash = hash.wrapping_add(hash >> 11);
    }
    let k = chunks.remainder();
    let signed = |b: u8| i32::from(b as i8) as u32;
    match rem {
        3 => {
            hash = hash.wrapping_add(u16le(k));
            hash ^= hash << 16;
            hash ^= signed(k[2]).wrapping_shl(18);
            hash = hash.wrapping_add(hash >> 11);
        }
        2 => {
            hash = hash.wrapping_add(u16le(k));
            hash ^= hash << 11;
            hash = hash.wrapping_add(hash >> 17);
        }
        1 => {
            hash = hash.wrapping_add(signed(k[0]));
            hash ^= hash << 10;
            hash = hash.wrapping_add(hash >> 1);
        }
        _ => {}
    }
    hash ^= hash << 3;
    hash = hash.wrapping_add(hash >> 5);
    hash ^= hash << 4;
    hash = hash.wrapping_add(hash >> 17);
    hash ^= hash << 25;
    hash = hash.wrapping_add(hash >> 6);
    hash
}

/// The bucket of `key` in a table of `n_buckets` (a power of two).
pub fn bucket(key: &[u8], n_buckets: u32) -> u32 {
    superfast(key) & (n_buckets - 1)
}

/// Sort key giving kmod's hash iteration order: bucket, then bytes.
pub fn order_key(key: &[u8], n_buckets: u32) -> (u32, &[u8]) {
    (bucket(key, n_buckets), key)
}

/// FNV-1a, a fast hasher for the in-memory tables (names are short and
/// not adversarial here; the output order never depends on it).
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// `BuildHasher` for [`Fnv`].
pub type FnvBuild = std::hash::BuildHasherDefault<Fnv>;
/// A `HashMap` keyed with [`Fnv`].
pub type FnvHashMap<K, V> = std::collections::HashMap<K, V, FnvBuild>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spread() {
        assert_eq!(superfast(b""), 0);
        let a = superfast(b"usbcore");
        assert_eq!(a, superfast(b"usbcore"));
        assert_ne!(a, superfast(b"usbcorf"));
        // every remainder length is exercised
        for n in 0..9 {
            let k = vec![b'x'; n];
            let _ = bucket(&k, MODULE_BUCKETS);
        }
        // high bytes go through the signed path without overflow panics
        let _ = superfast(&[0xff, 0xfe, 0xfd]);
        let _ = superfast(&[0x80]);
    }
}
