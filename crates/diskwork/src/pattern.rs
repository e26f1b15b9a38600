//! Block contents: a function of the block's index and its generation, so
//! a reader knowing both can tell a correct block from a stale, lost or
//! misplaced one. Generation 0 means never written (not checked).

/// Size of a data block, bytes.
pub const BLOCK: usize = 64 * 1024;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn words(index: u64, gen: u32) -> impl Iterator<Item = u64> {
    let seed = mix(index ^ (u64::from(gen) << 40) ^ 0x6469_736b);
    // The first two words say what the block is, for error reports.
    [index, u64::from(gen)].into_iter().chain(
        (2..(BLOCK / 8) as u64)
            .map(move |k| seed.wrapping_add(k.wrapping_mul(0xA24B_AED4_963E_E407))),
    )
}

/// Fills `buf` (one block) with the contents of block `index` at `gen`.
pub fn fill(buf: &mut [u8], index: u64, gen: u32) {
    for (chunk, w) in buf.chunks_exact_mut(8).zip(words(index, gen)) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
}

/// Whether `buf` holds block `index` at `gen`.
pub fn matches(buf: &[u8], index: u64, gen: u32) -> bool {
    buf.len() == BLOCK
        && buf
            .chunks_exact(8)
            .zip(words(index, gen))
            .all(|(c, w)| c == w.to_le_bytes())
}

/// What a block says it is: `(index, generation)` from its first words.
pub fn claimed(buf: &[u8]) -> (u64, u64) {
    let w = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[i * 8..i * 8 + 8]);
        u64::from_le_bytes(b)
    };
    (w(0), w(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_matches_only_its_index_and_generation() {
        let mut b = vec![0u8; BLOCK];
        fill(&mut b, 7, 3);
        assert!(matches(&b, 7, 3));
        assert!(!matches(&b, 7, 2));
        assert!(!matches(&b, 8, 3));
        assert_eq!(claimed(&b), (7, 3));
        b[BLOCK - 1] ^= 1;
        assert!(!matches(&b, 7, 3), "one flipped bit at the end");
    }
}
