//! Malformed GGUF files: each defect yields its own typed error, never a panic, an
//! out-of-bounds read or an allocation sized by a lying header.
//!
//! Files are built here byte by byte with a tiny encoder that is independent of the
//! crate's writer, recording where each section ends.

use bitnet::gguf::{Dialect, GgmlType, GgufError, GgufFile, ReadOptions};

/// A hand-rolled GGUF encoder that remembers the byte offset at every section boundary.
#[derive(Default)]
struct Enc {
    b: Vec<u8>,
    boundaries: Vec<(String, usize)>,
}

impl Enc {
    fn u32(&mut self, v: u32) -> &mut Self {
        self.b.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.b.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64);
        self.b.extend_from_slice(s.as_bytes());
        self
    }
    fn mark(&mut self, what: &str) {
        self.boundaries.push((what.into(), self.b.len()));
    }
    fn pad(&mut self, align: usize) {
        while self.b.len() % align != 0 {
            self.b.push(0);
        }
    }
}

struct Tensor {
    name: &'static str,
    dims: Vec<u64>,
    type_id: u32,
    offset: u64,
    data_len: usize,
}

/// A valid file: header, three key-value pairs (a u32, a string, an array of strings),
/// and two tensors (F32 [4], I2_S [128, 2]).
fn valid_tensors() -> Vec<Tensor> {
    vec![
        Tensor {
            name: "a",
            dims: vec![4],
            type_id: 0,
            offset: 0,
            data_len: 16,
        },
        Tensor {
            name: "blk.0.attn_q.weight",
            dims: vec![128, 2],
            type_id: 36,
            offset: 32,
            data_len: 128 * 2 / 4 + 32,
        },
    ]
}

fn build(tensors: &[Tensor], extra_kv: impl Fn(&mut Enc) -> u64) -> Enc {
    let mut e = Enc::default();
    e.b.extend_from_slice(b"GGUF");
    e.mark("magic");
    e.u32(3);
    e.mark("version");
    e.u64(tensors.len() as u64);
    e.mark("tensor count");
    // The kv count is patched after the extra pairs are known.
    let kv_count_at = e.b.len();
    e.u64(0);
    e.mark("kv count");
    e.str("general.architecture").u32(8).str("bitnet-b1.58");
    e.mark("kv 0");
    e.str("x.count").u32(4).u32(7);
    e.mark("kv 1");
    e.str("x.list").u32(9).u32(8).u64(2).str("ab").str("");
    e.mark("kv 2");
    let n_kv = 3 + extra_kv(&mut e);
    e.b[kv_count_at..kv_count_at + 8].copy_from_slice(&n_kv.to_le_bytes());
    for t in tensors {
        e.str(t.name).u32(t.dims.len() as u32);
        for &d in &t.dims {
            e.u64(d);
        }
        e.u32(t.type_id).u64(t.offset);
        e.mark(&format!("tensor info {}", t.name));
    }
    e.pad(32);
    e.mark("data start");
    let data_start = e.b.len();
    for t in tensors.iter().filter(|t| t.data_len > 0) {
        let start = data_start + t.offset as usize;
        if e.b.len() < start {
            e.b.resize(start, 0);
        }
        e.b.extend((0..t.data_len).map(|i| (i * 7 + 1) as u8));
        e.mark(&format!("data of {}", t.name));
    }
    e
}

fn valid() -> Enc {
    build(&valid_tensors(), |_| 0)
}

fn parse(bytes: &[u8]) -> Result<GgufFile, GgufError> {
    GgufFile::from_bytes(bytes.to_vec())
}

#[test]
fn the_valid_file_parses() {
    let f = parse(&valid().b).unwrap();
    assert_eq!(f.n_tensors(), 2);
    assert_eq!(f.get_uint("x.count").unwrap(), Some(7));
    assert_eq!(f.get_str_array("x.list").unwrap().unwrap(), ["ab", ""]);
    let q = f.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.info.ggml_type, GgmlType::I2_S);
    assert_eq!(q.data.len(), 96);
    assert_eq!(q.data[0], 1);
}

#[test]
fn truncation_at_every_section_boundary() {
    let e = valid();
    for (what, end) in &e.boundaries {
        let cut = &e.b[..*end];
        if cut.len() == e.b.len() {
            continue; // the last boundary is the whole file
        }
        let err = parse(cut).expect_err(what);
        // Up to the tensor infos, the reader runs out of bytes; after them, the tensor
        // data does not fit.
        let in_header = !what.starts_with("data") && *what != "tensor info blk.0.attn_q.weight";
        match (&err, in_header) {
            (GgufError::Truncated { .. }, true) => {}
            (GgufError::DataOutOfBounds { .. }, false) => {}
            _ => panic!("cut after {what} (byte {end}): unexpected {err:?}"),
        }
    }
    // And at every single byte of the file: always an error, never a panic.
    for len in 0..e.b.len() {
        assert!(parse(&e.b[..len]).is_err(), "prefix of {len} bytes parsed");
    }
}

#[test]
fn bad_magic_and_versions() {
    let mut e = valid();
    e.b[0] = b'X';
    assert!(matches!(parse(&e.b), Err(GgufError::BadMagic(_))));
    for v in [0u32, 1, 4, 0x0300_0000] {
        let mut e = valid();
        e.b[4..8].copy_from_slice(&v.to_le_bytes());
        assert_eq!(parse(&e.b).unwrap_err(), GgufError::UnsupportedVersion(v));
    }
    let mut e = valid();
    e.b[4..8].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(parse(&e.b).unwrap().version(), 2);
    let mut e = valid();
    e.b[4..8].copy_from_slice(&0x0300_0000u32.to_le_bytes());
    assert!(parse(&e.b).unwrap_err().to_string().contains("big-endian"));
}

#[test]
fn bad_alignment() {
    for (align, ok) in [(3u32, false), (0, false), (48, false), (64, true)] {
        let e = build(&valid_tensors(), |e| {
            e.str("general.alignment").u32(4).u32(align);
            1
        });
        match parse(&e.b) {
            Err(GgufError::BadAlignment(a)) => assert!(!ok && a == u64::from(align)),
            // With alignment 64 the tensor at offset 32 is misaligned.
            Err(GgufError::MisalignedOffset {
                offset: 32,
                alignment: 64,
                ..
            }) => assert!(ok),
            other => panic!("alignment {align}: {other:?}"),
        }
    }
    // general.alignment must be a u32.
    let e = build(&valid_tensors(), |e| {
        e.str("general.alignment").u32(10).u64(32);
        1
    });
    assert!(matches!(parse(&e.b), Err(GgufError::WrongKeyType { .. })));
}

#[test]
fn offsets_past_the_end_and_misaligned() {
    let mut t = valid_tensors();
    t[1].offset = 1 << 40;
    t[1].data_len = 0;
    match parse(&build(&t, |_| 0).b) {
        Err(GgufError::DataOutOfBounds { tensor, .. }) => assert_eq!(tensor, "blk.0.attn_q.weight"),
        other => panic!("{other:?}"),
    }
    let mut t = valid_tensors();
    t[1].offset = u64::MAX - 31; // aligned, and start + size overflows u64
    t[1].data_len = 0;
    assert!(matches!(
        parse(&build(&t, |_| 0).b),
        Err(GgufError::DataOutOfBounds { .. })
    ));
    let mut t = valid_tensors();
    t[1].offset = 40;
    assert!(matches!(
        parse(&build(&t, |_| 0).b),
        Err(GgufError::MisalignedOffset { offset: 40, .. })
    ));
}

#[test]
fn too_many_dims_and_overflowing_dims() {
    let mut t = valid_tensors();
    t[0].dims = vec![1, 1, 1, 1, 4];
    assert!(matches!(
        parse(&build(&t, |_| 0).b),
        Err(GgufError::TooManyDims { n_dims: 5, .. })
    ));
    for dims in [
        vec![1u64 << 32, 1 << 32],
        vec![u64::MAX],
        vec![1 << 62, 4],
        vec![i64::MAX as u64 + 1],
    ] {
        let mut t = valid_tensors();
        t[0].dims = dims.clone();
        match parse(&build(&t, |_| 0).b) {
            Err(GgufError::ShapeOverflow { tensor, shape }) => {
                assert_eq!(tensor, "a");
                assert_eq!(shape, dims);
            }
            other => panic!("{dims:?}: {other:?}"),
        }
    }
    // Huge but representable: the element count fits, the data does not.
    let mut t = valid_tensors();
    t[0].dims = vec![1 << 30, 1 << 30];
    assert!(matches!(
        parse(&build(&t, |_| 0).b),
        Err(GgufError::DataOutOfBounds { .. })
    ));
}

#[test]
fn unknown_types_and_rows_that_do_not_fit_the_block() {
    for id in [4u32, 5, 43, 0xFFFF_FFFF] {
        let mut t = valid_tensors();
        t[0].type_id = id;
        assert!(
            matches!(parse(&build(&t, |_| 0).b), Err(GgufError::UnknownType { type_id, .. }) if type_id == id),
            "id {id}"
        );
    }
    // TQ2_0 rows must be whole 256-element blocks.
    let mut t = valid_tensors();
    t[0].type_id = 35;
    assert!(matches!(
        parse(&build(&t, |_| 0).b),
        Err(GgufError::BadShapeForType { .. })
    ));
}

#[test]
fn string_lengths_past_the_end() {
    // The architecture value's length field sits right after "general.architecture" and
    // its type id.
    let e = valid();
    let at = e
        .boundaries
        .iter()
        .find(|(w, _)| w == "kv count")
        .unwrap()
        .1
        + 8
        + 20
        + 4;
    for len in [1u64 << 20, u64::MAX] {
        let mut b = e.b.clone();
        b[at..at + 8].copy_from_slice(&len.to_le_bytes());
        match parse(&b) {
            Err(GgufError::StringTooLong { what, len: l, .. }) => {
                assert_eq!(l, len);
                assert!(what.contains("general.architecture"), "{what}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn counts_in_the_billions_are_refused_before_allocating() {
    // Tensor count.
    let mut b = valid().b;
    b[8..16].copy_from_slice(&3_000_000_000u64.to_le_bytes());
    assert!(matches!(
        parse(&b),
        Err(GgufError::CountTooLarge {
            count: 3_000_000_000,
            ..
        })
    ));
    // Key-value count.
    let mut b = valid().b;
    b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(parse(&b), Err(GgufError::CountTooLarge { .. })));
    // An array claiming 2^40 strings.
    let e = build(&valid_tensors(), |e| {
        e.str("x.huge").u32(9).u32(8).u64(1 << 40);
        1
    });
    match parse(&e.b) {
        Err(GgufError::CountTooLarge { what, count, .. }) => {
            assert_eq!(count, 1 << 40);
            assert!(what.contains("x.huge"));
        }
        other => panic!("{other:?}"),
    }
    // An array of 2^62 u64s: the byte count would overflow.
    let e = build(&valid_tensors(), |e| {
        e.str("x.huge").u32(9).u32(10).u64(1 << 62);
        1
    });
    assert!(matches!(parse(&e.b), Err(GgufError::CountTooLarge { .. })));
    // A plausible count the file cannot hold is a truncation.
    let e = build(&valid_tensors(), |e| {
        e.str("x.short").u32(9).u32(4).u64(1000);
        1
    });
    assert!(matches!(parse(&e.b), Err(GgufError::Truncated { .. })));
}

#[test]
fn bad_keys_values_and_names() {
    let dup = build(&valid_tensors(), |e| {
        e.str("x.count").u32(4).u32(1);
        1
    });
    assert_eq!(
        parse(&dup.b).unwrap_err(),
        GgufError::DuplicateKey("x.count".into())
    );
    let empty = build(&valid_tensors(), |e| {
        e.str("").u32(4).u32(1);
        1
    });
    assert!(matches!(
        parse(&empty.b),
        Err(GgufError::EmptyKey { index: 3 })
    ));
    let bad_type = build(&valid_tensors(), |e| {
        e.str("x.t").u32(13).u32(1);
        1
    });
    assert!(matches!(
        parse(&bad_type.b),
        Err(GgufError::InvalidValueType { type_id: 13, .. })
    ));
    let bad_bool = build(&valid_tensors(), |e| {
        e.str("x.b").u32(7);
        e.b.push(2);
        1
    });
    assert!(matches!(
        parse(&bad_bool.b),
        Err(GgufError::InvalidBool { byte: 2, .. })
    ));
    let bad_utf8 = build(&valid_tensors(), |e| {
        e.str("x.s").u32(8).u64(2);
        e.b.extend_from_slice(&[0xC3, 0x28]);
        1
    });
    assert!(matches!(
        parse(&bad_utf8.b),
        Err(GgufError::InvalidUtf8 { .. })
    ));
    let deep = build(&valid_tensors(), |e| {
        e.str("x.deep");
        e.u32(9);
        for _ in 0..20 {
            e.u32(9).u64(1);
        }
        e.u32(4).u64(0);
        1
    });
    assert!(matches!(
        parse(&deep.b),
        Err(GgufError::NestingTooDeep { .. })
    ));
    let mut t = valid_tensors();
    t[1].name = "a";
    assert_eq!(
        parse(&build(&t, |_| 0).b).unwrap_err(),
        GgufError::DuplicateTensor("a".into())
    );
}

#[test]
fn type_id_39_is_resolved_per_file() {
    // MXFP4 [64, 2]: 2 rows x 2 blocks x 17 bytes = 68 bytes, laid out back to back.
    let mxfp4 = |arch_kv: bool| {
        let t = vec![Tensor {
            name: "w",
            dims: vec![64, 2],
            type_id: 39,
            offset: 0,
            data_len: 68,
        }];
        let mut e = build(&t, |_| 0);
        if !arch_kv {
            return e.b;
        }
        // Same file, architecture renamed to one only upstream writes (same length).
        let pos = e.b.windows(12).position(|w| w == b"bitnet-b1.58").unwrap();
        e.b[pos..pos + 12].copy_from_slice(b"gpt-oss-xxxx");
        e.b
    };
    // A bitnet.cpp architecture means TL2, and a 64-wide TL2 tensor is impossible.
    assert!(matches!(
        parse(&mxfp4(false)),
        Err(GgufError::BadShapeForType { .. })
    ));
    let f = parse(&mxfp4(true)).unwrap();
    assert_eq!(f.dialect(), Dialect::Upstream);
    assert_eq!(f.tensor("w").unwrap().info.ggml_type, GgmlType::MXFP4);
    // An explicit dialect overrides detection.
    let forced = GgufFile::from_bytes_with(
        mxfp4(true),
        ReadOptions {
            dialect: Some(Dialect::BitnetFork),
        },
    );
    assert!(forced.is_err());
}

#[test]
fn random_corruption_never_panics() {
    let base = valid().b;
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut b = base.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % b.len() as u64) as usize;
            b[i] = next() as u8;
        }
        let _ = parse(&b);
    }
}
