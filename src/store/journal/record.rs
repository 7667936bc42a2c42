//! The record codec: one journal record to bytes and back.
//!
//! Owns the byte layout described in the [journal module docs](super); it must never do I/O
//! beyond reading from the reader it is handed, and never allocate a payload buffer before the
//! claimed length has been checked against [`MAX_PAYLOAD_BYTES`].

use std::io::{self, Read};

use super::error::RecordDamage;

/// The magic/version byte that opens every record: `0xD` marks a dunghan journal record, `1` is
/// the format version.
pub const RECORD_MAGIC_V1: u8 = 0xD1;

/// Length of a record header in bytes: magic (1) + sequence (8) + payload length (4) + crc (4).
pub const HEADER_LEN: usize = 17;

/// The largest payload a record may carry, in bytes (4 MiB).
///
/// Part of the format: a header claiming more is damage, and an append with more is refused.
pub const MAX_PAYLOAD_BYTES: u32 = 4 * 1024 * 1024;

/// Offset of the checksum within the header; the checksum covers the bytes before it.
const CRC_OFFSET: usize = 13;

/// The result of reading one record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A whole, valid record.
    Record { seq: u64, payload: Vec<u8> },
    /// The input ended cleanly at a record boundary.
    End,
    /// The bytes at this position are not a valid record.
    Damaged(RecordDamage),
}

/// Appends the encoding of one record to `out`.
///
/// The caller has checked `payload.len() <= MAX_PAYLOAD_BYTES`.
pub(crate) fn encode_record(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len =
        u32::try_from(payload.len()).expect("caller checked the payload against MAX_PAYLOAD_BYTES");
    let start = out.len();
    out.push(RECORD_MAGIC_V1);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    let crc = checksum(&out[start..start + CRC_OFFSET], payload);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Returns the encoded length of a record carrying `payload_len` bytes.
pub(crate) fn record_len(payload_len: usize) -> u64 {
    (HEADER_LEN + payload_len) as u64
}

/// Reads one record from `reader`.
///
/// # Errors
/// Only the reader's own I/O errors; damaged bytes are a [`Decoded::Damaged`] value.
pub(crate) fn read_record(reader: &mut impl Read) -> io::Result<Decoded> {
    let mut header = [0u8; HEADER_LEN];
    let n_header = read_full(reader, &mut header)?;
    if n_header == 0 {
        return Ok(Decoded::End);
    }
    if n_header < HEADER_LEN {
        return Ok(Decoded::Damaged(RecordDamage::TornHeader {
            available: n_header,
            needed: HEADER_LEN,
        }));
    }
    if header[0] != RECORD_MAGIC_V1 {
        return Ok(Decoded::Damaged(RecordDamage::BadMagic {
            found: header[0],
        }));
    }
    let seq = u64::from_be_bytes(header[1..9].try_into().expect("slice of 8 bytes"));
    let len = u32::from_be_bytes(header[9..13].try_into().expect("slice of 4 bytes"));
    let stored = u32::from_be_bytes(header[13..17].try_into().expect("slice of 4 bytes"));
    if len > MAX_PAYLOAD_BYTES {
        return Ok(Decoded::Damaged(RecordDamage::PayloadTooLarge {
            len,
            max: MAX_PAYLOAD_BYTES,
        }));
    }
    let mut payload = vec![0u8; len as usize];
    let n_payload = read_full(reader, &mut payload)?;
    if n_payload < payload.len() {
        return Ok(Decoded::Damaged(RecordDamage::TornPayload {
            available: n_payload,
            needed: payload.len(),
        }));
    }
    let computed = checksum(&header[..CRC_OFFSET], &payload);
    if computed != stored {
        return Ok(Decoded::Damaged(RecordDamage::BadChecksum {
            stored,
            computed,
        }));
    }
    Ok(Decoded::Record { seq, payload })
}

/// CRC-32C over the header fields before the checksum, then the payload.
fn checksum(header_fields: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(header_fields), payload)
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    // Tests may unwrap: a panic is the failure report.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn encoded(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record(seq, payload, &mut out);
        out
    }

    #[track_caller]
    fn check(bytes: &[u8], expected: Decoded) {
        let decoded = read_record(&mut &bytes[..]).unwrap();
        assert_eq!(decoded, expected, "bytes={bytes:02x?}");
    }

    #[test]
    fn journal_record_round_trips() {
        for (seq, payload) in [(1u64, &b""[..]), (42, b"x"), (u64::MAX, &[0xAB; 1000][..])] {
            let bytes = encoded(seq, payload);
            assert_eq!(bytes.len() as u64, record_len(payload.len()));
            check(
                &bytes,
                Decoded::Record {
                    seq,
                    payload: payload.to_vec(),
                },
            );
        }
    }

    #[test]
    fn journal_record_layout_is_documented_layout() {
        let bytes = encoded(0x0102_0304_0506_0708, b"hi");
        assert_eq!(bytes[0], 0xD1);
        assert_eq!(&bytes[1..9], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[9..13], &[0, 0, 0, 2]);
        let crc = crc32c::crc32c(&[&bytes[..13], b"hi"].concat());
        assert_eq!(&bytes[13..17], &crc.to_be_bytes());
        assert_eq!(&bytes[17..], b"hi");
    }

    #[test]
    fn journal_record_reads_consecutive_records_then_end() {
        let mut bytes = encoded(7, b"first");
        encode_record(8, b"second", &mut bytes);
        let mut reader = &bytes[..];
        assert_eq!(
            read_record(&mut reader).unwrap(),
            Decoded::Record {
                seq: 7,
                payload: b"first".to_vec()
            }
        );
        assert_eq!(
            read_record(&mut reader).unwrap(),
            Decoded::Record {
                seq: 8,
                payload: b"second".to_vec()
            }
        );
        assert_eq!(read_record(&mut reader).unwrap(), Decoded::End);
    }

    #[test]
    fn journal_record_empty_input_is_end() {
        check(&[], Decoded::End);
    }

    #[test]
    fn journal_record_torn_header_is_damage() {
        let bytes = encoded(1, b"payload");
        for cut in 1..HEADER_LEN {
            check(
                &bytes[..cut],
                Decoded::Damaged(RecordDamage::TornHeader {
                    available: cut,
                    needed: HEADER_LEN,
                }),
            );
        }
    }

    #[test]
    fn journal_record_torn_payload_is_damage() {
        let bytes = encoded(1, b"payload");
        for cut in HEADER_LEN..bytes.len() {
            check(
                &bytes[..cut],
                Decoded::Damaged(RecordDamage::TornPayload {
                    available: cut - HEADER_LEN,
                    needed: 7,
                }),
            );
        }
    }

    #[test]
    fn journal_record_any_flipped_bit_is_damage() {
        let bytes = encoded(5, b"some payload");
        for byte_idx in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[byte_idx] ^= 1 << bit;
                let decoded = read_record(&mut &flipped[..]).unwrap();
                assert!(
                    matches!(decoded, Decoded::Damaged(_)),
                    "byte {byte_idx} bit {bit} gave {decoded:?}"
                );
            }
        }
    }

    #[test]
    fn journal_record_bad_crc_is_damage() {
        let mut bytes = encoded(3, b"abc");
        bytes[HEADER_LEN] ^= 0xFF;
        let decoded = read_record(&mut &bytes[..]).unwrap();
        assert!(
            matches!(decoded, Decoded::Damaged(RecordDamage::BadChecksum { .. })),
            "{decoded:?}"
        );
    }

    #[test]
    fn journal_record_bad_magic_is_damage() {
        let mut bytes = encoded(3, b"abc");
        bytes[0] = 0;
        check(
            &bytes,
            Decoded::Damaged(RecordDamage::BadMagic { found: 0 }),
        );
    }

    #[test]
    fn journal_record_oversized_length_is_damage_without_allocating() {
        let mut bytes = encoded(3, b"abc");
        bytes[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
        check(
            &bytes,
            Decoded::Damaged(RecordDamage::PayloadTooLarge {
                len: u32::MAX,
                max: MAX_PAYLOAD_BYTES,
            }),
        );
    }
}
