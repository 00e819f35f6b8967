//! The goals of issue 17, evaluated on one comparison's runs: souk's
//! figures as ratios against each peer's, measured in the same interleaved
//! run.
//!
//! - CPU per socket message, at every rate from 1,000/s up to the highest
//!   both sustain: at most 2x the floor's, 0.8x the in-memory reference's,
//!   0.33x the durable reference's.
//! - p99 from send to delivery: at most 1.25x the in-memory reference's at
//!   250-1,000/s and 0.5x from 2,000/s up; at most 0.5x the durable
//!   reference's at every rate both sustain.
//! - Highest sustained rate: at least 3x the durable reference's.
//! - Memory per idle socket: at most 1.0x the in-memory reference's.
//!
//! A rate counts for two servers when both sustained it and neither failed
//! at or below it ([`sustained_limit`]): a lucky pass above a failure on a
//! noisy machine does not count.

use crate::compare::{sustained_limit, Run};
use crate::load::{LoadReport, Via};
use crate::peers::Target;

/// What a ratio (souk / peer) must be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

impl Bound {
    pub fn holds(self, ratio: f64) -> bool {
        match self {
            Self::AtMost(b) => ratio <= b,
            Self::AtLeast(b) => ratio >= b,
        }
    }

    /// How far `ratio` is from the goal, as a factor (1.0 or less: met).
    pub fn shortfall(self, ratio: f64) -> f64 {
        match self {
            Self::AtMost(b) => ratio / b,
            Self::AtLeast(b) => b / ratio,
        }
    }

    pub fn text(self) -> String {
        match self {
            Self::AtMost(b) => format!("≤ {b}"),
            Self::AtLeast(b) => format!("≥ {b}"),
        }
    }
}

/// Which figure a goal compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// Server CPU per 1,000 delivered messages.
    Cpu,
    /// p99 from the scheduled send to the other side's `receive_message`.
    P99,
    /// Highest offered rate sustained.
    MaxRate,
    /// RSS per connected idle socket.
    IdleMemory,
}

/// One goal and what the run says of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub figure: Figure,
    pub peer: Target,
    pub bound: Bound,
    /// The band of offered rates the goal speaks of (rate goals: none).
    pub rates: Option<(f64, f64)>,
    /// Every point compared: (offered rate, souk's figure, the peer's).
    /// Rate and memory goals have one point (rate 0).
    pub points: Vec<(f64, f64, f64)>,
    /// For the highest-rate goal: souk never failed, so its real maximum,
    /// and the ratio, may be higher.
    pub at_least: bool,
}

impl Verdict {
    pub fn ratio(p: &(f64, f64, f64)) -> f64 {
        p.1 / p.2
    }

    /// The point furthest from the goal.
    pub fn worst(&self) -> Option<(f64, f64, f64)> {
        self.points.iter().copied().max_by(|a, b| {
            self.bound
                .shortfall(Self::ratio(a))
                .total_cmp(&self.bound.shortfall(Self::ratio(b)))
        })
    }

    /// The smallest and largest ratio.
    pub fn range(&self) -> Option<(f64, f64)> {
        let ratios = self.points.iter().map(Self::ratio);
        let lo = ratios.clone().reduce(f64::min)?;
        let hi = ratios.reduce(f64::max)?;
        Some((lo, hi))
    }

    /// `None` when nothing could be compared, or when souk's figure is only
    /// a lower bound that does not reach the goal.
    pub fn met(&self) -> Option<bool> {
        let ratio = Self::ratio(&self.worst()?);
        match (self.bound.holds(ratio), self.at_least) {
            (true, _) => Some(true),
            (false, true) => None,
            (false, false) => Some(false),
        }
    }
}

fn cpu(r: &LoadReport) -> Option<f64> {
    r.server
        .as_ref()
        .and_then(|s| s.cpu_ms_per_1000_delivered)
        .filter(|v| v.is_finite() && *v > 0.0)
}

fn p99(r: &LoadReport) -> Option<f64> {
    Some(r.latency_ms.p99).filter(|v| v.is_finite() && *v > 0.0)
}

fn idle_kib(r: &LoadReport) -> Option<f64> {
    r.server
        .as_ref()
        .and_then(|s| s.rss_per_idle_socket_kib)
        .filter(|v| v.is_finite() && *v > 0.0)
}

fn via_of(via: &str) -> Via {
    if via == "rest" {
        Via::Rest
    } else {
        Via::Socket
    }
}

/// (rate, souk's figure, the peer's) at every rate in `lo..=hi` that both
/// sustained, below both servers' first failure.
fn both_sustained(
    runs: &[Run],
    via: &str,
    peer: Target,
    (lo, hi): (f64, f64),
    figure: fn(&LoadReport) -> Option<f64>,
) -> Vec<(f64, f64, f64)> {
    let v = via_of(via);
    let limits = (
        sustained_limit(runs, Target::Souk, v),
        sustained_limit(runs, peer, v),
    );
    let (Some(souk_limit), Some(peer_limit)) = limits else {
        return Vec::new();
    };
    let find = |t: Target, rate: f64| {
        runs.iter()
            .find(|r| r.target == t.label() && r.via == via && r.rate == rate && r.sustained)
    };
    let mut points: Vec<(f64, f64, f64)> = runs
        .iter()
        .filter(|r| r.target == Target::Souk.label() && r.via == via && r.sustained)
        .filter(|r| r.rate >= lo && r.rate <= hi && r.rate <= souk_limit && r.rate <= peer_limit)
        .filter_map(|s| {
            let p = find(peer, s.rate)?;
            Some((s.rate, figure(&s.report)?, figure(&p.report)?))
        })
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points.dedup_by(|a, b| a.0 == b.0);
    points
}

/// Every goal of issue 17 on the runs sent over `via` (and the idle runs),
/// for the peers that took part.
pub fn evaluate(runs: &[Run], idle: &[Run], via: &str) -> Vec<Verdict> {
    let took_part = |t: Target| runs.iter().any(|r| r.target == t.label() && r.via == via);
    let mut out = Vec::new();
    let all = (0.0, f64::INFINITY);
    let rate_goals: [(Figure, Target, Bound, (f64, f64)); 6] = [
        (
            Figure::Cpu,
            Target::Floor,
            Bound::AtMost(2.0),
            (1000.0, f64::INFINITY),
        ),
        (
            Figure::Cpu,
            Target::Reference,
            Bound::AtMost(0.8),
            (1000.0, f64::INFINITY),
        ),
        (
            Figure::Cpu,
            Target::Durable,
            Bound::AtMost(0.33),
            (1000.0, f64::INFINITY),
        ),
        (
            Figure::P99,
            Target::Reference,
            Bound::AtMost(1.25),
            (250.0, 1000.0),
        ),
        (
            Figure::P99,
            Target::Reference,
            Bound::AtMost(0.5),
            (2000.0, f64::INFINITY),
        ),
        (Figure::P99, Target::Durable, Bound::AtMost(0.5), all),
    ];
    if !took_part(Target::Souk) {
        return out;
    }
    for (figure, peer, bound, band) in rate_goals {
        if !took_part(peer) {
            continue;
        }
        let f = match figure {
            Figure::Cpu => cpu,
            _ => p99,
        };
        out.push(Verdict {
            figure,
            peer,
            bound,
            rates: Some(band),
            points: both_sustained(runs, via, peer, band, f),
            at_least: false,
        });
    }
    if took_part(Target::Durable) {
        let v = via_of(via);
        let souk = sustained_limit(runs, Target::Souk, v);
        let durable = sustained_limit(runs, Target::Durable, v);
        let souk_never_failed = runs
            .iter()
            .filter(|r| r.target == "souk" && r.via == via)
            .all(|r| r.sustained);
        out.push(Verdict {
            figure: Figure::MaxRate,
            peer: Target::Durable,
            bound: Bound::AtLeast(3.0),
            rates: None,
            points: match (souk, durable) {
                (Some(s), Some(d)) => vec![(0.0, s, d)],
                _ => Vec::new(),
            },
            at_least: souk_never_failed,
        });
    }
    let idle_of = |t: Target| {
        idle.iter()
            .find(|r| r.target == t.label())
            .and_then(|r| idle_kib(&r.report))
    };
    if via == "socket" {
        if let (Some(s), Some(r)) = (idle_of(Target::Souk), idle_of(Target::Reference)) {
            out.push(Verdict {
                figure: Figure::IdleMemory,
                peer: Target::Reference,
                bound: Bound::AtMost(1.0),
                rates: None,
                points: vec![(0.0, s, r)],
                at_least: false,
            });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::load::{LatencyMs, ServerUse};

    pub fn run(target: &str, rate: f64, p99: f64, cpu: f64, sustained: bool) -> Run {
        Run {
            target: target.into(),
            via: "socket".into(),
            rate,
            sustained,
            failed_tries_p99_ms: Vec::new(),
            report: LoadReport {
                via: "socket".into(),
                sent: 100,
                delivered: 100,
                latency_ms: LatencyMs {
                    p50: p99 / 3.0,
                    p99,
                    ..LatencyMs::default()
                },
                server: Some(ServerUse {
                    cpu_ms_per_1000_delivered: Some(cpu),
                    ..Default::default()
                }),
                ..LoadReport::default()
            },
        }
    }

    fn sample() -> Vec<Run> {
        vec![
            run("souk", 500.0, 2.0, 400.0, true),
            run("floor", 500.0, 1.0, 150.0, true),
            run("reference", 500.0, 1.0, 300.0, true),
            run("durable", 500.0, 8.0, 900.0, true),
            run("souk", 1000.0, 3.0, 300.0, true),
            run("floor", 1000.0, 1.0, 100.0, true),
            run("reference", 1000.0, 2.0, 200.0, true),
            run("durable", 1000.0, 60.0, 800.0, false),
            run("souk", 2000.0, 4.0, 250.0, true),
            run("floor", 2000.0, 1.0, 100.0, true),
            run("reference", 2000.0, 10.0, 200.0, true),
            run("souk", 4000.0, 80.0, 200.0, false),
            run("floor", 4000.0, 2.0, 90.0, true),
            run("reference", 4000.0, 90.0, 150.0, false),
        ]
    }

    fn find(v: &[Verdict], figure: Figure, peer: Target, bound: Bound) -> Verdict {
        v.iter()
            .find(|g| g.figure == figure && g.peer == peer && g.bound == bound)
            .cloned()
            .unwrap()
    }

    #[test]
    fn cpu_is_compared_from_1000_per_second_to_the_highest_both_sustain() {
        let v = evaluate(&sample(), &[], "socket");
        let floor = find(&v, Figure::Cpu, Target::Floor, Bound::AtMost(2.0));
        // 500/s is below the band; 4,000/s souk did not sustain.
        assert_eq!(
            floor.points,
            vec![(1000.0, 300.0, 100.0), (2000.0, 250.0, 100.0)]
        );
        assert_eq!(floor.worst(), Some((1000.0, 300.0, 100.0)));
        assert_eq!(floor.range(), Some((2.5, 3.0)));
        assert_eq!(floor.met(), Some(false));
        assert!((floor.bound.shortfall(3.0) - 1.5).abs() < 1e-12);
        let reference = find(&v, Figure::Cpu, Target::Reference, Bound::AtMost(0.8));
        assert_eq!(reference.range(), Some((1.25, 1.5)));
        assert_eq!(reference.met(), Some(false));
        // The durable reference sustained nothing from 1,000/s up.
        let durable = find(&v, Figure::Cpu, Target::Durable, Bound::AtMost(0.33));
        assert!(durable.points.is_empty());
        assert_eq!(durable.met(), None);
    }

    #[test]
    fn p99_bands_and_the_durable_rate() {
        let v = evaluate(&sample(), &[], "socket");
        let low = find(&v, Figure::P99, Target::Reference, Bound::AtMost(1.25));
        assert_eq!(low.points, vec![(500.0, 2.0, 1.0), (1000.0, 3.0, 2.0)]);
        assert_eq!(low.worst(), Some((500.0, 2.0, 1.0)));
        assert_eq!(low.met(), Some(false));
        let high = find(&v, Figure::P99, Target::Reference, Bound::AtMost(0.5));
        assert_eq!(high.points, vec![(2000.0, 4.0, 10.0)]);
        assert_eq!(high.met(), Some(true));
        let durable = find(&v, Figure::P99, Target::Durable, Bound::AtMost(0.5));
        assert_eq!(durable.points, vec![(500.0, 2.0, 8.0)]);
        assert_eq!(durable.met(), Some(true));
        let rate = find(&v, Figure::MaxRate, Target::Durable, Bound::AtLeast(3.0));
        assert_eq!(rate.points, vec![(0.0, 2000.0, 500.0)]);
        assert!(!rate.at_least);
        assert_eq!(rate.met(), Some(true));
    }

    #[test]
    fn a_pass_above_a_failure_does_not_count() {
        let mut runs = sample();
        // The durable reference passes 2,000/s by luck after failing 1,000.
        runs.push(run("durable", 2000.0, 9.0, 700.0, true));
        let v = evaluate(&runs, &[], "socket");
        let cpu = find(&v, Figure::Cpu, Target::Durable, Bound::AtMost(0.33));
        assert!(cpu.points.is_empty());
        let rate = find(&v, Figure::MaxRate, Target::Durable, Bound::AtLeast(3.0));
        assert_eq!(rate.points, vec![(0.0, 2000.0, 500.0)]);
    }

    #[test]
    fn a_souk_that_never_failed_gives_a_lower_bound() {
        let runs: Vec<Run> = sample().into_iter().filter(|r| r.rate <= 2000.0).collect();
        let v = evaluate(&runs, &[], "socket");
        let rate = find(&v, Figure::MaxRate, Target::Durable, Bound::AtLeast(3.0));
        assert!(rate.at_least);
        assert_eq!(rate.met(), Some(true));
        let short: Vec<Run> = runs.into_iter().filter(|r| r.rate <= 1000.0).collect();
        let rate = find(
            &evaluate(&short, &[], "socket"),
            Figure::MaxRate,
            Target::Durable,
            Bound::AtLeast(3.0),
        );
        // 1,000 / 500 = 2 and souk never failed: the goal is undecided.
        assert_eq!(rate.met(), None);
    }

    #[test]
    fn idle_memory_against_the_in_memory_reference() {
        let mut idle = vec![
            run("souk", 100.0, 1.0, 1.0, true),
            run("reference", 100.0, 1.0, 1.0, true),
        ];
        for (r, kib) in idle.iter_mut().zip([20.0, 16.0]) {
            r.report.server.as_mut().unwrap().rss_per_idle_socket_kib = Some(kib);
        }
        let v = evaluate(&sample(), &idle, "socket");
        let mem = find(
            &v,
            Figure::IdleMemory,
            Target::Reference,
            Bound::AtMost(1.0),
        );
        assert_eq!(mem.points, vec![(0.0, 20.0, 16.0)]);
        assert_eq!(mem.met(), Some(false));
        assert!(evaluate(&sample(), &idle, "rest")
            .iter()
            .all(|g| g.figure != Figure::IdleMemory));
    }

    #[test]
    fn peers_that_did_not_run_have_no_goals() {
        let runs: Vec<Run> = sample()
            .into_iter()
            .filter(|r| r.target == "souk" || r.target == "reference")
            .collect();
        let v = evaluate(&runs, &[], "socket");
        assert!(v.iter().all(|g| g.peer == Target::Reference));
        assert_eq!(v.len(), 3);
    }
}
