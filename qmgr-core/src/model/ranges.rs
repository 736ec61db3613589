//! [`HeldRanges`]: the bytes of a file fetched in segments that its temporary file holds
//! (DECISIONS D16: "A segmented file's checkpoint records the byte ranges held").

use std::fmt;

/// The byte ranges of a remote file that its temporary file holds: half-open `[start, end)`
/// ranges of file offsets, kept sorted, disjoint and merged (two ranges never touch), none
/// empty. A file fetched in one stream holds one range from 0 (its `bytes_done`); a file
/// fetched in segments (DECISIONS D16) may hold several, and its checkpoint records them.
///
/// Text form (the store's column `files.held_ranges`): `start-end` pairs in decimal joined by
/// `,`, e.g. `0-4194304,8388608-9437184`; the empty set is the empty string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldRanges(Vec<(u64, u64)>);

impl HeldRanges {
    /// No bytes held.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first `len` bytes.
    pub fn prefix(len: u64) -> Self {
        let mut r = Self::new();
        r.add(0, len);
        r
    }

    /// The ranges, sorted, as `(start, end)` with `end` exclusive.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// Bytes held in all.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&(s, e)| e - s).sum()
    }

    /// Bytes held from offset 0 without a gap.
    pub fn prefix_len(&self) -> u64 {
        match self.0.first() {
            Some(&(0, end)) => end,
            _ => 0,
        }
    }

    /// True when the bytes held are the first [`HeldRanges::total`] bytes (nothing, or one
    /// range from 0): what a file fetched in one stream holds.
    pub fn is_prefix(&self) -> bool {
        self.prefix_len() == self.total()
    }

    /// Where the last range ends (0 when nothing is held): the temporary file is at least
    /// this long.
    pub fn end(&self) -> u64 {
        self.0.last().map_or(0, |&(_, e)| e)
    }

    /// Marks `[start, end)` as held (nothing when empty), merging it with the ranges it
    /// overlaps or touches.
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        // Ranges wholly before or after the new one (not even touching) stay as they are.
        let first = self.0.partition_point(|&(_, e)| e < start);
        let last = self.0.partition_point(|&(s, _)| s <= end);
        if first < last {
            start = start.min(self.0[first].0);
            end = end.max(self.0[last - 1].1);
        }
        self.0.splice(first..last, [(start, end)]);
    }

    /// The ranges of `[0, total)` not held, sorted (held bytes at or past `total` ignored).
    pub fn gaps(&self, total: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for &(s, e) in &self.0 {
            if s >= total {
                break;
            }
            if s > at {
                gaps.push((at, s));
            }
            at = at.max(e);
        }
        if at < total {
            gaps.push((at, total));
        }
        gaps
    }

    /// Parses the text form ([`HeldRanges`]); `None` when it is not one (a range that is
    /// empty, reversed, out of order or overlapping another is not).
    pub fn parse(text: &str) -> Option<HeldRanges> {
        let mut out = HeldRanges::new();
        if text.is_empty() {
            return Some(out);
        }
        for pair in text.split(',') {
            let (s, e) = pair.split_once('-')?;
            let (s, e) = (s.parse::<u64>().ok()?, e.parse::<u64>().ok()?);
            if s >= e || s <= out.end() && !out.0.is_empty() {
                return None;
            }
            out.0.push((s, e));
        }
        Some(out)
    }
}

impl fmt::Display for HeldRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (s, e)) in self.0.iter().enumerate() {
            write!(f, "{}{s}-{e}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(pairs: &[(u64, u64)]) -> HeldRanges {
        let mut h = HeldRanges::new();
        for &(s, e) in pairs {
            h.add(s, e);
        }
        h
    }

    #[test]
    fn adding_merges_overlapping_and_touching_ranges() {
        assert_eq!(r(&[(10, 20), (0, 5)]).ranges(), &[(0, 5), (10, 20)]);
        assert_eq!(r(&[(0, 5), (5, 10)]).ranges(), &[(0, 10)], "touching ranges merge");
        assert_eq!(r(&[(0, 5), (10, 20), (30, 40), (4, 31)]).ranges(), &[(0, 40)]);
        assert_eq!(r(&[(10, 20), (12, 15)]).ranges(), &[(10, 20)]);
        assert_eq!(r(&[(10, 20), (7, 7)]).ranges(), &[(10, 20)], "an empty range adds nothing");
        let h = r(&[(0, 100), (200, 250)]);
        assert_eq!((h.total(), h.prefix_len(), h.end()), (150, 100, 250));
        assert_eq!(r(&[(5, 9)]).prefix_len(), 0);
        assert!(HeldRanges::new().is_prefix() && HeldRanges::prefix(9).is_prefix());
        assert!(!r(&[(5, 9)]).is_prefix() && !h.is_prefix());
        assert_eq!(HeldRanges::prefix(0), HeldRanges::new());
    }

    #[test]
    fn gaps_are_what_is_not_held() {
        assert_eq!(HeldRanges::new().gaps(10), vec![(0, 10)]);
        assert_eq!(r(&[(0, 4), (6, 8)]).gaps(10), vec![(4, 6), (8, 10)]);
        assert_eq!(r(&[(2, 10)]).gaps(10), vec![(0, 2)]);
        assert_eq!(r(&[(0, 10)]).gaps(10), vec![]);
        assert_eq!(r(&[(0, 4), (12, 20)]).gaps(10), vec![(4, 10)], "past the end is ignored");
        assert_eq!(HeldRanges::new().gaps(0), vec![]);
    }

    #[test]
    fn text_form_round_trips_and_refuses_nonsense() {
        let h = r(&[(0, 4_194_304), (8_388_608, 9_437_184)]);
        assert_eq!(h.to_string(), "0-4194304,8388608-9437184");
        assert_eq!(HeldRanges::parse(&h.to_string()), Some(h));
        assert_eq!(HeldRanges::parse(""), Some(HeldRanges::new()));
        for bad in ["5-5", "9-3", "0-4,2-8", "0-4,4-8", "4-8,0-2", "x", "1-", "-1", "0-4,", "0-4;5-6"] {
            assert_eq!(HeldRanges::parse(bad), None, "{bad}");
        }
    }
}
