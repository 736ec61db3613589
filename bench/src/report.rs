//! One row of the results table and the markdown writer.

/// One measured quantity of one tool in one scenario: every round's sample, its median, and
/// the ratio to the reference tool of the scenario (qmgr / peer, oriented so that > 1.0 means
/// qmgr is better).
#[derive(Clone, Debug)]
pub struct Row {
    /// Scenario, e.g. "1 GiB file".
    pub scenario: String,
    /// Tool and mode, e.g. "qmgr get", "curl -o".
    pub tool: String,
    /// What is measured, e.g. "throughput".
    pub metric: String,
    /// Unit of the samples, e.g. "MB/s", "files/s", "ns/call".
    pub unit: String,
    /// One sample per round.
    pub samples: Vec<f64>,
    /// Median of `samples`.
    pub median: f64,
    /// Ratio to the scenario's reference, when the row is compared with one.
    pub ratio: Option<f64>,
    /// Target and whether it is met, e.g. "≥ 1.0 × curl: met".
    pub note: String,
}

impl Row {
    /// A row without ratio or note; the median is computed from `samples`.
    pub fn new(scenario: &str, tool: &str, metric: &str, unit: &str, samples: Vec<f64>) -> Row {
        Row {
            scenario: scenario.to_string(),
            tool: tool.to_string(),
            metric: metric.to_string(),
            unit: unit.to_string(),
            median: median(&samples),
            samples,
            ratio: None,
            note: String::new(),
        }
    }

    /// Sets the ratio and the note.
    pub fn compared(mut self, ratio: f64, note: impl Into<String>) -> Row {
        self.ratio = Some(ratio);
        self.note = note.into();
        self
    }

    /// Sets the note.
    pub fn noted(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }
}

/// Median of `v` (mean of the two middle values for an even count); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// "met" / "NOT met" after a target description, e.g. `target("≥ 1.0", r >= 1.0)`.
pub fn target(what: &str, met: bool) -> String {
    format!("{what}: {}", if met { "met" } else { "**not met**" })
}

/// A number with about three significant digits (no exponent).
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Samples shown per row in the table (all are in [`raw`]).
const MAX_SHOWN: usize = 10;

/// The markdown table of `rows`.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | tool | metric | median | samples | ratio | target |\n|---|---|---|---:|---|---:|---|\n",
    );
    for r in rows {
        let mut samples: Vec<String> = r.samples.iter().take(MAX_SHOWN).map(|s| num(*s)).collect();
        if r.samples.len() > MAX_SHOWN {
            samples.push("…".into());
        }
        let ratio = r.ratio.map(|x| format!("{x:.2}×")).unwrap_or_else(|| "—".into());
        out.push_str(&format!(
            "| {} | {} | {} | {} {} | {} | {} | {} |\n",
            r.scenario,
            r.tool,
            r.metric,
            num(r.median),
            r.unit,
            samples.join(" · "),
            ratio,
            if r.note.is_empty() { "—" } else { &r.note }
        ));
    }
    out
}

/// Every sample at full precision, one line per row (tab-separated: scenario, tool, metric,
/// unit, samples…), for re-analysis.
pub fn raw(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let samples: Vec<String> = r.samples.iter().map(|s| format!("{s}")).collect();
        out.push_str(&format!("{}\t{}\t{}\t{}\t{}\n", r.scenario, r.tool, r.metric, r.unit, samples.join("\t")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn numbers_keep_three_digits() {
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1.2345), "1.23");
        assert_eq!(num(0.012345), "0.012");
    }
}
