//! The queue's rules: every decision of `DECISIONS.md` that the engine makes, as pure
//! functions of (state, event, `now`, options). Nothing here takes a lock, starts a thread,
//! reads a clock or touches the store or the network: threads, locks and I/O in
//! [`crate::engine`] call these functions and carry out what they decide. Unit tests call them
//! directly, table-style (quiche's habit; STYLE.md).

pub mod classify;
