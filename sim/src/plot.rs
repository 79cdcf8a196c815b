//! A hand-written SVG plot: the guest's used memory, page cache and free memory (stacked
//! areas) against the host-committed memory (a bold line), one panel per run.

use super::series::Sample;
use std::fmt::Write as _;
use std::format;
use std::prelude::rust_2024::*;
use std::string::String;

/// One panel: a title and the run's samples.
pub struct Panel<'a> {
    /// Panel title.
    pub title: &'a str,
    /// Samples in time order.
    pub samples: &'a [Sample],
    /// When the workload ended (a dashed vertical line), ns.
    pub mark_ns: Option<u64>,
}

const W: f64 = 960.0;
const PANEL_H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 62.0;
const PLOT_H: f64 = 220.0;

const C_USED: &str = "#d9822b";
const C_CACHE: &str = "#6aa5d8";
const C_FREE: &str = "#e6e6e6";
const C_HOST: &str = "#b0182a";

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Nice round tick step for a range.
fn tick_step(range: f64, target: f64) -> f64 {
    let raw = (range / target).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A time tick step in seconds that lands on round minutes/hours.
fn time_step(tmax: f64) -> f64 {
    const STEPS: [f64; 15] = [
        0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
        7200.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| tmax / s <= 10.0)
        .unwrap_or(tmax / 8.0)
}

fn time_label(secs: f64) -> String {
    if secs >= 120.0 {
        format!("{}m", (secs / 60.0).round())
    } else {
        format!("{}s", secs.round())
    }
}

/// An area: colour, lower edge, upper edge.
type Layer = (&'static str, fn(&Sample) -> u64, fn(&Sample) -> u64);

/// At most about `max` samples: every k-th one, keeping the last, and within each stride the
/// sample with the highest host-committed value (so short peaks stay visible).
fn decimate(samples: &[Sample], max: usize) -> Vec<Sample> {
    let k = samples.len().div_ceil(max.max(1)).max(1);
    if k == 1 {
        return samples.to_vec();
    }
    let mut out: Vec<Sample> = samples
        .chunks(k)
        .filter_map(|c| {
            let first = c.first()?;
            let peak = c.iter().max_by_key(|s| s.host_committed)?;
            Some(Sample {
                host_committed: peak.host_committed,
                ..*first
            })
        })
        .collect();
    if let (Some(l), Some(o)) = (samples.last(), out.last()) {
        if l.t_ns != o.t_ns {
            out.push(*l);
        }
    }
    out
}

/// Draws the panels into one SVG document.
pub fn render(title: &str, panels: &[Panel<'_>]) -> String {
    let h = TOP + PANEL_H * panels.len() as f64 + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    // Legend.
    let legend = [
        (C_USED, "guest used (anon + kernel)"),
        (C_CACHE, "page cache"),
        (C_FREE, "guest free"),
        (C_HOST, "host-committed (VM on the host)"),
    ];
    let mut lx = LEFT;
    for (c, label) in legend {
        if c == C_HOST {
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" y1="42" x2="{}" y2="42" stroke="{c}" stroke-width="3"/>"#,
                lx + 14.0
            );
        } else {
            let _ = writeln!(
                s,
                r##"<rect x="{lx}" y="36" width="14" height="12" fill="{c}" stroke="#999"/>"##
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="47">{}</text>"#,
            lx + 18.0,
            escape(label)
        );
        lx += 14.0 + 30.0 + 7.0 * label.len() as f64;
    }
    let tmax = panels
        .iter()
        .filter_map(|p| p.samples.last().map(|x| x.t_ns))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        / 1e9;
    let ymax_b = panels
        .iter()
        .flat_map(|p| p.samples.iter())
        .map(|x| x.total.max(x.host_committed))
        .max()
        .unwrap_or(1)
        .max(1);
    let ymax = gib(ymax_b) * 1.05;
    let pw = W - LEFT - RIGHT;
    for (pi, p) in panels.iter().enumerate() {
        let y0 = TOP + PANEL_H * pi as f64 + 20.0;
        let xs = |t_ns: u64| LEFT + (t_ns as f64 / 1e9) / tmax * pw;
        let ys = |g: f64| y0 + PLOT_H - g / ymax * PLOT_H;
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
            y0 - 6.0,
            escape(p.title)
        );
        // Axes and grid.
        let ystep = tick_step(ymax, 5.0);
        let mut g = 0.0;
        while g <= ymax + 1e-9 {
            let y = ys(g);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/>"##,
                LEFT + pw
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{g} GiB</text>"#,
                LEFT - 6.0,
                y + 4.0
            );
            g += ystep;
        }
        let tstep = time_step(tmax);
        let mut t = 0.0;
        while t <= tmax + 1e-9 {
            let x = LEFT + t / tmax * pw;
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/>"##,
                y0 + PLOT_H,
                y0 + PLOT_H + 4.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                y0 + PLOT_H + 16.0,
                time_label(t)
            );
            t += tstep;
        }
        if p.samples.is_empty() {
            continue;
        }
        let pts = decimate(p.samples, 1200);
        // Stacked areas: used, used+cache, total.
        let layers: [Layer; 3] = [
            (C_FREE, |x| x.used + x.cache, |x| x.total),
            (C_CACHE, |x| x.used, |x| x.used + x.cache),
            (C_USED, |_| 0, |x| x.used),
        ];
        for (color, lo, hi) in layers {
            let mut d = String::new();
            for (i, x) in pts.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1} ",
                    if i == 0 { "M" } else { "L" },
                    xs(x.t_ns),
                    ys(gib(hi(x)))
                );
            }
            for x in pts.iter().rev() {
                let _ = write!(d, "L{:.1},{:.1} ", xs(x.t_ns), ys(gib(lo(x))));
            }
            let _ = writeln!(s, r#"<path d="{d}Z" fill="{color}" stroke="none"/>"#);
        }
        // Host-committed line.
        let mut d = String::new();
        for (i, x) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                xs(x.t_ns),
                ys(gib(x.host_committed))
            );
        }
        let _ = writeln!(
            s,
            r#"<path d="{d}" fill="none" stroke="{C_HOST}" stroke-width="2.5"/>"#
        );
        if let Some(m) = p.mark_ns {
            let x = xs(m);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{:.1}" stroke="#333" stroke-dasharray="4 3"/>"##,
                y0 + PLOT_H
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}">work ends</text>"#,
                x + 4.0,
                y0 + 12.0
            );
        }
        let last = p.samples.last().map_or(0, |x| x.host_committed);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{C_HOST}">host-committed at end: {:.2} GiB</text>"#,
            LEFT + pw - 4.0,
            y0 + 12.0,
            gib(last)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{y0}" width="{pw}" height="{PLOT_H}" fill="none" stroke="#666"/>"##
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_well_formed_svg() {
        let samples: std::vec::Vec<Sample> = (0..10)
            .map(|i| Sample {
                t_ns: i * 1_000_000_000,
                total: 4 << 30,
                used: 1 << 30,
                cache: 1 << 29,
                free: (4 << 30) - (3 << 29),
                host_committed: (2 << 30) - i * (1 << 26),
            })
            .collect();
        let svg = render(
            "t <test>",
            &[Panel {
                title: "a",
                samples: &samples,
                mark_ns: Some(3_000_000_000),
            }],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;test&gt;"));
        assert_eq!(svg.matches("<path").count(), 4);
    }
}
