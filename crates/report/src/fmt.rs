//! Numbers and text as the report prints them.

use crate::analysis::Rate;

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn is_fraction(unit: Option<&str>, metric: &str) -> bool {
    unit == Some("fraction") || metric.starts_with("pass@")
}

pub(crate) fn is_bytes(unit: Option<&str>, metric: &str) -> bool {
    unit == Some("bytes") || metric.ends_with("_bytes")
}

/// A value in its unit: fractions as percentages, byte counts in KiB/MiB/GiB, else four
/// significant digits.
pub fn value(v: f64, unit: Option<&str>, metric: &str) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if is_fraction(unit, metric) {
        return format!("{:.1}%", v * 100.0);
    }
    if is_bytes(unit, metric) {
        let mut x = v;
        for u in ["B", "KiB", "MiB", "GiB"] {
            if x.abs() < 1024.0 {
                return format!("{} {u}", sig(x));
            }
            x /= 1024.0;
        }
        return format!("{} TiB", sig(x));
    }
    sig(v)
}

/// Four significant digits without a trailing exponent for everyday magnitudes.
fn sig(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        // 20.00 -> 20, 0.0500 -> 0.05: the digits that carry information.
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// `value [lo, hi]`.
pub fn with_ci(v: f64, ci: Option<(f64, f64)>, unit: Option<&str>, metric: &str) -> String {
    match ci {
        Some((lo, hi)) => format!(
            "{} [{}, {}]",
            value(v, unit, metric),
            value(lo, unit, metric),
            value(hi, unit, metric)
        ),
        None => value(v, unit, metric),
    }
}

/// A difference, signed, in the metric's unit (fractions in percentage points).
pub fn delta(d: f64, ci: Option<(f64, f64)>, unit: Option<&str>, metric: &str) -> String {
    let one = |x: f64| {
        if is_fraction(unit, metric) {
            format!("{:+.1} pp", x * 100.0)
        } else {
            let s = value(x, unit, metric);
            if x >= 0.0 {
                format!("+{s}")
            } else {
                s
            }
        }
    };
    match ci {
        Some((lo, hi)) => format!("{} [{}, {}]", one(d), one(lo), one(hi)),
        None => one(d),
    }
}

/// `k/n = p% [lo%, hi%]`.
pub fn rate(r: &Rate) -> String {
    match r.ci95 {
        Some((lo, hi)) => format!(
            "{}/{} = {:.1}% [{:.1}, {:.1}]",
            r.k,
            r.n,
            r.value * 100.0,
            lo * 100.0,
            hi * 100.0
        ),
        None => format!("{}/{}", r.k, r.n),
    }
}

/// A p-value as people read them.
pub fn p_value(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(value(0.4512, None, "pass@1"), "45.1%");
        assert_eq!(
            value(3.5 * 1024.0 * 1024.0, Some("bytes"), "size"),
            "3.5 MiB"
        );
        assert_eq!(value(123.456, Some("tok/s"), "decode_tok_s"), "123.5");
        assert_eq!(value(0.012345, None, "kl"), "0.01235");
        assert_eq!(value(f64::NAN, None, "x"), "n/a");
        assert_eq!(
            delta(-0.05, Some((-0.1, 0.0)), None, "pass@1"),
            "-5.0 pp [-10.0 pp, +0.0 pp]"
        );
        assert_eq!(delta(2.0, None, None, "ppl"), "+2");
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(p_value(0.034), "0.0340");
        assert_eq!(p_value(0.00001234), "1.2e-5");
    }
}
