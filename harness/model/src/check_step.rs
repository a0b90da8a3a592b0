//! Checks of a single step's shape that need no profile or rig.

use crate::catalog::PlacedStep;
use crate::diagnostic::{Diagnostics, join};
use crate::pattern::Pattern;
use crate::step::Action;

/// Checks one step: patterns compile, a measurement has one source, numbers are in range.
pub fn step(placed: &PlacedStep, diags: &mut Diagnostics) {
    let ctx = &placed.ctx;
    let at = |field: &str| {
        let base = join(&placed.path, placed.step.action.key());
        if field.is_empty() {
            base
        } else {
            join(&base, field)
        }
    };
    let regex = |field: &str, pattern: &Pattern, diags: &mut Diagnostics| {
        // A pattern with `${...}` is compiled after substitution, when the scenario is bound.
        if pattern.has_variables() {
            return;
        }
        if let Err(e) = pattern.regex() {
            diags.push(ctx.error(
                at(field),
                format!(
                    "invalid regular expression: {}",
                    crate::check::regex_error(e)
                ),
            ));
        }
    };
    match &placed.step.action {
        Action::ConsoleExpect(e) => regex("pattern", &e.pattern, diags),
        Action::ConsoleCapture(c) => {
            if let Some(until) = &c.until {
                regex("until", until, diags);
            }
            if c.until.is_none() && c.duration.is_none() {
                diags.push(
                    ctx.error(at(""), "a capture needs an end")
                        .with_help("give `until: PATTERN` or `for: DURATION`"),
                );
            }
        }
        Action::Measure(m) => {
            let sources = [m.from.is_some(), m.capture.is_some(), m.expr.is_some()];
            match sources.iter().filter(|s| **s).count() {
                1 => {}
                0 => diags.push(ctx.error(at(""), "a measurement needs a source").with_help(
                    "give one of `from: INSTRUMENT.CHANNEL`, `capture: NAME` or `expr: EXPRESSION`",
                )),
                _ => diags.push(
                    ctx.error(at(""), "a measurement takes one source")
                        .with_help("give only one of `from`, `capture` and `expr`"),
                ),
            }
            if let Some(expr) = &m.expr
                && let Err(e) = expr.tree()
            {
                diags.push(ctx.error(at("expr"), format!("invalid expression: {e}")));
            }
            if m.samples == Some(0) {
                diags.push(ctx.error(at("samples"), "zero samples measure nothing"));
            }
            if m.samples.is_some() && m.from.is_none() {
                diags.push(ctx.key_error(
                    at("samples"),
                    "`samples` averages instrument readings; it needs `from`",
                ));
            }
            m.limits.check(ctx, &at("limits"), diags);
        }
        Action::GpioMeasure(m) => {
            m.limits.check(ctx, &at("limits"), diags);
        }
        Action::OtaMeasure(m) => {
            m.limits.check(ctx, &at("limits"), diags);
        }
        Action::OtaOffer(o) => {
            if o.cuts.is_some() && o.cut_after.is_none() {
                diags.push(ctx.key_error(
                    at("cuts"),
                    "`cuts` says how many transfers to cut; it needs `cut-after`",
                ));
            }
            if o.cuts == Some(0) {
                diags.push(ctx.error(at("cuts"), "zero cuts cut nothing; leave out `cut-after`"));
            }
            if o.truncate == Some(0) {
                diags.push(ctx.error(at("truncate"), "an image truncated to 0 bytes is no image"));
            }
        }
        Action::Retry(r) => {
            if r.attempts < 2 {
                diags.push(ctx.error(at("attempts"), "a retry group needs at least 2 attempts"));
            }
            if r.steps.is_empty() {
                diags.push(ctx.error(at("steps"), "a retry group without steps"));
            }
        }
        Action::NetImpair(n) => {
            if let Some(loss) = n.loss_percent
                && !(0.0..=100.0).contains(&loss)
            {
                diags.push(ctx.error(
                    at("loss-percent"),
                    format!("{loss} is not a percentage (0 to 100)"),
                ));
            }
            if n.latency.is_none()
                && n.loss_percent.is_none()
                && n.bandwidth_kbps.is_none()
                && !n.partition
            {
                diags.push(
                    ctx.error(at(""), "an impairment that changes nothing")
                        .with_help("give `latency`, `jitter`, `loss-percent`, `bandwidth-kbps` or `partition: true`"),
                );
            }
        }
        Action::Power(p) => {
            if let Some(v) = p.volts
                && v <= 0.0
            {
                diags.push(ctx.error(at("volts"), format!("{v} V is not a supply voltage")));
            }
        }
        Action::Prompt(p) => {
            if p.choices.len() == 1 {
                diags.push(
                    ctx.error(at("choices"), "one choice is no choice")
                        .with_help("give two or more, or none"),
                );
            }
            if let Some(pattern) = &p.pattern {
                if p.input.is_none() {
                    diags.push(
                        ctx.error(
                            at("pattern"),
                            "a pattern checks a text answer, and this prompt takes none",
                        )
                        .with_help("name the answer with `as`, or remove `pattern`"),
                    );
                }
                if let Err(e) = pattern.regex() {
                    diags.push(ctx.error(
                        at("pattern"),
                        format!(
                            "invalid regular expression: {}",
                            crate::check::regex_error(e)
                        ),
                    ));
                }
            }
            if let Some(image) = &p.image {
                let found = prompt_image(&ctx.file, image);
                if let Err(problem) = found {
                    diags.push(
                        ctx.error(at("image"), problem).with_help(
                            "give the path of a PNG, JPEG, GIF, SVG or WebP file, relative to this file",
                        ),
                    );
                }
            }
        }
        _ => {}
    }
}

/// The file types a station's screen shows, by extension, with their media types.
pub const PROMPT_IMAGE_TYPES: [(&str, &str); 6] = [
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("svg", "image/svg+xml"),
    ("webp", "image/webp"),
];

/// Where a prompt's picture is: `image` relative to the folder of the file that names it.
pub fn prompt_image_path(written_in: &std::path::Path, image: &str) -> std::path::PathBuf {
    written_in
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join(image)
}

/// A prompt's picture: its path when it is a regular file of a type a browser shows, else what
/// is wrong with it.
pub fn prompt_image(
    written_in: &std::path::Path,
    image: &str,
) -> Result<std::path::PathBuf, String> {
    let path = prompt_image_path(written_in, image);
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !PROMPT_IMAGE_TYPES
        .iter()
        .any(|(e, _)| Some(*e) == extension.as_deref())
    {
        return Err(format!("`{image}` is not a picture a screen can show"));
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err(format!("`{}` is not a regular file", path.display())),
        Err(e) => Err(format!("cannot read `{}`: {e}", path.display())),
    }
}
