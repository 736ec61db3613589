//! `qmgr option`: the queue-wide options (C-API.md "Entry point and options").

use crate::exit::{CmdResult, Exit};
use crate::queue::Queue;
use crate::show::{one_line, pretty};
use qmgr_rs::model::OPTION_NAMES;
use serde_json::{Map, Value};

/// `qmgr option [NAME [VALUE]] [--json]`: every option with its value, one option's value, or
/// sets one (persisted for every process of the queue; DECISIONS D10) and shows it.
///
/// Text: `name = value` lines; for `option NAME`, the bare value. JSON: an object mapping
/// each option shown to its text value.
///
/// Errors (exit 2): an unknown name, a bad value (the message says why; DECISIONS D11, D12).
pub fn option(queue: &Queue, name: Option<&str>, value: Option<&str>, as_json: bool) -> CmdResult {
    let manager = &queue.manager;
    if let (Some(name), Some(value)) = (name, value) {
        manager.set_option(name, value)?;
    }
    let names = name.map_or(OPTION_NAMES.to_vec(), |n| vec![n]);
    let values = names.iter().map(|&n| Ok((n, manager.get_option(n)?))).collect::<qmgr_rs::Result<Vec<_>>>()?;
    if as_json {
        let map: Map<String, Value> = values.into_iter().map(|(n, v)| (n.to_string(), Value::String(v))).collect();
        println!("{}", pretty(&Value::Object(map)));
    } else if let (Some(_), None) = (name, value) {
        println!("{}", one_line(&values[0].1));
    } else {
        let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
        for (n, v) in values {
            let shown = if v.is_empty() { "\"\"".to_string() } else { one_line(&v) };
            println!("{n:<width$} = {shown}");
        }
    }
    Ok(Exit::Success)
}
