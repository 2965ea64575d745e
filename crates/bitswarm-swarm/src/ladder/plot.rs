//! `rd.svg`: the rate-quality plane of a ladder search, hand-written SVG. x is the bit rate on a
//! log scale, y the quality; every trial encode is a grey dot, each family's hull a line in its
//! colour, the chosen rungs larger dots with a black ring, and the target a dashed line.

use bitswarm_abr::plot::{escape, label};
use std::fmt::Write;

/// A point of the plot with its tooltip.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotPoint {
    pub kbps: f64,
    pub quality: f64,
    pub label: String,
}

/// One bitstream family: its hull and its chosen rungs.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotSeries {
    pub name: String,
    pub hull: Vec<PlotPoint>,
    pub rungs: Vec<PlotPoint>,
}

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 520.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// The plot as an SVG document. Points with a non-positive or non-finite rate or a non-finite
/// quality are left out.
pub fn rd_svg(metric: &str, target: f64, trials: &[PlotPoint], families: &[PlotSeries]) -> String {
    let usable = |p: &&PlotPoint| p.kbps.is_finite() && p.kbps > 0.0 && p.quality.is_finite();
    let all: Vec<&PlotPoint> = trials
        .iter()
        .chain(families.iter().flat_map(|f| f.hull.iter().chain(&f.rungs)))
        .filter(usable)
        .collect();
    let (lo_rate, hi_rate) = bounds(all.iter().map(|p| p.kbps.log10()));
    // At least 0.3 decades (a factor of 2), 5 % of the span spare on each side.
    let mid = (lo_rate + hi_rate) / 2.0;
    let half = ((hi_rate - lo_rate) / 2.0).max(0.15) * 1.1;
    let (x_lo, x_hi) = (mid - half, mid + half);
    let (lo_q, hi_q) = bounds(all.iter().map(|p| p.quality).chain([target]));
    let pad = ((hi_q - lo_q) * 0.05).max(if metric == "vmaf" { 1.0 } else { 0.001 });
    let (y_lo, y_hi) = (lo_q - pad, hi_q + pad);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |kbps: f64| LEFT + (kbps.log10() - x_lo) / (x_hi - x_lo) * plot_w;
    let y = |q: f64| TOP + (y_hi - q) / (y_hi - y_lo) * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="15">Rate-quality: trial encodes, hulls and chosen rungs</text>"#
    );
    // Axes, grid and ticks.
    let _ = writeln!(
        svg,
        r##"<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##
    );
    for kbps in rate_ticks(x_lo, x_hi) {
        let px = x(kbps);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0,
            label(kbps)
        );
    }
    let step = nice_step((y_hi - y_lo) / 6.0);
    let mut q = (y_lo / step).ceil() * step;
    while q <= y_hi {
        let py = y(q);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            py + 4.0,
            label(q)
        );
        q += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">bit rate, kbit/s (log scale)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        escape(&metric.to_uppercase())
    );
    // The target.
    if target.is_finite() {
        let _ = writeln!(
            svg,
            r##"<line class="target" x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#888" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" fill="#555">target {}</text>"##,
            LEFT + plot_w,
            LEFT + 6.0,
            y(target) - 5.0,
            label(target),
            ty = y(target)
        );
    }
    // Every trial.
    for p in trials.iter().filter(|p| usable(p)) {
        let _ = writeln!(
            svg,
            r##"<circle class="trial" cx="{:.1}" cy="{:.1}" r="3" fill="#aaa"><title>{}</title></circle>"##,
            x(p.kbps),
            y(p.quality),
            escape(&p.label)
        );
    }
    // Hulls and rungs, one colour per family, with a legend.
    for (i, family) in families.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = family
            .hull
            .iter()
            .filter(|p| usable(p))
            .map(|p| format!("{:.1},{:.1}", x(p.kbps), y(p.quality)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline class="hull" points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            points.join(" ")
        );
        for p in family.rungs.iter().filter(|p| usable(p)) {
            let _ = writeln!(
                svg,
                r#"<circle class="rung" cx="{:.1}" cy="{:.1}" r="6" fill="{colour}" stroke="black" stroke-width="1.5"><title>{}</title></circle>"#,
                x(p.kbps),
                y(p.quality),
                escape(&p.label)
            );
        }
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let lx = LEFT + plot_w + 12.0;
        let _ = writeln!(
            svg,
            r#"<circle cx="{lx:.1}" cy="{:.1}" r="5" fill="{colour}" stroke="black"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ly - 4.0,
            lx + 10.0,
            ly,
            escape(&family.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Tick rates between `10^lo` and `10^hi`: 1, 2 and 5 times powers of ten, or every digit
/// times a power of ten when that gives fewer than three.
fn rate_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let within = |multipliers: &[f64]| -> Vec<f64> {
        (lo.floor() as i32..=hi.ceil() as i32)
            .flat_map(|decade| multipliers.iter().map(move |m| m * 10f64.powi(decade)))
            .filter(|v| (lo - 1e-9..=hi + 1e-9).contains(&v.log10()))
            .collect()
    };
    let coarse = within(&[1.0, 2.0, 5.0]);
    if coarse.len() >= 3 {
        coarse
    } else {
        within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    }
}

/// Smallest and largest of `values`, or (0, 1) for none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kbps: f64, quality: f64, label: &str) -> PlotPoint {
        PlotPoint {
            kbps,
            quality,
            label: label.into(),
        }
    }

    #[test]
    fn every_trial_hull_and_rung_is_drawn_where_it_belongs() {
        let trials = vec![
            p(100.0, 70.0, "a"),
            p(1000.0, 95.0, "b"),
            p(400.0, 80.0, "c"),
            p(f64::NAN, 80.0, "bad"),
        ];
        let family = PlotSeries {
            name: "c0 <p=0.7>".into(),
            hull: vec![trials[0].clone(), trials[1].clone()],
            rungs: vec![trials[0].clone(), trials[1].clone()],
        };
        let svg = rd_svg("vmaf", 95.0, &trials, &[family]);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches(r#"class="trial""#).count(), 3, "NaN left out");
        assert_eq!(svg.matches(r#"class="rung""#).count(), 2);
        assert_eq!(svg.matches(r#"class="hull""#).count(), 1);
        assert!(svg.contains("c0 &lt;p=0.7&gt;"), "legend escaped");
        let coordinate = |label: &str, name: &str| {
            let at = svg.find(&format!("<title>{label}</title>")).unwrap();
            let start = svg[..at].rfind(&format!("{name}=\"")).unwrap() + name.len() + 2;
            svg[start..]
                .split('"')
                .next()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        };
        // Rates on a log scale inside the frame, 5 % spare on each side: 400 kbit/s is
        // log10(4) of the way from 100 to 1000.
        let plot_w = WIDTH - LEFT - RIGHT;
        let (xa, xb, xc) = (
            coordinate("a", "cx"),
            coordinate("b", "cx"),
            coordinate("c", "cx"),
        );
        assert!((xa - (LEFT + plot_w * 0.05 / 1.1)).abs() < 0.1, "{xa}");
        assert!((xb - (LEFT + plot_w * 1.05 / 1.1)).abs() < 0.1, "{xb}");
        assert!(((xc - xa) / (xb - xa) - 4f64.log10()).abs() < 0.001, "{xc}");
        // The best quality is drawn above the worst (SVG y grows downwards).
        let cy = |label: &str| coordinate(label, "cy");
        assert!(cy("b") < cy("c") && cy("c") < cy("a"));
        assert!(svg.contains(r#"class="target""#));
    }

    #[test]
    fn ticks_and_labels() {
        assert_eq!(rate_ticks(2.0, 3.0), [100.0, 200.0, 500.0, 1000.0]);
        assert_eq!(rate_ticks(2.45, 2.85), [300.0, 400.0, 500.0, 600.0, 700.0]);
        assert_eq!(nice_step(3.3), 5.0);
        assert_eq!(nice_step(0.0012), 0.002);
        assert_eq!(nice_step(10.0), 10.0);
        assert_eq!(label(2000.0), "2000");
        assert_eq!(label(0.975), "0.975");
        assert_eq!(escape(r#"a&"b""#), "a&amp;&quot;b&quot;");
    }
}
