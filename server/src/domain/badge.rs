//! Badges that look like shields.io's: what a badge says and its colour,
//! decided here from the snapshot's numbers, and the SVG drawn by a pure
//! function of (label, message, colours, style).
//!
//! Drawing uses the `shields` crate, whose output is byte-identical to
//! shields.io's for the same parameters: the same Verdana 11 px advance
//! widths for the flat styles and bold uppercase metrics for
//! `for-the-badge`, the same `role="img"`, `aria-label` and `<title>`
//! carrying the full text, and XML escaping of both texts.

use app::model::{Indicator, ServiceStatus};
use shields::{BadgeParams, BadgeStyle};

/// Longest label drawn; longer ones end in "…".
pub const MAX_LABEL_CHARS: usize = 40;

/// The three styles offered (shields.io's `plastic` and `social` are not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    #[default]
    Flat,
    FlatSquare,
    ForTheBadge,
}

impl Style {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "flat" => Some(Self::Flat),
            "flat-square" => Some(Self::FlatSquare),
            "for-the-badge" => Some(Self::ForTheBadge),
            _ => None,
        }
    }

    const fn shields(self) -> BadgeStyle {
        match self {
            Self::Flat => BadgeStyle::Flat,
            Self::FlatSquare => BadgeStyle::FlatSquare,
            Self::ForTheBadge => BadgeStyle::ForTheBadge,
        }
    }
}

/// A badge colour: one of shields.io's names or a hex colour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Color(String);

/// shields.io's named colours, with the higher-contrast palette its
/// renderer adopted in badge-maker 6.0.0, and their aliases.
const NAMED: &[(&str, &str)] = &[
    ("brightgreen", "#4b0"),
    ("green", "#67ac09"),
    ("yellow", "#d8b800"),
    ("yellowgreen", "#95991a"),
    ("orange", "#ea7233"),
    ("red", "#dd4343"),
    ("blue", "#007ec6"),
    ("grey", "#555"),
    ("lightgrey", "#939393"),
    ("gray", "#555"),
    ("lightgray", "#939393"),
    ("critical", "#dd4343"),
    ("important", "#ea7233"),
    ("success", "#4b0"),
    ("informational", "#007ec6"),
    ("inactive", "#939393"),
];

impl Color {
    /// A name from shields.io's palette, or 3 or 6 hex digits with or
    /// without `#`. Nothing else: no CSS, no markup.
    pub fn parse(raw: &str) -> Option<Self> {
        let lower = raw.trim().to_ascii_lowercase();
        if NAMED.iter().any(|(name, _)| *name == lower) {
            return Some(Self(lower));
        }
        let hex = lower.strip_prefix('#').unwrap_or(&lower);
        ((hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(format!("#{hex}")))
    }

    /// A colour known to be valid.
    const fn named(name: &'static str) -> Palette {
        Palette(name)
    }

    /// As given: a name or `#` and hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex colour drawn.
    pub fn hex(&self) -> &str {
        NAMED
            .iter()
            .find(|(name, _)| *name == self.0)
            .map_or(&self.0, |(_, hex)| hex)
    }
}

/// A colour chosen by Upbeat (always valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette(pub &'static str);

impl From<Palette> for Color {
    fn from(p: Palette) -> Self {
        Self(p.0.to_owned())
    }
}

const BRIGHTGREEN: Palette = Color::named("brightgreen");
const GREEN: Palette = Color::named("green");
const YELLOWGREEN: Palette = Color::named("yellowgreen");
const YELLOW: Palette = Color::named("yellow");
const ORANGE: Palette = Color::named("orange");
const RED: Palette = Color::named("red");
const BLUE: Palette = Color::named("blue");
pub const LIGHTGREY: Palette = Color::named("lightgrey");

/// Everything a badge shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Badge {
    pub label: String,
    pub message: String,
    pub color: Color,
    /// Default: shields.io's grey (`#555`).
    pub label_color: Option<Color>,
    pub style: Style,
}

/// The label as drawn: at most [`MAX_LABEL_CHARS`] characters.
pub fn cap_label(label: &str) -> String {
    let label = label.trim();
    if label.chars().count() <= MAX_LABEL_CHARS {
        return label.to_owned();
    }
    let mut capped: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
    capped.push('…');
    capped
}

/// The SVG of `badge`. Pure: same badge, same bytes.
pub fn render(badge: &Badge) -> String {
    let params = BadgeParams {
        style: badge.style.shields(),
        label: Some(&badge.label),
        message: Some(&badge.message),
        label_color: badge.label_color.as_ref().map(Color::hex),
        message_color: Some(badge.color.hex()),
        ..BadgeParams::default()
    };
    shields::render_badge_svg(&params)
}

/// A service's status in a few words, and its colour. `None`: no sample yet.
pub const fn status(status: Option<ServiceStatus>) -> (&'static str, Palette) {
    match status {
        Some(ServiceStatus::Operational) => ("operational", BRIGHTGREEN),
        Some(ServiceStatus::DegradedPerformance) => ("degraded", YELLOW),
        Some(ServiceStatus::PartialOutage) => ("partial outage", ORANGE),
        Some(ServiceStatus::MajorOutage) => ("major outage", RED),
        Some(ServiceStatus::UnderMaintenance) => ("maintenance", BLUE),
        None => ("no data", LIGHTGREY),
    }
}

/// The whole page's status in a few words, and its colour.
pub const fn overall(indicator: Indicator) -> (&'static str, Palette) {
    match indicator {
        Indicator::None => ("operational", BRIGHTGREEN),
        Indicator::Minor => ("degraded", YELLOW),
        Indicator::Major => ("partial outage", ORANGE),
        Indicator::Critical => ("major outage", RED),
        Indicator::Maintenance => ("maintenance", BLUE),
    }
}

/// An uptime share (0–1) as a percentage with up to two decimals, never
/// rounded up (99.999 % reads "99.99%", not "100%"), and its colour:
/// ≥ 99.9 % bright green, ≥ 99 % green, ≥ 97 % yellow-green, ≥ 95 % yellow,
/// ≥ 90 % orange, below that red.
pub fn uptime(share: Option<f64>) -> (String, Palette) {
    let Some(share) = share else {
        return ("no data".to_owned(), LIGHTGREY);
    };
    let percent = (share * 100.0).clamp(0.0, 100.0);
    // Hundredths, floored; the epsilon absorbs binary noise (0.1 * 100).
    let hundredths = (percent * 100.0 + 1e-6).floor();
    let text = format!("{:.2}", hundredths / 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    let color = match percent {
        p if p >= 99.9 => BRIGHTGREEN,
        p if p >= 99.0 => GREEN,
        p if p >= 97.0 => YELLOWGREEN,
        p if p >= 95.0 => YELLOW,
        p if p >= 90.0 => ORANGE,
        _ => RED,
    };
    (format!("{text}%"), color)
}

/// A response time (a mean or a percentile), and its colour: below 200 ms bright green, 500 ms
/// green, 1 s yellow, 2 s orange, else red.
pub fn response_time(ms: Option<u32>) -> (String, Palette) {
    let Some(ms) = ms else {
        return ("no data".to_owned(), LIGHTGREY);
    };
    let color = match ms {
        0..200 => BRIGHTGREEN,
        200..500 => GREEN,
        500..1000 => YELLOW,
        1000..2000 => ORANGE,
        _ => RED,
    };
    let text = if ms < 10_000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", f64::from(ms) / 1000.0)
    };
    (text, color)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn badge(label: &str, message: &str, color: &str, style: Style) -> Badge {
        Badge {
            label: label.to_owned(),
            message: message.to_owned(),
            color: Color::parse(color).expect("valid colour"),
            label_color: None,
            style,
        }
    }

    /// `width="…"` of the SVG root.
    fn width(svg: &str) -> f64 {
        let rest = &svg[svg.find("width=\"").expect("width") + 7..];
        rest[..rest.find('"').expect("quote")]
            .parse()
            .expect("number")
    }

    /// What shields.io's own renderer (badge-maker 6.0.0, run with Node.js
    /// from npm) draws for the same text: Verdana 11 px advance widths for
    /// the flat styles; bold, uppercase, letter-spaced for for-the-badge.
    #[test]
    fn widths_match_shields_io() {
        let cases = [
            ("build", "passing", Style::Flat, 88.0),
            ("build", "passing", Style::FlatSquare, 88.0),
            ("uptime 30d", "99.95%", Style::Flat, 126.0),
            ("API", "operational", Style::Flat, 102.0),
            ("status", "major outage", Style::Flat, 128.0),
            ("build", "passing", Style::ForTheBadge, 145.0),
            ("response time 24h", "123 ms", Style::ForTheBadge, 224.75),
            ("Payments API", "partial outage", Style::FlatSquare, 174.0),
            ("uptime 90d", "no data", Style::Flat, 124.0),
        ];
        for (label, message, style, expected) in cases {
            let svg = render(&badge(label, message, "brightgreen", style));
            assert!(
                (width(&svg) - expected).abs() < 1e-9,
                "{label} | {message} {style:?}: {} != {expected}",
                width(&svg)
            );
        }
    }

    /// Byte for byte what badge-maker 6.0.0 (shields.io's renderer) draws
    /// for `makeBadge({label, message, color, style})`.
    #[test]
    fn badges_are_byte_identical_to_shields_io() {
        let flat_red = concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="114" height="20" role="img" aria-label="API: major outage"><title>API: major outage</title>"##,
            r##"<filter id="blur"><feGaussianBlur stdDeviation="16"/></filter><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>"##,
            r##"<clipPath id="r"><rect width="114" height="20" rx="3"/></clipPath><g clip-path="url(#r)"><rect width="29" height="20" fill="#555"/><rect x="29" width="85" height="20" fill="#dd4343"/><rect width="114" height="20" fill="url(#s)"/></g>"##,
            r##"<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">"##,
            r##"<g transform="scale(.1)"><g aria-hidden="true" fill="#010101"><text x="155" y="150" fill-opacity=".8" filter="url(#blur)" textLength="190">API</text><text x="155" y="150" fill-opacity=".3" textLength="190">API</text></g><text x="155" y="140" textLength="190">API</text></g>"##,
            r##"<g transform="scale(.1)"><g aria-hidden="true" fill="#010101"><text x="705" y="150" fill-opacity=".8" filter="url(#blur)" textLength="750">major outage</text><text x="705" y="150" fill-opacity=".3" textLength="750">major outage</text></g><text x="705" y="140" textLength="750">major outage</text></g></g></svg>"##,
        );
        let flat_square_green = concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="20" role="img" aria-label="uptime 30d: 99.5%"><title>uptime 30d: 99.5%</title>"##,
            r##"<g shape-rendering="crispEdges"><rect width="73" height="20" fill="#555"/><rect x="73" width="47" height="20" fill="#67ac09"/></g>"##,
            r##"<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">"##,
            r##"<text x="375" y="140" textLength="630" transform="scale(.1)">uptime 30d</text><text x="955" y="140" textLength="370" transform="scale(.1)">99.5%</text></g></svg>"##,
        );
        let for_the_badge_yellow = concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="167.5" height="28" role="img" aria-label="STATUS: DEGRADED"><title>STATUS: DEGRADED</title>"##,
            r##"<g shape-rendering="crispEdges"><rect width="71.5" height="28" fill="#555"/><rect x="71.5" width="96" height="28" fill="#d8b800"/></g>"##,
            r##"<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="100">"##,
            r##"<text transform="scale(.1)" x="357.5" y="175" textLength="475">STATUS</text><text transform="scale(.1)" x="1195" y="175" textLength="720" font-weight="bold">DEGRADED</text></g></svg>"##,
        );
        let cases = [
            (badge("API", "major outage", "red", Style::Flat), flat_red),
            (
                badge("uptime 30d", "99.5%", "green", Style::FlatSquare),
                flat_square_green,
            ),
            (
                badge("status", "degraded", "yellow", Style::ForTheBadge),
                for_the_badge_yellow,
            ),
        ];
        for (badge, expected) in cases {
            assert_eq!(render(&badge), expected, "{badge:?}");
        }
    }

    #[test]
    fn the_full_text_is_there_for_screen_readers() {
        let svg = render(&badge("API", "major outage", "red", Style::Flat));
        assert!(svg.contains(r#"aria-label="API: major outage""#), "{svg}");
        assert!(svg.contains("<title>API: major outage</title>"), "{svg}");
        assert!(svg.contains(r#"role="img""#));
        let svg = render(&badge("API", "major outage", "red", Style::ForTheBadge));
        assert!(svg.contains("MAJOR OUTAGE"), "{svg}");
    }

    #[test]
    fn text_is_escaped() {
        let svg = render(&badge(
            "<script>alert(1)</script>",
            "a & \"b\"",
            "blue",
            Style::Flat,
        ));
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("a &amp; "), "{svg}");
    }

    #[test]
    fn rendering_is_pure() {
        let b = badge("uptime 7d", "99.5%", "green", Style::FlatSquare);
        assert_eq!(render(&b), render(&b.clone()));
        let other = Badge {
            label_color: Color::parse("#123456"),
            ..b.clone()
        };
        assert_ne!(render(&b), render(&other));
        assert!(render(&other).contains("#123456"));
    }

    #[test]
    fn colours_are_names_or_hex_only() {
        assert_eq!(
            Color::parse("brightgreen").map(|c| c.0),
            Some("brightgreen".into())
        );
        assert_eq!(
            Color::parse("Critical").map(|c| c.hex().to_owned()),
            Some("#dd4343".into())
        );
        assert_eq!(Color::parse("4C1").map(|c| c.0), Some("#4c1".into()));
        assert_eq!(Color::parse("#00ff00").map(|c| c.0), Some("#00ff00".into()));
        for bad in [
            "",
            "#12",
            "12345",
            "url(x)",
            "red;fill",
            "#ggg",
            "rgb(1,2,3)",
        ] {
            assert_eq!(Color::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn styles_are_the_three_offered() {
        assert_eq!(Style::parse("flat"), Some(Style::Flat));
        assert_eq!(Style::parse("flat-square"), Some(Style::FlatSquare));
        assert_eq!(Style::parse("for-the-badge"), Some(Style::ForTheBadge));
        assert_eq!(Style::parse("plastic"), None);
        assert_eq!(Style::parse("FLAT"), None);
    }

    #[test]
    fn labels_are_capped() {
        assert_eq!(cap_label("  api  "), "api");
        let long = "x".repeat(100);
        let capped = cap_label(&long);
        assert_eq!(capped.chars().count(), MAX_LABEL_CHARS);
        assert!(capped.ends_with('…'));
    }

    #[test]
    fn uptime_text_and_colour() {
        let cases = [
            (Some(1.0), "100%", "brightgreen"),
            (Some(0.99999), "99.99%", "brightgreen"),
            (Some(0.999), "99.9%", "brightgreen"),
            (Some(0.9989), "99.89%", "green"),
            (Some(0.99), "99%", "green"),
            (Some(0.975), "97.5%", "yellowgreen"),
            (Some(0.95), "95%", "yellow"),
            (Some(0.9), "90%", "orange"),
            (Some(0.5), "50%", "red"),
            (Some(0.0), "0%", "red"),
            (None, "no data", "lightgrey"),
        ];
        for (share, text, color) in cases {
            let (got, palette) = uptime(share);
            assert_eq!((got.as_str(), palette.0), (text, color), "{share:?}");
        }
    }

    #[test]
    fn response_time_text_and_colour() {
        let cases = [
            (Some(0), "0 ms", "brightgreen"),
            (Some(199), "199 ms", "brightgreen"),
            (Some(200), "200 ms", "green"),
            (Some(750), "750 ms", "yellow"),
            (Some(1500), "1500 ms", "orange"),
            (Some(2000), "2000 ms", "red"),
            (Some(12_345), "12.3 s", "red"),
            (None, "no data", "lightgrey"),
        ];
        for (ms, text, color) in cases {
            let (got, palette) = response_time(ms);
            assert_eq!((got.as_str(), palette.0), (text, color), "{ms:?}");
        }
    }

    #[test]
    fn statuses_read_as_words_with_colours() {
        assert_eq!(
            status(Some(ServiceStatus::Operational)),
            ("operational", BRIGHTGREEN)
        );
        assert_eq!(
            status(Some(ServiceStatus::MajorOutage)),
            ("major outage", RED)
        );
        assert_eq!(status(None), ("no data", LIGHTGREY));
        assert_eq!(overall(Indicator::Maintenance), ("maintenance", BLUE));
        assert_eq!(overall(Indicator::Major), ("partial outage", ORANGE));
    }
}
