//! The report: Markdown tables for `BENCHMARKS.md` (between markers, so the
//! rest of the file, written by people, is left alone): every run, the goals
//! of issue 17 as ratios against each peer, CPU and p99 side by side, memory;
//! and the plot ([`crate::plot`]).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::compare::{Results, Run};
use crate::goals::{self, Figure, Verdict};
use crate::load::LoadReport;
use crate::peers::Target;
use crate::plot::plot;

pub const BEGIN: &str =
    "<!-- souk-bench:begin (written by bench/run.sh; edit outside these markers) -->";
pub const END: &str = "<!-- souk-bench:end -->";

/// Writes the Markdown block into `markdown` (replacing the previous one, or
/// appending) and the plot to `svg`.
pub fn write(results: &Results, markdown: &Path, svg: &Path) -> anyhow::Result<()> {
    let svg_rel = relative(svg, markdown);
    let block = markdown_block(results, &svg_rel);
    let existing = std::fs::read_to_string(markdown).unwrap_or_default();
    std::fs::write(markdown, splice(&existing, &block))
        .with_context(|| format!("while writing {}", markdown.display()))?;
    if let Some(dir) = svg.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(svg, plot(results)).with_context(|| format!("while writing {}", svg.display()))
}

/// The plot's path as a link from the Markdown file's folder.
fn relative(svg: &Path, markdown: &Path) -> String {
    let base = markdown.parent().unwrap_or(Path::new(""));
    svg.strip_prefix(base).unwrap_or(svg).display().to_string()
}

/// `existing` with the block between the markers replaced, or the block
/// appended when there are no markers.
pub fn splice(existing: &str, block: &str) -> String {
    let wrapped = format!("{BEGIN}\n{block}{END}\n");
    match (existing.find(BEGIN), existing.find(END)) {
        (Some(b), Some(e)) if b < e => {
            let after = &existing[e + END.len()..];
            let after = after.strip_prefix('\n').unwrap_or(after);
            format!("{}{wrapped}{after}", &existing[..b])
        }
        _ => {
            let mut out = existing.to_owned();
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
            }
            out.push_str(&wrapped);
            out
        }
    }
}

pub fn runs_of<'a>(runs: &'a [Run], target: &str, via: &str) -> Vec<&'a Run> {
    let mut v: Vec<&Run> = runs
        .iter()
        .filter(|r| r.target == target && r.via == via)
        .collect();
    v.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    v
}

pub fn vias(results: &Results) -> Vec<String> {
    let mut v: Vec<String> = results.runs.iter().map(|r| r.via.clone()).collect();
    v.sort();
    v.dedup();
    // Socket first: it is what the web app uses.
    v.reverse();
    v
}

fn cpu_per_1000(r: &LoadReport) -> Option<f64> {
    r.server.as_ref().and_then(|s| s.cpu_ms_per_1000_delivered)
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.filter(|v| v.is_finite()).map_or_else(|| "–".into(), f)
}

fn rate(v: f64) -> String {
    let v = v.round() as u64;
    if v >= 10_000 {
        format!("{},{:03}", v / 1000, v % 1000)
    } else {
        v.to_string()
    }
}

fn others(results: &Results) -> (f64, f64) {
    let all: Vec<f64> = results
        .runs
        .iter()
        .chain(results.idle.iter())
        .map(|r| r.report.others_cores)
        .collect();
    if all.is_empty() {
        return (0.0, 0.0);
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    (mean, all.iter().copied().fold(0.0, f64::max))
}

fn met(v: &Verdict) -> String {
    match (v.met(), v.worst()) {
        (Some(true), _) => "**met**".into(),
        (Some(false), Some(w)) => format!(
            "**missed**, by {:.2}x",
            v.bound.shortfall(Verdict::ratio(&w))
        ),
        (None, Some(_)) => "undecided: souk never failed, so its rate is a lower bound".into(),
        _ => "not measured: no rate both sustained".into(),
    }
}

/// What a peer is, in a table.
fn peer_name(t: Target) -> &'static str {
    match t {
        Target::Souk => "souk",
        Target::Floor => "the floor",
        Target::Reference => "the in-memory reference",
        Target::Durable => "the durable reference",
    }
}

fn band(v: &Verdict) -> String {
    match v.rates {
        Some((lo, hi)) if hi.is_infinite() && lo <= 0.0 => "every rate both sustain".into(),
        Some((lo, hi)) if hi.is_infinite() => {
            format!("{}/s up to the highest both sustain", rate(lo))
        }
        Some((lo, hi)) => format!("{}-{}/s, where both sustain", rate(lo), rate(hi)),
        None => String::new(),
    }
}

/// One row of the goals table.
fn goal_row(v: &Verdict, idle_sockets: usize) -> String {
    let what = match v.figure {
        Figure::Cpu => format!("CPU per message vs {} ({})", peer_name(v.peer), band(v)),
        Figure::P99 => format!("p99 vs {} ({})", peer_name(v.peer), band(v)),
        Figure::MaxRate => format!("highest sustained rate vs {}", peer_name(v.peer)),
        Figure::IdleMemory => format!(
            "memory per idle socket vs {}, at {} sockets",
            peer_name(v.peer),
            rate(idle_sockets as f64)
        ),
    };
    let unit = |x: f64| match v.figure {
        Figure::Cpu => format!("{x:.0} ms"),
        Figure::P99 => format!("{} ms", ms(x)),
        Figure::MaxRate => format!("{}/s", rate(x)),
        Figure::IdleMemory => format!("{x:.1} KiB"),
    };
    let lower = if v.at_least { "≥ " } else { "" };
    let (worst, figures) = match v.worst() {
        Some(w) if v.rates.is_some() => (
            format!("{:.2} at {}/s", Verdict::ratio(&w), rate(w.0)),
            format!("{} / {}", unit(w.1), unit(w.2)),
        ),
        Some(w) => (
            format!("{lower}{:.2}", Verdict::ratio(&w)),
            format!("{lower}{} / {}", unit(w.1), unit(w.2)),
        ),
        None => ("–".into(), "–".into()),
    };
    let range = match v.range() {
        Some((lo, hi)) if v.points.len() > 1 => format!("{lo:.2}-{hi:.2}"),
        _ => "".into(),
    };
    format!(
        "| {what} | {figures} | {worst} | {range} | {} | {} |",
        v.bound.text(),
        met(v)
    )
}

/// A figure of one server at one rate, marked when not sustained, and when
/// an earlier try of that rate did not sustain it.
fn cell(
    run: Option<&&Run>,
    figure: impl Fn(&LoadReport) -> Option<f64>,
    f: fn(f64) -> String,
) -> String {
    match run {
        None => "–".into(),
        Some(r) => {
            let v = opt(figure(&r.report), f);
            let v = match r.failed_tries_p99_ms.len() {
                0 => v,
                n => format!("{v} (try {})", n + 1),
            };
            if r.sustained {
                v
            } else {
                format!("{v} (not sustained)")
            }
        }
    }
}

/// The `sustained` column of the table of every run.
fn tried(r: &Run) -> String {
    let verdict = if r.sustained { "yes" } else { "no" };
    if r.failed_tries_p99_ms.is_empty() {
        return verdict.into();
    }
    let earlier: Vec<String> = r.failed_tries_p99_ms.iter().map(|p| ms(*p)).collect();
    format!(
        "{verdict}, try {} (p99 of the earlier: {} ms)",
        earlier.len() + 1,
        earlier.join(", ")
    )
}

fn ratio_cell(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

fn p99_of(r: &LoadReport) -> Option<f64> {
    Some(r.latency_ms.p99)
}

/// How a table reads its figure from a run, and writes it.
type FigureOf = fn(&LoadReport) -> Option<f64>;
type Format = fn(f64) -> String;

/// CPU and p99 of every server at every rate, and souk's ratios.
fn side_by_side(md: &mut String, results: &Results, via: &str) {
    let servers: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| !runs_of(&results.runs, t.label(), via).is_empty())
        .collect();
    let peers: Vec<Target> = servers
        .iter()
        .copied()
        .filter(|t| *t != Target::Souk)
        .collect();
    let mut rates: Vec<f64> = results
        .runs
        .iter()
        .filter(|r| r.via == via)
        .map(|r| r.rate)
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    let at = |t: Target, rt: f64| {
        results
            .runs
            .iter()
            .find(|r| r.target == t.label() && r.via == via && r.rate == rt)
    };
    let tables: [(&str, FigureOf, Format); 2] = [
        (
            "server CPU ms per 1,000 delivered messages",
            cpu_per_1000,
            |v| format!("{v:.0}"),
        ),
        ("p99 ms, send to delivery", p99_of, ms),
    ];
    for (title, figure, f) in tables {
        let _ = writeln!(md, "{title}, sent over {via}:\n");
        let mut header = String::from("| offered /s |");
        let mut rule = String::from("| ---: |");
        for t in &servers {
            let _ = write!(header, " {} |", t.label());
            rule.push_str(" ---: |");
        }
        if servers.contains(&Target::Souk) {
            for p in &peers {
                let _ = write!(header, " souk / {} |", p.label());
                rule.push_str(" ---: |");
            }
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for &rt in &rates {
            let mut row = format!("| {} |", rate(rt));
            for &t in &servers {
                let r = at(t, rt);
                let _ = write!(row, " {} |", cell(r.as_ref(), figure, f));
            }
            if servers.contains(&Target::Souk) {
                let souk = at(Target::Souk, rt).and_then(|r| figure(&r.report));
                for &p in &peers {
                    let peer = at(p, rt).and_then(|r| figure(&r.report));
                    let _ = write!(row, " {} |", ratio_cell(souk, peer));
                }
            }
            let _ = writeln!(md, "{row}");
        }
        md.push('\n');
    }
}

pub fn markdown_block(results: &Results, svg: &str) -> String {
    let mut md = String::new();
    let m = &results.machine;
    let (noise_mean, noise_max) = others(results);
    let _ = writeln!(md, "## Real time\n");
    let _ = writeln!(
        md,
        "Measured by `souk-bench` (`bench/`): {} customer/vendor pairs, both sockets \
         connected over Socket.IO (WebSocket transport) and both in their conversation's room; \
         messages at a fixed offered rate (open loop), alternating direction within each pair; \
         latency from each message's scheduled send time to the other side's `receive_message`. \
         {} s of warm-up, then {} s measured per run; a fresh server (and data directory or \
         schema) per run, the servers interleaved rate by rate. \
         A rate is *sustained* when p99 < {} ms, every message arrived, and nothing failed; \
         a rate a server did not sustain was run again on a fresh process, up to {} tries in all, \
         every server alike (figures of a later try are marked *try N*; the table of every run \
         lists the earlier tries' p99). \
         CPU is the server process's user + system time (every thread) over the measured window, \
         from `/proc`; for the durable reference, plus every PostgreSQL process's.\n",
        results.pairs,
        results.warmup_secs,
        results.duration_secs,
        results.p99_limit_ms,
        results.tries
    );
    let _ = writeln!(md, "```sh\n{}\n```\n", results.command_line);
    let _ = writeln!(
        md,
        "Machine: {} cores, {}, {} GiB RAM, Linux {}; Node {}; souk at {}. Run on {}, {:.1} minutes. \
         Load average before/after: {} / {}. Other processes kept {:.2} cores busy on average \
         during the measured windows (at most {:.2}), on a {}-core machine shared with the load \
         generator itself.\n",
        m.cores,
        m.model,
        m.ram_gib,
        m.kernel,
        m.node,
        match m.souk_commit.split_once(' ') {
            Some((commit, rest)) => format!("`{commit}` {rest}"),
            None => format!("`{}`", m.souk_commit),
        },
        results.started,
        results.minutes,
        results.load_before,
        results.load_after,
        noise_mean,
        noise_max,
        m.cores
    );
    let _ = writeln!(
        md,
        "The servers (`bench/`): **souk**, durable (every message in its log, one fsync per \
         group commit, before anyone hears of it; projections and the log-driven relay on); \
         **floor** (`bench/floor`), souk's own socket stack (socketioxide, hyper, tokio, jemalloc, \
         the same versions) relaying the same events in memory with token checks and nothing \
         else; **reference** (`bench/reference`), Express 5 + Socket.IO 4 on one Node.js process, \
         in memory; **durable** (`bench/reference-pg`), Express 5 + Socket.IO 4 + PostgreSQL \
         (`pg` pool of 10, prepared statements, `synchronous_commit` on): each send one \
         transaction (the conversation's seq and unread counter updated, the message inserted), \
         emitted after the commit. Tokens are verified on every request and handshake \
         everywhere.\n"
    );
    for via in vias(results) {
        let _ = writeln!(
            md,
            "### Sweep, sent {}\n",
            if via == "socket" {
                "with `send_message` on the socket"
            } else {
                "with `POST /api/chat/send`"
            }
        );
        let _ = writeln!(
            md,
            "| offered /s | server | delivered /s | p50 ms | p99 ms | p99.9 ms | max ms | errors | lost | server CPU ms / 1,000 msgs | sustained |\n\
             | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |"
        );
        let order = |r: &Run| {
            Target::from_label(&r.target).map_or(usize::MAX, |t| {
                Target::ALL
                    .iter()
                    .position(|x| *x == t)
                    .unwrap_or(usize::MAX)
            })
        };
        let mut rows: Vec<&Run> = results.runs.iter().filter(|r| r.via == via).collect();
        rows.sort_by(|a, b| a.rate.total_cmp(&b.rate).then(order(a).cmp(&order(b))));
        for r in rows {
            let l = &r.report.latency_ms;
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                rate(r.rate),
                r.target,
                r.report.delivered_per_sec,
                ms(l.p50),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                r.report.errors,
                r.report.lost,
                opt(cpu_per_1000(&r.report), |v| format!("{v:.0}")),
                tried(r)
            );
        }
        md.push('\n');
    }

    let _ = writeln!(
        md,
        "## Comparison: souk against the floor and both references\n"
    );
    let idle_sockets = results.idle.first().map_or(0, |r| r.report.idle_sockets);
    for via in vias(results) {
        let verdicts = goals::evaluate(&results.runs, &results.idle, &via);
        if via == "socket" && !verdicts.is_empty() {
            let _ = writeln!(md, "### Goals of issue 17, sent over {via}\n");
            let _ = writeln!(
                md,
                "Each ratio is souk's figure over the peer's at the same offered rate in this run; \
                 *worst* is the rate furthest from the goal, *range* every rate compared. \
                 *Missed, by N x*: the worst ratio is N times the goal's bound (for a rate, \
                 the goal's factor over the ratio reached).\n"
            );
            let _ = writeln!(
                md,
                "| goal | souk / peer figures at the worst point | worst ratio | range | goal | verdict |\n| --- | ---: | ---: | ---: | --- | --- |"
            );
            for v in &verdicts {
                let _ = writeln!(md, "{}", goal_row(v, idle_sockets));
            }
            md.push('\n');
        }
        let _ = writeln!(md, "### Side by side, sent over {via}\n");
        side_by_side(&mut md, results, &via);
    }
    if !results.idle.is_empty() {
        let _ = writeln!(md, "### Memory\n");
        let _ = writeln!(
            md,
            "| server | RSS at start | RSS with {} pair sockets | RSS with idle sockets too | idle sockets | KiB per idle socket |\n| --- | ---: | ---: | ---: | ---: | ---: |",
            results.idle.first().map_or(0, |r| r.report.sockets)
        );
        for r in &results.idle {
            let Some(s) = &r.report.server else { continue };
            let _ = writeln!(
                md,
                "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} | {:.1} |",
                r.target,
                s.rss_start_kib as f64 / 1024.0,
                s.rss_pairs_kib as f64 / 1024.0,
                s.rss_idle_kib as f64 / 1024.0,
                r.report.idle_sockets,
                per_idle(&r.report)
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "![p50 and p99 latency against offered rate, souk, the floor and both references]({svg})\n"
    );
    md
}

fn per_idle(r: &LoadReport) -> f64 {
    r.server
        .as_ref()
        .and_then(|s| s.rss_per_idle_socket_kib)
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goals::tests::run;

    fn sample() -> Results {
        Results {
            p99_limit_ms: 50.0,
            runs: vec![
                run("souk", 1000.0, 3.0, 300.0, true),
                run("floor", 1000.0, 1.0, 100.0, true),
                run("reference", 1000.0, 2.0, 400.0, true),
                run("durable", 1000.0, 10.0, 1000.0, true),
                run("souk", 2000.0, 4.0, 250.0, true),
                run("floor", 2000.0, 1.0, 100.0, true),
                run("reference", 2000.0, 10.0, 200.0, true),
                run("durable", 2000.0, 90.0, 900.0, false),
                Run {
                    failed_tries_p99_ms: vec![120.0],
                    ..run("souk", 4000.0, 80.0, 200.0, false)
                },
                run("floor", 4000.0, 2.0, 90.0, true),
                run("reference", 4000.0, 90.0, 150.0, false),
            ],
            ..Results::default()
        }
    }

    #[test]
    fn the_block_replaces_itself_and_leaves_the_rest() {
        let first = splice("# Benchmarks\n\n## Event log\n\ntext\n", "one\n");
        assert!(first.starts_with("# Benchmarks\n\n## Event log\n\ntext\n\n"));
        assert!(first.contains(&format!("{BEGIN}\none\n{END}\n")));
        let with_tail = format!("{first}\nnotes by hand\n");
        let second = splice(&with_tail, "two\n");
        assert!(second.contains("two\n") && !second.contains("one\n"));
        assert!(second.ends_with("\nnotes by hand\n"));
        assert!(second.starts_with("# Benchmarks\n\n## Event log\n\ntext\n"));
        assert_eq!(splice("", "x\n"), format!("{BEGIN}\nx\n{END}\n"));
    }

    #[test]
    fn the_sweep_lists_every_server_in_order() {
        let md = markdown_block(&sample(), "docs/bench/latency.svg");
        let souk = md.find("| 1000 | souk | 0 | 1.00 | 3.00 |").expect(&md);
        let floor = md.find("| 1000 | floor |").unwrap();
        let reference = md.find("| 1000 | reference |").unwrap();
        let durable = md.find("| 1000 | durable |").unwrap();
        assert!(souk < floor && floor < reference && reference < durable);
        assert!(md.contains("](docs/bench/latency.svg)"));
    }

    #[test]
    fn each_goal_has_its_ratio_and_verdict() {
        let md = markdown_block(&sample(), "x.svg");
        // souk 300 / floor 100 at 1,000/s (2,000/s: 2.5): worst 3.0, 1.5x
        // over the bound of 2.
        assert!(
            md.contains(
                "| 300 ms / 100 ms | 3.00 at 1000/s | 2.50-3.00 | ≤ 2 | **missed**, by 1.50x |"
            ),
            "{md}"
        );
        // CPU vs the in-memory reference: 0.75 at 1,000/s, 1.25 at 2,000/s.
        assert!(
            md.contains("| 1.25 at 2000/s | 0.75-1.25 | ≤ 0.8 | **missed**, by 1.56x |"),
            "{md}"
        );
        // vs the durable reference only 1,000/s counts for CPU (below the
        // band's start nothing, and it failed at 2,000/s): 0.30.
        assert!(
            md.contains("| 0.30 at 1000/s |  | ≤ 0.33 | **met** |"),
            "{md}"
        );
        // p99 at 2,000/s and up vs the in-memory reference: 0.40, met.
        assert!(
            md.contains("| 0.40 at 2000/s |  | ≤ 0.5 | **met** |"),
            "{md}"
        );
        // Highest sustained rate: 2,000 / 1,000.
        assert!(
            md.contains("| 2000/s / 1000/s | 2.00 |  | ≥ 3 | **missed**, by 1.50x |"),
            "{md}"
        );
    }

    #[test]
    fn the_side_by_side_tables_have_each_ratio() {
        let md = markdown_block(&sample(), "x.svg");
        assert!(md.contains("| offered /s | souk | floor | reference | durable | souk / floor | souk / reference | souk / durable |"), "{md}");
        assert!(
            md.contains("| 1000 | 300 | 100 | 400 | 1000 | 3.00 | 0.75 | 0.30 |"),
            "{md}"
        );
        assert!(
            md.contains("| 2000 | 250 | 100 | 200 | 900 (not sustained) | 2.50 | 1.25 | 0.28 |"),
            "{md}"
        );
        assert!(md.contains("| 4000 | 80.0 (try 2) (not sustained) | 2.00 | 90.0 (not sustained) | – | 40.00 | 0.89 | – |"), "{md}");
        assert!(
            md.contains("| no, try 2 (p99 of the earlier: 120 ms) |"),
            "{md}"
        );
    }

    #[test]
    fn without_peers_there_are_no_goals() {
        let mut r = sample();
        r.runs.retain(|r| r.target == "souk");
        let md = markdown_block(&r, "x.svg");
        assert!(!md.contains("### Goals"));
        assert!(md.contains("| offered /s | souk |\n"), "{md}");
    }

    #[test]
    fn the_plot_link_is_relative_to_the_markdown() {
        assert_eq!(
            relative(
                Path::new("docs/bench/latency.svg"),
                Path::new("BENCHMARKS.md")
            ),
            "docs/bench/latency.svg"
        );
    }
}
