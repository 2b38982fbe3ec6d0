//! The load report's charts, drawn with plotters into SVG documents that
//! [`super::html`] inlines into the page: no script, no fonts or images to fetch.
//!
//! Four charts, each a [`Chart`] with a stable `id` the page (and its browser test) finds
//! it by:
//! - `deliveries`: deliveries/s against the listener count, hub and raw baseline;
//! - `latency`: the HdrHistogram percentile distribution of every run, its x axis
//!   stretched towards 100 % (90 %, 99 %, 99.9 % ... evenly spaced) and its y axis
//!   logarithmic, so the tail is as readable as the median;
//! - `connect`: listener handshakes per second against the listener count;
//! - `memory`: the target's resident memory per idle listener against the listener
//!   count (Linux only: elsewhere the chart says it was not measured).
//!
//! The hub is drawn with solid lines, the raw baseline with dashed ones.

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::prelude::*;

use super::hub_proc::TargetKind;
use super::report::{Report, RunReport, count};
use super::stats::Percentile;

/// Width and height of every chart, in CSS pixels.
const SIZE: (u32, u32) = (900, 420);

/// Colours for the hub and the raw baseline in the by-client-count charts.
const HUB: RGBColor = RGBColor(31, 102, 181);
const RAW: RGBColor = RGBColor(221, 110, 20);

/// Colours for the latency curves, one per client count.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 102, 181),
    RGBColor(221, 110, 20),
    RGBColor(44, 150, 70),
    RGBColor(190, 40, 50),
    RGBColor(120, 80, 170),
    RGBColor(110, 110, 110),
];

/// One chart of the report.
pub struct Chart {
    /// A stable name: `deliveries`, `latency`, `connect` or `memory`.
    pub id: &'static str,
    pub title: &'static str,
    /// What the chart shows, in a sentence.
    pub caption: String,
    /// The SVG document, or why there is none (nothing measured, or drawing failed).
    pub svg: Result<String, String>,
}

/// Every chart of `report`, in the order the page shows them.
pub fn all(report: &Report) -> Vec<Chart> {
    vec![
        deliveries(report),
        latency(report),
        connect(report),
        memory(report),
    ]
}

/// Deliveries per second against the listener count.
pub fn deliveries(report: &Report) -> Chart {
    Chart {
        id: "deliveries",
        title: "Deliveries per second by listener count",
        caption: "Measured messages received per second, summed over listeners, from the \
                  first measured send to the last receive."
            .to_owned(),
        svg: by_clients(
            report,
            "deliveries/s",
            &si,
            YScale::Linear,
            SeriesLabelPosition::UpperLeft,
            |run| Some(run.delivery.per_second),
        ),
    }
}

/// Listener handshakes per second against the listener count.
pub fn connect(report: &Report) -> Chart {
    Chart {
        id: "connect",
        title: "Connect rate by listener count",
        caption: "Listeners whose session opened per second, from the first connection \
                  attempt to the last WELCOME."
            .to_owned(),
        svg: by_clients(
            report,
            "listeners connected/s",
            &si,
            YScale::Linear,
            SeriesLabelPosition::UpperLeft,
            |run| Some(run.connect.per_second),
        ),
    }
}

/// Resident memory per idle listener against the listener count.
pub fn memory(report: &Report) -> Chart {
    Chart {
        id: "memory",
        title: "Memory per client by listener count",
        caption: "The target's resident memory with every listener connected and idle, less \
                  its memory with none, divided by the listeners."
            .to_owned(),
        // The hub's fixed costs over few listeners dwarf the cost of one more: a log axis
        // keeps both readable. The curve falls, so the upper right is free.
        svg: by_clients(
            report,
            "bytes per idle listener",
            &bytes,
            YScale::Log,
            SeriesLabelPosition::UpperRight,
            |run| run.memory.bytes_per_idle_listener.map(|b| b.max(0.0)),
        ),
    }
}

/// The latency percentile distribution of every run.
pub fn latency(report: &Report) -> Chart {
    let curves: Vec<Curve> = report
        .points
        .iter()
        .enumerate()
        .flat_map(|(i, point)| {
            point.runs.iter().map(move |run| Curve {
                label: format!("{} N={}", run.target.name(), count(point.clients)),
                color: PALETTE[i % PALETTE.len()],
                dashed: run.target == TargetKind::Raw,
                points: tail_points(&run.latency_us.distribution, run.latency_us.count),
            })
        })
        .filter(|curve| !curve.points.is_empty())
        .collect();
    Chart {
        id: "latency",
        title: "Latency percentiles",
        caption: "Send-to-receive latency of the measured messages (HdrHistogram percentile \
                  distribution). Each step to the right is ten times closer to 100 %."
            .to_owned(),
        svg: draw_latency(&curves),
    }
}

/// One line of a chart.
struct Curve {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// A chart of `value` against the listener count: one curve for the hub and one for the
/// raw baseline, each with a marker at every point measured.
fn by_clients(
    report: &Report,
    y_desc: &str,
    y_format: &dyn Fn(f64) -> String,
    y_scale: YScale,
    legend_position: SeriesLabelPosition,
    value: impl Fn(&RunReport) -> Option<f64>,
) -> Result<String, String> {
    let curves: Vec<Curve> = [TargetKind::Hub, TargetKind::Raw]
        .into_iter()
        .map(|target| Curve {
            label: target.describe().to_owned(),
            color: if target == TargetKind::Hub { HUB } else { RAW },
            dashed: target == TargetKind::Raw,
            points: report
                .runs()
                .filter(|(_, run)| run.target == target)
                .filter_map(|(clients, run)| value(run).map(|v| (clients as f64, v)))
                .filter(|(_, v)| v.is_finite())
                .collect(),
        })
        .filter(|curve| !curve.points.is_empty())
        .collect();
    if curves.is_empty() {
        return Err("not measured on this platform".to_owned());
    }
    let all = || curves.iter().flat_map(|c| c.points.iter());
    let (x_min, x_max) = all().fold((f64::MAX, f64::MIN), |(lo, hi), &(x, _)| {
        (lo.min(x), hi.max(x))
    });
    let (y_min, y_max) = all().fold((f64::MAX, 0.0_f64), |(lo, hi), &(_, y)| {
        (lo.min(y), hi.max(y))
    });
    // A tick at each listener count measured: the log scale's own ticks are powers of
    // ten, and a range around one point, or a few, may hold none.
    let mut ticks: Vec<f64> = all().map(|&(x, _)| x).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let x_range = (x_min / 1.6..x_max * 1.6)
        .log_scale()
        .with_key_points(ticks);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(16)
            .margin_right(48)
            .x_label_area_size(48)
            .y_label_area_size(80);
        let y_desc = match y_scale {
            YScale::Linear => y_desc.to_owned(),
            YScale::Log => format!("{y_desc} (log scale)"),
        };
        let axes = Axes {
            x_desc: "listeners (N, log scale)",
            y_desc: &y_desc,
            x_format: &|x| count(x.round() as u64),
            y_format,
        };
        match y_scale {
            // Log: when one point would flatten the others (fixed costs over 1 listener).
            YScale::Log if y_min > 0.0 => {
                let mut chart = builder
                    .build_cartesian_2d(x_range, (y_min / 1.5..y_max * 1.5).log_scale())
                    .map_err(draw_error)?;
                draw_by_clients(&mut chart, &axes, &curves, legend_position)?;
            }
            _ => {
                let y_max = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
                let mut chart = builder
                    .build_cartesian_2d(x_range, 0.0..y_max)
                    .map_err(draw_error)?;
                draw_by_clients(&mut chart, &axes, &curves, legend_position)?;
            }
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// How a chart's y axis is scaled.
#[derive(Clone, Copy)]
enum YScale {
    Linear,
    Log,
}

/// What the axes of a chart say.
struct Axes<'a> {
    x_desc: &'a str,
    y_desc: &'a str,
    x_format: &'a dyn Fn(f64) -> String,
    y_format: &'a dyn Fn(f64) -> String,
}

/// The mesh, the curves with markers and the legend of a by-client-count chart, on
/// whichever y axis it was built with.
fn draw_by_clients<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    axes: &Axes,
    curves: &[Curve],
    legend_position: SeriesLabelPosition,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let x_label = |x: &f64| (axes.x_format)(*x);
    let y_label = |y: &f64| (axes.y_format)(*y);
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(draw_error)?;
    for curve in curves {
        draw_curve(chart, curve, true)?;
    }
    legend(chart, legend_position)
}

/// Where each step of a distribution goes: x is `log10(1 / (1 - quantile))` (0 at 0 %,
/// 1 at 90 %, 2 at 99 % ...), with 100 % drawn at `1 - 1/count`, where the last of `count`
/// latencies lies; y is the latency in microseconds.
fn tail_points(distribution: &[Percentile], count: u64) -> Vec<(f64, f64)> {
    let last = 1.0 - 1.0 / count.max(1) as f64;
    distribution
        .iter()
        .map(|step| {
            let quantile = step.quantile.min(last).max(0.0);
            let x = if quantile > 0.0 {
                (1.0 / (1.0 - quantile)).log10()
            } else {
                0.0
            };
            (x, step.value_us.max(1) as f64)
        })
        .collect()
}

/// The percentile label for a position on the latency chart's x axis: 0 %, 90 %, 99 %,
/// 99.9 % ...; empty between the whole steps.
fn percentile_label(x: f64) -> String {
    let steps = x.round();
    if (x - steps).abs() > 0.01 || steps < 0.0 {
        return String::new();
    }
    let nines = steps as usize;
    match nines {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        _ => format!("99.{}%", "9".repeat(nines - 2)).replace(".%", "%"),
    }
}

fn draw_latency(curves: &[Curve]) -> Result<String, String> {
    if curves.is_empty() {
        return Err("no latencies were recorded".to_owned());
    }
    let all = || curves.iter().flat_map(|c| c.points.iter());
    let x_max = all().fold(2.0_f64, |hi, &(x, _)| hi.max(x)).ceil();
    let (y_min, y_max) = all().fold((f64::MAX, f64::MIN), |(lo, hi), &(_, y)| {
        (lo.min(y), hi.max(y))
    });

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .margin_right(48)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(
                0.0..x_max,
                ((y_min / 1.5).max(0.5)..y_max * 1.5).log_scale(),
            )
            .map_err(draw_error)?;
        let x_label = |x: &f64| percentile_label(*x);
        let y_label = |y: &f64| duration_us(*y);
        chart
            .configure_mesh()
            .x_desc("percentile (log-scaled tail)")
            .y_desc("latency (log scale)")
            .x_labels(x_max as usize + 1)
            .y_labels(12)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .max_light_lines(1)
            .light_line_style(RGBColor(240, 240, 240))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(draw_error)?;
        for curve in curves {
            draw_curve(&mut chart, curve, false)?;
        }
        // The curves rise to the right: the lower right corner is free.
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// Draws `curve` (solid or dashed), with a marker at every point if `markers`, and gives
/// it its legend entry.
fn draw_curve<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    curve: &Curve,
    markers: bool,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = curve.color.stroke_width(2);
    let series = if curve.dashed {
        chart.draw_series(DashedLineSeries::new(
            curve.points.iter().copied(),
            8,
            5,
            style,
        ))
    } else {
        chart.draw_series(LineSeries::new(curve.points.iter().copied(), style))
    }
    .map_err(draw_error)?;
    let color = curve.color;
    let dashed = curve.dashed;
    series.label(curve.label.clone()).legend(move |(x, y)| {
        let style = color.stroke_width(2);
        if dashed {
            PathElement::new(vec![(x, y), (x + 8, y)], style)
        } else {
            PathElement::new(vec![(x, y), (x + 20, y)], style)
        }
    });
    if markers {
        chart
            .draw_series(
                curve
                    .points
                    .iter()
                    .map(|&point| Circle::new(point, 4, curve.color.filled())),
            )
            .map_err(draw_error)?;
    }
    Ok(())
}

fn legend<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), String>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(draw_error)
}

fn draw_error(err: impl std::fmt::Display) -> String {
    format!("could not draw the chart: {err}")
}

/// `1234567.0` as `1.23 M`: axis labels that stay short.
fn si(value: f64) -> String {
    scaled(value, &[(1e9, " G"), (1e6, " M"), (1e3, " k")], "", 2)
}

/// Bytes as `512 B`, `1.5 KiB`, `2 MiB`.
fn bytes(value: f64) -> String {
    scaled(value, &[(1048576.0, " MiB"), (1024.0, " KiB")], " B", 1)
}

/// Microseconds as `850 µs`, `12 ms`, `1.5 s`.
fn duration_us(us: f64) -> String {
    scaled(us, &[(1e6, " s"), (1e3, " ms")], " µs", 1)
}

/// `value` in the largest of `units` (factor, suffix; largest first) it reaches, else
/// with `base`, to `decimals` places without trailing zeros.
fn scaled(value: f64, units: &[(f64, &str)], base: &str, decimals: usize) -> String {
    let (scaled, unit) = units
        .iter()
        .find(|(factor, _)| value.abs() >= *factor)
        .map_or((value, base), |(factor, unit)| (value / factor, *unit));
    let text = format!("{scaled:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::report;

    /// The text of every `<text>` element of `svg`: the labels.
    fn labels(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|element| element.split_once('>'))
            .filter_map(|(_, rest)| rest.split_once("</text>"))
            .map(|(text, _)| text.trim())
            .collect()
    }

    #[test]
    fn a_single_point_has_its_listener_count_on_the_x_axis() {
        let svg = deliveries(&report(&[137])).svg.expect("a chart");
        let labels = labels(&svg);
        assert!(labels.contains(&"137"), "no tick at N=137: {labels:?}");
    }

    #[test]
    fn every_point_measured_has_a_tick() {
        let svg = connect(&report(&[3, 40, 500])).svg.expect("a chart");
        let labels = labels(&svg);
        for n in ["3", "40", "500"] {
            assert!(labels.contains(&n), "no tick at N={n}: {labels:?}");
        }
    }

    #[test]
    fn the_tail_axis_counts_nines() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(5.0), "99.999%");
        assert_eq!(percentile_label(2.5), "");
    }

    #[test]
    fn the_last_percentile_stays_on_the_chart() {
        let steps = [
            Percentile {
                quantile: 0.0,
                value_us: 10,
                total_count: 1,
            },
            Percentile {
                quantile: 0.99,
                value_us: 20,
                total_count: 99,
            },
            Percentile {
                quantile: 1.0,
                value_us: 90,
                total_count: 100,
            },
        ];
        let points = tail_points(&steps, 100);
        assert_eq!(points.len(), 3);
        assert_eq!(points[0], (0.0, 10.0));
        assert!((points[1].0 - 2.0).abs() < 1e-9);
        assert!((points[2].0 - 2.0).abs() < 1e-9, "{:?}", points[2]);
        assert_eq!(points[2].1, 90.0);
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(1500.0), "1.5 k");
        assert_eq!(si(2_000_000.0), "2 M");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(100.0), "100 B");
        assert_eq!(duration_us(850.0), "850 µs");
        assert_eq!(duration_us(12_000.0), "12 ms");
    }
}
