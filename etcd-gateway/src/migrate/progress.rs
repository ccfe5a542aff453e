//! The progress bar on stderr (drawn only when stderr is a terminal, and cleared when its
//! step ends: the summary on stdout says what was done).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting keys through one step (`copying`, `verifying`).
pub fn keys(step: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40}] {human_pos}/{human_len} keys ({elapsed}, {eta} left)",
    )
    .expect("a valid progress template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(step.to_owned());
    bar
}
