//! `IBackgroundCopyJob1`.

use crate::boundary::{arg_ref, array_item, guard, guard_value, null, runner_warning, Done, Out};
use crate::handles;
use crate::strings::{arg_str, to_c};
use crate::types::*;
use qmgr_core::hresult::{S_FALSE, S_OK};
use qmgr_core::model::status;
use qmgr_core::FileSpec;
use std::ffi::c_char;

/// IUnknown::AddRef of a job. Returns the new count (0 for an invalid handle).
#[no_mangle]
pub extern "C" fn qmgr_job_add_ref(job: *mut qmgr_job) -> u32 {
    guard_value("qmgr_job_add_ref", 0, || handles::add_ref(job))
}

/// IUnknown::Release of a job. Returns the new count (0 when this was the last reference,
/// for NULL and for an invalid handle).
#[no_mangle]
pub extern "C" fn qmgr_job_release(job: *mut qmgr_job) -> u32 {
    guard_value("qmgr_job_release", 0, || handles::release(job))
}

/// IBackgroundCopyJob1::CancelJob: removes the job from its group. Its finished files stay,
/// its partial data is deleted, a running transfer of it is aborted and the group goes on
/// with its next job. The handle then answers QM_E_INVALID_STATE (DECISIONS D1).
///
/// Returns QMGR_S_OK; QMGR_E_HANDLE for a bad job; QM_E_INVALID_STATE when the job or its
/// group is cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_cancel_job(job: *mut qmgr_job) -> qmgr_hresult {
    guard("qmgr_job_cancel_job", || {
        handles::get(job, "job")?.cancel()?;
        Ok(S_OK)
    })
}

/// IBackgroundCopyJob1::GetProgress of this job; units as qmgr_group_get_progress.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if progress_out is NULL; QMGR_E_HANDLE for a bad job;
/// QMGR_E_INVALIDARG for unknown flags; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_get_progress(job: *mut qmgr_job, flags: u32, progress_out: *mut u32) -> qmgr_hresult {
    guard("qmgr_job_get_progress", || {
        let j = handles::get(job, "job")?;
        let out = Out::new(progress_out, "progress_out")?;
        Ok(Done::ok(out.set(j.progress(flags)?)))
    })
}

/// IBackgroundCopyJob1::GetStatus: `*status_out` = QM_STATUS_JOB_INCOMPLETE or _COMPLETE,
/// plus _JOB_ERROR on a fatal error, plus _JOB_FOREGROUND; `*win32_result_out` = Win32 code
/// (or BG_E_HTTP_ERROR_nnn) of the job's current error, `*transport_result_out` = its HTTP
/// status (0 when none); `*num_of_retries_out` = failed attempts so far, never reset
/// (DECISIONS D3, D5, D11).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if an output is NULL; QMGR_E_HANDLE for a bad job;
/// QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_get_status(
    job: *mut qmgr_job,
    status_out: *mut u32,
    win32_result_out: *mut u32,
    transport_result_out: *mut u32,
    num_of_retries_out: *mut u32,
) -> qmgr_hresult {
    guard("qmgr_job_get_status", || {
        let j = handles::get(job, "job")?;
        let s = Out::new(status_out, "status_out")?;
        let w = Out::new(win32_result_out, "win32_result_out")?;
        let t = Out::new(transport_result_out, "transport_result_out")?;
        let r = Out::new(num_of_retries_out, "num_of_retries_out")?;
        let st = j.status()?;
        runner_warning("qmgr_job_get_status", j.take_runner_warning());
        Ok(Done::ok((s.set(st.status), w.set(st.win32_result), t.set(st.transport_result), r.set(st.num_of_retries))))
    })
}

/// IBackgroundCopyJob1::AddFiles: appends `file_count` files. `file_set` is an array of
/// `file_count` POINTERS, each to one qmgr_fileset_info (as the IDL says). All or nothing:
/// one invalid entry rejects the whole call. Strings are copied. `file_count` 0 adds nothing
/// (`file_set` may then be NULL) but the job's state is checked as for any other count.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if file_set, an entry, or a string of an entry is NULL;
/// QMGR_E_HANDLE for a bad job; QM_E_INVALID_STATE when the group is running, complete or
/// cancelled; QMGR_E_INVALIDARG for a bad URL (not ASCII, over 2200 characters, malformed,
/// scheme of another protocol) or local path (relative, over 4096 bytes, missing directory,
/// already a destination in the group, not UTF-8); QMGR_E_ACCESSDENIED if the directory is
/// not writable. The last-error message names the file index and the problem.
#[no_mangle]
pub extern "C" fn qmgr_job_add_files(
    job: *mut qmgr_job,
    file_count: u32,
    file_set: *const *const qmgr_fileset_info,
) -> qmgr_hresult {
    guard("qmgr_job_add_files", || {
        let j = handles::get(job, "job")?;
        if file_count > 0 && file_set.is_null() {
            return Err(null("file_set"));
        }
        let mut files = Vec::with_capacity(file_count as usize);
        for i in 0..file_count as usize {
            let info = arg_ref(array_item(file_set, file_count as usize, i), &format!("file_set[{i}]"))?;
            files.push(FileSpec {
                url: arg_str(info.remote_file, &format!("file_set[{i}]->remote_file"))?.to_string(),
                local_path: arg_str(info.local_file, &format!("file_set[{i}]->local_file"))?.to_string(),
                size_hint: info.size_hint,
            });
        }
        j.add_files(&files)?;
        Ok(S_OK)
    })
}

/// IBackgroundCopyJob1::GetFile: fills `*file_info_out` with the file's URL and local path
/// (library-allocated: free with qmgr_fileset_info_clear) and its size hint.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if file_info_out is NULL; QMGR_E_HANDLE for a bad job;
/// QM_E_ITEM_NOT_FOUND if file_index >= the file count; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_get_file(
    job: *mut qmgr_job,
    file_index: u32,
    file_info_out: *mut qmgr_fileset_info,
) -> qmgr_hresult {
    guard("qmgr_job_get_file", || {
        let j = handles::get(job, "job")?;
        let out = Out::new(file_info_out, "file_info_out")?;
        let f = j.file(file_index)?;
        let info =
            qmgr_fileset_info { remote_file: to_c(&f.url), local_file: to_c(&f.local_path), size_hint: f.size_hint };
        Ok(Done::ok(out.set(info)))
    })
}

/// IBackgroundCopyJob1::GetFileCount: number of files in the job.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if file_count_out is NULL; QMGR_E_HANDLE for a bad job;
/// QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_get_file_count(job: *mut qmgr_job, file_count_out: *mut u32) -> qmgr_hresult {
    guard("qmgr_job_get_file_count", || {
        let j = handles::get(job, "job")?;
        let out = Out::new(file_count_out, "file_count_out")?;
        Ok(Done::ok(out.set(j.file_count()?)))
    })
}

/// IBackgroundCopyJob1::SwitchToForeground: sets QM_STATUS_JOB_FOREGROUND and makes the
/// job's group foreground (DECISIONS D1).
///
/// Returns QMGR_S_OK; QMGR_E_HANDLE for a bad job; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_switch_to_foreground(job: *mut qmgr_job) -> qmgr_hresult {
    guard("qmgr_job_switch_to_foreground", || {
        handles::get(job, "job")?.switch_to_foreground()?;
        Ok(S_OK)
    })
}

/// IBackgroundCopyJob1::get_JobID: the GUID given to CreateJob (also once cancelled).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if job_id_out is NULL; QMGR_E_HANDLE for a bad job.
#[no_mangle]
pub extern "C" fn qmgr_job_get_job_id(job: *mut qmgr_job, job_id_out: *mut qmgr_guid) -> qmgr_hresult {
    guard("qmgr_job_get_job_id", || {
        let j = handles::get(job, "job")?;
        let out = Out::new(job_id_out, "job_id_out")?;
        Ok(Done::ok(out.set(j.id().into())))
    })
}

/// Extension: 64-bit progress of the job: `*bytes_done_out`, `*bytes_total_out`
/// (UINT64_MAX while any size is unknown).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if an output is NULL; QMGR_E_HANDLE for a bad job;
/// QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_get_progress64(
    job: *mut qmgr_job,
    bytes_done_out: *mut u64,
    bytes_total_out: *mut u64,
) -> qmgr_hresult {
    guard("qmgr_job_get_progress64", || {
        let j = handles::get(job, "job")?;
        let d = Out::new(bytes_done_out, "bytes_done_out")?;
        let t = Out::new(bytes_total_out, "bytes_total_out")?;
        let (done, total) = j.progress64()?;
        Ok(Done::ok((d.set(done), t.set(total))))
    })
}

/// Extension: one file's progress: bytes done, total (UINT64_MAX while unknown), and
/// QM_STATUS_FILE_COMPLETE or QM_STATUS_FILE_INCOMPLETE.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if an output is NULL; QMGR_E_HANDLE for a bad job;
/// QM_E_ITEM_NOT_FOUND if file_index >= the file count; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_get_file_progress(
    job: *mut qmgr_job,
    file_index: u32,
    bytes_done_out: *mut u64,
    bytes_total_out: *mut u64,
    file_status_out: *mut u32,
) -> qmgr_hresult {
    guard("qmgr_job_get_file_progress", || {
        let j = handles::get(job, "job")?;
        let d = Out::new(bytes_done_out, "bytes_done_out")?;
        let t = Out::new(bytes_total_out, "bytes_total_out")?;
        let s = Out::new(file_status_out, "file_status_out")?;
        let (done, total, complete) = j.file_progress(file_index)?;
        let file_status = if complete { status::FILE_COMPLETE } else { status::FILE_INCOMPLETE };
        Ok(Done::ok((d.set(done), t.set(total), s.set(file_status))))
    })
}

/// Extension: the human-readable cause of the job's current error (transient or fatal) in
/// `*message_out` (free with qmgr_string_free); QMGR_S_FALSE and NULL when it has none.
///
/// Returns QMGR_S_OK, QMGR_S_FALSE; QMGR_E_POINTER if message_out is NULL; QMGR_E_HANDLE
/// for a bad job; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_job_get_error_message(job: *mut qmgr_job, message_out: *mut *mut c_char) -> qmgr_hresult {
    guard("qmgr_job_get_error_message", || {
        let j = handles::get(job, "job")?;
        let out = Out::new(message_out, "message_out")?;
        Ok(match j.error_message()? {
            Some(m) => Done::ok(out.set(to_c(&m))),
            None => Done::new(S_FALSE, out.set(std::ptr::null_mut())),
        })
    })
}

/// Extension (DECISIONS D15): sets the expected digest of file `file_index` of the job.
/// `algorithm` is "sha-256" or "sha-512" (any case); `hex_digest` is the digest in hex, 64 or
/// 128 digits (any case). Both strings are read during the call only. Persisted before the
/// call returns; setting it again replaces it.
///
/// The library hashes the file as it writes it (a file resumed later re-reads the bytes it
/// kept, once; a checksum set while the file is being fetched is checked at its end) and
/// compares the digest before the file gets its final name. A mismatch is a fatal job error:
/// the group goes to ERROR, qmgr_job_get_status gives win32_result = QMGR_E_BAD_DIGEST (as
/// uint32_t, 0x80096010) and transport_result 0, qmgr_job_get_error_message names the
/// algorithm, the expected and the actual digest, and the temporary file is deleted (a resume
/// fetches the file again from zero). Server digests (Repr-Digest, Content-Digest) are checked
/// the same way with or without a checksum.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if algorithm or hex_digest is NULL; QMGR_E_HANDLE for a
/// bad job; QMGR_E_INVALIDARG for an unknown algorithm, a digest of the wrong length, a
/// character that is not a hex digit, a string that is not UTF-8, or a file_index not below
/// the file count (the last-error message names the argument); QM_E_INVALID_STATE when the
/// job or its group is cancelled, or the file is complete (or fetched and being committed).
#[no_mangle]
pub extern "C" fn qmgr_job_set_file_checksum(
    job: *mut qmgr_job,
    file_index: u32,
    algorithm: *const c_char,
    hex_digest: *const c_char,
) -> qmgr_hresult {
    guard("qmgr_job_set_file_checksum", || {
        let j = handles::get(job, "job")?;
        let algorithm = arg_str(algorithm, "algorithm")?;
        let hex_digest = arg_str(hex_digest, "hex_digest")?;
        j.set_file_checksum(file_index, algorithm, hex_digest)?;
        Ok(S_OK)
    })
}
