//! What a server sees of a file fetched in pieces (DECISIONS D16, `qmgr_rs::rules::segments`):
//! the plan a fetch followed, found from the ranges it asked for.

use qmgr_rs::model::HeldRanges;
use qmgr_rs::rules::segments::plan;

/// The plans a fetch of a `size`-byte file, holding a prefix of at least `from` bytes, may
/// have followed when it asked for a piece starting at `start`: it streams on its opening
/// connection first (`rules::segments::probe`) and plans the rest over `connections` from
/// where that stream stood — a point only the client knows. Every plan of the rest from a
/// prefix `p` (`from ≤ p < start`) with a piece at `start`.
///
/// Piece `i` of `k` from `p` starts at `p + (size − p)·i/k` (rounded down), so
/// `p ≈ (k·start − i·size)/(k − i)`, within `k` bytes; each `k ≤ connections` and `i < k` is
/// tried.
pub fn plans_after_probe(size: u64, from: u64, start: u64, connections: usize) -> Vec<Vec<(u64, u64)>> {
    let mut plans = Vec::new();
    for k in 2..=connections as u64 {
        for i in 1..k {
            let guess = (k * start).saturating_sub(i * size) / (k - i);
            for p in guess.saturating_sub(k)..=guess + k {
                if p < from || p >= start {
                    continue;
                }
                let planned = plan(size, &HeldRanges::prefix(p), connections);
                if planned.iter().any(|piece| piece.0 == start) && !plans.contains(&planned) {
                    plans.push(planned);
                }
            }
        }
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_from_any_probed_prefix_is_found_from_any_of_its_pieces() {
        let size = 48 << 20;
        for p in [0, 1, 724_992, 10_484_064, 13 << 20, (20 << 20) + 7] {
            let planned = plan(size, &HeldRanges::prefix(p), 6);
            for piece in &planned[1..] {
                let found = plans_after_probe(size, 0, piece.0, 6);
                assert!(found.contains(&planned), "prefix {p}, piece {piece:?}: {found:?}");
            }
        }
        assert!(plans_after_probe(size, 30 << 20, 20 << 20, 6).is_empty(), "a start inside the prefix held");
    }
}
