//! The plot of `BENCHMARKS.md`: p50 and p99 latency against offered rate
//! for every server and way of sending, on log axes, drawn by hand (a few
//! lines and labels do not need a plotting crate).

use std::fmt::Write as _;

use crate::compare::{Results, Run};
use crate::peers::Target;
use crate::report::{runs_of, vias};

/// Each server's colour: dark for socket sends, light for REST.
fn color(target: Target, via: &str) -> &'static str {
    let socket = via == "socket";
    match target {
        Target::Souk if socket => "#d9480f",
        Target::Souk => "#f08c00",
        Target::Floor if socket => "#2b8a3e",
        Target::Floor => "#69db7c",
        Target::Reference if socket => "#1c7ed6",
        Target::Reference => "#74c0fc",
        Target::Durable if socket => "#7048e8",
        Target::Durable => "#b197fc",
    }
}

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
    let series: Vec<(String, &str, Vec<&Run>)> = Target::ALL
        .iter()
        .flat_map(|t| {
            vias(results).into_iter().map(move |v| {
                let color = color(*t, &v);
                (
                    format!("{} ({v})", t.label()),
                    color,
                    runs_of(&results.runs, t.label(), &v),
                )
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
    use crate::goals::tests::run;

    #[test]
    fn the_plot_is_an_svg_with_every_server() {
        let results = Results {
            p99_limit_ms: 50.0,
            runs: vec![
                run("souk", 500.0, 2.0, 100.0, true),
                run("floor", 500.0, 1.0, 50.0, true),
                run("reference", 500.0, 5.0, 300.0, true),
                run("durable", 500.0, 9.0, 600.0, true),
                run("souk", 1000.0, 3.0, 80.0, true),
                run("reference", 1000.0, 60.0, 350.0, false),
                run("souk", 2000.0, 90.0, 70.0, false),
            ],
            ..Results::default()
        };
        let svg = plot(&results);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for name in ["souk", "floor", "reference", "durable"] {
            assert!(svg.contains(&format!("{name} (socket) p99")), "{name}");
        }
        assert_eq!(svg.matches("<polyline").count(), 4 * 2);
        // Two runs were not sustained: a cross for each, p50 and p99, and
        // the legend's.
        assert_eq!(svg.matches("l8,8m0,-8l-8,8").count(), 2 * 2 + 1);
    }

    #[test]
    fn log_axes_cover_whole_decades() {
        let a = Axis::log(250.0, 16000.0, 0.0, 100.0);
        assert_eq!((a.lo, a.hi), (100.0, 100000.0));
        assert!((a.at(1000.0) - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(a.ticks().first(), Some(&100.0));
        assert_eq!(a.ticks().len(), 3 * 3 + 1);
    }
}
