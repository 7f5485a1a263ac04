//! Content bodies: Markdown in, sanitised HTML out.

use pulldown_cmark::{html, Options, Parser};

/// Renders Markdown to HTML and strips anything that could run script or escape the page
/// (script, style, event handlers, `javascript:` links). Links open safely with `rel="noopener"`.
pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(&unsafe_html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn renders_markdown() {
        let html = render("# Why we win\n\n* **fast**\n* exact\n\n| a | b |\n|---|---|\n| 1 | 2 |");
        assert!(html.contains("<h1>Why we win</h1>"), "{html}");
        assert!(html.contains("<strong>fast</strong>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn strips_script_and_event_handlers() {
        let html =
            render("hi <script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
    }
}
