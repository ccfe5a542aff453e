//! Proto manifests: text files listing proto files, one path per line.

use std::{fs, path::Path};

use anyhow::{Context, Result};

/// The paths listed in a manifest's text: one per line, surrounding blanks trimmed; empty
/// lines and lines starting with `#` are skipped.
pub fn parse(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The paths listed in the manifest file at `path`, as [`parse`].
pub fn read(path: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse(&text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn skips_comments_and_blank_lines() {
        let text = "# protos\n\na/b.proto\n  c.proto  \n# end\n";
        assert_eq!(super::parse(text), ["a/b.proto", "c.proto"]);
    }
}
