//! A view's table, drawn as HTML and exported as CSV or JSON from the same rows, so an export
//! holds exactly what the page shows.

use tradeoff_report::fmt::esc;

/// One cell: plain text for CSV/JSON (a number stays a number), and how the page shows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cell {
    pub text: String,
    pub num: Option<f64>,
    /// HTML shown instead of the escaped text (links, marks).
    pub html: Option<String>,
    pub class: Option<&'static str>,
}

impl Cell {
    pub(crate) fn text(t: impl Into<String>) -> Self {
        Self {
            text: t.into(),
            ..Self::default()
        }
    }

    /// A number shown as `shown` and exported at full precision.
    pub(crate) fn num(v: f64, shown: impl Into<String>) -> Self {
        Self {
            text: shown.into(),
            num: v.is_finite().then_some(v),
            class: Some("num"),
            ..Self::default()
        }
    }

    pub(crate) fn link(t: impl Into<String>, href: &str) -> Self {
        let text = t.into();
        Self {
            html: Some(format!("<a href=\"{}\">{}</a>", esc(href), esc(&text))),
            text,
            ..Self::default()
        }
    }

    pub(crate) fn html(mut self, html: String) -> Self {
        self.html = Some(html);
        self
    }

    pub(crate) fn class(mut self, c: &'static str) -> Self {
        self.class = Some(c);
        self
    }
}

/// Columns and rows; `head_html` overrides a column header on the page (sort links).
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub id: &'static str,
    pub caption: String,
    pub columns: Vec<String>,
    pub head_html: Vec<Option<String>>,
    pub rows: Vec<Vec<Cell>>,
    /// A class per row (`base` for the baseline), parallel to `rows` where set.
    pub row_class: Vec<Option<&'static str>>,
}

impl Table {
    pub(crate) fn new(id: &'static str, caption: impl Into<String>, columns: &[&str]) -> Self {
        Self {
            id,
            caption: caption.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ..Self::default()
        }
    }

    pub(crate) fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
        self.row_class.push(None);
    }

    pub(crate) fn html(&self) -> String {
        let mut s = format!(
            "<div class=\"scroll\"><table class=\"data\" id=\"{}\"><caption>{}</caption><thead><tr>",
            self.id,
            esc(&self.caption)
        );
        for (i, c) in self.columns.iter().enumerate() {
            let head = self.head_html.get(i).cloned().flatten();
            s.push_str(&format!(
                "<th scope=\"col\">{}</th>",
                head.unwrap_or_else(|| esc(c))
            ));
        }
        s.push_str("</tr></thead><tbody>");
        for (row, class) in self.rows.iter().zip(&self.row_class) {
            match class {
                Some(c) => s.push_str(&format!("<tr class=\"{c}\">")),
                None => s.push_str("<tr>"),
            }
            for c in row {
                let body = c.html.clone().unwrap_or_else(|| esc(&c.text));
                match c.class {
                    Some(k) => s.push_str(&format!("<td class=\"{k}\">{body}</td>")),
                    None => s.push_str(&format!("<td>{body}</td>")),
                }
            }
            s.push_str("</tr>");
        }
        if self.rows.is_empty() {
            s.push_str(&format!(
                "<tr><td colspan=\"{}\">Nothing to show.</td></tr>",
                self.columns.len().max(1)
            ));
        }
        s.push_str("</tbody></table></div>");
        s
    }

    /// RFC 4180 CSV: a header line, then one line per row.
    pub(crate) fn csv(&self) -> String {
        let field = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut out: Vec<String> = vec![self
            .columns
            .iter()
            .map(|c| field(c))
            .collect::<Vec<_>>()
            .join(",")];
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| match c.num {
                    Some(v) => v.to_string(),
                    None => field(&c.text),
                })
                .collect();
            out.push(cells.join(","));
        }
        out.join("\n") + "\n"
    }

    /// An array of objects keyed by column name.
    pub(crate) fn json(&self) -> String {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|row| {
                let obj = self
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(k, c)| {
                        let v = match c.num {
                            Some(v) => serde_json::json!(v),
                            None => serde_json::json!(c.text),
                        };
                        (k.clone(), v)
                    })
                    .collect();
                serde_json::Value::Object(obj)
            })
            .collect();
        serde_json::to_string_pretty(&rows).expect("table serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_match_the_rows() {
        let mut t = Table::new("t", "x", &["name", "value"]);
        t.push(vec![
            Cell::link("a,b", "/x?y=\"1\""),
            Cell::num(0.25, "25%"),
        ]);
        t.push(vec![Cell::text("c"), Cell::num(f64::NAN, "n/a")]);
        assert_eq!(t.csv(), "name,value\n\"a,b\",0.25\nc,n/a\n");
        let j: serde_json::Value = serde_json::from_str(&t.json()).unwrap();
        assert_eq!(j[0]["value"], 0.25);
        assert_eq!(j[1]["value"], "n/a");
        let h = t.html();
        assert!(h.contains("<a href=\"/x?y=&quot;1&quot;\">a,b</a>"));
        assert!(h.contains("<td class=\"num\">25%</td>"));
    }
}
