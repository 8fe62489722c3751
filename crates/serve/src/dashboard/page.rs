//! The frame every page shares (navigation, breadcrumbs, export links) and the answer a view
//! becomes: HTML, or its table as CSV or JSON.

use super::params::Params;
use super::table::Table;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tradeoff_report::fmt::esc;

pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// What a page handler builds.
#[derive(Default)]
pub(crate) struct View {
    pub title: String,
    /// Links above the title, outermost first: (text, href).
    pub crumbs: Vec<(String, String)>,
    /// The run the view belongs to (for its report links).
    pub run: Option<String>,
    /// HTML before and after the table.
    pub body: String,
    pub after: String,
    pub table: Option<Table>,
    /// File name of the exports, without extension.
    pub stem: String,
}

impl View {
    pub(crate) fn respond(self, path: &str, params: &Params) -> Response {
        let file = |ext: &str| {
            format!(
                "attachment; filename=\"{}.{ext}\"",
                self.stem
                    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
            )
        };
        match (params.get("format"), &self.table) {
            (Some("csv"), Some(t)) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, file("csv")),
                ],
                t.csv(),
            )
                .into_response(),
            (Some("json"), Some(t)) => (
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::CONTENT_DISPOSITION, file("json")),
                ],
                t.json(),
            )
                .into_response(),
            (Some(f), _) if f != "html" => super::Error::BadRequest(format!(
                "format={f}: this view exports csv or json of its table"
            ))
            .into_response(),
            _ => ([(header::CONTENT_TYPE, HTML)], self.html(path, params)).into_response(),
        }
    }

    fn html(&self, path: &str, params: &Params) -> String {
        let mut s = head(&self.title);
        if !self.crumbs.is_empty() {
            s.push_str("<nav class=\"crumbs\" aria-label=\"Breadcrumb\">");
            for (text, href) in &self.crumbs {
                s.push_str(&format!("<a href=\"{}\">{}</a> › ", esc(href), esc(text)));
            }
            s.push_str("</nav>");
        }
        s.push_str(&format!("<h1>{}</h1>", esc(&self.title)));
        s.push_str(&self.exports(path, params));
        s.push_str(&self.body);
        if let Some(t) = &self.table {
            s.push_str(&t.html());
        }
        s.push_str(&self.after);
        s.push_str("</main></body></html>");
        s
    }

    /// CSV and JSON of the table as filtered now, and the run's full report.
    fn exports(&self, path: &str, params: &Params) -> String {
        let mut links = Vec::new();
        if self.table.is_some() {
            for f in ["csv", "json"] {
                links.push(format!(
                    "<a href=\"{}?{}\" download>{}</a>",
                    esc(path),
                    esc(&params.with("format", Some(f))),
                    f.to_uppercase()
                ));
            }
        }
        if let Some(run) = &self.run {
            let base = format!("/runs/{}", super::params::encode(run));
            links.push(format!("<a href=\"{base}/report.html\">HTML report</a>"));
            if tradeoff_report::pdf::find_browser().is_some() {
                links.push(format!("<a href=\"{base}/report.pdf\">PDF report</a>"));
            }
        }
        if links.is_empty() {
            return String::new();
        }
        format!(
            "<p class=\"export\" aria-label=\"Export\">Export: {}</p>",
            links.join(" · ")
        )
    }
}

/// The document up to the start of `<main>`.
fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · tradeoff</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/assets/dashboard.css\">\
         <script src=\"/assets/dashboard.js\" defer></script></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><a class=\"brand\" href=\"/\">tradeoff</a><nav aria-label=\"Main\">\
         <a href=\"/\">Runs</a><a href=\"/routing\">Routing</a></nav></header><main id=\"main\">",
        esc(title)
    )
}

pub(crate) fn error_page(status: StatusCode, msg: &str) -> String {
    format!(
        "{}<h1>{}</h1><p class=\"note\">{}</p><p><a href=\"/\">All runs</a></p></main></body></html>",
        head(status.canonical_reason().unwrap_or("Error")),
        status,
        esc(msg)
    )
}

/// A `<select>` with a label; `selected` picks the option whose value matches.
pub(crate) fn select(
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: Option<&str>,
) -> String {
    let mut s = format!("<label>{} <select name=\"{name}\">", esc(label));
    for (value, text) in options {
        let sel = if Some(value.as_str()) == selected {
            " selected"
        } else {
            ""
        };
        s.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            esc(value),
            esc(text)
        ));
    }
    s.push_str("</select></label>");
    s
}

/// The run's sub-pages, as a row of links.
pub(crate) fn run_nav(run: &str, here: &str) -> String {
    let base = format!("/runs/{}", super::params::encode(run));
    let pages = [
        ("", "Overview"),
        ("/compare", "Compare"),
        ("/pareto", "Pareto"),
        ("/problems", "Per problem"),
        ("/progress", "Progress"),
    ];
    let links: Vec<String> = pages
        .iter()
        .map(|(p, text)| {
            if *p == here {
                format!("<a href=\"{base}{p}\" aria-current=\"page\">{text}</a>")
            } else {
                format!("<a href=\"{base}{p}\">{text}</a>")
            }
        })
        .collect();
    format!(
        "<nav class=\"tabs\" aria-label=\"Run\">{}</nav>",
        links.join("")
    )
}
