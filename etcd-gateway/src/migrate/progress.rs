//! The progress bar on stderr (drawn only when stderr is a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting keys through one step (`copying`, `verifying`).
pub fn keys(step: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40}] {pos}/{len} keys ({per_sec}, {eta} left)",
    )
    .expect("a valid progress template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(step.to_owned());
    bar
}
