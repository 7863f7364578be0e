//! The chart model (what to draw: series, bars, percentile lines, labels)
//! and its one renderer, written once against plotters' backend trait so a
//! chart comes out identical as PNG and as SVG.
//!
//! Text is drawn with the DejaVu Sans font embedded in the binary
//! (`assets/fonts`, Bitstream Vera licence) through plotters' ab_glyph
//! feature: no system font, browser or network is involved.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// PNG size in pixels (SVG uses the same user units).
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 675;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER_FONT: Once = Once::new();

/// Registers the embedded font as plotters' "sans-serif" (once per process).
fn register_font() {
    REGISTER_FONT.call_once(|| {
        // The bytes are our own committed file; a failure here is a build defect.
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("assets/fonts/DejaVuSans.ttf is not a font"));
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

impl Theme {
    pub fn parse(s: &str) -> Result<Theme, String> {
        match s.to_ascii_lowercase().as_str() {
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            _ => Err(format!("'{s}' is not a theme; allowed: light, dark")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
}

struct Palette {
    background: RGBColor,
    text: RGBColor,
    grid: RGBColor,
    grid_light: RGBColor,
    series: [RGBColor; 6],
}

fn palette(theme: Theme) -> Palette {
    match theme {
        Theme::Light => Palette {
            background: RGBColor(255, 255, 255),
            text: RGBColor(34, 34, 34),
            grid: RGBColor(205, 205, 205),
            grid_light: RGBColor(245, 245, 245),
            series: [
                RGBColor(31, 119, 180),
                RGBColor(255, 127, 14),
                RGBColor(44, 160, 44),
                RGBColor(214, 39, 40),
                RGBColor(148, 103, 189),
                RGBColor(140, 86, 75),
            ],
        },
        Theme::Dark => Palette {
            background: RGBColor(24, 26, 31),
            text: RGBColor(229, 231, 235),
            grid: RGBColor(75, 80, 90),
            grid_light: RGBColor(34, 37, 43),
            series: [
                RGBColor(96, 165, 250),
                RGBColor(251, 191, 36),
                RGBColor(52, 211, 153),
                RGBColor(248, 113, 113),
                RGBColor(192, 132, 252),
                RGBColor(244, 114, 182),
            ],
        },
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Points,
    Line,
    /// Line with markers at each point (multi-run charts).
    LinePoints,
    /// Filled down to zero.
    Area,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
    /// Index into the theme's series colours.
    pub color: usize,
}

/// Filled rectangles `(x0, x1, y0, y1)` under one legend entry (histogram
/// bins, timeline segments).
#[derive(Debug, Clone)]
pub struct Bars {
    pub name: String,
    pub rects: Vec<(f64, f64, f64, f64)>,
    pub color: usize,
}

/// A labelled reference line across the plot (a percentile).
#[derive(Debug, Clone)]
pub struct Marker {
    pub label: String,
    pub at: f64,
    pub color: usize,
}

#[derive(Debug, Clone)]
pub struct Chart {
    /// File name without extension (`ttft_over_time`).
    pub stem: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub bars: Vec<Bars>,
    /// Horizontal lines at y.
    pub y_markers: Vec<Marker>,
    /// Vertical lines at x.
    pub x_markers: Vec<Marker>,
    /// Text next to points (`c=16` on a multi-run chart).
    pub point_labels: Vec<(f64, f64, String)>,
    /// One line under the title (sampling note, what a point is).
    pub note: Option<String>,
    /// Start the y axis at zero (counts, throughputs).
    pub y_from_zero: bool,
}

impl Chart {
    pub fn new(stem: &str, title: &str, x_label: &str, y_label: &str) -> Chart {
        Chart {
            stem: stem.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            bars: Vec::new(),
            y_markers: Vec::new(),
            x_markers: Vec::new(),
            point_labels: Vec::new(),
            note: None,
            y_from_zero: false,
        }
    }

    /// The data's x and y extent, padded; None when there is nothing to draw.
    fn ranges(&self) -> Option<((f64, f64), (f64, f64))> {
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        for s in &self.series {
            for &(x, y) in &s.points {
                xs.push(x);
                ys.push(y);
            }
        }
        for b in &self.bars {
            for &(x0, x1, y0, y1) in &b.rects {
                xs.extend([x0, x1]);
                ys.extend([y0, y1]);
            }
        }
        if xs.is_empty() {
            return None;
        }
        xs.extend(self.x_markers.iter().map(|m| m.at));
        ys.extend(self.y_markers.iter().map(|m| m.at));
        if self.y_from_zero {
            ys.push(0.0);
        }
        let (x, y) = (extent(&xs)?, extent(&ys)?);
        let pad = |(lo, hi): (f64, f64), below: f64, above: f64| {
            let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
            (lo - span * below, hi + span * above)
        };
        let mut y = pad(y, 0.05, 0.22); // headroom for the legend
        if self.y_from_zero || y.0 < 0.0 && ys.iter().all(|&v| v >= 0.0) {
            y.0 = 0.0;
        }
        // Room on the right for a point's label.
        let right = if self.point_labels.is_empty() {
            0.03
        } else {
            0.07
        };
        Some((pad(x, 0.03, right), y))
    }

    /// Whether the chart has any data (charts without are not drawn).
    pub fn has_data(&self) -> bool {
        self.ranges().is_some()
    }
}

fn extent(v: &[f64]) -> Option<(f64, f64)> {
    let finite = v.iter().copied().filter(|x| x.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    (lo <= hi).then_some((lo, hi))
}

/// Writes `dir/<stem>.png` and `dir/<stem>.svg`.
pub fn write(chart: &Chart, theme: Theme, dir: &Path) -> Result<()> {
    register_font();
    let png = dir.join(format!("{}.png", chart.stem));
    let svg = dir.join(format!("{}.svg", chart.stem));
    {
        // Drawn into memory and encoded with the png crate: plotters' own
        // encoder would bring in the whole `image` crate (JPEG included).
        let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&root, chart, theme).map_err(|e| anyhow!("{}: {e}", png.display()))?;
            root.present()
                .map_err(|e| anyhow!("{}: {e}", png.display()))?;
        }
        write_png(&png, &rgb).with_context(|| format!("writing {}", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart, theme).map_err(|e| anyhow!("{}: {e}", svg.display()))?;
        root.present()
            .map_err(|e| anyhow!("writing {}: {e}", svg.display()))?;
    }
    Ok(())
}

/// An 8-bit RGB PNG of WIDTH x HEIGHT pixels.
fn write_png(path: &Path, rgb: &[u8]) -> Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Flat colours and lines: adaptive filtering with strong deflate makes
    // the files ~4x smaller than the defaults (report.html inlines them all).
    enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    enc.set_compression(png::Compression::Best);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(())
}

fn legend_line(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    theme: Theme,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let p = palette(theme);
    let color = |i: usize| p.series[i % p.series.len()];
    let font = |size: u32| ("sans-serif", size).into_font().color(&p.text);
    root.fill(&p.background)?;
    let Some(((x0, x1), (y0, y1))) = chart.ranges() else {
        return Ok(());
    };
    let (title_area, plot_area) = root.split_vertically(if chart.note.is_some() { 78 } else { 52 });
    title_area.draw(&Text::new(chart.title.clone(), (24, 14), font(28)))?;
    if let Some(note) = &chart.note {
        title_area.draw(&Text::new(note.clone(), (26, 50), font(16)))?;
    }
    let mut cc = ChartBuilder::on(&plot_area)
        .margin_left(16)
        .margin_right(28)
        .margin_bottom(12)
        .x_label_area_size(58)
        .y_label_area_size(96)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    cc.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .axis_desc_style(font(19))
        .label_style(font(15))
        .axis_style(p.text)
        .bold_line_style(p.grid)
        .light_line_style(p.grid_light)
        .x_labels(10)
        .y_labels(8)
        .x_label_formatter(&|v| tick(*v, x1 - x0))
        .y_label_formatter(&|v| tick(*v, y1 - y0))
        .draw()?;

    let mut legend = false;
    for b in &chart.bars {
        let c = color(b.color);
        cc.draw_series(
            b.rects.iter().map(|&(x0, x1, y0, y1)| {
                Rectangle::new([(x0, y0), (x1, y1)], c.mix(0.85).filled())
            }),
        )?
        .label(b.name.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 22, y + 6)], c.filled()));
        legend = true;
    }
    for m in &chart.y_markers {
        let c = color(m.color);
        cc.draw_series(DashedLineSeries::new(
            [(x0, m.at), (x1, m.at)],
            10,
            6,
            c.stroke_width(2),
        ))?
        .label(m.label.as_str())
        .legend(legend_line(c));
        legend = true;
    }
    for m in &chart.x_markers {
        let c = color(m.color);
        cc.draw_series(DashedLineSeries::new(
            [(m.at, y0), (m.at, y1)],
            10,
            6,
            c.stroke_width(2),
        ))?
        .label(m.label.as_str())
        .legend(legend_line(c));
        legend = true;
    }
    for s in &chart.series {
        let c = color(s.color);
        let pts = s.points.iter().copied();
        let anno = match s.mark {
            Mark::Points => {
                let r = match s.points.len() {
                    0..=100 => 5,
                    101..=2000 => 3,
                    _ => 2,
                };
                cc.draw_series(pts.map(|xy| Circle::new(xy, r, c.mix(0.7).filled())))?
            }
            Mark::Line => cc.draw_series(LineSeries::new(pts, c.stroke_width(2)))?,
            Mark::LinePoints => {
                cc.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
                cc.draw_series(pts.map(|xy| Circle::new(xy, 6, c.filled())))?
            }
            Mark::Area => cc.draw_series(
                AreaSeries::new(pts, 0.0, c.mix(0.3)).border_style(c.stroke_width(2)),
            )?,
        };
        if !s.name.is_empty() {
            legend = true;
            match s.mark {
                Mark::Points => anno
                    .label(s.name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 11, y), 5, c.filled())),
                _ => anno.label(s.name.as_str()).legend(legend_line(c)),
            };
        }
    }
    if !chart.point_labels.is_empty() {
        cc.draw_series(chart.point_labels.iter().map(|(x, y, s)| {
            EmptyElement::at((*x, *y)) + Text::new(s.clone(), (9, -22), font(15))
        }))?;
    }
    if legend {
        cc.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(12)
            .legend_area_size(30)
            .background_style(p.background.mix(0.9))
            .border_style(p.grid)
            .label_font(font(15))
            .draw()?;
    }
    Ok(())
}

/// Axis tick text for a value on an axis spanning `span`: as many decimals
/// as the tick spacing needs (a narrow range keeps its digits), no trailing
/// zeros, thousands as `12k` when the spacing allows.
pub fn tick(v: f64, span: f64) -> String {
    let step = if span > 0.0 && span.is_finite() {
        span / 8.0
    } else {
        v.abs().max(1.0)
    };
    let decimals = (1.0 - step.log10().floor()).clamp(0.0, 9.0) as usize;
    if v.abs() >= 10_000.0 && step >= 100.0 {
        let d = if step >= 1000.0 { 0 } else { 1 };
        return format!("{}k", trim(v / 1000.0, d));
    }
    trim(v, decimals)
}

fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0, 10.0), "0");
        assert_eq!(tick(0.125, 0.1), "0.125");
        assert_eq!(tick(2.50, 10.0), "2.5");
        assert_eq!(tick(250.0, 1000.0), "250");
        assert_eq!(tick(12_500.0, 5_000.0), "12.5k");
        assert_eq!(tick(15_000.0, 20_000.0), "15k");
        assert_eq!(tick(-3.0, 10.0), "-3");
        // A narrow range keeps the digits that tell its ticks apart.
        assert_eq!(tick(201.65, 0.8), "201.65");
        assert_eq!(tick(201.6, 0.8), "201.6");
    }

    #[test]
    fn ranges_pad_and_start_at_zero_when_asked() {
        let mut c = Chart::new("x", "t", "x", "y");
        assert!(!c.has_data());
        c.series.push(Series {
            name: String::new(),
            points: vec![(0.0, 10.0), (10.0, 20.0)],
            mark: Mark::Line,
            color: 0,
        });
        let ((x0, x1), (y0, y1)) = c.ranges().unwrap();
        assert!(x0 < 0.0 && x1 > 10.0);
        assert!(y0 < 10.0 && y0 > 0.0 && y1 > 20.0);
        c.y_from_zero = true;
        assert_eq!(c.ranges().unwrap().1 .0, 0.0);
    }
}
