//! Weights repacked at load time: 8 output rows interleaved per block, so that one 256-bit
//! integer dot product (4 codes × 8 rows) yields a partial sum for each of the 8 rows and
//! the per-row scales are one f16 vector. Sizes stay those of the GGUF blocks (±3%).
//!
//! A 32-element chunk of 8 rows with 4-bit codes is 4 × 32 bytes: byte `4r + t` of vector
//! `g` holds row r's element `4g + t` in its low nibble and element `16 + 4g + t` in its
//! high nibble. 8-bit codes use 8 vectors, vector `g` holding elements `4g..4g + 4`.

use super::act::ActKind;
use crate::{Error, Result};
use candle_core::quantized::GgmlDType;
use half::f16;

pub(crate) const ROWS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Q4_0,
    Q4_1,
    Q5_0,
    Q8_0,
    Q4K,
    Q6K,
}

impl Kind {
    pub fn from_ggml(t: GgmlDType) -> Option<Kind> {
        Some(match t {
            GgmlDType::Q4_0 => Kind::Q4_0,
            GgmlDType::Q4_1 => Kind::Q4_1,
            GgmlDType::Q5_0 => Kind::Q5_0,
            GgmlDType::Q8_0 => Kind::Q8_0,
            GgmlDType::Q4K => Kind::Q4K,
            GgmlDType::Q6K => Kind::Q6K,
            _ => return None,
        })
    }

    /// Elements per block.
    pub(crate) fn block(self) -> usize {
        match self {
            Kind::Q4_0 | Kind::Q4_1 | Kind::Q5_0 | Kind::Q8_0 => 32,
            Kind::Q4K | Kind::Q6K => 256,
        }
    }

    /// Bytes of one GGUF block (one row).
    fn gguf_bytes(self) -> usize {
        match self {
            Kind::Q4_0 => 18,
            Kind::Q4_1 => 20,
            Kind::Q5_0 => 22,
            Kind::Q8_0 => 34,
            Kind::Q4K => 144,
            Kind::Q6K => 210,
        }
    }

    /// Bytes of one packed block of 8 rows.
    pub(crate) fn group_bytes(self) -> usize {
        match self {
            // d[8] f16, codes
            Kind::Q4_0 => 16 + 128,
            // d[8], m[8], codes
            Kind::Q4_1 => 32 + 128,
            // d[8], low nibbles, high bits (bit g: element 4g + t, bit 4 + g: 16 + 4g + t)
            Kind::Q5_0 => 16 + 128 + 32,
            Kind::Q8_0 => 16 + 256,
            // d[8], dmin[8], scales[8 sub][8 rows], mins[8][8], 8 chunks of codes
            Kind::Q4K => 32 + 64 + 64 + 8 * 128,
            // d[8], scales[16 sub][8 rows] i8, 8 chunks of low nibbles, 8 × 64 bytes high bits
            Kind::Q6K => 16 + 128 + 8 * 128 + 8 * 64,
        }
    }

    pub(crate) fn act(self) -> ActKind {
        match self {
            Kind::Q4_0 | Kind::Q5_0 | Kind::Q8_0 => ActKind::Q8_0,
            Kind::Q4_1 => ActKind::Q8_1,
            Kind::Q4K | Kind::Q6K => ActKind::Q8K,
        }
    }
}

/// One GGUF block decoded to integer codes and scales, before repacking.
#[derive(Default)]
struct Decoded {
    /// Unsigned codes (Q4: 0..15, Q5_0: 0..31, Q6_K: 0..63), or the signed Q8_0 values as bytes.
    q: Vec<u8>,
    d: f16,
    /// Q4_1's minimum `m`, k-quants' `dmin`.
    dmin: f16,
    /// k-quants' sub-block scales (Q6_K: i8 stored as u8) and Q4_K's sub-block mins.
    sc: Vec<u8>,
    mn: Vec<u8>,
}

fn f16_at(b: &[u8], at: usize) -> f16 {
    f16::from_le_bytes([b[at], b[at + 1]])
}

fn decode(kind: Kind, b: &[u8]) -> Decoded {
    let mut o = Decoded::default();
    match kind {
        Kind::Q4_0 | Kind::Q4_1 => {
            let at = if kind == Kind::Q4_0 { 2 } else { 4 };
            o.d = f16_at(b, 0);
            if kind == Kind::Q4_1 {
                o.dmin = f16_at(b, 2);
            }
            let qs = &b[at..at + 16];
            o.q = (0..32)
                .map(|j| if j < 16 { qs[j] & 15 } else { qs[j - 16] >> 4 })
                .collect();
        }
        Kind::Q5_0 => {
            o.d = f16_at(b, 0);
            let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
            let qs = &b[6..22];
            o.q = (0..32)
                .map(|j| {
                    let lo = if j < 16 { qs[j] & 15 } else { qs[j - 16] >> 4 };
                    lo | ((((qh >> j) & 1) as u8) << 4)
                })
                .collect();
        }
        Kind::Q8_0 => {
            o.d = f16_at(b, 0);
            o.q = b[2..34].to_vec();
        }
        Kind::Q4K => {
            o.d = f16_at(b, 0);
            o.dmin = f16_at(b, 2);
            let s = &b[4..16];
            for j in 0..8 {
                // ggml's get_scale_min_k4: 6-bit scales and mins packed in 12 bytes.
                let (sc, m) = if j < 4 {
                    (s[j] & 63, s[j + 4] & 63)
                } else {
                    (
                        (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
                        (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
                    )
                };
                o.sc.push(sc);
                o.mn.push(m);
            }
            let qs = &b[16..144];
            o.q = (0..256)
                .map(|e| {
                    let (j, l) = (e / 64, e % 64);
                    if l < 32 {
                        qs[32 * j + l] & 15
                    } else {
                        qs[32 * j + l - 32] >> 4
                    }
                })
                .collect();
        }
        Kind::Q6K => {
            let (ql, qh) = (&b[0..128], &b[128..192]);
            o.sc = b[192..208].to_vec();
            o.d = f16_at(b, 208);
            o.q = (0..256)
                .map(|e| {
                    // ggml's dequantize_row_q6_K: halves of 128, quadrants of 32.
                    let (h, quad, l) = (e / 128, (e % 128) / 32, e % 32);
                    let lo = ql[64 * h + l + 32 * (quad & 1)];
                    let lo = if quad < 2 { lo & 15 } else { lo >> 4 };
                    let hi = (qh[32 * h + l] >> (2 * quad)) & 3;
                    lo | (hi << 4)
                })
                .collect();
        }
    }
    o
}

/// Writes 32 codes × 8 rows as nibbles (`rows[r][c0..c0 + 32]`, low 4 bits).
fn put_nibbles(out: &mut [u8], rows: &[Decoded; ROWS], c0: usize) {
    for g in 0..4 {
        for r in 0..ROWS {
            for t in 0..4 {
                let lo = rows[r].q[c0 + 4 * g + t] & 15;
                let hi = rows[r].q[c0 + 16 + 4 * g + t] & 15;
                out[32 * g + 4 * r + t] = lo | (hi << 4);
            }
        }
    }
}

fn put_f16(out: &mut [u8], v: impl Iterator<Item = f16>) {
    for (i, x) in v.enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&x.to_le_bytes());
    }
}

/// A weight matrix [n, k] in the interleaved layout; rows past `n` (up to a multiple of 8)
/// are zero.
#[derive(Debug)]
pub struct Packed {
    pub(crate) kind: Kind,
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) data: Vec<u8>,
}

impl Packed {
    /// Repacks GGUF block data of an [n, k] matrix.
    pub fn new(kind: Kind, n: usize, k: usize, raw: &[u8]) -> Result<Packed> {
        let (bs, gb) = (kind.block(), kind.gguf_bytes());
        if k == 0 || !k.is_multiple_of(bs) || raw.len() != n * k / bs * gb {
            return Err(Error::Request(format!(
                "cannot repack a {kind:?} matrix [{n}, {k}] from {} bytes",
                raw.len()
            )));
        }
        let nb = k / bs;
        let groups = n.div_ceil(ROWS);
        let gsz = kind.group_bytes();
        let mut data = vec![0u8; groups * nb * gsz];
        let zero = decode(kind, &vec![0u8; gb]);
        for (g, gdata) in data.chunks_exact_mut(nb * gsz).enumerate() {
            for (b, out) in gdata.chunks_exact_mut(gsz).enumerate() {
                let rows: [Decoded; ROWS] = std::array::from_fn(|r| {
                    let row = g * ROWS + r;
                    if row < n {
                        let at = (row * nb + b) * gb;
                        decode(kind, &raw[at..at + gb])
                    } else {
                        Decoded {
                            q: zero.q.clone(),
                            sc: zero.sc.clone(),
                            mn: zero.mn.clone(),
                            ..Decoded::default()
                        }
                    }
                });
                pack_block(kind, &rows, out);
            }
        }
        Ok(Packed { kind, n, k, data })
    }

    /// Row `row` dequantized to f32, with ggml's arithmetic (embedding lookups, tests).
    pub fn row(&self, row: usize, out: &mut [f32]) {
        let (kind, bs) = (self.kind, self.kind.block());
        let nb = self.k / bs;
        let gsz = kind.group_bytes();
        let (g, r) = (row / ROWS, row % ROWS);
        for b in 0..nb {
            let p = &self.data[(g * nb + b) * gsz..(g * nb + b + 1) * gsz];
            let y = &mut out[b * bs..(b + 1) * bs];
            let h = |at: usize| f16_at(p, at + 2 * r).to_f32();
            let nib = |codes: &[u8], e: usize| {
                let (c, e) = (e / 32, e % 32);
                let (g, t, hi) = ((e % 16) / 4, e % 4, e >= 16);
                let byte = codes[128 * c + 32 * g + 4 * r + t];
                if hi {
                    byte >> 4
                } else {
                    byte & 15
                }
            };
            match kind {
                Kind::Q4_0 => {
                    let d = h(0);
                    for (e, v) in y.iter_mut().enumerate() {
                        *v = (nib(&p[16..], e) as i32 - 8) as f32 * d;
                    }
                }
                Kind::Q4_1 => {
                    let (d, m) = (h(0), h(16));
                    for (e, v) in y.iter_mut().enumerate() {
                        *v = nib(&p[32..], e) as f32 * d + m;
                    }
                }
                Kind::Q5_0 => {
                    let d = h(0);
                    for (e, v) in y.iter_mut().enumerate() {
                        let (g, t, half) = ((e % 16) / 4, e % 4, e / 16);
                        let hb = (p[144 + 4 * r + t] >> (g + 4 * half)) & 1;
                        *v = ((nib(&p[16..], e) | (hb << 4)) as i32 - 16) as f32 * d;
                    }
                }
                Kind::Q8_0 => {
                    let d = h(0);
                    for (e, v) in y.iter_mut().enumerate() {
                        *v = p[16 + 32 * (e / 4) + 4 * r + e % 4] as i8 as f32 * d;
                    }
                }
                Kind::Q4K => {
                    let (d, dmin) = (h(0), h(16));
                    for (e, v) in y.iter_mut().enumerate() {
                        let s = e / 32;
                        let sc = d * p[32 + 8 * s + r] as f32;
                        let m = dmin * p[96 + 8 * s + r] as f32;
                        *v = sc * nib(&p[160..], e) as f32 - m;
                    }
                }
                Kind::Q6K => {
                    let d = h(0);
                    for (e, v) in y.iter_mut().enumerate() {
                        let sc = p[16 + 8 * (e / 16) + r] as i8 as f32;
                        let (c, ec) = (e / 32, e % 32);
                        let (half, g, t) = (ec / 16, (ec % 16) / 4, ec % 4);
                        let hb = p[144 + 1024 + 64 * c + 32 * half + 4 * r + t];
                        let q = nib(&p[144..], e) | (((hb >> (2 * g)) & 3) << 4);
                        *v = d * sc * (q as i32 - 32) as f32;
                    }
                }
            }
        }
    }
}

fn pack_block(kind: Kind, rows: &[Decoded; ROWS], out: &mut [u8]) {
    put_f16(out, rows.iter().map(|d| d.d));
    match kind {
        Kind::Q4_0 => put_nibbles(&mut out[16..], rows, 0),
        Kind::Q4_1 => {
            put_f16(&mut out[16..], rows.iter().map(|d| d.dmin));
            put_nibbles(&mut out[32..], rows, 0);
        }
        Kind::Q5_0 => {
            put_nibbles(&mut out[16..], rows, 0);
            for r in 0..ROWS {
                for t in 0..4 {
                    let mut byte = 0u8;
                    for g in 0..4 {
                        byte |= ((rows[r].q[4 * g + t] >> 4) & 1) << g;
                        byte |= ((rows[r].q[16 + 4 * g + t] >> 4) & 1) << (4 + g);
                    }
                    out[144 + 4 * r + t] = byte;
                }
            }
        }
        Kind::Q8_0 => {
            for g in 0..8 {
                for r in 0..ROWS {
                    for t in 0..4 {
                        out[16 + 32 * g + 4 * r + t] = rows[r].q[4 * g + t];
                    }
                }
            }
        }
        Kind::Q4K => {
            put_f16(&mut out[16..], rows.iter().map(|d| d.dmin));
            for s in 0..8 {
                for r in 0..ROWS {
                    out[32 + 8 * s + r] = rows[r].sc[s];
                    out[96 + 8 * s + r] = rows[r].mn[s];
                }
            }
            for c in 0..8 {
                put_nibbles(&mut out[160 + 128 * c..], rows, 32 * c);
            }
        }
        Kind::Q6K => {
            for s in 0..16 {
                for r in 0..ROWS {
                    out[16 + 8 * s + r] = rows[r].sc[s];
                }
            }
            for c in 0..8 {
                put_nibbles(&mut out[144 + 128 * c..], rows, 32 * c);
                // High 2 bits: vector `half` holds group g's bits at bit 2g.
                for half in 0..2 {
                    for r in 0..ROWS {
                        for t in 0..4 {
                            let mut byte = 0u8;
                            for g in 0..4 {
                                let q = rows[r].q[32 * c + 16 * half + 4 * g + t];
                                byte |= ((q >> 4) & 3) << (2 * g);
                            }
                            out[144 + 1024 + 64 * c + 32 * half + 4 * r + t] = byte;
                        }
                    }
                }
            }
        }
    }
}
