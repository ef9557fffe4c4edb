//! Drawing charts to PNG and SVG with plotters.

use std::path::{Path, PathBuf};

use plotters::{coord::Shift, prelude::*};

use super::{
    PlotError,
    chart::MODE_COLORS,
    charts::{Chart, Kind},
};

/// Modes first (twocopy, onecopy, zerocopy, uring, uringzc), then one color per stage in
/// `Stage::ALL` order (the stage chart gives stage i the color MODE_COLORS + i), `other` last
/// in light gray.
const PALETTE: [RGBColor; MODE_COLORS + netcopy_common::stage::Stage::ALL.len()] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(0, 0, 0),
    RGBColor(255, 0, 255),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(173, 73, 74),
    RGBColor(99, 121, 57),
    RGBColor(231, 186, 82),
    RGBColor(123, 65, 115),
    RGBColor(82, 84, 163),
    RGBColor(156, 158, 222),
    RGBColor(200, 200, 200),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The colour a stage has in the stage chart, by its name; a name of no stage gets `other`'s.
pub fn stage_rgb(name: &str) -> (u8, u8, u8) {
    let i = netcopy_common::stage::Stage::ALL
        .iter()
        .position(|s| s.name() == name)
        .unwrap_or(netcopy_common::stage::Stage::ALL.len() - 1);
    let RGBColor(r, g, b) = color(MODE_COLORS + i);
    (r, g, b)
}

const SIZE: (u32, u32) = (1000, 650);
const GRID: (u32, u32) = (2400, 1300);

/// `stem.png` and `stem.svg` of one chart.
pub fn write(dir: &Path, chart: &Chart) -> Result<Vec<PathBuf>, PlotError> {
    let png = dir.join(format!("{}.png", chart.stem));
    let svg = dir.join(format!("{}.svg", chart.stem));
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |message: String| PlotError::Draw { path, message }
    };
    {
        let area = BitMapBackend::new(&png, SIZE).into_drawing_area();
        draw(&area, chart).map_err(fail(&png))?;
        area.present().map_err(|e| fail(&png)(e.to_string()))?;
    }
    {
        let area = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw(&area, chart).map_err(fail(&svg))?;
        area.present().map_err(|e| fail(&svg)(e.to_string()))?;
    }
    Ok(vec![png, svg])
}

/// Several charts in a grid of two rows, as `stem.png` and `stem.svg`.
pub fn write_grid(dir: &Path, stem: &str, charts: &[Chart]) -> Result<Vec<PathBuf>, PlotError> {
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |message: String| PlotError::Draw { path, message }
    };
    let cols = charts.len().div_ceil(2).max(1);
    {
        let area = BitMapBackend::new(&png, GRID).into_drawing_area();
        grid(&area, charts, cols).map_err(fail(&png))?;
        area.present().map_err(|e| fail(&png)(e.to_string()))?;
    }
    {
        let area = SVGBackend::new(&svg, GRID).into_drawing_area();
        grid(&area, charts, cols).map_err(fail(&svg))?;
        area.present().map_err(|e| fail(&svg)(e.to_string()))?;
    }
    Ok(vec![png, svg])
}

fn grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    charts: &[Chart],
    cols: usize,
) -> Result<(), String> {
    area.fill(&WHITE).map_err(|e| e.to_string())?;
    for (cell, chart) in area.split_evenly((2, cols)).iter().zip(charts) {
        draw(cell, chart)?;
    }
    Ok(())
}

/// Draw `chart` into `area`: its lines or bars, its legend and its note.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(e)?;
    let (w, h) = area.dim_in_pixel();
    if chart.is_empty() {
        area.titled(&chart.title, ("sans-serif", 22)).map_err(e)?;
        let text = chart.note.as_deref().unwrap_or("nothing to draw");
        for (i, line) in wrap(text, (w as usize / 10).max(30)).iter().enumerate() {
            area.draw_text(
                line,
                &("sans-serif", 18).into_font().color(&RGBColor(150, 30, 30)),
                (30, h as i32 / 3 + 26 * i as i32),
            )
            .map_err(e)?;
        }
        return Ok(());
    }
    // The note gets a strip of its own under the chart, so it never covers the axis title.
    let (area, strip) = match &chart.note {
        Some(_) => {
            let (a, s) = area.split_vertically(h.saturating_sub(26));
            (a, Some(s))
        }
        None => (area.clone(), None),
    };
    let area = &area;
    let n = chart.x_labels.len().max(1);
    let top = match &chart.kind {
        Kind::Lines { series } => series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max),
        Kind::Stacked { layers } => (0..n)
            .map(|i| layers.iter().filter_map(|l| l.values.get(i)).sum::<f64>())
            .fold(0.0f64, f64::max),
    };
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut c = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top)
        .map_err(e)?;
    let labels = chart.x_labels.clone();
    let formatter = move |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&formatter)
        .x_label_style(("sans-serif", if n > 10 { 11 } else { 14 }))
        .x_desc(&chart.x_desc)
        .y_desc(&chart.y_desc)
        .draw()
        .map_err(e)?;
    match &chart.kind {
        Kind::Lines { series } => {
            for s in series.iter().filter(|s| !s.points.is_empty()) {
                let col = color(s.color);
                let style = ShapeStyle::from(&col).stroke_width(if s.dashed { 1 } else { 3 });
                let points: Vec<(SegmentValue<usize>, f64)> = s
                    .points
                    .iter()
                    .map(|(i, y)| (SegmentValue::CenterOf(*i), *y))
                    .collect();
                let line = c
                    .draw_series(LineSeries::new(points.clone(), style))
                    .map_err(e)?;
                line.label(&s.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                c.draw_series(
                    points.iter().map(|p| {
                        Circle::new(p.clone(), if s.dashed { 3 } else { 5 }, col.filled())
                    }),
                )
                .map_err(e)?;
            }
        }
        Kind::Stacked { layers } => {
            let mut base = vec![0.0f64; n];
            for l in layers.iter().filter(|l| l.values.iter().any(|v| *v > 0.0)) {
                let col = color(l.color);
                let bars = l.values.iter().enumerate().map(|(i, v)| {
                    let (y0, y1) = (base[i], base[i] + v);
                    base[i] = y1;
                    bar(i, y0, y1, col)
                });
                let drawn: Vec<Rectangle<(SegmentValue<usize>, f64)>> = bars.collect();
                c.draw_series(drawn)
                    .map_err(e)?
                    .label(&l.name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.filled())
                    });
            }
        }
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 13))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(e)?;
    if let (Some(note), Some(strip)) = (&chart.note, strip) {
        strip
            .draw_text(
                note,
                &("sans-serif", 13).into_font().color(&RGBColor(90, 90, 90)),
                (80, 4),
            )
            .map_err(e)?;
    }
    Ok(())
}

/// A bar in segment `i` from `y0` to `y1`, with a gap on each side.
fn bar(i: usize, y0: f64, y1: f64, col: RGBColor) -> Rectangle<(SegmentValue<usize>, f64)> {
    let mut r = Rectangle::new(
        [
            (SegmentValue::Exact(i), y0),
            (SegmentValue::Exact(i + 1), y1),
        ],
        col.filled(),
    );
    r.set_margin(0, 0, 6, 6);
    r
}

/// `text` cut into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().map_or(0, |l| l.len());
        if last > 0 && last + 1 + word.len() > width {
            lines.push(String::new());
        }
        if let Some(l) = lines.last_mut() {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
    }
    lines
}
