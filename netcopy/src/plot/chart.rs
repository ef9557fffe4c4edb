//! A chart as data, whatever it shows: lines over categorical x positions or stacked bars,
//! with its labels and the note on its face. `charts.rs` fills them from a sweep's groups;
//! `draw.rs` draws them.

/// A line per mode (or per mode and percentile) over categorical x positions.
pub struct Series {
    pub name: String,
    /// Index into the chart's x labels, and the value.
    pub points: Vec<(usize, f64)>,
    /// Index into the palette.
    pub color: usize,
    pub dashed: bool,
}

/// One layer of stacked bars: its value in every bar.
pub struct Layer {
    pub name: String,
    pub values: Vec<f64>,
    pub color: usize,
}

pub enum Kind {
    Lines { series: Vec<Series> },
    Stacked { layers: Vec<Layer> },
}

pub struct Chart {
    /// File name without extension.
    pub stem: &'static str,
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub x_labels: Vec<String>,
    pub kind: Kind,
    /// Said on the chart's face: why something is missing, or how to read it.
    pub note: Option<String>,
}

impl Chart {
    /// Nothing to draw: the chart then shows only its note.
    pub fn is_empty(&self) -> bool {
        match &self.kind {
            Kind::Lines { series } => series.iter().all(|s| s.points.is_empty()),
            Kind::Stacked { layers } => layers.iter().all(|l| l.values.iter().all(|v| *v == 0.0)),
        }
    }
}

/// Colors of the modes, first in the palette (in `report::sweep::MODES` order); the stages'
/// colors follow.
pub const MODE_COLORS: usize = crate::report::sweep::MODES.len();
