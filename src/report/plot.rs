//! The report's charts, drawn with plotters' SVG backend: line charts (training curves, overlaid
//! runs, rung survivors) and scatter plots (candidates, the Pareto front, rank correlation). Text
//! given to plotters is escaped by its backend, so labels are passed raw.

use plotters::prelude::*;

/// One line of a line chart (or one group of points of a scatter plot).
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points: points
                .into_iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect(),
        }
    }
}

/// Axis settings of a chart.
#[derive(Debug, Clone)]
pub struct Axes<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
    /// Format ticks as SI numbers (`7.2M`) rather than decimals.
    pub x_si: bool,
    /// Force y into [0, 1] percentages.
    pub y_pct: bool,
}

const W: u32 = 560;
const H: u32 = 330;

fn color(i: usize) -> RGBColor {
    // Okabe-Ito: distinguishable for colour-blind readers and in greyscale print.
    const C: [(u8, u8, u8); 8] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (120, 120, 120),
        (240, 228, 66),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

fn bounds(series: &[&[(f64, f64)]], y_pct: bool) -> ((f64, f64), (f64, f64)) {
    let pts = series.iter().flat_map(|s| s.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let pad = |a: f64, b: f64| {
        let d = if b > a {
            (b - a) * 0.06
        } else {
            a.abs().max(1.0) * 0.05
        };
        (a - d, b + d)
    };
    let (mut ya, mut yb) = pad(y0, y1);
    if y_pct {
        ya = ya.max(0.0);
        yb = yb.min(1.0);
        if yb <= ya {
            (ya, yb) = (0.0, 1.0);
        }
    }
    (pad(x0, x1), (ya, yb))
}

fn tick_si(v: &f64) -> String {
    super::html::si(*v)
}

fn tick_num(v: &f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        super::html::si(*v)
    } else if a >= 10.0 || *v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Ticks of an axis of whole numbers (epochs, generations): only the whole ones are labelled.
fn tick_int(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// Whether every x is a whole number (then the axis is labelled at whole numbers only).
fn whole_x(series: &[Series]) -> bool {
    series
        .iter()
        .flat_map(|s| &s.points)
        .all(|(x, _)| *x == x.trunc() && x.abs() < 1e6)
}

fn tick_pct(v: &f64) -> String {
    format!("{:.0}%", 100.0 * v)
}

/// A line chart, one line (with point markers) per series, and a legend when there are several.
pub fn lines(axes: &Axes, series: &[Series]) -> String {
    let all: Vec<&[(f64, f64)]> = series.iter().map(|s| s.points.as_slice()).collect();
    let ((x0, x1), (y0, y1)) = bounds(&all, axes.y_pct);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(axes.title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(66)
            .build_cartesian_2d(x0..x1, y0..y1)
        else {
            return String::new();
        };
        let whole = !axes.x_si && whole_x(series);
        let xf: &dyn Fn(&f64) -> String = if axes.x_si {
            &tick_si
        } else if whole {
            &tick_int
        } else {
            &tick_num
        };
        let yf: &dyn Fn(&f64) -> String = if axes.y_pct { &tick_pct } else { &tick_num };
        // Whole-number axes get one tick per value when there are few, so none is a fraction.
        let x_ticks = if whole {
            ((x1 - x0).floor() as usize + 1).clamp(2, 12)
        } else {
            8
        };
        let _ = chart
            .configure_mesh()
            .x_desc(axes.x)
            .y_desc(axes.y)
            .x_labels(x_ticks)
            .y_labels(6)
            .x_label_formatter(xf)
            .y_label_formatter(yf)
            .light_line_style(RGBColor(238, 240, 244))
            .label_style(("sans-serif", 15))
            .draw();
        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            let style = c.stroke_width(2);
            if let Ok(a) = chart.draw_series(LineSeries::new(s.points.clone(), style)) {
                a.label(s.name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                });
            }
            let _ = chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, c.filled())));
        }
        if series.len() > 1 {
            // Away from where the lines end: falling curves (losses) end low, rising ones high.
            let falling = series.first().is_some_and(
                |s| matches!((s.points.first(), s.points.last()), (Some(a), Some(b)) if b.1 < a.1),
            );
            let _ = chart
                .configure_series_labels()
                .position(if falling {
                    SeriesLabelPosition::UpperRight
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw();
        }
        let _ = root.present();
    }
    out
}

/// A scatter plot: one colour per group, an optional step line through `front` (a Pareto front,
/// drawn over the points) and a ringed `best` point.
pub fn scatter(
    axes: &Axes,
    groups: &[Series],
    front: Option<&Series>,
    best: Option<(f64, f64)>,
) -> String {
    let mut all: Vec<&[(f64, f64)]> = groups.iter().map(|s| s.points.as_slice()).collect();
    if let Some(f) = front {
        all.push(&f.points);
    }
    let ((x0, x1), (y0, y1)) = bounds(&all, axes.y_pct);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(axes.title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(66)
            .build_cartesian_2d(x0..x1, y0..y1)
        else {
            return String::new();
        };
        let xf: &dyn Fn(&f64) -> String = if axes.x_si {
            &tick_si
        } else if whole_x(groups) {
            &tick_int
        } else {
            &tick_num
        };
        let yf: &dyn Fn(&f64) -> String = if axes.y_pct { &tick_pct } else { &tick_num };
        let _ = chart
            .configure_mesh()
            .x_desc(axes.x)
            .y_desc(axes.y)
            .x_labels(7)
            .y_labels(6)
            .x_label_formatter(xf)
            .y_label_formatter(yf)
            .light_line_style(RGBColor(238, 240, 244))
            .label_style(("sans-serif", 15))
            .draw();
        for (i, g) in groups.iter().enumerate() {
            let c = color(i);
            if let Ok(a) = chart.draw_series(
                g.points
                    .iter()
                    .map(|&p| Circle::new(p, 4, c.mix(0.75).filled())),
            ) {
                a.label(g.name.clone())
                    .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
            }
        }
        if let Some(f) = front {
            let mut pts = f.points.clone();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let c = RGBColor(200, 30, 30);
            if let Ok(a) = chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))) {
                a.label(f.name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2))
                });
            }
            let _ = chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, c.stroke_width(2))));
        }
        if let Some(b) = best {
            let c = RGBColor(0, 0, 0);
            if let Ok(a) = chart.draw_series(std::iter::once(Circle::new(b, 8, c.stroke_width(2))))
            {
                a.label("best")
                    .legend(move |(x, y)| Circle::new((x + 6, y), 5, c.stroke_width(2)));
            }
        }
        // One group is explained by the caption; a legend would only hide points.
        if groups.len() > 1 {
            let _ = chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw();
        }
        let _ = root.present();
    }
    out
}

/// The Pareto front of points maximising y and minimising x (e.g. accuracy against MACs): the
/// points no other point beats on both, sorted by x.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut front: Vec<(f64, f64)> = Vec::new();
    for p in pts {
        if front.last().is_none_or(|l| p.1 > l.1) {
            front.push(p);
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_keeps_only_undominated_points() {
        let pts = [
            (1.0, 0.5),
            (2.0, 0.4),
            (2.0, 0.7),
            (3.0, 0.6),
            (4.0, 0.9),
            (1.0, 0.3),
        ];
        assert_eq!(pareto_front(&pts), vec![(1.0, 0.5), (2.0, 0.7), (4.0, 0.9)]);
        assert!(pareto_front(&[]).is_empty());
        assert_eq!(
            pareto_front(&[(f64::NAN, 1.0), (1.0, 1.0)]),
            vec![(1.0, 1.0)]
        );
    }

    #[test]
    fn line_chart_has_title_legend_and_one_path_per_series() {
        let a = Series::new("train <loss>", vec![(1.0, 2.0), (2.0, 1.0), (3.0, 0.5)]);
        let b = Series::new("val", vec![(1.0, 2.2), (2.0, 1.4), (3.0, f64::NAN)]);
        assert_eq!(b.points.len(), 2, "non-finite points are dropped");
        let svg = lines(
            &Axes {
                title: "supernet: loss",
                x: "epoch",
                y: "loss",
                x_si: false,
                y_pct: false,
            },
            &[a, b],
        );
        assert!(svg.starts_with("<svg"), "{svg:.80}");
        assert!(svg.contains("supernet: loss"));
        // The label is escaped by the backend, not passed through.
        assert!(svg.contains("train &lt;loss&gt;"));
        assert!(!svg.contains("<loss>"));
        assert!(svg.matches("<polyline").count() >= 2);
    }

    #[test]
    fn scatter_draws_every_point_and_the_front() {
        let pts = vec![(1e6, 0.5), (2e6, 0.7), (3e6, 0.6)];
        let front = Series::new("Pareto front", pareto_front(&pts));
        let svg = scatter(
            &Axes {
                title: "candidates",
                x: "MACs",
                y: "accuracy",
                x_si: true,
                y_pct: true,
            },
            &[Series::new("candidates", pts)],
            Some(&front),
            Some((2e6, 0.7)),
        );
        // 3 candidates + 2 front rings + 1 best ring, no legend for one group.
        assert_eq!(svg.matches("<circle").count(), 6, "{svg}");
        assert!(!svg.contains("Pareto front"));
        assert!(svg.contains("2M"), "SI ticks");
    }
}
