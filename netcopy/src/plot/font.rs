//! The font the PNG and SVG text is laid out with: a TrueType file of the system (plotters
//! draws text with ab_glyph, so no fontconfig or freetype is needed).

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use super::PlotError;

/// Where Debian (fonts-dejavu-core, which `cargo xtask setup` installs) and other systems
/// keep a sans-serif font.
const CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

/// Register the first font found as "sans-serif" (once per process).
pub fn register() -> Result<(), PlotError> {
    REGISTERED
        .get_or_init(|| {
            let (path, bytes) = CANDIDATES
                .iter()
                .find_map(|p| std::fs::read(p).ok().map(|b| (*p, b)))
                .ok_or_else(|| {
                    format!(
                        "no TrueType font for the plots (looked for {}); install fonts-dejavu-core",
                        CANDIDATES[0]
                    )
                })?;
            // The charts live as long as the process; the font bytes must too.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{path} is not a font plotters can read"))
        })
        .clone()
        .map_err(PlotError::Font)
}
