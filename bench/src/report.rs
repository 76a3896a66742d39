//! Rows of the result table: medians over repeats, the spread flag, Markdown and JSON.

use serde::Serialize;
use std::time::Duration;

/// Repeats whose (max − min) / median exceeds this are flagged as a wide spread.
const WIDE_SPREAD: f64 = 0.20;

/// One repeat of one measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// The headline value (events/s, ops/s, seconds, MiB …).
    pub value: f64,
    /// Median latency of one operation, when the measurement has one.
    pub p50: Option<Duration>,
    /// 99th-percentile latency of one operation.
    pub p99: Option<Duration>,
}

/// The median of several samples of one side (ledger or peer).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Median of the values.
    pub median: f64,
    /// Every value, in the order measured.
    pub values: Vec<f64>,
    /// (max − min) / median.
    pub spread: f64,
    /// Median of the per-repeat p50 latencies, in milliseconds.
    pub p50_ms: Option<f64>,
    /// Median of the per-repeat p99 latencies, in milliseconds.
    pub p99_ms: Option<f64>,
}

impl Summary {
    /// Summarises the repeats of one measurement.
    pub fn of(samples: &[Sample]) -> Summary {
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let middle = median(&values);
        let (lo, hi) = values
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let ms = |pick: fn(&Sample) -> Option<Duration>| {
            let found: Vec<f64> = samples
                .iter()
                .filter_map(pick)
                .map(|d| d.as_secs_f64() * 1e3)
                .collect();
            (!found.is_empty()).then(|| median(&found))
        };
        Summary {
            median: middle,
            spread: if middle > 0.0 {
                (hi - lo) / middle
            } else {
                0.0
            },
            values,
            p50_ms: ms(|s| s.p50),
            p99_ms: ms(|s| s.p99),
        }
    }

    fn wide(&self) -> bool {
        self.spread > WIDE_SPREAD
    }
}

/// The median of `values` (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured.
    pub operation: String,
    /// The unit of `ledger` and `peer` (`ops/s`, `events/s`, `s`, `MiB`).
    pub unit: &'static str,
    /// The ledger's figure.
    pub ledger: Summary,
    /// The relational peer's figure, where there is one.
    pub peer: Option<Summary>,
    /// ledger / peer medians.
    pub ratio: Option<f64>,
    /// True when any side's repeats spread more than 20 % around the median.
    pub wide_spread: bool,
    /// Anything a reader of the figure should know (errors, saturation).
    pub note: String,
}

impl Row {
    /// A row with the ledger only.
    pub fn ledger(operation: impl Into<String>, unit: &'static str, samples: &[Sample]) -> Row {
        let ledger = Summary::of(samples);
        Row {
            operation: operation.into(),
            unit,
            wide_spread: ledger.wide(),
            ledger,
            peer: None,
            ratio: None,
            note: String::new(),
        }
    }

    /// A row comparing the ledger with the peer.
    pub fn compared(
        operation: impl Into<String>,
        unit: &'static str,
        ledger: &[Sample],
        peer: &[Sample],
    ) -> Row {
        let mut row = Row::ledger(operation, unit, ledger);
        let peer = Summary::of(peer);
        row.ratio = (peer.median > 0.0).then(|| row.ledger.median / peer.median);
        row.wide_spread |= peer.wide();
        row.peer = Some(peer);
        row
    }

    /// A row with the peer only (the `peer` suite).
    pub fn peer_only(operation: impl Into<String>, unit: &'static str, samples: &[Sample]) -> Row {
        let mut row = Row::ledger(operation, unit, &[]);
        let peer = Summary::of(samples);
        row.wide_spread = peer.wide();
        row.peer = Some(peer);
        row
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }
}

/// Where and when the rows were measured.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available (`nproc`).
    pub nproc: usize,
    /// `git rev-parse HEAD` of the working tree (with `-dirty` if it has changes).
    pub git_commit: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// `/proc/loadavg` at the start: the machine is shared, so say how busy it was.
    pub loadavg_start: String,
    /// `/proc/loadavg` at the end.
    pub loadavg_end: String,
}

impl Machine {
    /// Reads the machine facts now.
    pub fn now() -> Machine {
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            git_commit: git_commit(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            loadavg_start: loadavg(),
            loadavg_end: String::new(),
        }
    }
}

/// `/proc/loadavg`, trimmed (empty where there is none).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(head) = run(&["rev-parse", "HEAD"]) else {
        return "unknown".into();
    };
    match run(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{head}-dirty"),
        _ => head,
    }
}

/// The whole result: machine, mode, rows, wall time.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Machine facts.
    pub machine: Machine,
    /// `quick` or `full`.
    pub mode: &'static str,
    /// The sub-benchmarks that ran.
    pub suites: Vec<String>,
    /// The table.
    pub rows: Vec<Row>,
    /// Wall time of the whole run in seconds.
    pub wall_secs: f64,
}

fn number(value: f64) -> String {
    if value >= 100.0 {
        let whole = format!("{:.0}", value);
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn latency(ledger: Option<f64>, peer: Option<f64>) -> String {
    let ms = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2} ms"));
    match peer {
        Some(_) => format!("{} / {}", ms(ledger), ms(peer)),
        None => ms(ledger),
    }
}

impl Report {
    /// The table as Markdown (latencies in a compared row are "ledger / peer").
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "alert-ledger bench ({} mode): {} cores, commit {}, {}; load average at start {}, at end {}; {:.0} s wall\n\n",
            self.mode, m.nproc, m.git_commit, m.started_at, m.loadavg_start, m.loadavg_end, self.wall_secs
        );
        out.push_str("| operation | ledger | peer | ratio ledger/peer | p50 | p99 | spread |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---|\n");
        for row in &self.rows {
            let peer = row.peer.as_ref();
            let spread = if row.wide_spread { "wide" } else { "ok" };
            let note = if row.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", row.note)
            };
            let ledger = match row.ledger.values.is_empty() {
                true => "–".to_owned(),
                false => format!("{} {}", number(row.ledger.median), row.unit),
            };
            out.push_str(&format!(
                "| {}{} | {} | {} | {} | {} | {} | {} |\n",
                row.operation,
                note,
                ledger,
                peer.map_or("–".into(), |p| format!(
                    "{} {}",
                    number(p.median),
                    row.unit
                )),
                row.ratio.map_or("–".into(), |r| format!("{r:.2}×")),
                latency(row.ledger.p50_ms, peer.and_then(|p| p.p50_ms)),
                latency(row.ledger.p99_ms, peer.and_then(|p| p.p99_ms)),
                spread,
            ));
        }
        out
    }

    /// Writes the JSON form to `path`, creating its directory.
    pub fn write_json(&self, path: &std::path::Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: f64) -> Sample {
        Sample {
            value: v,
            ..Sample::default()
        }
    }

    #[test]
    fn median_of_three_repeats_is_the_middle_one_and_a_wide_spread_is_flagged() {
        let row = Row::ledger("x", "ops/s", &[value(100.0), value(300.0), value(110.0)]);
        assert_eq!(row.ledger.median, 110.0);
        assert!(row.wide_spread);
        let row = Row::ledger("x", "ops/s", &[value(100.0), value(105.0), value(110.0)]);
        assert!(!row.wide_spread);
    }

    #[test]
    fn large_numbers_get_thousands_separators() {
        assert_eq!(number(1_234_567.4), "1,234,567");
        assert_eq!(number(2.5), "2.50");
    }
}
