//! SVG plots of a run: the architecture distribution of a differentiable search over epochs, one
//! panel per decision, one line per option (drawn with plotters).

use plotters::prelude::*;
use serde_json::Value as Json;

use crate::ir::SearchSpace;

/// Panels per row.
const COLS: usize = 4;

/// The trajectory (`arch` metric lines, one per epoch, each with `probs: {path: [p...]}`) as SVG.
pub fn trajectory_svg(space: &SearchSpace, series: &[Json], title: &str) -> String {
    let n = space.decisions.len().max(1);
    let rows = n.div_ceil(COLS);
    let (w, h) = (COLS as u32 * 300, 40 + rows as u32 * 200);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let (top, body) = root.split_vertically(40);
        let _ = top.titled(
            &format!("{title}: architecture probabilities per epoch"),
            ("sans-serif", 18),
        );
        let panels = body.split_evenly((rows, COLS));
        let epochs: Vec<u64> = series.iter().filter_map(|v| v["epoch"].as_u64()).collect();
        let last = epochs.iter().copied().max().unwrap_or(1).max(1);
        for (d, panel) in space.decisions.iter().zip(panels.iter()) {
            let mut chart = match ChartBuilder::on(panel)
                .caption(&d.path, ("sans-serif", 13))
                .margin(6)
                .x_label_area_size(18)
                .y_label_area_size(28)
                .build_cartesian_2d(0u64..last, 0f64..1f64)
            {
                Ok(c) => c,
                Err(_) => continue,
            };
            let _ = chart
                .configure_mesh()
                .x_labels(4)
                .y_labels(3)
                .label_style(("sans-serif", 10))
                .draw();
            for (o, label) in d.labels.iter().enumerate() {
                let points: Vec<(u64, f64)> = series
                    .iter()
                    .filter_map(|v| {
                        let e = v["epoch"].as_u64()?;
                        let p = v["probs"][&d.path][o].as_f64()?;
                        Some((e, p))
                    })
                    .collect();
                let color = Palette99::pick(o).to_rgba();
                if let Ok(s) = chart.draw_series(LineSeries::new(points, color.stroke_width(2))) {
                    s.label(label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 12, y)], color.stroke_width(2))
                    });
                }
            }
            let _ = chart
                .configure_series_labels()
                .label_font(("sans-serif", 9))
                .background_style(WHITE.mix(0.7))
                .draw();
        }
        let _ = root.present();
    }
    out
}
