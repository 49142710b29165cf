//! Where a GGUF file's bytes live: a read-only memory map of the file, or a buffer.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

pub(crate) enum Storage {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

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
        Ok(Storage::Mapped(map))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}
