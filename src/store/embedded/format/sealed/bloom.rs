//! The stream-name hash and membership filter of a sealed segment's index file.
//!
//! Both are part of the file format, so they are fixed here rather than taken from a
//! hasher that may change between builds: FNV-1a over the name's bytes, finished with
//! the SplitMix64 mixer; the filter is a Bloom filter of [`BITS_PER_STREAM`] bits per
//! stream and [`PROBES`] probes by double hashing (about 1 % false positives).

/// Bits of filter per stream the segment holds.
pub const BITS_PER_STREAM: u64 = 10;

/// Bits set and tested per stream.
pub const PROBES: u64 = 7;

/// The 64-bit hash of a stream name used by the directory and the filter.
pub fn stream_hash(name: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in name.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(hash)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The number of 64-bit words of the filter for `streams` streams (at least one).
pub fn words_for(streams: u64) -> u64 {
    (streams.saturating_mul(BITS_PER_STREAM) / 64).max(1) + 1
}

fn probes(hash: u64, bits: u64) -> impl Iterator<Item = u64> {
    let step = mix(hash ^ 0x9e37_79b9_7f4a_7c15) | 1;
    (0..PROBES).map(move |i| hash.wrapping_add(i.wrapping_mul(step)) % bits)
}

/// Adds a stream (by its [`stream_hash`]) to `words`.
pub fn insert(words: &mut [u64], hash: u64) {
    let bits = words.len() as u64 * 64;
    for bit in probes(hash, bits) {
        words[(bit / 64) as usize] |= 1 << (bit % 64);
    }
}

/// Whether `words` may hold the stream with this hash (`false`: certainly not).
pub fn may_contain(words: &[u64], hash: u64) -> bool {
    let bits = words.len() as u64 * 64;
    bits > 0 && probes(hash, bits).all(|bit| words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_streams_are_found_and_most_others_are_not() {
        let names: Vec<String> = (0..10_000).map(|i| format!("alert-{i}")).collect();
        let mut words = vec![0u64; words_for(names.len() as u64) as usize];
        for name in &names {
            insert(&mut words, stream_hash(name));
        }
        assert!(names.iter().all(|n| may_contain(&words, stream_hash(n))));
        let false_positives = (0..10_000)
            .filter(|i| may_contain(&words, stream_hash(&format!("other-{i}"))))
            .count();
        assert!(
            false_positives < 300,
            "{false_positives} false positives in 10,000"
        );
    }

    #[test]
    fn the_hash_is_fixed_by_the_format() {
        assert_eq!(stream_hash(""), mix(0xcbf2_9ce4_8422_2325));
        assert_ne!(stream_hash("alert-1"), stream_hash("alert-2"));
    }
}
