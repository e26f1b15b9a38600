//! A byte queue over one allocation: bytes are appended at the end and
//! taken from the front; the front is moved back to the start only when
//! the tail has no room, so only what is still pending is ever moved.

/// A byte queue (see the module docs).
pub(crate) struct Queue {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Queue {
    /// A queue with room for `capacity` bytes (it grows only when asked
    /// for more room than it has in all).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
        }
    }

    /// Bytes pending.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The pending bytes.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The pending bytes, to be changed in place (TLS records decrypted).
    pub(crate) fn pending_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    /// Takes `n` bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// The free room at the end, at least `n` bytes: the pending bytes are
    /// moved to the front if the tail is shorter, and the buffer grows if
    /// that is not enough either. Fill it, then [`Queue::commit`].
    pub(crate) fn spare(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() - self.end < n && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < n {
            self.buf.resize(self.end + n, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Free room at the end without moving or growing anything.
    pub(crate) fn tail_room(&self) -> usize {
        self.buf.len() - self.end
    }

    /// Marks `n` bytes written into [`Queue::spare`]'s room as pending.
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.buf.len());
        self.end += n;
    }

    /// Appends `data`.
    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.spare(data.len())[..data.len()].copy_from_slice(data);
        self.commit(data.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_moves_only_what_is_pending() {
        let mut q = Queue::with_capacity(8);
        q.extend(b"abcdef");
        q.consume(4);
        assert_eq!(q.pending(), b"ef");
        // Needs 4 bytes, the tail has 2: "ef" moves to the front.
        q.extend(b"ghij");
        assert_eq!(q.pending(), b"efghij");
        assert_eq!(q.tail_room(), 2);
        // More than the whole buffer: it grows.
        q.extend(b"klmnop");
        assert_eq!(q.pending(), b"efghijklmnop");
        q.consume(12);
        assert!(q.is_empty());
        assert_eq!(q.tail_room(), 12);
    }
}
