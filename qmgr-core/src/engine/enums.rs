//! The enumerators (`IEnumBackgroundCopyGroups`, `IEnumBackgroundCopyJobs1`).

use crate::guid::Guid;
use std::sync::Arc;

/// A cursor over a snapshot of GUIDs, shared by both enumerators.
#[derive(Clone, Debug)]
struct GuidCursor {
    ids: Arc<Vec<Guid>>,
    pos: usize,
}

impl GuidCursor {
    fn new(ids: Vec<Guid>) -> Self {
        GuidCursor { ids: Arc::new(ids), pos: 0 }
    }
    fn next(&mut self, celt: usize) -> &[Guid] {
        let start = self.pos.min(self.ids.len());
        let end = start.saturating_add(celt).min(self.ids.len());
        self.pos = end;
        &self.ids[start..end]
    }
    fn skip(&mut self, celt: usize) -> bool {
        let left = self.ids.len() - self.pos.min(self.ids.len());
        self.pos = self.pos.saturating_add(celt).min(self.ids.len());
        celt <= left
    }
}

/// An enumerator of group or job GUIDs (`IEnumBackgroundCopyGroups`,
/// `IEnumBackgroundCopyJobs1`): a snapshot taken at creation, in creation order.
///
/// `Clone` is the COM `Clone`: same snapshot, independent cursor. It is also an [`Iterator`]
/// from the current position.
#[derive(Clone, Debug)]
pub struct GuidEnum(GuidCursor);

/// The enumerator [`Manager::enum_groups`](super::Manager::enum_groups) returns.
pub type GroupEnum = GuidEnum;
/// The enumerator [`Group::enum_jobs`](super::Group::enum_jobs) returns.
pub type JobEnum = GuidEnum;

impl GuidEnum {
    /// An enumerator over `ids`, cursor at the start.
    pub(super) fn from_ids(ids: Vec<Guid>) -> GuidEnum {
        GuidEnum(GuidCursor::new(ids))
    }
    /// `Next`: up to `celt` GUIDs from the cursor (fewer at the end: `S_FALSE` in C).
    pub fn next_batch(&mut self, celt: usize) -> Vec<Guid> {
        self.0.next(celt).to_vec()
    }
    /// `Skip`: advances `celt`; false when fewer were left (`S_FALSE` in C).
    pub fn skip_items(&mut self, celt: usize) -> bool {
        self.0.skip(celt)
    }
    /// `Reset`: back to the start.
    pub fn reset(&mut self) {
        self.0.pos = 0;
    }
    /// `GetCount`: size of the snapshot, independent of the cursor.
    pub fn count_all(&self) -> usize {
        self.0.ids.len()
    }
}

impl Iterator for GuidEnum {
    type Item = Guid;
    fn next(&mut self) -> Option<Guid> {
        self.0.next(1).first().copied()
    }
}
