//! The training curve: episode returns as CSV (the numbers) and as a PNG and an SVG
//! (a picture; the SVG carries axis labels, which the PNG cannot without a font stack).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use common::rl::artifact::CURVE_CSV_FILE;
use common::rl::dqn::EpisodeStats;
use plotters::prelude::*;

/// Episodes averaged in the smoothed line.
const WINDOW: usize = 20;

fn smoothed(stats: &[EpisodeStats]) -> Vec<(f64, f64)> {
    stats
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let from = i.saturating_sub(WINDOW - 1);
            let w = &stats[from..=i];
            (
                s.total_steps as f64,
                w.iter()
                    .map(|e| e.episode_return / e.length.max(1) as f64)
                    .sum::<f64>()
                    / w.len() as f64,
            )
        })
        .collect()
}

/// Writes `curve.csv`, `curve.png` and `curve.svg` into `dir`.
pub(crate) fn write(dir: &Path, stats: &[EpisodeStats]) -> anyhow::Result<()> {
    let path = dir.join(CURVE_CSV_FILE);
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?,
    );
    writeln!(
        f,
        "episode,total_steps,scenario,seed,length,episode_return,mean_reward"
    )?;
    for s in stats {
        writeln!(
            f,
            "{},{},{},{},{},{},{}",
            s.id.index,
            s.total_steps,
            s.id.scenario,
            s.id.seed,
            s.length,
            s.episode_return,
            s.episode_return / s.length.max(1) as f64
        )?;
    }
    f.flush()?;
    if stats.is_empty() {
        return Ok(());
    }
    let points = smoothed(stats);
    let png = dir.join("curve.png");
    draw(
        BitMapBackend::new(&png, (800, 480)).into_drawing_area(),
        &points,
        false,
    )
    .with_context(|| format!("cannot draw {}", png.display()))?;
    let svg = dir.join("curve.svg");
    draw(
        SVGBackend::new(&svg, (800, 480)).into_drawing_area(),
        &points,
        true,
    )
    .with_context(|| format!("cannot draw {}", svg.display()))?;
    Ok(())
}

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    points: &[(f64, f64)],
    labels: bool,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let x_max = points.last().map_or(1.0, |p| p.0).max(1.0);
    let (lo, hi) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let mut builder = ChartBuilder::on(&area);
    builder.margin(20);
    if labels {
        builder
            .caption(
                "mean reward per step (rolling 20 episodes)",
                ("sans-serif", 18),
            )
            .x_label_area_size(40)
            .y_label_area_size(60);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..x_max, (lo - pad)..(hi + pad))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut mesh = chart.configure_mesh();
    if labels {
        mesh.x_desc("environment steps").y_desc("reward per step");
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(points.iter().copied(), &BLUE))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    area.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
