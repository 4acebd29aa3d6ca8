//! The markdown table (median over rounds, min–max) and the raw figures as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use crate::{Cell, Results};

/// Which way is better.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
    /// Shown, not ranked.
    Info,
}

/// One row: the workload that measures it, the metric, its label, and which way is better.
struct Row {
    workload: &'static str,
    metric: &'static str,
    label: &'static str,
    better: Better,
}

const fn row(
    workload: &'static str,
    metric: &'static str,
    label: &'static str,
    better: Better,
) -> Row {
    Row {
        workload,
        metric,
        label,
        better,
    }
}

use Better::{Higher, Info, Lower};

const ROWS: &[Row] = &[
    row("seq", "seq_p50_us", "sequential get_data p50 (µs)", Lower),
    row("seq", "seq_p99_us", "sequential get_data p99 (µs)", Lower),
    row("seq", "seq_ops_s", "sequential get_data (ops/s)", Higher),
    row(
        "pipe",
        "pipe1_ops_s",
        "pipelined get_data, 1 in flight (ops/s)",
        Higher,
    ),
    row(
        "pipe",
        "pipe16_ops_s",
        "pipelined get_data, 16 in flight (ops/s)",
        Higher,
    ),
    row(
        "pipe",
        "pipe64_ops_s",
        "pipelined get_data, 64 in flight (ops/s)",
        Higher,
    ),
    row(
        "pipe",
        "pipe256_ops_s",
        "pipelined get_data, 256 in flight (ops/s)",
        Higher,
    ),
    row(
        "multi",
        "multi_ops_s",
        "4 sessions × 64 in flight, total (ops/s)",
        Higher,
    ),
    row(
        "createdel",
        "pair_p50_us",
        "create + delete pair p50 (µs)",
        Lower,
    ),
    row(
        "createdel",
        "pair_p99_us",
        "create + delete pair p99 (µs)",
        Lower,
    ),
    row(
        "createdel",
        "pair_ops_s",
        "create + delete pairs/s, sequential",
        Higher,
    ),
    row(
        "watch",
        "watch_p50_us",
        "set_data on B → watch event on A, p50 (µs)",
        Lower,
    ),
    row(
        "watch",
        "watch_p99_us",
        "set_data on B → watch event on A, p99 (µs)",
        Lower,
    ),
    row(
        "pipe",
        "pipe1_cpu_us",
        "client CPU per get_data, 1 in flight (µs)",
        Lower,
    ),
    row(
        "pipe",
        "pipe64_cpu_us",
        "client CPU per get_data, 64 in flight (µs)",
        Lower,
    ),
    row(
        "pipe",
        "pipe256_cpu_us",
        "client CPU per get_data, 256 in flight (µs)",
        Lower,
    ),
    row(
        "multi",
        "multi_cpu_us",
        "client CPU per get_data, 4 × 64 (µs)",
        Lower,
    ),
    row(
        "pipe",
        "pipe_sys_share",
        "share of the pipelined CPU time spent in the kernel",
        Info,
    ),
    row(
        "allocs",
        "get_allocs",
        "heap allocations per get_data, 64 in flight",
        Lower,
    ),
    row(
        "watchmem",
        "watch_rss_bytes",
        "10,000 data watches: RSS per watch (B)",
        Lower,
    ),
    row(
        "watchalloc",
        "watch_alloc_bytes",
        "10,000 data watches: heap per watch (B)",
        Lower,
    ),
    row(
        "watchalloc",
        "watch_allocs",
        "10,000 data watches: allocations per watch",
        Lower,
    ),
    row(
        "childmem",
        "child_rss_bytes",
        "10,000-child view: RSS per child (B)",
        Lower,
    ),
    row(
        "childalloc",
        "child_alloc_bytes",
        "10,000-child view: heap per child (B)",
        Lower,
    ),
    row(
        "register",
        "register_ms",
        "register 1,000 addresses, one by one (ms)",
        Lower,
    ),
    row(
        "register",
        "register_cpu_us",
        "client CPU per registration (µs)",
        Lower,
    ),
    row(
        "register",
        "discover_ms",
        "discover the 1,000 with children, median of 5 (ms)",
        Lower,
    ),
    row(
        "connect",
        "connect_p50_us",
        "connect → first get_data done, p50 (µs)",
        Lower,
    ),
    row(
        "reconnect",
        "reconnect_p50_us",
        "cut → first get_data done again, p50 (µs)",
        Lower,
    ),
];

/// Where and how the figures were taken.
pub struct Environment {
    /// Rounds run.
    pub rounds: usize,
    /// Workload scale.
    pub scale: f64,
    /// Wall time of the rounds.
    pub elapsed: Duration,
    /// Load average before the rounds.
    pub load_before: String,
    /// Load average after them.
    pub load_after: String,
    /// kazoo's version, if importable.
    pub kazoo: Option<String>,
    /// The server's version line.
    pub server_version: Option<String>,
    /// Whether the server and the workers were pinned to separate CPUs (`--pin`).
    pub pinned: bool,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", x.abs());
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn value(cell: Option<&Cell>, metric: &str) -> Option<(f64, f64, f64)> {
    spread(cell?.values.get(metric)?)
}

/// The median, min and max of `v`; `None` when empty.
fn spread(v: &[f64]) -> Option<(f64, f64, f64)> {
    let med = median(v)?;
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((med, min, max))
}

impl Row {
    /// `client`'s figure for this row in `round`, if it ran then.
    fn at(&self, results: &Results, client: &str, round: usize) -> Option<f64> {
        let cell = results.get(&(client.to_owned(), self.workload.to_owned()))?;
        let i = cell
            .rounds
            .get(self.metric)?
            .iter()
            .position(|&x| x == round)?;
        cell.values.get(self.metric)?.get(i).copied()
    }

    /// The better of two (client, figure) pairs; `a` on a tie.
    fn better_of<'a>(&self, a: (&'a str, f64), b: (&'a str, f64)) -> (&'a str, f64) {
        match self.better {
            Higher if b.1 > a.1 => b,
            Lower | Info if b.1 < a.1 => b,
            _ => a,
        }
    }

    /// How many times better `ours` is than `theirs` (above 1: ours leads).
    fn factor(&self, ours: f64, theirs: f64) -> f64 {
        match self.better {
            Higher => ours / theirs,
            Lower | Info => theirs / ours,
        }
    }
}

/// The clients compared with ours (every other one but ours' variants).
fn peers(clients: &[String]) -> impl Iterator<Item = &str> {
    clients
        .iter()
        .map(String::as_str)
        .filter(|c| !c.starts_with("ours"))
}

/// How many times better ours is than the best other client of the same round, per round
/// (so that what the machine was doing in that round cancels out): the median over rounds,
/// min, max, and the peer that was best most often.
fn paired_factor(
    clients: &[String],
    results: &Results,
    r: &Row,
    rounds: usize,
) -> Option<(f64, f64, f64, String)> {
    let mut factors = Vec::new();
    let mut best_counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for round in 0..rounds {
        let Some(ours) = r.at(results, "ours", round) else {
            continue;
        };
        let best = peers(clients)
            .filter_map(|c| r.at(results, c, round).map(|v| (c, v)))
            .reduce(|a, b| r.better_of(a, b));
        if let Some((peer, b)) = best {
            factors.push(r.factor(ours, b));
            *best_counts.entry(peer).or_default() += 1;
        }
    }
    let (med, min, max) = spread(&factors)?;
    let usual = best_counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(p, _)| p.to_owned())
        .unwrap_or_default();
    Some((med, min, max, usual))
}

/// Ours against one peer: the peer whose median is best for the row, ratio per round in which
/// both ran (above 1: ours leads), as the median (min–max), the rounds ours led and the rounds
/// compared. Unlike [`paired_factor`], the bar is one client's figure, not the best of several
/// noisy ones in each round (which the noise itself lifts).
fn vs_best_median(
    clients: &[String],
    results: &Results,
    r: &Row,
    rounds: usize,
) -> Option<(String, f64, f64, f64, usize, usize)> {
    let (peer, _) = peers(clients)
        .filter_map(|c| {
            let cell = results.get(&(c.to_owned(), r.workload.to_owned()));
            value(cell, r.metric).map(|(med, _, _)| (c, med))
        })
        .reduce(|a, b| r.better_of(a, b))?;
    let factors: Vec<f64> = (0..rounds)
        .filter_map(|round| {
            let ours = r.at(results, "ours", round)?;
            Some(r.factor(ours, r.at(results, peer, round)?))
        })
        .collect();
    let (med, min, max) = spread(&factors)?;
    let led = factors.iter().filter(|&&f| f >= 1.0).count();
    Some((peer.to_owned(), med, min, max, led, factors.len()))
}

/// The markdown table and its notes.
pub fn render(
    clients: &[String],
    workloads: &[String],
    results: &Results,
    env: &Environment,
) -> String {
    let mut out = String::new();
    let mut header = String::from("| workload |");
    let mut rule = String::from("|---|");
    for c in clients {
        let _ = write!(header, " {c} |");
        rule.push_str("---:|");
    }
    header.push_str(
        " ours vs best other, paired by round | ours vs the best peer's median, paired |",
    );
    rule.push_str("---|---|");
    let _ = writeln!(out, "{header}\n{rule}");
    let mut notes: Vec<String> = Vec::new();
    for r in ROWS
        .iter()
        .filter(|r| workloads.iter().any(|w| w == r.workload))
    {
        let mut line = format!("| {} |", r.label);
        for c in clients {
            let cell = results.get(&(c.clone(), r.workload.to_owned()));
            match value(cell, r.metric) {
                Some((med, min, max)) if cell.is_some_and(|c| c.values[r.metric].len() > 1) => {
                    let _ = write!(
                        line,
                        " {} ({}–{}) |",
                        fmt_num(med),
                        fmt_num(min),
                        fmt_num(max)
                    );
                }
                Some((med, _, _)) => {
                    let _ = write!(line, " {} |", fmt_num(med));
                }
                None => {
                    let why = cell
                        .and_then(|c| {
                            c.missing
                                .get(r.metric)
                                .cloned()
                                .or_else(|| c.errors.first().cloned())
                                .or_else(|| (!c.values.is_empty()).then(|| "not measured".into()))
                        })
                        .unwrap_or_else(|| "not run".into());
                    let note = format!("{c}, {}: {why}", r.workload);
                    let n = match notes.iter().position(|x| *x == note) {
                        Some(i) => i + 1,
                        None => {
                            notes.push(note);
                            notes.len()
                        }
                    };
                    let _ = write!(line, " n/a [{n}] |");
                }
            }
        }
        match paired_factor(clients, results, r, env.rounds) {
            _ if r.better == Info => line.push_str(" (not ranked) |"),
            Some((med, min, max, usual)) => {
                let mark = if med >= 1.0 { "✓" } else { "✗" };
                let _ = write!(
                    line,
                    " {mark} ×{med:.2} ({min:.2}–{max:.2}), mostly vs {usual} |"
                );
            }
            None => line.push_str(" – |"),
        }
        match vs_best_median(clients, results, r, env.rounds) {
            _ if r.better == Info => line.push_str(" (not ranked) |"),
            Some((peer, med, min, max, led, n)) => {
                let mark = if med >= 1.0 { "✓" } else { "✗" };
                let _ = write!(
                    line,
                    " {mark} ×{med:.2} ({min:.2}–{max:.2}) vs {peer}, ahead in {led}/{n} |"
                );
            }
            None => line.push_str(" – |"),
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "\nCells: median over {} rounds (min–max). Last column: in each round, how many times \
         better ours is than the best other client of that round (above 1: ours leads); the median \
         over rounds (min–max) and the client that was best most often. ✓: ours leads in the median. \
         The column after it compares ours with one client, the peer with the best median, round \
         by round: a fairer bar, since the best of several noisy figures in a round is lifted by \
         the noise itself; \"ahead in k/n\": the rounds in which ours was at least as good.",
        env.rounds
    );
    // The server's ceiling: the best total any client reached with 4 × 64 in flight.
    let multi: Vec<(String, f64)> = clients
        .iter()
        .filter_map(|c| {
            value(results.get(&(c.clone(), "multi".to_owned())), "multi_ops_s")
                .map(|v| (c.clone(), v.0))
        })
        .collect();
    if let (Some(ours), Some((who, ceiling))) = (
        multi.iter().find(|(c, _)| c == "ours").map(|x| x.1),
        multi
            .iter()
            .cloned()
            .reduce(|a, b| if b.1 > a.1 { b } else { a }),
    ) {
        let _ = writeln!(
            out,
            "Server ceiling (highest 4 × 64 total of any client, {who}): {} ops/s; ours reaches {:.1}% of it.",
            fmt_num(ceiling),
            100.0 * ours / ceiling
        );
    }
    let _ = writeln!(
        out,
        "ZooKeeper {}; kazoo {}; scale {};{} rounds took {:.0} s; load average before {}, after {}.",
        env.server_version.as_deref().unwrap_or("?"),
        env.kazoo.as_deref().unwrap_or("not installed"),
        env.scale,
        if env.pinned {
            " server pinned to CPU 0 and each client to CPU 1;"
        } else {
            ""
        },
        env.elapsed.as_secs_f64(),
        env.load_before,
        env.load_after
    );
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(out, "\n[{}] {}", i + 1, n);
    }
    out
}

/// The raw figures: every run's value per client, workload and metric.
pub fn json(results: &Results, env: &Environment) -> String {
    let mut cells = serde_json::Map::new();
    for ((client, workload), cell) in results {
        let entry = cells
            .entry(client.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(
                workload.clone(),
                serde_json::json!({
                    "values": cell.values,
                    "rounds": cell.rounds,
                    "errors": cell.errors,
                    "missing": cell.missing,
                }),
            );
        }
    }
    serde_json::json!({
        "rounds": env.rounds,
        "scale": env.scale,
        "elapsed_s": env.elapsed.as_secs_f64(),
        "load_before": env.load_before,
        "load_after": env.load_after,
        "kazoo": env.kazoo,
        "server_version": env.server_version,
        "pinned": env.pinned,
        "results": cells,
    })
    .to_string()
}

/// Reads back what [`json`] wrote: the clients and workloads present (in the table's order),
/// the cells and the environment, so that a run's table can be rendered again.
pub fn from_json(text: &str) -> Result<(Vec<String>, Vec<String>, Results, Environment), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let str_of = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let env = Environment {
        rounds: v
            .get("rounds")
            .and_then(|x| x.as_u64())
            .ok_or("no rounds")? as usize,
        scale: v.get("scale").and_then(|x| x.as_f64()).unwrap_or(1.0),
        elapsed: Duration::from_secs_f64(
            v.get("elapsed_s").and_then(|x| x.as_f64()).unwrap_or(0.0),
        ),
        load_before: str_of("load_before").unwrap_or_default(),
        load_after: str_of("load_after").unwrap_or_default(),
        kazoo: str_of("kazoo"),
        server_version: str_of("server_version"),
        pinned: v.get("pinned").and_then(|x| x.as_bool()).unwrap_or(false),
    };
    let cells = v
        .get("results")
        .and_then(|x| x.as_object())
        .ok_or("no results")?;
    let numbers = |x: &serde_json::Value| -> Vec<f64> {
        x.as_array()
            .map(|a| a.iter().map(|n| n.as_f64().unwrap_or(f64::NAN)).collect())
            .unwrap_or_default()
    };
    let mut results = Results::new();
    for (client, workloads) in cells {
        let Some(workloads) = workloads.as_object() else {
            continue;
        };
        for (workload, c) in workloads {
            let mut cell = Cell::default();
            if let Some(values) = c.get("values").and_then(|x| x.as_object()) {
                for (metric, vs) in values {
                    let vs = numbers(vs);
                    // Files from before rounds were recorded: each value taken as its round.
                    let rounds = c
                        .get("rounds")
                        .and_then(|r| r.get(metric))
                        .map(|r| numbers(r).into_iter().map(|x| x as usize).collect())
                        .unwrap_or_else(|| (0..vs.len()).collect());
                    cell.values.insert(metric.clone(), vs);
                    cell.rounds.insert(metric.clone(), rounds);
                }
            }
            if let Some(errors) = c.get("errors").and_then(|x| x.as_array()) {
                cell.errors = errors
                    .iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect();
            }
            if let Some(missing) = c.get("missing").and_then(|x| x.as_object()) {
                for (k, why) in missing {
                    cell.missing
                        .insert(k.clone(), why.as_str().unwrap_or("").to_owned());
                }
            }
            results.insert((client.clone(), workload.clone()), cell);
        }
    }
    let clients = crate::CLIENTS
        .iter()
        .filter(|c| cells.contains_key(**c))
        .map(|c| c.to_string())
        .collect();
    let workloads = crate::WORKLOADS
        .iter()
        .filter(|w| results.keys().any(|(_, x)| x == *w))
        .map(|w| w.to_string())
        .collect();
    Ok((clients, workloads, results, env))
}
