//! Containers that keep memory lean where the engine holds something per
//! position or per instrument. A `Vec` grown by doubling keeps up to half
//! its capacity empty (a million 128-byte positions: up to 64 MB), and the
//! allocator may keep each freed smaller copy resident; these grow in
//! smaller steps or in fixed chunks instead.
//!
//! - [`Chunked`]: an array in fixed-size chunks; pushing never moves what
//!   is stored and leaves at most one partly filled chunk.
//! - [`push_lean`] and [`grow_to`]: a `Vec` grown by a quarter at a time.

use std::ops::{Index, IndexMut};

/// Elements per chunk: a power of two, so an index splits with a shift.
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// An array of `T` in chunks of [`CHUNK`] elements, indexed like a slice.
#[derive(Clone, Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    /// How many elements are stored.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// Appends `value`; a full last chunk gets a new one of exactly
    /// [`CHUNK`] elements.
    pub(crate) fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(last) = self.chunks.last_mut() {
            last.push(value);
        }
        self.len += 1;
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl<T> IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

/// Pushes `value` onto `v`, growing a full vector by a quarter (at least 4)
/// instead of doubling: an instrument's holder arrays then keep at most a
/// fifth of their capacity empty, still in amortised O(1) per push.
pub(crate) fn push_lean<T>(v: &mut Vec<T>, value: T) {
    if v.len() == v.capacity() {
        v.reserve_exact(v.len() / 4 + 4);
    }
    v.push(value);
}

/// Extends `v` with `fill()` to `len` elements (if shorter), growing its
/// capacity by at least a quarter at a time instead of doubling.
pub(crate) fn grow_to<T>(v: &mut Vec<T>, len: usize, fill: impl FnMut() -> T) {
    if v.len() >= len {
        return;
    }
    if len > v.capacity() {
        let step = (len - v.len()).max(v.len() / 4 + 4);
        v.reserve_exact(step);
    }
    v.resize_with(len, fill);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_across_chunks_and_keeps_capacity_to_one_chunk() {
        let mut c = Chunked::default();
        let n = 3 * CHUNK + 5;
        for i in 0..n {
            c.push(i);
        }
        assert_eq!(c.len(), n);
        assert_eq!(c[0], 0);
        assert_eq!(c[CHUNK - 1], CHUNK - 1);
        assert_eq!(c[CHUNK], CHUNK);
        assert_eq!(c[n - 1], n - 1);
        c[2 * CHUNK + 1] = 7;
        assert_eq!(c[2 * CHUNK + 1], 7);
        assert_eq!(c.chunks.len(), 4);
        assert!(c.chunks.iter().all(|k| k.capacity() == CHUNK));
    }

    #[test]
    fn lean_pushes_grow_by_a_quarter() {
        let mut v = Vec::new();
        for i in 0..1000 {
            push_lean(&mut v, i);
            assert!(
                v.capacity() <= v.len() + v.len() / 4 + 4,
                "{} of {}",
                v.len(),
                v.capacity()
            );
        }
        assert_eq!(v.iter().sum::<i32>(), 999 * 500);
        let mut w: Vec<u8> = Vec::new();
        for len in 1..1000 {
            grow_to(&mut w, len, || 7);
            assert_eq!(w.len(), len);
            assert!(w.capacity() <= len + len / 4 + 4);
        }
        grow_to(&mut w, 10, || 0);
        assert_eq!(w.len(), 999, "never shrinks");
        assert!(w.iter().all(|&b| b == 7));
    }

    #[test]
    #[should_panic(expected = "index out of bounds")]
    fn an_index_past_the_end_panics_like_a_slice() {
        let mut c = Chunked::default();
        c.push(1u8);
        let _ = c[1];
    }
}
