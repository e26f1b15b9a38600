//! Page contents. Every 4 KiB page holds 512 64-bit words that are a pure
//! function of (page index, generation, word number), so a page can be
//! verified without keeping a copy of it.
//!
//! A full splitmix64 round per word would be needlessly slow on a TCG vCPU, so
//! the page gets one splitmix64 seed derived from (index, generation) and each
//! word is a cheap bijective mix of `seed + (word_no + 1) * GOLDEN`. Distinct
//! (index, generation) pairs give distinct seeds (splitmix64 is a bijection of
//! `index << 32 | generation`), and words within a page are all distinct.

/// Size of a page of the working set.
pub const PAGE_SIZE: usize = 4096;
/// Number of 64-bit words per page.
pub const WORDS_PER_PAGE: usize = PAGE_SIZE / 8;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const WORD_MUL: u64 = 0xD6E8_FEB8_6659_FD93;

/// The splitmix64 output function applied to `z + GOLDEN`.
pub fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn page_seed(index: usize, gen: u32) -> u64 {
    splitmix64(((index as u64) << 32) | u64::from(gen))
}

#[inline(always)]
fn word(seed: u64, word_no: usize) -> u64 {
    let x = seed.wrapping_add((word_no as u64 + 1).wrapping_mul(GOLDEN));
    (x ^ (x >> 29)).wrapping_mul(WORD_MUL)
}

/// The expected value of one word.
#[cfg(test)]
pub fn expected_word(index: usize, gen: u32, word_no: usize) -> u64 {
    word(page_seed(index, gen), word_no)
}

/// Writes the contents of page `index` at generation `gen` into `page`.
pub fn fill(page: &mut [u64], index: usize, gen: u32) {
    debug_assert_eq!(page.len(), WORDS_PER_PAGE);
    let seed = page_seed(index, gen);
    for (i, w) in page.iter_mut().enumerate() {
        *w = word(seed, i);
    }
}

/// Checks that `page` holds page `index` at generation `gen`.
pub fn verify(page: &[u64], index: usize, gen: u32) -> bool {
    debug_assert_eq!(page.len(), WORDS_PER_PAGE);
    let seed = page_seed(index, gen);
    // Branch-free accumulation: cheaper than an early exit on the common path.
    let diff = page
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &w)| acc | (w ^ word(seed, i)));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_verify_roundtrip() {
        let mut page = vec![0u64; WORDS_PER_PAGE];
        for (index, gen) in [
            (0, 0),
            (1, 0),
            (0, 1),
            (12345, 7),
            (usize::MAX >> 33, u32::MAX),
        ] {
            fill(&mut page, index, gen);
            assert!(verify(&page, index, gen), "index={index} gen={gen}");
            assert_eq!(page[3], expected_word(index, gen, 3));
        }
    }

    #[test]
    fn wrong_index_or_generation_fails() {
        let mut page = vec![0u64; WORDS_PER_PAGE];
        fill(&mut page, 10, 3);
        assert!(!verify(&page, 10, 2));
        assert!(!verify(&page, 10, 4));
        assert!(!verify(&page, 11, 3));
        assert!(!verify(&page, 9, 3));
    }

    #[test]
    fn corrupted_page_detected() {
        let mut page = vec![0u64; WORDS_PER_PAGE];
        for word_no in [0, 1, 255, WORDS_PER_PAGE - 1] {
            for bit in [0, 17, 63] {
                fill(&mut page, 42, 5);
                page[word_no] ^= 1 << bit;
                assert!(!verify(&page, 42, 5), "word {word_no} bit {bit}");
            }
        }
        fill(&mut page, 42, 5);
        page.fill(0);
        assert!(!verify(&page, 42, 5), "zeroed page");
    }

    #[test]
    fn words_within_page_are_distinct() {
        let mut page = vec![0u64; WORDS_PER_PAGE];
        fill(&mut page, 7, 1);
        let mut sorted = page.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), WORDS_PER_PAGE);
    }
}
