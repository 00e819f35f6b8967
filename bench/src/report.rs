//! The report: Markdown tables for `BENCHMARKS.md` (between markers, so the
//! rest of the file, written by people, is left alone) and an SVG plot of
//! latency against offered rate, drawn by hand (a few lines and labels do not
//! need a plotting crate).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::compare::{sustained_limit, Results, Run, Target};
use crate::load::{LoadReport, Via};

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

fn runs_of<'a>(runs: &'a [Run], target: &str, via: &str) -> Vec<&'a Run> {
    let mut v: Vec<&Run> = runs
        .iter()
        .filter(|r| r.target == target && r.via == via)
        .collect();
    v.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    v
}

fn vias(results: &Results) -> Vec<String> {
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

/// The goals of the issue, evaluated on one sweep.
pub struct Goals {
    /// Highest rate both sustained, and souk's and the reference's CPU ms per
    /// 1,000 delivered there.
    pub cpu: Option<(f64, f64, f64)>,
    /// Worst p99 ratio (souk / reference) over the rates both ran where souk
    /// sustained: (rate, souk p99, reference p99).
    pub p99: Option<(f64, f64, f64)>,
    /// Highest sustained rates (souk, reference); `None` when none was.
    pub max_rate: (Option<f64>, Option<f64>),
    /// Whether souk sustained every rate it was given (its real maximum is
    /// then higher).
    pub souk_never_failed: bool,
}

pub fn goals(runs: &[Run], via: &str) -> Goals {
    let souk = runs_of(runs, "souk", via);
    let reference = runs_of(runs, "reference", via);
    let at = |v: &[&Run], rate: f64| v.iter().find(|r| r.rate == rate).map(|r| (*r).clone());
    let via_enum = if via == "rest" {
        Via::Rest
    } else {
        Via::Socket
    };
    let souk_limit = sustained_limit(runs, Target::Souk, via_enum);
    let reference_limit = sustained_limit(runs, Target::Reference, via_enum);
    let within = |rate: f64, limit: Option<f64>| limit.is_some_and(|l| rate <= l);
    let mut cpu = None;
    let mut p99: Option<(f64, f64, f64)> = None;
    for s in &souk {
        let Some(r) = at(&reference, s.rate) else {
            continue;
        };
        if s.sustained
            && r.sustained
            && within(s.rate, souk_limit)
            && within(s.rate, reference_limit)
        {
            if let (Some(a), Some(b)) = (cpu_per_1000(&s.report), cpu_per_1000(&r.report)) {
                cpu = Some((s.rate, a, b));
            }
        }
        if s.sustained && r.report.latency_ms.p99 > 0.0 {
            let ratio = s.report.latency_ms.p99 / r.report.latency_ms.p99;
            if p99.is_none_or(|(_, a, b)| ratio > a / b) {
                p99 = Some((s.rate, s.report.latency_ms.p99, r.report.latency_ms.p99));
            }
        }
    }
    Goals {
        cpu,
        p99,
        max_rate: (souk_limit, reference_limit),
        souk_never_failed: !souk.is_empty() && souk.iter().all(|r| r.sustained),
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
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
         {} s of warm-up, then {} s measured per run; a fresh server and data directory per run. \
         A rate is *sustained* when p99 < {} ms, every message arrived, and nothing failed. \
         CPU is the server process's user + system time (every thread) over the measured window, \
         from `/proc`.\n",
        results.pairs, results.warmup_secs, results.duration_secs, results.p99_limit_ms
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
        let mut rows: Vec<&Run> = results.runs.iter().filter(|r| r.via == via).collect();
        rows.sort_by(|a, b| a.rate.total_cmp(&b.rate).then(b.target.cmp(&a.target)));
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
                if r.sustained { "yes" } else { "no" }
            );
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Comparison with Node\n");
    let _ = writeln!(
        md,
        "The reference is `bench/reference/`: Express 5 + Socket.IO 4 on one Node.js process, \
         the same routes, events and payloads, state in memory (nothing persisted), tokens \
         verified on every request and handshake. souk persists every message durably (one \
         fsync per group commit) before anyone hears of it, runs its projections, and relays \
         from the log.\n"
    );
    for via in vias(results) {
        let g = goals(&results.runs, &via);
        let _ = writeln!(md, "### Goals, sent over {via}\n");
        let _ = writeln!(
            md,
            "| figure | souk | reference | souk / reference | goal | |\n| --- | ---: | ---: | ---: | --- | --- |"
        );
        match g.cpu {
            Some((at, s, r)) => {
                let _ = writeln!(
                    md,
                    "| server CPU per 1,000 delivered messages (at {}/s, the highest rate both sustain) | {s:.0} ms | {r:.0} ms | {:.2} | ≤ 0.25 | {} |",
                    rate(at),
                    s / r,
                    met(s / r <= 0.25)
                );
            }
            None => {
                let _ = writeln!(md, "| server CPU per 1,000 delivered messages | – | – | – | ≤ 0.25 | no common sustained rate |");
            }
        }
        match g.p99 {
            Some((at, s, r)) => {
                let _ = writeln!(
                    md,
                    "| p99 latency at the same offered rate (worst ratio, at {}/s) | {} ms | {} ms | {:.2} | ≤ 0.5 | {} |",
                    rate(at),
                    ms(s),
                    ms(r),
                    s / r,
                    met(s / r <= 0.5)
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "| p99 latency at the same offered rate | – | – | – | ≤ 0.5 | no common rate |"
                );
            }
        }
        let (s, r) = g.max_rate;
        let ratio = match (s, r) {
            (Some(s), Some(r)) => Some(s / r),
            _ => None,
        };
        let _ = writeln!(
            md,
            "| highest offered rate with p99 < {} ms and nothing lost | {}{} | {} | {}{} | ≥ 3 | {} |",
            results.p99_limit_ms,
            if g.souk_never_failed { "≥ " } else { "" },
            opt(s, |v| format!("{}/s", rate(v))),
            opt(r, |v| format!("{}/s", rate(v))),
            if g.souk_never_failed { "≥ " } else { "" },
            opt(ratio, |v| format!("{v:.2}")),
            met(ratio.is_some_and(|v| v >= 3.0))
        );
        if via == "socket" {
            if let Some((s, r)) = idle_pair(results) {
                let _ = writeln!(
                    md,
                    "| memory (RSS) per connected idle socket, at {} sockets | {:.1} KiB | {:.1} KiB | {:.2} | ≤ 0.33 | {} |",
                    rate(s.report.idle_sockets as f64),
                    per_idle(&s.report),
                    per_idle(&r.report),
                    per_idle(&s.report) / per_idle(&r.report),
                    met(per_idle(&s.report) / per_idle(&r.report) <= 1.0 / 3.0)
                );
            }
        }
        md.push('\n');
        // p99 side by side.
        let souk = runs_of(&results.runs, "souk", &via);
        let reference = runs_of(&results.runs, "reference", &via);
        let mut rates: Vec<f64> = souk
            .iter()
            .chain(reference.iter())
            .map(|r| r.rate)
            .collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        let _ = writeln!(
            md,
            "| offered /s | souk p99 ms | reference p99 ms | p99 ratio | souk CPU ms / 1,000 | reference CPU ms / 1,000 | CPU ratio |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for rt in rates {
            let s = souk.iter().find(|r| r.rate == rt);
            let r = reference.iter().find(|r| r.rate == rt);
            let p = |x: Option<&&Run>| {
                x.map_or("–".into(), |x| {
                    format!(
                        "{}{}",
                        ms(x.report.latency_ms.p99),
                        if x.sustained { "" } else { " (not sustained)" }
                    )
                })
            };
            let c = |x: Option<&&Run>| {
                opt(x.and_then(|x| cpu_per_1000(&x.report)), |v| {
                    format!("{v:.0}")
                })
            };
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "–".into(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                rate(rt),
                p(s),
                p(r),
                ratio(
                    s.map(|x| x.report.latency_ms.p99),
                    r.map(|x| x.report.latency_ms.p99)
                ),
                c(s),
                c(r),
                ratio(
                    s.and_then(|x| cpu_per_1000(&x.report)),
                    r.and_then(|x| cpu_per_1000(&x.report))
                ),
            );
        }
        md.push('\n');
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
        "![p50 and p99 latency against offered rate, souk and the reference]({svg})\n"
    );
    md
}

fn per_idle(r: &LoadReport) -> f64 {
    r.server
        .as_ref()
        .and_then(|s| s.rss_per_idle_socket_kib)
        .unwrap_or(f64::NAN)
}

fn idle_pair(results: &Results) -> Option<(&Run, &Run)> {
    let s = results.idle.iter().find(|r| r.target == "souk")?;
    let r = results.idle.iter().find(|r| r.target == "reference")?;
    Some((s, r))
}

// ------------------------------------------------------------------- plot

const W: f64 = 760.0;
const H: f64 = 460.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

struct Axis {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Axis {
    /// A log axis over whole decades covering `lo..hi`.
    fn log(lo: f64, hi: f64, from: f64, to: f64) -> Self {
        let lo = 10f64.powf(lo.max(1e-3).log10().floor());
        let hi = 10f64.powf(hi.max(lo * 10.0).log10().ceil());
        Self { lo, hi, from, to }
    }

    fn at(&self, v: f64) -> f64 {
        let t = (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10());
        self.from + t * (self.to - self.from)
    }

    /// 1, 2, 5 times each power of ten inside the axis.
    fn ticks(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut decade = self.lo;
        while decade <= self.hi * 1.0001 {
            for m in [1.0, 2.0, 5.0] {
                let v = decade * m;
                if v >= self.lo * 0.9999 && v <= self.hi * 1.0001 {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        out
    }
}

fn label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}k", v / 1000.0)
    } else if v >= 1.0 {
        format!("{v}")
    } else {
        format!("{v:.1}")
    }
}

/// The plot: p50 (dashed) and p99 (solid) latency against offered rate, per
/// server and per way of sending; runs that were not sustained are crosses.
pub fn plot(results: &Results) -> String {
    let series: Vec<(String, &str, Vec<&Run>)> = ["souk", "reference"]
        .iter()
        .flat_map(|t| {
            vias(results).into_iter().map(move |v| {
                let color = match (*t, v.as_str()) {
                    ("souk", "socket") => "#d9480f",
                    ("souk", _) => "#f08c00",
                    (_, "socket") => "#1c7ed6",
                    _ => "#7048e8",
                };
                (format!("{t} ({v})"), color, runs_of(&results.runs, t, &v))
            })
        })
        .filter(|(_, _, r)| !r.is_empty())
        .collect();
    let all = series.iter().flat_map(|(_, _, r)| r.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, 0f64, f64::MAX, 0f64);
    for r in all {
        xmin = xmin.min(r.rate);
        xmax = xmax.max(r.rate);
        for v in [r.report.latency_ms.p50, r.report.latency_ms.p99] {
            if v > 0.0 {
                ymin = ymin.min(v);
                ymax = ymax.max(v);
            }
        }
    }
    if xmax == 0.0 {
        (xmin, xmax, ymin, ymax) = (100.0, 1000.0, 1.0, 10.0);
    }
    ymax = ymax.max(results.p99_limit_ms);
    let x = Axis::log(xmin, xmax, LEFT, W - RIGHT);
    let y = Axis::log(ymin, ymax, H - BOTTOM, TOP);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">Latency, send to the other side's receive_message</text>"#,
        (LEFT + W - RIGHT) / 2.0
    );
    for t in x.ticks() {
        let px = x.at(t);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#e9ecef"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 18.0,
            label(t)
        );
    }
    for t in y.ticks() {
        let py = y.at(t);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e9ecef"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            label(t)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#868e96"/>"##,
        W - RIGHT - LEFT,
        H - BOTTOM - TOP
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">offered messages per second (log)</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">latency, ms (log)</text>"#,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0
    );
    let limit = y.at(results.p99_limit_ms);
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{limit:.1}" x2="{:.1}" y2="{limit:.1}" stroke="#c92a2a" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" fill="#c92a2a">p99 limit {} ms</text>"##,
        W - RIGHT,
        LEFT + 4.0,
        limit - 4.0,
        results.p99_limit_ms
    );
    for (i, (name, color, runs)) in series.iter().enumerate() {
        for (which, dash) in [("p99", ""), ("p50", r#" stroke-dasharray="6 4""#)] {
            let points: Vec<String> = runs
                .iter()
                .map(|r| {
                    let v = if which == "p99" {
                        r.report.latency_ms.p99
                    } else {
                        r.report.latency_ms.p50
                    };
                    format!("{:.1},{:.1}", x.at(r.rate), y.at(v))
                })
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
                points.join(" ")
            );
            for r in runs {
                let v = if which == "p99" {
                    r.report.latency_ms.p99
                } else {
                    r.report.latency_ms.p50
                };
                let (px, py) = (x.at(r.rate), y.at(v));
                if r.sustained {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{color}"/>"#
                    );
                } else {
                    let _ = writeln!(
                        s,
                        r#"<path d="M{:.1},{:.1}l8,8m0,-8l-8,8" stroke="{color}" stroke-width="2"/>"#,
                        px - 4.0,
                        py - 4.0
                    );
                }
            }
        }
        let ly = TOP + 10.0 + i as f64 * 40.0;
        let lx = W - RIGHT + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{name} p99</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0
        );
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}">{name} p50</text>"#,
            ly + 16.0,
            lx + 24.0,
            ly + 16.0,
            lx + 30.0,
            ly + 20.0
        );
    }
    let ly = TOP + 10.0 + series.len() as f64 * 40.0;
    let _ = writeln!(
        s,
        r##"<path d="M{:.1},{:.1}l8,8m0,-8l-8,8" stroke="#495057" stroke-width="2"/><text x="{:.1}" y="{:.1}">not sustained</text>"##,
        W - RIGHT + 18.0,
        ly - 4.0,
        W - RIGHT + 44.0,
        ly + 4.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LatencyMs;

    fn run(target: &str, rate: f64, p99: f64, cpu: f64, sustained: bool) -> Run {
        let report = LoadReport {
            via: "socket".into(),
            sent: 100,
            delivered: 100,
            latency_ms: LatencyMs {
                p50: p99 / 3.0,
                p99,
                ..LatencyMs::default()
            },
            server: Some(crate::load::ServerUse {
                cpu_ms_per_1000_delivered: Some(cpu),
                ..Default::default()
            }),
            ..LoadReport::default()
        };
        Run {
            target: target.into(),
            via: "socket".into(),
            rate,
            sustained,
            report,
        }
    }

    fn sample() -> Results {
        Results {
            p99_limit_ms: 50.0,
            runs: vec![
                run("souk", 500.0, 2.0, 100.0, true),
                run("reference", 500.0, 5.0, 300.0, true),
                run("souk", 1000.0, 3.0, 80.0, true),
                run("reference", 1000.0, 60.0, 350.0, false),
                run("souk", 2000.0, 90.0, 70.0, false),
            ],
            ..Results::default()
        }
    }

    #[test]
    fn goals_take_the_right_rates() {
        let g = goals(&sample().runs, "socket");
        // CPU at the highest rate both sustained (500), p99 worst ratio where
        // souk sustained (500: 0.4, 1000: 0.05), highest sustained rates.
        assert_eq!(g.cpu, Some((500.0, 100.0, 300.0)));
        assert_eq!(g.p99, Some((500.0, 2.0, 5.0)));
        assert_eq!(g.max_rate, (Some(1000.0), Some(500.0)));
        assert!(!g.souk_never_failed);
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
    fn the_markdown_has_every_figure() {
        let md = markdown_block(&sample(), "docs/bench/latency.svg");
        assert!(md.contains("## Real time") && md.contains("## Comparison with Node"));
        assert!(md.contains("| 1000 | souk | 0 | 1.00 | 3.00 |"), "{md}");
        assert!(md.contains("| 0.33 | ≤ 0.25 | **missed** |"), "{md}");
        assert!(md.contains("| 0.40 | ≤ 0.5 | **met** |"), "{md}");
        assert!(
            md.contains("| 1000/s | 500/s | 2.00 | ≥ 3 | **missed** |"),
            "{md}"
        );
        assert!(md.contains("60.0 (not sustained)"), "{md}");
        assert!(md.contains("](docs/bench/latency.svg)"));
    }

    #[test]
    fn the_plot_is_an_svg_with_both_servers() {
        let svg = plot(&sample());
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("souk (socket) p99") && svg.contains("reference (socket) p50"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        // Two runs were not sustained: a cross for each, p50 and p99.
        assert_eq!(svg.matches("l8,8m0,-8l-8,8").count(), 2 * 2 + 1);
    }

    #[test]
    fn log_axes_cover_whole_decades() {
        let a = Axis::log(250.0, 16000.0, 0.0, 100.0);
        assert_eq!((a.lo, a.hi), (100.0, 100000.0));
        assert!((a.at(1000.0) - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(a.ticks().first(), Some(&100.0));
        assert_eq!(a.ticks().len(), 3 * 3 + 1);
        assert_eq!(
            relative(
                Path::new("docs/bench/latency.svg"),
                Path::new("BENCHMARKS.md")
            ),
            "docs/bench/latency.svg"
        );
    }
}
