//! Typed views of tensor bytes. GGUF data is little-endian and aligned (the reader checks
//! tensor offsets against the file's alignment, at least 8 bytes, and the mapping is
//! page-aligned), so f16 and f32 tensors can be read in place.

#[cfg(not(target_endian = "little"))]
compile_error!("libbitnet reads GGUF tensors in place and needs a little-endian target");

/// `bytes` as f16 bit patterns; `None` if misaligned or of odd length.
pub fn as_u16s(bytes: &[u8]) -> Option<&[u16]> {
    // SAFETY: every bit pattern is a valid u16, and align_to only returns a middle slice that
    // is correctly aligned and within `bytes`.
    let (head, mid, tail) = unsafe { bytes.align_to::<u16>() };
    (head.is_empty() && tail.is_empty()).then_some(mid)
}

/// `bytes` as writable f16 bit patterns; `None` if misaligned or of odd length.
pub fn as_u16s_mut(bytes: &mut [u8]) -> Option<&mut [u16]> {
    // SAFETY: every bit pattern is a valid u16, and align_to_mut only returns a middle slice
    // that is correctly aligned and within `bytes`.
    let (head, mid, tail) = unsafe { bytes.align_to_mut::<u16>() };
    (head.is_empty() && tail.is_empty()).then_some(mid)
}

/// `bytes` as f32 values; `None` if misaligned or of a length not a multiple of 4.
pub fn as_f32s(bytes: &[u8]) -> Option<&[f32]> {
    // SAFETY: every bit pattern is a valid f32, and align_to only returns a middle slice that
    // is correctly aligned and within `bytes`.
    let (head, mid, tail) = unsafe { bytes.align_to::<f32>() };
    (head.is_empty() && tail.is_empty()).then_some(mid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn views_read_little_endian_values_and_refuse_misalignment() {
        let v: Vec<f32> = vec![1.5, -2.0, 3.25];
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        // A Vec<u8> may be unaligned for f32: copy into an aligned buffer first.
        let aligned: Vec<f32> = v.clone();
        // SAFETY: test-only byte view of an f32 vector.
        let raw = unsafe { std::slice::from_raw_parts(aligned.as_ptr().cast::<u8>(), 12) };
        assert_eq!(raw, &bytes[..]);
        assert_eq!(super::as_f32s(raw), Some(&v[..]));
        assert_eq!(super::as_f32s(&raw[1..5]), None);
        assert_eq!(super::as_u16s(&raw[..4]).map(<[u16]>::len), Some(2));
        assert_eq!(super::as_u16s(&raw[1..4]), None);
    }
}
