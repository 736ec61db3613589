//! The `GetStatus` answer a group handle caches (issue #6: `GetStatus` < 1 µs, scaling
//! across threads).

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// A group handle's last `GetStatus` answer with the [`Inner::epoch`] it was read at, which
/// any number of threads read without writing shared memory: a sequence lock over atomics
/// (`seq` odd while one thread writes; 0 until first written).
#[derive(Default)]
pub(super) struct StatusCache {
    seq: AtomicU64,
    epoch: AtomicU64,
    /// Status word in the high half, job index in the low half.
    answer: AtomicU64,
}

impl StatusCache {
    /// The cached answer when it was read at `epoch`.
    pub(super) fn get(&self, epoch: u64) -> Option<(u32, u32)> {
        let before = self.seq.load(Ordering::Acquire);
        if before == 0 || before % 2 == 1 {
            return None;
        }
        let (at, answer) = (self.epoch.load(Ordering::Relaxed), self.answer.load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != before || at != epoch {
            return None;
        }
        Some(((answer >> 32) as u32, answer as u32))
    }

    /// Caches `answer`, read at `epoch`, unless another thread is writing the cache or an
    /// answer of a later epoch is cached.
    pub(super) fn put(&self, epoch: u64, answer: (u32, u32)) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq % 2 == 1 || self.seq.compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        fence(Ordering::Release);
        if seq == 0 || self.epoch.load(Ordering::Relaxed) <= epoch {
            self.epoch.store(epoch, Ordering::Relaxed);
            self.answer.store(u64::from(answer.0) << 32 | u64::from(answer.1), Ordering::Relaxed);
        }
        self.seq.store(seq + 2, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::StatusCache;

    /// An answer is given back only for the epoch it was read at; a later epoch's answer is
    /// never replaced by an earlier one's.
    #[test]
    fn answers_only_for_their_epoch() {
        let c = StatusCache::default();
        assert_eq!(c.get(0), None, "empty");
        c.put(5, (0x080, 2));
        assert_eq!(c.get(5), Some((0x080, 2)));
        assert_eq!(c.get(6), None);
        c.put(7, (0x140, u32::MAX));
        assert_eq!(c.get(7), Some((0x140, u32::MAX)));
        c.put(6, (0x180, 0));
        assert_eq!(c.get(7), Some((0x140, u32::MAX)), "an older answer does not replace a newer one");
        assert_eq!(c.get(6), None);
    }

    /// Readers racing a writer see a whole answer of one epoch or none, never a mix; and they
    /// do see answers (the test cannot pass by never reading one).
    #[test]
    fn readers_never_see_a_torn_answer() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let c = std::sync::Arc::new(StatusCache::default());
        let latest = std::sync::Arc::new(AtomicU64::new(0));
        let writer = {
            let (c, latest) = (c.clone(), latest.clone());
            std::thread::spawn(move || {
                for e in 1..200_000u64 {
                    c.put(e, (e as u32, !(e as u32)));
                    latest.store(e, Ordering::Release);
                }
            })
        };
        let mut hits = 0u64;
        loop {
            let done = writer.is_finished();
            let e = latest.load(Ordering::Acquire);
            if let Some(answer) = c.get(e) {
                assert_eq!(answer, (e as u32, !(e as u32)), "epoch {e}");
                hits += 1;
            }
            if done {
                break;
            }
        }
        writer.join().unwrap();
        assert!(hits > 0, "the reader saw no answer at all");
        assert_eq!(c.get(199_999), Some((199_999, !199_999)));
    }
}
