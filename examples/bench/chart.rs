//! The rows as curves (req/s and p99 against connections, one line per target), drawn with
//! plotters as an SVG beside the JSON: people compare curves faster than tables.

use super::report::{Report, Row};
use super::{Res, CONNECTIONS};
use plotters::prelude::*;
use std::path::Path;

/// Each target's rows, labelled, in the order they are drawn.
fn series(report: &Report) -> Vec<(String, Vec<&Row>)> {
    let mut all: Vec<(String, Vec<&Row>)> = vec![("HTTP ceiling".into(), report.http_ceiling.iter().collect())];
    // The service with its statuses in memory is measured at 64 connections only: a point each.
    let targets = [
        ("bare gateway", &report.bare_gateway),
        ("service", &report.service),
        ("in memory", &report.service_in_memory),
    ];
    for (target, rows) in targets {
        for mode in ["plain", "idempotent"] {
            for send_mode in ["async", "sync"] {
                let picked: Vec<&Row> = rows
                    .iter()
                    .filter(|r| r.mode.as_deref() == Some(mode) && r.send_mode.as_deref() == Some(send_mode))
                    .collect();
                if !picked.is_empty() {
                    all.push((format!("{target} {mode} {send_mode}"), picked));
                }
            }
        }
    }
    all
}

type Panel<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
/// What a panel draws of a row.
type Measure = fn(&Row) -> f64;

fn x_of(connections: u32) -> f64 {
    CONNECTIONS.iter().position(|c| *c == connections).unwrap_or(0) as f64
}

/// Draws req/s (left) and p99 latency (right) against connections into `path`.
pub fn draw(report: &Report, path: &Path) -> Res<()> {
    let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);
    let series = series(report);
    let panels: [(&Panel, &str, Measure); 2] =
        [(&left, "requests/s", |r| r.result.requests_per_sec), (&right, "p99 latency, ms", |r| r.result.p99_ms)];
    for (area, title, value) in panels {
        let max = series.iter().flat_map(|(_, rows)| rows.iter().map(|r| value(r))).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.2f64..(CONNECTIONS.len() as f64 - 0.8), 0f64..max * 1.1)?;
        chart
            .configure_mesh()
            .x_labels(CONNECTIONS.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 0.01 || i < 0.0 {
                    return String::new();
                }
                CONNECTIONS.get(i as usize).map(|c| c.to_string()).unwrap_or_default()
            })
            .x_desc("connections")
            .draw()?;
        for (i, (label, rows)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points: Vec<(f64, f64)> = rows.iter().map(|r| (x_of(r.connections), value(r))).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}
