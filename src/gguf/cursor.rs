//! A bounds-checked little-endian reader over a byte slice. Every read either returns
//! the bytes or a `Truncated` error naming what was being read; nothing indexes past
//! the end and nothing allocates from an unchecked length.

use super::error::GgufError;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos as u64
    }

    pub(crate) fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    /// The next `n` bytes; `what` names them in the error.
    pub(crate) fn take(
        &mut self,
        n: u64,
        what: &dyn Fn() -> String,
    ) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                what: what(),
                offset: self.pos(),
                needed: n - self.remaining(),
            });
        }
        let start = self.pos;
        // `n <= remaining`, so this fits in usize and stays inside `buf`.
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8, GgufError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &dyn Fn() -> String) -> Result<u16, GgufError> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A GGUF string: u64 length, then that many bytes of UTF-8.
    pub(crate) fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, GgufError> {
        let len = self.u64(&|| format!("length of {}", what()))?;
        if len > self.remaining() {
            return Err(GgufError::StringTooLong {
                what: what(),
                len,
                remaining: self.remaining(),
            });
        }
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(GgufError::InvalidUtf8 { what: what() }),
        }
    }

    /// Checks a count before anything is allocated for it: above `limit` it is refused
    /// as implausible; otherwise `count` items of at least `min_size` bytes must fit in
    /// what is left, or the file is truncated.
    pub(crate) fn check_count(
        &self,
        count: u64,
        min_size: u64,
        limit: u64,
        what: &dyn Fn() -> String,
    ) -> Result<(), GgufError> {
        if count > limit {
            return Err(GgufError::CountTooLarge {
                what: what(),
                count,
                limit,
            });
        }
        // count <= limit <= 2^32 and min_size <= 12: no overflow.
        let needed = count * min_size;
        if needed > self.remaining() {
            return Err(GgufError::Truncated {
                what: format!("{count} {}(s)", what()),
                offset: self.pos(),
                needed: needed - self.remaining(),
            });
        }
        Ok(())
    }
}
