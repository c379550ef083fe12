//! The convergence curve as an SVG a person can look at.

use crate::Report;

/// Draws the share of live ordered pairs that know each other over simulated time, with the
/// moment the faults healed marked.
pub fn plot_svg(report: &Report) -> String {
    let (w, h, m) = (800.0, 360.0, 50.0);
    let end = report.simulated.as_secs_f64().max(0.001);
    let x = |t: f64| m + (w - 2.0 * m) * t / end;
    let y = |v: f64| h - m - (h - 2.0 * m) * v.clamp(0.0, 1.0);
    let mut path = String::new();
    for (i, (t, v)) in report.curve.iter().enumerate() {
        let cmd = if i == 0 { 'M' } else { 'L' };
        path.push_str(&format!("{cmd}{:.1},{:.1} ", x(t.as_secs_f64()), y(*v)));
    }
    let heal = x(report.healed_at.as_secs_f64());
    let o = &report.options;
    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    s.push_str(&format!(
        "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"{m}\" y=\"20\">ryre sim: {} nodes, {} hosts, {} subnets, loss {:.0}%, seed {} — share of live pairs that know each other</text>\n",
        o.nodes, o.hosts, o.subnets, o.loss * 100.0, o.seed
    ));
    // Axes and grid.
    for i in 0..=4 {
        let v = f64::from(i) / 4.0;
        s.push_str(&format!(
            "<line x1=\"{m}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"10\" y=\"{:.1}\">{:.0}%</text>\n",
            y(v), w - m, y(v), y(v) + 4.0, v * 100.0
        ));
    }
    for i in 0..=5 {
        let t = end * f64::from(i) / 5.0;
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t:.1} s</text>\n",
            x(t),
            h - m + 18.0
        ));
    }
    s.push_str(&format!(
        "<rect x=\"{m}\" y=\"{m}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#fbe9e7\" opacity=\"0.6\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">faults</text>\n",
        (heal - m).max(0.0), h - 2.0 * m, m + 4.0, m + 14.0
    ));
    s.push_str(&format!(
        "<line x1=\"{heal:.1}\" y1=\"{m}\" x2=\"{heal:.1}\" y2=\"{:.1}\" stroke=\"#c62828\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{:.1}\">healed</text>\n",
        h - m, heal + 4.0, m + 14.0
    ));
    s.push_str(&format!(
        "<path d=\"{path}\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\"/>\n"
    ));
    s.push_str("</svg>\n");
    s
}
