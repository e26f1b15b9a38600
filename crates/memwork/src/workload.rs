//! The working set: memory, per-page generations and the two operations on it
//! (verify-then-rewrite one page, sweep-verify a run of pages).

use crate::pattern::{self, WORDS_PER_PAGE};

/// One verification failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageError {
    pub page: usize,
    pub expected_gen: u32,
}

/// At most this many errors are kept until the caller drains them.
const MAX_PENDING_ERRORS: usize = 64;

pub struct Workload {
    mem: Vec<u64>,
    gens: Vec<u32>,
    /// Total page rewrites since start.
    rewrites: u64,
    /// Total verification failures since start.
    errors: u64,
    /// Next page the background sweep verifies.
    sweep_pos: usize,
    /// Completed full sweeps.
    sweeps: u64,
    /// xorshift64 state choosing which page to rewrite next.
    rng: u64,
    pending: Vec<PageError>,
}

impl Workload {
    /// Allocates `pages` pages and writes every one of them (generation 0).
    pub fn new(pages: usize) -> Result<Self, String> {
        assert!(pages > 0, "working set must have at least one page");
        let words = pages
            .checked_mul(WORDS_PER_PAGE)
            .ok_or_else(|| format!("{pages} pages overflow the address space"))?;
        let mut mem: Vec<u64> = Vec::new();
        mem.try_reserve_exact(words)
            .map_err(|e| format!("cannot allocate {pages} pages: {e}"))?;
        mem.resize(words, 0);
        let mut gens = Vec::new();
        gens.try_reserve_exact(pages)
            .map_err(|e| format!("cannot allocate generation table: {e}"))?;
        gens.resize(pages, 0);
        for (index, page) in mem.chunks_exact_mut(WORDS_PER_PAGE).enumerate() {
            pattern::fill(page, index, 0);
        }
        Ok(Workload {
            mem,
            gens,
            rewrites: 0,
            errors: 0,
            sweep_pos: 0,
            sweeps: 0,
            rng: 0x6d65_6d77_6f72_6b21,
            pending: Vec::new(),
        })
    }

    pub fn pages(&self) -> usize {
        self.gens.len()
    }

    pub fn rewrites(&self) -> u64 {
        self.rewrites
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }

    #[cfg(test)]
    pub fn sweeps(&self) -> u64 {
        self.sweeps
    }

    /// Generation page `index` currently should have.
    #[cfg(test)]
    pub fn generation(&self, index: usize) -> u32 {
        self.gens[index]
    }

    fn page(&self, index: usize) -> &[u64] {
        &self.mem[index * WORDS_PER_PAGE..(index + 1) * WORDS_PER_PAGE]
    }

    fn page_mut(&mut self, index: usize) -> &mut [u64] {
        &mut self.mem[index * WORDS_PER_PAGE..(index + 1) * WORDS_PER_PAGE]
    }

    fn record_error(&mut self, page: usize, expected_gen: u32) {
        self.errors += 1;
        if self.pending.len() < MAX_PENDING_ERRORS {
            self.pending.push(PageError { page, expected_gen });
        }
    }

    /// Verifies page `index`; on mismatch records an error and re-stamps the
    /// page with its expected contents so each corruption is counted once.
    pub fn verify_page(&mut self, index: usize) -> bool {
        let gen = self.gens[index];
        if pattern::verify(self.page(index), index, gen) {
            return true;
        }
        self.record_error(index, gen);
        pattern::fill(self.page_mut(index), index, gen);
        false
    }

    /// Verifies page `index`, then bumps its generation and rewrites it.
    pub fn rewrite_page(&mut self, index: usize) {
        let gen = self.gens[index];
        if !pattern::verify(self.page(index), index, gen) {
            self.record_error(index, gen);
        }
        let gen = gen.wrapping_add(1);
        self.gens[index] = gen;
        pattern::fill(self.page_mut(index), index, gen);
        self.rewrites += 1;
    }

    fn next_random_page(&mut self) -> usize {
        // xorshift64: cheap, full period over non-zero states.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        // Multiply-shift range reduction (no modulo bias worth caring about).
        ((u128::from(x) * self.pages() as u128) >> 64) as usize
    }

    /// Rewrites `n` pseudo-randomly chosen pages.
    pub fn rewrite_random(&mut self, n: usize) {
        for _ in 0..n {
            let index = self.next_random_page();
            self.rewrite_page(index);
        }
    }

    /// Verifies the next `n` pages of the round-robin background sweep.
    pub fn sweep(&mut self, n: usize) {
        for _ in 0..n {
            let index = self.sweep_pos;
            self.verify_page(index);
            self.sweep_pos += 1;
            if self.sweep_pos == self.pages() {
                self.sweep_pos = 0;
                self.sweeps += 1;
            }
        }
    }

    /// Errors recorded since the last call (capped; `errors()` is exact).
    pub fn drain_errors(&mut self) -> Vec<PageError> {
        std::mem::take(&mut self.pending)
    }

    /// Test hook: flips bits in one word of a page, as a buggy migration would.
    #[cfg(test)]
    pub fn corrupt(&mut self, index: usize, word: usize) {
        self.page_mut(index)[word] ^= 0xdead_beef;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_working_set_verifies() {
        let mut w = Workload::new(64).unwrap();
        w.sweep(64);
        assert_eq!(w.errors(), 0);
        assert_eq!(w.sweeps(), 1);
        assert!(w.drain_errors().is_empty());
    }

    #[test]
    fn rewrites_keep_pages_valid() {
        let mut w = Workload::new(16).unwrap();
        w.rewrite_random(1000);
        assert_eq!(w.rewrites(), 1000);
        let total_gen: u64 = (0..16).map(|i| u64::from(w.generation(i))).sum();
        assert_eq!(total_gen, 1000);
        w.sweep(32);
        assert_eq!(w.errors(), 0);
    }

    #[test]
    fn random_order_covers_all_pages() {
        let mut w = Workload::new(32).unwrap();
        w.rewrite_random(2000);
        assert!((0..32).all(|i| w.generation(i) > 0));
    }

    #[test]
    fn sweep_detects_corruption_once() {
        let mut w = Workload::new(8).unwrap();
        w.rewrite_page(5);
        w.corrupt(5, 100);
        w.sweep(8);
        assert_eq!(w.errors(), 1);
        assert_eq!(
            w.drain_errors(),
            vec![PageError {
                page: 5,
                expected_gen: 1
            }]
        );
        // Repaired: a second sweep finds nothing new.
        w.sweep(8);
        assert_eq!(w.errors(), 1);
        assert!(w.drain_errors().is_empty());
    }

    #[test]
    fn rewrite_detects_corruption_before_overwriting() {
        let mut w = Workload::new(4).unwrap();
        w.corrupt(2, 0);
        w.rewrite_page(2);
        assert_eq!(w.errors(), 1);
        assert_eq!(w.drain_errors()[0].page, 2);
        assert_eq!(w.generation(2), 1);
        w.sweep(4);
        assert_eq!(w.errors(), 1);
    }

    #[test]
    fn pending_errors_are_capped_but_counted() {
        let mut w = Workload::new(100).unwrap();
        for i in 0..100 {
            w.corrupt(i, 7);
        }
        w.sweep(100);
        assert_eq!(w.errors(), 100);
        assert_eq!(w.drain_errors().len(), MAX_PENDING_ERRORS);
    }
}
