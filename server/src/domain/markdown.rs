//! Markdown of incident updates to HTML that is safe to insert into the
//! page: CommonMark (with tables and strikethrough) by pulldown-cmark, then
//! sanitised by ammonia, which keeps formatting, lists, code, tables and
//! links and drops scripts, styles, event handlers, iframes and
//! `javascript:` URLs. Links get `rel="noopener noreferrer nofollow"`.

use pulldown_cmark::{html, Options, Parser};

pub fn to_safe_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&raw)
        .to_string()
}

/// Text for HTML, escaped (`&`, `<`, `>`, both quotes): for user text in
/// HTML the server writes by hand (the embed widget, alert mail). The
/// page's own, shared with the browser.
pub use app::model::escape_html;

#[cfg(test)]
mod tests {
    use super::to_safe_html;

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            to_safe_html("**Payments** are *slow*.\n\n- EU\n- US"),
            "<p><strong>Payments</strong> are <em>slow</em>.</p>\n<ul>\n<li>EU</li>\n<li>US</li>\n</ul>\n"
        );
        assert!(to_safe_html("`code`").contains("<code>code</code>"));
    }

    #[test]
    fn scripts_and_handlers_are_dropped() {
        let cases = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<svg onload=alert(1)>",
            "<style>body{display:none}</style>",
        ];
        for case in cases {
            let html = to_safe_html(case);
            for bad in [
                "<script",
                "onerror",
                "javascript:",
                "<iframe",
                "onload",
                "<style",
            ] {
                assert!(!html.contains(bad), "{case} -> {html}");
            }
        }
        let link = to_safe_html("[status](https://example.com)");
        assert!(link.contains(r#"href="https://example.com""#), "{link}");
        assert!(
            link.contains(r#"rel="noopener noreferrer nofollow""#),
            "{link}"
        );
    }
}
