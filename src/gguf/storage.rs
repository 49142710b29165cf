//! Where a GGUF file's bytes live: a read-only memory map of the file, or a buffer.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use memmap2::{Advice, Mmap, MmapMut};

pub(crate) enum Storage {
    /// The file itself, mapped read-only.
    File(Mmap),
    /// A copy in anonymous memory: the first `len` bytes of the map (which is rounded up
    /// to whole 2 MiB pages).
    Anon {
        map: Mmap,
        len: usize,
    },
    Owned(Vec<u8>),
}

/// The size of a transparent huge page on x86-64 and most aarch64 kernels.
const HUGE_PAGE: usize = 2 << 20;

impl Storage {
    pub(crate) fn map(path: &Path) -> std::io::Result<Storage> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            // mmap of an empty file fails on some systems; an empty buffer parses the same.
            return Ok(Storage::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and private to this process. If another process
        // truncates the file while it is mapped, reads past the new end fault (SIGBUS);
        // that hazard is inherent to mmap and documented for users of the mapped mode.
        let map = unsafe { Mmap::map(&file)? };
        Ok(Storage::File(map))
    }

    /// A private copy of the file in anonymous memory that asks the kernel for 2 MiB pages
    /// (`MADV_HUGEPAGE`): weights then stream from fewer TLB entries, and the copy cannot
    /// change under the process if the file does.
    pub(crate) fn copy_to_anon(path: &Path) -> std::io::Result<Storage> {
        let mut file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::other("file larger than the address space"))?;
        if len == 0 {
            return Ok(Storage::Owned(Vec::new()));
        }
        // A whole number of huge pages: Linux then also aligns the mapping to one, so every
        // page of the copy can be a huge one.
        let mut map = MmapMut::map_anon(len.next_multiple_of(HUGE_PAGE))?;
        // Huge pages are a hint, given before the first touch so the faults already take
        // them; where the kernel does not provide them, this fails harmlessly.
        #[cfg(target_os = "linux")]
        let _ = map.advise(Advice::HugePage);
        file.read_exact(&mut map[..len])?;
        Ok(Storage::Anon {
            map: map.make_read_only()?,
            len,
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::File(m) => m,
            Storage::Anon { map, len } => &map[..*len],
            Storage::Owned(v) => v,
        }
    }

    /// Drops the whole pages of `start .. end` (byte offsets) from the process's resident
    /// set when they are pages of the mapped file; they are read back from the file if
    /// touched again. Returns whether anything was released (never for copies: their
    /// pages are the only copy).
    pub(crate) fn release(&self, start: usize, end: usize) -> bool {
        #[cfg(target_os = "linux")]
        if let Storage::File(map) = self {
            const PAGE: usize = 4096;
            let base = map.as_ptr() as usize;
            // Whole pages inside the range only: the mapping starts on a page boundary.
            let first = (base + start).div_ceil(PAGE) * PAGE - base;
            let last = ((base + end.min(map.len())) / PAGE * PAGE).saturating_sub(base);
            if first >= last {
                return false;
            }
            // SAFETY: the map is a read-only mapping of the file that this process never
            // writes, so after MADV_DONTNEED its pages read back with the same contents
            // (from the page cache or the file); no reference sees a change.
            return unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, last - first)
            }
            .is_ok();
        }
        let _ = (start, end);
        false
    }
}
