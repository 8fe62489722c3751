//! Inline SVG charts (no scripts, no external assets): the report must open anywhere, offline.

use crate::analysis::{Frontier, Heatmap, Point, Row};
use crate::fmt::{esc, value as fmt_value};
use std::fmt::Write;

const BASELINE: &str = "#4c78a8";
const CANDIDATE: &str = "#f58518";
const FRONT: &str = "#54a24b";

/// A linear map from a data interval to a pixel interval.
#[derive(Clone, Copy)]
pub(crate) struct Scale {
    d0: f64,
    d1: f64,
    p0: f64,
    p1: f64,
}

impl Scale {
    pub(crate) fn new(lo: f64, hi: f64, p0: f64, p1: f64) -> Self {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            (lo - pad, hi + pad)
        };
        Self {
            d0: lo,
            d1: hi,
            p0,
            p1,
        }
    }
    pub(crate) fn at(&self, v: f64) -> f64 {
        self.p0 + (v - self.d0) / (self.d1 - self.d0) * (self.p1 - self.p0)
    }
}

/// About `n` round tick values covering [lo, hi] (1, 2, 5 × 10^k steps).
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi.is_nan() || lo.is_nan() || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    // The round step whose tick count is closest to n.
    let count = |s: f64| ((hi - lo) / s - n as f64).abs();
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .min_by(|a, b| count(*a).total_cmp(&count(*b)))
        .unwrap_or(mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Ticks round in the unit the labels use: byte counts step in KiB/MiB/GiB, not in 10^k bytes.
fn ticks_in(lo: f64, hi: f64, n: usize, unit: Option<&str>, name: &str) -> Vec<f64> {
    if !crate::fmt::is_bytes(unit, name) {
        return ticks(lo, hi, n);
    }
    let top = lo.abs().max(hi.abs()).max(1.0);
    let f = 1024f64.powi((top.log2() / 10.0).floor() as i32);
    ticks(lo / f, hi / f, n)
        .into_iter()
        .map(|t| t * f)
        .collect()
}

/// Data range including interval ends, padded by 5%.
pub(crate) fn extent(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// What an axis shows: metric name and unit (for tick labels).
pub(crate) struct Axis<'a> {
    pub(crate) scale: Scale,
    pub(crate) name: &'a str,
    pub(crate) unit: Option<&'a str>,
}

/// Grid, ticks and titles; `xdir` says which way is better along x.
pub(crate) fn axes(s: &mut String, xa: &Axis<'_>, ya: &Axis<'_>, xdir: &str) {
    let (x, y) = (xa.scale, ya.scale);
    let (xname, xunit, yname, yunit) = (xa.name, xa.unit, ya.name, ya.unit);
    let (top, bottom) = (y.p1.min(y.p0), y.p0.max(y.p1));
    for t in ticks_in(x.d0, x.d1, 5, xunit, xname) {
        let px = x.at(t);
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}" class="grid"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
            bottom + 14.0,
            esc(&fmt_value(t, xunit, xname))
        );
    }
    for t in ticks_in(y.d0, y.d1, 5, yunit, yname) {
        let py = y.at(t);
        let _ = write!(
            s,
            r##"<line x1="{:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" class="grid"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            x.p0,
            x.p1,
            x.p0 - 6.0,
            py + 4.0,
            esc(&fmt_value(t, yunit, yname))
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{:.1}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" class="axis"/><line x1="{:.1}" y1="{top:.1}" x2="{:.1}" y2="{bottom:.1}" class="axis"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="label">{} ({xdir})</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" class="label">{}</text>"##,
        x.p0,
        x.p1,
        x.p0,
        x.p0,
        (x.p0 + x.p1) / 2.0,
        bottom + 34.0,
        esc(xname),
        (top + bottom) / 2.0,
        esc(yname)
    );
}

/// Quality against cost: every variant with its CI whiskers, the frontier as a line.
pub fn pareto(f: &Frontier) -> String {
    chart(f, None)
}

/// [`pareto`] for a page that links each point (to `href(point)`): points carry their values
/// as `data-` attributes, and frontier points are diamonds, so the frontier reads without
/// colour too.
pub fn pareto_linked(f: &Frontier, href: &dyn Fn(&Point) -> String) -> String {
    chart(f, Some(href))
}

fn chart(f: &Frontier, href: Option<&dyn Fn(&Point) -> String>) -> String {
    let (w, h) = (540.0, 360.0);
    let (xl, xh) = extent(f.points.iter().flat_map(|p| {
        [
            p.cost,
            p.cost_ci.map_or(p.cost, |c| c.0),
            p.cost_ci.map_or(p.cost, |c| c.1),
        ]
    }));
    let (yl, yh) = extent(f.points.iter().flat_map(|p| {
        [
            p.quality,
            p.quality_ci.map_or(p.quality, |c| c.0),
            p.quality_ci.map_or(p.quality, |c| c.1),
        ]
    }));
    let x = Scale::new(xl, xh, 70.0, w - 20.0);
    let y = Scale::new(yl, yh, h - 50.0, 16.0);
    let mut s = format!(
        r##"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"><title>{} {} vs {}</title>"##,
        esc(&f.result),
        esc(&f.quality),
        esc(&f.cost)
    );
    let better = if f.cost_higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    };
    let xa = Axis {
        scale: x,
        name: &f.cost,
        unit: f.cost_unit.as_deref(),
    };
    let ya = Axis {
        scale: y,
        name: &f.quality,
        unit: f.quality_unit.as_deref(),
    };
    axes(&mut s, &xa, &ya, better);
    let mut front: Vec<(f64, f64)> = f
        .points
        .iter()
        .filter(|p| p.on_front)
        .map(|p| (x.at(p.cost), y.at(p.quality)))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pts: Vec<String> = front
        .iter()
        .map(|(a, b)| format!("{a:.1},{b:.1}"))
        .collect();
    let _ = write!(
        s,
        r##"<polyline points="{}" fill="none" stroke="{FRONT}" stroke-width="2"/>"##,
        pts.join(" ")
    );
    for p in &f.points {
        let (px, py) = (x.at(p.cost), y.at(p.quality));
        if !(px.is_finite() && py.is_finite()) {
            continue;
        }
        if let Some((lo, hi)) = p.quality_ci {
            let _ = write!(
                s,
                r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" class="whisker"/>"##,
                y.at(lo),
                y.at(hi)
            );
        }
        if let Some((lo, hi)) = p.cost_ci {
            let _ = write!(
                s,
                r##"<line x1="{:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" class="whisker"/>"##,
                x.at(lo),
                x.at(hi)
            );
        }
        let fill = if p.on_front { FRONT } else { "white" };
        // Labels near the right edge go to the point's left so they stay inside the chart.
        let (lx, anchor) = if px > w - 110.0 {
            (px - 7.0, "end")
        } else {
            (px + 7.0, "start")
        };
        let title = format!(
            "{}: {} {}, {} {}{}",
            esc(&p.label),
            esc(&f.quality),
            esc(&fmt_value(p.quality, f.quality_unit.as_deref(), &f.quality)),
            esc(&f.cost),
            esc(&fmt_value(p.cost, f.cost_unit.as_deref(), &f.cost)),
            if href.is_some() && p.on_front {
                " (on the frontier)"
            } else {
                ""
            }
        );
        let label = format!(
            r##"<text x="{lx:.1}" y="{:.1}" text-anchor="{anchor}" class="pt">{}</text>"##,
            py - 7.0,
            esc(&p.label)
        );
        match href {
            None => {
                let _ = write!(
                    s,
                    r##"<circle cx="{px:.1}" cy="{py:.1}" r="5" fill="{fill}" stroke="#333"><title>{title}</title></circle>{label}"##
                );
            }
            Some(href) => {
                let mark = if p.on_front {
                    format!(
                        r##"<path d="M{px:.1} {:.1}L{:.1} {py:.1}L{px:.1} {:.1}L{:.1} {py:.1}Z" fill="{fill}" stroke="#333"/>"##,
                        py - 7.0,
                        px + 7.0,
                        py + 7.0,
                        px - 7.0
                    )
                } else {
                    format!(
                        r##"<circle cx="{px:.1}" cy="{py:.1}" r="5" fill="{fill}" stroke="#333"/>"##
                    )
                };
                let _ = write!(
                    s,
                    r##"<a href="{}" class="point" data-variant="{}" data-cost="{}" data-quality="{}" data-front="{}"><title>{title}</title>{mark}{label}</a>"##,
                    esc(&href(p)),
                    esc(&p.variant),
                    p.cost,
                    p.quality,
                    p.on_front
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// One metric across variants: a bar each, with its CI.
pub fn bars(title: &str, rows: &[&Row]) -> String {
    let bw = 46.0;
    let w = 90.0 + rows.len() as f64 * (bw + 18.0);
    let h = 260.0;
    let (lo, hi) = extent(rows.iter().flat_map(|r| {
        [
            r.value,
            r.ci95.map_or(r.value, |c| c.0),
            r.ci95.map_or(r.value, |c| c.1),
            0.0,
        ]
    }));
    let y = Scale::new(lo.min(0.0), hi, h - 60.0, 14.0);
    let x = Scale::new(0.0, 1.0, 70.0, w - 10.0);
    let unit = rows.first().and_then(|r| r.unit.as_deref());
    let metric = rows.first().map_or("", |r| r.metric.as_str());
    let mut s = format!(
        r##"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"><title>{}</title>"##,
        esc(title)
    );
    for t in ticks_in(y.d0, y.d1, 4, unit, metric) {
        let py = y.at(t);
        let _ = write!(
            s,
            r##"<line x1="70" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" class="grid"/><text x="64" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            w - 10.0,
            py + 4.0,
            esc(&fmt_value(t, unit, metric))
        );
    }
    let zero = y.at(0.0_f64.max(y.d0));
    for (i, r) in rows.iter().enumerate() {
        let left = 84.0 + i as f64 * (bw + 18.0);
        let top = y.at(r.value);
        let (y0, hgt) = if top < zero {
            (top, zero - top)
        } else {
            (zero, top - zero)
        };
        let color = if r.role == tradeoff_store::Role::Baseline {
            BASELINE
        } else {
            CANDIDATE
        };
        let _ = write!(
            s,
            r##"<rect x="{left:.1}" y="{y0:.1}" width="{bw}" height="{:.1}" fill="{color}"><title>{}: {}</title></rect>"##,
            hgt.max(0.5),
            esc(&r.label),
            esc(&crate::fmt::with_ci(
                r.value,
                r.ci95,
                r.unit.as_deref(),
                &r.metric
            ))
        );
        if let Some((a, b)) = r.ci95 {
            let cx = left + bw / 2.0;
            let (ya, yb) = (y.at(a), y.at(b));
            let _ = write!(
                s,
                r##"<line x1="{cx:.1}" y1="{ya:.1}" x2="{cx:.1}" y2="{yb:.1}" class="whisker"/><line x1="{:.1}" y1="{ya:.1}" x2="{:.1}" y2="{ya:.1}" class="whisker"/><line x1="{:.1}" y1="{yb:.1}" x2="{:.1}" y2="{yb:.1}" class="whisker"/>"##,
                cx - 6.0,
                cx + 6.0,
                cx - 6.0,
                cx + 6.0
            );
        }
        let _ = write!(
            s,
            r##"<text transform="translate({:.1} {:.1}) rotate(30)" class="tick">{}</text>"##,
            left + 4.0,
            h - 50.0,
            esc(&r.label)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="70" y1="{zero:.1}" x2="{:.1}" y2="{zero:.1}" class="axis"/>"##,
        x.p1
    );
    s.push_str("</svg>");
    s
}

/// Variants × problems, coloured by the fraction of samples that passed.
pub fn heatmap(hm: &Heatmap) -> String {
    let n = hm.tasks.len().max(1) as f64;
    let cw = (900.0 / n).clamp(3.0, 14.0);
    let ch = 16.0;
    let left = 150.0;
    let w = left + cw * n + 240.0;
    let h = 24.0 + ch * hm.variants.len() as f64 + 8.0;
    let mut s = format!(
        r##"<svg class="chart" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}" role="img"><title>{} per problem</title>"##,
        esc(&hm.result)
    );
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="14" class="tick">solved (95% CI)</text>"##,
        left + cw * n + 8.0
    );
    for (vi, (name, row)) in hm.variants.iter().zip(&hm.cells).enumerate() {
        let top = 22.0 + vi as f64 * ch;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            left - 6.0,
            top + 12.0,
            esc(name)
        );
        for (ti, cell) in row.iter().enumerate() {
            let (fill, what) = match cell {
                Some(f) => (mix(*f), format!("{:.0}% of samples passed", f * 100.0)),
                None => ("#dddddd".to_string(), "not run".to_string()),
            };
            let _ = write!(
                s,
                r##"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{} · {}: {what}</title></rect>"##,
                left + ti as f64 * cw,
                cw - 0.5,
                ch - 1.0,
                esc(name),
                esc(&hm.tasks[ti])
            );
        }
        let r = hm.solved[vi];
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="tick">{}</text>"##,
            left + cw * n + 8.0,
            top + 12.0,
            esc(&crate::fmt::rate(&r))
        );
    }
    s.push_str("</svg>");
    s
}

/// Red (0) to green (1).
fn mix(f: f64) -> String {
    let f = f.clamp(0.0, 1.0);
    let (a, b) = ((0xe4, 0x57, 0x56), (0x54, 0xa2, 0x4b));
    let c = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_steps_are_round() {
        let t = ticks(0.0, 1.0, 5);
        assert_eq!(t.len(), 6);
        assert!((t[3] - 0.6).abs() < 1e-12 && t[5] == 1.0);
        assert_eq!(ticks(3.0, 97.0, 4), vec![20.0, 40.0, 60.0, 80.0]);
        assert_eq!(ticks(2.0, 2.0, 5), vec![2.0]);
        assert_eq!(mix(0.0), "#e45756");
        assert_eq!(mix(1.0), "#54a24b");
    }
}
