//! Flame graphs of a traced run's kernel stacks, drawn by `inferno` and coloured by copy
//! stage (on-CPU) or by why the call waited (off-CPU).
//!
//! Each stack is put on a bottom frame that names its stage (`[copy_skb_to_user]`), so a
//! function that runs in several stages (memcpy under both copies) gets a frame in each, and
//! every frame above a stage's bottom frame takes that stage's colour, the colour the stage
//! has in the other charts. inferno colours by function name only, so the colours are set
//! after it has drawn: a frame belongs to the bottom frame whose span of samples (inferno's
//! `fg:x`, `fg:w`) holds its own start. A legend of the stages drawn goes under the graph.

use std::collections::BTreeMap;

use inferno::flamegraph::{self, Options};

use super::PlotError;
use crate::model::StackRow;

/// An RGB colour.
pub type Rgb = (u8, u8, u8);

/// Frames of no stage: inferno's `all` frame and anything it draws outside a stage.
const NEUTRAL: Rgb = (200, 200, 200);
/// Legend: swatch side and row height, px.
const SWATCH: usize = 12;
const ROW: usize = 18;
/// Width inferno draws at (its default).
const WIDTH: usize = 1200;

/// What a graph shows.
pub struct Graph<'a> {
    pub title: String,
    pub subtitle: Option<String>,
    /// What the widths count: `samples` or `ns`.
    pub unit: &'static str,
    /// The stacks; `stage` names the group a stack is coloured by.
    pub rows: &'a [StackRow],
    /// Each group's colour.
    pub color: &'a dyn Fn(&str) -> Rgb,
}

/// The bottom frame of a group's stacks.
fn bottom(group: &str) -> String {
    format!("[{group}]")
}

/// The folded lines inferno reads: `[group];outer;...;inner weight`, identical stacks
/// added up, zero weights left out.
pub fn folded(rows: &[StackRow]) -> Vec<String> {
    let mut sum: BTreeMap<(String, &str), u64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.weight > 0) {
        *sum.entry((bottom(&r.stage), r.stack.as_str())).or_default() += r.weight;
    }
    sum.into_iter()
        .map(|((b, stack), w)| {
            if stack.is_empty() {
                format!("{b} {w}")
            } else {
                format!("{b};{stack} {w}")
            }
        })
        .collect()
}

/// The SVG of `graph`, coloured and with its legend.
pub fn svg(graph: &Graph) -> Result<String, PlotError> {
    let lines = folded(graph.rows);
    if lines.is_empty() {
        return Err(PlotError::Empty(format!(
            "{}: no stacks with a weight above 0",
            graph.title
        )));
    }
    let mut opts = Options::default();
    opts.title = graph.title.clone();
    opts.subtitle = graph.subtitle.clone();
    opts.count_name = graph.unit.to_owned();
    opts.deterministic = true;
    opts.image_width = Some(WIDTH);
    let mut out = Vec::new();
    flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut out).map_err(|e| {
        PlotError::Draw {
            path: "flame graph".into(),
            message: e.to_string(),
        }
    })?;
    let drawn = String::from_utf8(out).map_err(|e| PlotError::Draw {
        path: "flame graph".into(),
        message: e.to_string(),
    })?;
    let mut groups: Vec<&str> = graph
        .rows
        .iter()
        .filter(|r| r.weight > 0)
        .map(|r| r.stage.as_str())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let colored = recolor(&drawn, &groups, graph.color);
    Ok(with_legend(&colored, &groups, graph.color))
}

/// One drawn frame: where its `<rect` tag is in the SVG, its name and its sample span.
struct Frame {
    rect: std::ops::Range<usize>,
    name: String,
    x: u64,
    w: u64,
}

/// The value of `attr="..."` inside `tag`.
fn attr<'t>(tag: &'t str, attr: &str) -> Option<&'t str> {
    let key = format!(" {attr}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Every frame inferno drew: a `<g>` holding a `<title>` and a `<rect>` with `fg:x`/`fg:w`.
fn frames(svg: &str) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = svg[at..].find("<title>") {
        let title_start = at + i + "<title>".len();
        let Some(title_len) = svg[title_start..].find("</title>") else {
            break;
        };
        let title = &svg[title_start..title_start + title_len];
        // "name (123 samples, 4.5%)": the name is all before the last " (".
        let name = title.rsplit_once(" (").map_or(title, |(n, _)| n);
        at = title_start + title_len;
        let Some(r) = svg[at..].find("<rect") else {
            break;
        };
        let rect_start = at + r;
        let Some(r_len) = svg[rect_start..].find('>') else {
            break;
        };
        let rect = rect_start..rect_start + r_len + 1;
        let tag = &svg[rect.clone()];
        let (Some(x), Some(w)) = (attr(tag, "fg:x"), attr(tag, "fg:w")) else {
            continue;
        };
        let (Ok(x), Ok(w)) = (x.parse(), w.parse()) else {
            continue;
        };
        out.push(Frame {
            rect,
            name: unescape(name),
            x,
            w,
        });
        at = rect_start + r_len;
    }
    out
}

/// The XML escapes inferno writes in titles.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Give every frame the colour of the group whose bottom frame spans its start.
fn recolor(svg: &str, groups: &[&str], color: &dyn Fn(&str) -> Rgb) -> String {
    let frames = frames(svg);
    let spans: Vec<(u64, u64, Rgb)> = frames
        .iter()
        .filter_map(|f| {
            groups
                .iter()
                .find(|g| bottom(g) == f.name)
                .map(|g| (f.x, f.x + f.w, color(g)))
        })
        .collect();
    let mut out = String::with_capacity(svg.len());
    let mut at = 0;
    for f in &frames {
        let rgb = spans
            .iter()
            .find(|(a, b, _)| f.x >= *a && f.x < *b && f.name != "all")
            .map_or(NEUTRAL, |s| s.2);
        let tag = &svg[f.rect.clone()];
        out.push_str(&svg[at..f.rect.start]);
        out.push_str(&set_fill(tag, rgb));
        at = f.rect.end;
    }
    out.push_str(&svg[at..]);
    out
}

/// `tag` with its fill set to `rgb`.
fn set_fill(tag: &str, (r, g, b): Rgb) -> String {
    let fill = format!("fill=\"rgb({r},{g},{b})\"");
    match tag.find(" fill=\"") {
        Some(i) => {
            let start = i + 1;
            let end = tag[start + 6..]
                .find('"')
                .map_or(tag.len(), |e| start + 6 + e + 1);
            format!("{}{fill}{}", &tag[..start], &tag[end..])
        }
        None => tag.replacen("<rect", &format!("<rect {fill}"), 1),
    }
}

/// Make room under the graph and draw one swatch and name per group there.
fn with_legend(svg: &str, groups: &[&str], color: &dyn Fn(&str) -> Rgb) -> String {
    let per_row = (WIDTH - 20) / 190;
    let rows = groups.len().div_ceil(per_row.max(1));
    let extra = rows * ROW + 10;
    let Some(height) = svg_height(svg) else {
        return svg.to_owned();
    };
    let new_height = height + extra;
    let mut out = svg
        .replacen(
            &format!("height=\"{height}\""),
            &format!("height=\"{new_height}\""),
            1,
        )
        .replacen(
            &format!("viewBox=\"0 0 {WIDTH} {height}\""),
            &format!("viewBox=\"0 0 {WIDTH} {new_height}\""),
            1,
        );
    let mut legend = String::from("<g id=\"netcopy-legend\"><title>stages</title>");
    for (i, g) in groups.iter().enumerate() {
        let (r, gr, b) = color(g);
        let x = 10 + (i % per_row) * 190;
        let y = height + 5 + (i / per_row) * ROW;
        legend.push_str(&format!(
            "<rect class=\"legend\" x=\"{x}\" y=\"{y}\" width=\"{SWATCH}\" height=\"{SWATCH}\" fill=\"rgb({r},{gr},{b})\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" font-family=\"monospace\">{}</text>",
            x + SWATCH + 4,
            y + SWATCH - 1,
            escape(g)
        ));
    }
    legend.push_str("</g>");
    if let Some(end) = out.rfind("</svg>") {
        out.insert_str(end, &legend);
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `height` of the root `<svg>` element.
fn svg_height(svg: &str) -> Option<usize> {
    let start = svg.find("<svg")?;
    let end = start + svg[start..].find('>')?;
    attr(&svg[start..end], "height")?.parse().ok()
}

/// Off-CPU reasons' colours (`netcopy_common::offcpu::Reason` names): waits in blues and
/// greens, preemption in red, the rest grey.
pub fn reason_rgb(reason: &str) -> Rgb {
    match reason {
        "data" => (31, 119, 180),
        "wmem" => (44, 160, 44),
        "lock" => (148, 103, 189),
        "preempt" => (214, 39, 40),
        _ => (127, 127, 127),
    }
}

/// `svg` rendered to PNG (resvg).
pub fn png(svg: &str) -> Result<Vec<u8>, PlotError> {
    render(svg)?.encode_png().map_err(|e| fail(e.to_string()))
}

fn fail(message: String) -> PlotError {
    PlotError::Draw {
        path: "flame graph PNG".into(),
        message,
    }
}

/// `svg` rendered to pixels (resvg), with the system's fonts (DejaVu, which `cargo xtask
/// setup` installs for the charts, as the monospace face).
pub fn render(svg: &str) -> Result<resvg::tiny_skia::Pixmap, PlotError> {
    let mut opt = resvg::usvg::Options::default();
    let fonts = opt.fontdb_mut();
    fonts.load_system_fonts();
    fonts.set_monospace_family("DejaVu Sans Mono");
    let tree = resvg::usvg::Tree::from_str(svg, &opt).map_err(|e| fail(e.to_string()))?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| fail("empty image".into()))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(stage: &str, stack: &str, weight: u64) -> StackRow {
        StackRow {
            role: "client".into(),
            syscall: "recvmsg".into(),
            stage: stage.into(),
            stack: stack.into(),
            weight,
        }
    }

    /// memcpy under both copies, a repeated stack, and a stack of no weight.
    fn rows() -> Vec<StackRow> {
        vec![
            row("copy_skb_to_user", "entry;recv;memcpy", 30),
            row("copy_user_to_skb", "entry;send;memcpy", 20),
            row("copy_skb_to_user", "entry;recv;memcpy", 10),
            row("tcp_rx", "entry;recv", 0),
        ]
    }

    const A: Rgb = (10, 200, 30);
    const B: Rgb = (200, 20, 180);

    fn color(stage: &str) -> Rgb {
        if stage == "copy_skb_to_user" { A } else { B }
    }

    fn graph(rows: &[StackRow]) -> String {
        svg(&Graph {
            title: "t".into(),
            subtitle: None,
            unit: "samples",
            rows,
            color: &color,
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn stacks_stand_on_their_stage_and_repeats_add_up() {
        assert_eq!(
            folded(&rows()),
            [
                "[copy_skb_to_user];entry;recv;memcpy 40",
                "[copy_user_to_skb];entry;send;memcpy 20",
            ]
        );
    }

    #[test]
    fn a_function_in_two_stages_takes_each_stage_colour() {
        let svg = graph(&rows());
        let fill = |f: &Frame| attr(&svg[f.rect.clone()], "fill").map(str::to_owned);
        let frames = frames(&svg);
        let memcpy: Vec<_> = frames.iter().filter(|f| f.name == "memcpy").collect();
        assert_eq!(memcpy.len(), 2, "one memcpy frame per stage");
        let rgb = |(r, g, b): Rgb| Some(format!("rgb({r},{g},{b})"));
        let by_weight = |w| memcpy.iter().find(|f| f.w == w).map(|f| fill(f));
        assert_eq!(by_weight(40), Some(rgb(A)));
        assert_eq!(by_weight(20), Some(rgb(B)));
        let all = frames.iter().find(|f| f.name == "all");
        assert_eq!(all.and_then(fill), rgb(NEUTRAL));
        // Only the stages with stacks are in the legend.
        assert!(svg.contains(">copy_skb_to_user</text>"));
        assert!(svg.contains(">copy_user_to_skb</text>"));
        assert!(!svg.contains(">tcp_rx</text>"));
    }

    #[test]
    fn rendered_the_frames_and_the_legend_show_each_stage_colour() {
        let svg = graph(&rows());
        let legend_top = svg
            .find("id=\"netcopy-legend\"")
            .and_then(|i| svg[i..].find(" y=\"").map(|j| i + j + 4))
            .and_then(|i| svg[i..].split('"').next()?.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no legend"));
        let pixmap = render(&svg).unwrap_or_else(|e| panic!("{e}"));
        let count = |rgb: Rgb, above: bool| {
            (0..pixmap.height())
                .filter(|y| (*y < legend_top) == above)
                .flat_map(|y| (0..pixmap.width()).map(move |x| (x, y)))
                .filter(|(x, y)| {
                    pixmap
                        .pixel(*x, *y)
                        .is_some_and(|p| (p.red(), p.green(), p.blue()) == rgb && p.alpha() == 255)
                })
                .count()
        };
        // The graph: A's frames are twice as wide as B's (40 samples to 20).
        let (a, b) = (count(A, true), count(B, true));
        assert!(b > 1000, "B's frames: {b} pixels");
        let ratio = a as f64 / b as f64;
        assert!((1.7..2.3).contains(&ratio), "A/B pixels {a}/{b}");
        // The legend: one 12 x 12 swatch each.
        assert_eq!(count(A, false), 144);
        assert_eq!(count(B, false), 144);
    }

    #[test]
    fn nothing_to_draw_is_an_error_not_an_empty_graph() {
        let e = svg(&Graph {
            title: "t".into(),
            subtitle: None,
            unit: "samples",
            rows: &[row("tcp_rx", "entry;recv", 0)],
            color: &color,
        });
        assert!(matches!(e, Err(PlotError::Empty(_))));
    }
}
