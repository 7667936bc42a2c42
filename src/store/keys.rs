//! The key layout of the state tree: one byte of record kind, then fixed-width big-endian
//! numbers and 0x00-terminated ids, so byte order is numeric, time and lexical order.
//!
//! Ids never contain control characters (the domain's id types refuse them), so 0x00 ends
//! an id unambiguously and `[kind] "a" 0x00` is never a prefix of `[kind] "ab" 0x00`.
//! Instants are stored as non-negative milliseconds since the Unix epoch.
//! This module owns the encoding; nothing else builds keys by hand.

use chrono::{DateTime, Utc};

/// The one sled tree that holds all derived state.
pub(crate) const STATE_TREE: &str = "state";

/// Record kinds: the first byte of every key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Metadata: applied journal position, layout version.
    Meta = 1,
    /// One event of one file: `[2] file 0 event`.
    Event = 2,
    /// Dedupe index: `[3] event` → content hash and file.
    Dedupe = 3,
    /// File summary: `[4] file`.
    File = 4,
    /// Next alert instant of a file: `[5] ms file`.
    Deadline = 5,
    /// Catalog change by revision: `[8] revision`.
    Catalog = 8,
    /// Files the catalog cannot judge yet: `[9] file`.
    Unjudged = 9,
}

/// `[1] name`.
pub(crate) fn meta(name: &str) -> Vec<u8> {
    let mut key = vec![Kind::Meta as u8];
    key.extend_from_slice(name.as_bytes());
    key
}

/// `[2] file 0 event`.
pub(crate) fn event(file: &str, event: &str) -> Vec<u8> {
    let mut key = events_of(file);
    key.extend_from_slice(event.as_bytes());
    key
}

/// `[2] file 0`: the prefix of every event of `file`.
pub(crate) fn events_of(file: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(file.len() + 2);
    key.push(Kind::Event as u8);
    push_id(&mut key, file);
    key
}

/// `[3] event`.
pub(crate) fn dedupe(event: &str) -> Vec<u8> {
    let mut key = vec![Kind::Dedupe as u8];
    key.extend_from_slice(event.as_bytes());
    key
}

/// `[4] file`.
pub(crate) fn file(file: &str) -> Vec<u8> {
    let mut key = vec![Kind::File as u8];
    key.extend_from_slice(file.as_bytes());
    key
}

/// `[5] ms file`.
pub(crate) fn deadline(at_ms: u64, file: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + file.len());
    key.push(Kind::Deadline as u8);
    key.extend_from_slice(&at_ms.to_be_bytes());
    key.extend_from_slice(file.as_bytes());
    key
}

/// Splits a deadline key into its instant and file id.
pub(crate) fn parse_deadline(key: &[u8]) -> Option<(u64, String)> {
    let rest = key.strip_prefix(&[Kind::Deadline as u8])?;
    let (ms, file) = rest.split_at_checked(8)?;
    let ms = u64::from_be_bytes(ms.try_into().ok()?);
    Some((ms, String::from_utf8(file.to_vec()).ok()?))
}

/// `[8] revision`.
pub(crate) fn catalog(revision: u64) -> Vec<u8> {
    let mut key = vec![Kind::Catalog as u8];
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

/// `[9] file`.
pub(crate) fn unjudged(file: &str) -> Vec<u8> {
    let mut key = vec![Kind::Unjudged as u8];
    key.extend_from_slice(file.as_bytes());
    key
}

/// The prefix of every key of `kind`.
pub(crate) fn prefix(kind: Kind) -> [u8; 1] {
    [kind as u8]
}

/// The id after the kind byte of a `[kind] id` key.
pub(crate) fn id_after_kind(key: &[u8]) -> Option<String> {
    String::from_utf8(key.get(1..)?.to_vec()).ok()
}

/// Milliseconds since the epoch of a non-negative instant.
pub(crate) fn to_ms(instant: DateTime<Utc>) -> Option<u64> {
    u64::try_from(instant.timestamp_millis()).ok()
}

/// The instant of stored milliseconds.
pub(crate) fn from_ms(ms: u64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)
}

fn push_id(key: &mut Vec<u8>, id: &str) {
    key.extend_from_slice(id.as_bytes());
    key.push(0);
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn deadline_keys_sort_by_time_then_file() {
        let early = deadline(1_000, "zzz");
        let late = deadline(2_000, "aaa");
        let much_later = deadline(256_000, "aaa");
        assert!(early < late);
        assert!(late < much_later);
        assert_eq!(parse_deadline(&late), Some((2_000, "aaa".to_owned())));
    }

    #[test]
    fn event_prefix_of_a_file_is_not_a_prefix_of_a_longer_file() {
        let key = event("ab", "e1");
        assert!(!key.starts_with(&events_of("a")));
        assert!(key.starts_with(&events_of("ab")));
    }

    #[test]
    fn kinds_do_not_overlap() {
        assert!(file("x") < deadline(0, "x"));
        assert!(dedupe("x") < file("x"));
        assert!(catalog(u64::MAX) < unjudged(""));
    }

    #[test]
    fn instants_round_trip_and_negative_ones_are_refused() {
        let at = Utc.with_ymd_and_hms(2025, 1, 24, 9, 30, 0).unwrap();
        assert_eq!(from_ms(to_ms(at).unwrap()), Some(at));
        let before_epoch = Utc.with_ymd_and_hms(1969, 12, 31, 0, 0, 0).unwrap();
        assert_eq!(to_ms(before_epoch), None);
    }
}
