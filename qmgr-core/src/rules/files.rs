//! DECISIONS D4: which temporary files go when work is cancelled.

use crate::model::{temp_path_for, FileRecord};
use std::collections::HashSet;
use std::path::PathBuf;

/// The temporary files that cancelling `files` deletes (`CancelGroup`, `CancelJob`, or a
/// group another process cancelled; DECISIONS D3, D4): those of the files not committed —
/// committed files stay under their final names — except any in `in_use`, the temporary
/// files of groups now in the queue (a GUID reused with the same job GUIDs names the same
/// temporary file).
pub fn cancel_cleanup<'a>(files: impl IntoIterator<Item = &'a FileRecord>, in_use: &HashSet<PathBuf>) -> Vec<PathBuf> {
    partial_temp_files(files).filter(|t| !in_use.contains(t)).collect()
}

/// The temporary files of the files in `files` not committed yet.
pub fn partial_temp_files<'a, I: IntoIterator<Item = &'a FileRecord>>(
    files: I,
) -> impl Iterator<Item = PathBuf> + use<'a, I> {
    files.into_iter().filter(|f| !f.complete).map(|f| temp_path_for(&f.local_path, f.job_id, f.index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guid::Guid;
    use crate::model::Validators;

    fn file(index: u32, complete: bool) -> FileRecord {
        FileRecord {
            job_id: Guid::parse("69ad4aee-51be-439b-a92c-86ae490e8b30").unwrap(),
            index,
            url: "http://h/f".into(),
            local_path: format!("/d/f{index}"),
            size_hint: 0,
            bytes_done: 0,
            held_ranges: None,
            validators: Validators::default(),
            checksum: None,
            complete,
        }
    }

    #[test]
    fn only_uncommitted_files_not_in_use() {
        let files = [file(0, true), file(1, false), file(2, false)];
        let t = |f: &FileRecord| temp_path_for(&f.local_path, f.job_id, f.index);
        assert_eq!(cancel_cleanup(&files, &HashSet::new()), [t(&files[1]), t(&files[2])]);
        let in_use = HashSet::from([t(&files[2])]);
        assert_eq!(cancel_cleanup(&files, &in_use), [t(&files[1])]);
    }
}
