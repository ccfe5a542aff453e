//! Proto comments from source info, and how they are split into summary, title and description.

use std::collections::HashMap;

use prost_reflect::EnumDescriptor;
use prost_types::FileDescriptorSet;

use super::non_empty;

/// Separator of comment paragraphs.
const PARAGRAPH: &str = "\n\n";

/// The comments of every file, by source-info location path.
pub(super) struct Comments {
    files: HashMap<String, HashMap<Vec<i32>, Attached>>,
}

/// Leading and trailing comments of one location.
struct Attached {
    leading: Option<String>,
    trailing: Option<String>,
}

impl Comments {
    /// Indexes the source info of every file in `set` (the first location of a path wins).
    pub(super) fn new(set: &FileDescriptorSet) -> Self {
        let mut files = HashMap::new();
        for file in &set.file {
            let mut locations = HashMap::new();
            for location in file.source_code_info.iter().flat_map(|info| &info.location) {
                locations
                    .entry(location.path.clone())
                    .or_insert_with(|| Attached {
                        leading: location.leading_comments.clone(),
                        trailing: location.trailing_comments.clone(),
                    });
            }
            files.insert(file.name().to_owned(), locations);
        }
        Self { files }
    }

    /// The comment of the element at `path` in `file`: the leading comment (one space of
    /// indentation removed from continuation lines, `(-- … --)` sections dropped), then the
    /// trailing comment as a further paragraph. Empty when there is none.
    pub(super) fn get(&self, file: &str, path: &[i32]) -> String {
        let Some(attached) = self
            .files
            .get(file)
            .and_then(|locations| locations.get(path))
        else {
            return String::new();
        };
        let mut comment = attached
            .leading
            .as_deref()
            .map(|leading| remove_internal(&leading.trim().replace("\n ", "\n")))
            .unwrap_or_default();
        if let Some(trailing) = attached.trailing.as_deref() {
            let trailing = trailing.trim();
            if comment.is_empty() {
                comment = trailing.to_owned();
            } else {
                comment = format!("{comment}{PARAGRAPH}{trailing}");
            }
        }
        comment
    }

    /// The commented values of `enum` as a list (`- A: comment\n - B: comment`), or empty.
    pub(super) fn enum_values(&self, descriptor: &EnumDescriptor) -> String {
        let file = descriptor.parent_file();
        let lines: Vec<String> = descriptor
            .values()
            .filter_map(|value| {
                let comment = self.get(file.name(), value.path());
                (!comment.is_empty()).then(|| format!("{}: {comment}", value.name()))
            })
            .collect();
        if lines.is_empty() {
            String::new()
        } else {
            format!("- {}", lines.join("\n - "))
        }
    }
}

/// `comment` followed by the enum value list, as a further paragraph.
pub(super) fn with_enum_values(comment: &str, values: &str) -> String {
    if values.is_empty() {
        comment.to_owned()
    } else {
        format!("{comment}{PARAGRAPH} {values}")
            .trim_start_matches('\n')
            .to_owned()
    }
}

/// Drops `(-- … --)` sections (internal remarks) and the line break before each.
fn remove_internal(comment: &str) -> String {
    let mut kept = String::new();
    let mut rest = comment;
    while !rest.is_empty() {
        let Some((before, after)) = rest.split_once("(--") else {
            kept.push_str(rest);
            break;
        };
        let before = before.trim_end_matches([' ', '\t']);
        let before = before
            .strip_suffix("\r\n")
            .or_else(|| before.strip_suffix('\n'))
            .unwrap_or(before);
        kept.push_str(before);
        match after.split_once("--)") {
            Some((_, tail)) => rest = tail,
            None => break,
        }
    }
    kept
}

/// An operation's summary and description: the first paragraph and the rest.
pub(super) fn summary_and_description(comment: &str) -> (Option<String>, Option<String>) {
    if comment.is_empty() {
        return (None, None);
    }
    let (first, rest) = split_first_paragraph(comment);
    (non_empty(first), non_empty(rest))
}

/// A title and description for an object without a summary (schemas, the document info).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Titled {
    /// Short title, if the comment starts with one.
    pub title: Option<String>,
    /// Everything else.
    pub description: Option<String>,
}

/// Splits `comment` for an object with a title: a single-line first paragraph that does not end
/// with a period is the title and the remaining paragraphs the description; a multi-line first
/// paragraph without a final period is trimmed into the description; otherwise the whole comment
/// is the description, untrimmed.
pub(super) fn titled(comment: &str) -> Titled {
    if comment.is_empty() {
        return Titled::default();
    }
    let (first, rest) = split_first_paragraph(comment);
    match first.chars().last() {
        Some(last) if last != '.' && !first.contains('\n') => Titled {
            title: Some(first),
            description: non_empty(rest),
        },
        Some(last) if last != '.' => Titled {
            title: None,
            description: Some(if rest.is_empty() {
                first
            } else {
                format!("{first}{PARAGRAPH}{rest}")
            }),
        },
        _ => Titled {
            title: None,
            description: Some(comment.to_owned()),
        },
    }
}

/// Title and description joined into one text (for objects that only have a description).
pub(super) fn merged(title: Option<&str>, description: Option<&str>) -> Option<String> {
    match title {
        Some(title) => non_empty(
            format!("{title}{PARAGRAPH}{}", description.unwrap_or_default())
                .trim()
                .to_owned(),
        ),
        None => description.map(str::to_owned),
    }
}

/// Whether a comment marks its element as read-only.
pub(super) fn is_output_only(comment: &str) -> bool {
    comment.contains("Output only.")
}

/// The trimmed first paragraph and the trimmed rest.
fn split_first_paragraph(comment: &str) -> (String, String) {
    match comment.split_once(PARAGRAPH) {
        Some((first, rest)) => (first.trim().to_owned(), rest.trim().to_owned()),
        None => (comment.trim().to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_without_period_is_a_title() {
        let split = titled("version is the version of the given key");
        assert_eq!(
            split.title.as_deref(),
            Some("version is the version of the given key")
        );
        assert_eq!(split.description, None);
    }

    #[test]
    fn first_paragraph_with_period_keeps_the_whole_comment() {
        let split = titled("lease is the lease id.\n\nleave room");
        assert_eq!(split.title, None);
        assert_eq!(
            split.description.as_deref(),
            Some("lease is the lease id.\n\nleave room")
        );
    }

    #[test]
    fn multi_line_without_period_is_a_trimmed_description() {
        let split = titled(" - NONE: none\n - ASCEND: up");
        assert_eq!(split.title, None);
        assert_eq!(
            split.description.as_deref(),
            Some("- NONE: none\n - ASCEND: up")
        );
    }

    #[test]
    fn operations_take_the_first_paragraph_as_summary() {
        let (summary, description) = summary_and_description("Range gets keys.\n\nMore.");
        assert_eq!(summary.as_deref(), Some("Range gets keys."));
        assert_eq!(description.as_deref(), Some("More."));
    }

    #[test]
    fn internal_sections_are_dropped() {
        assert_eq!(
            remove_internal("Public.\n(-- internal --) tail"),
            "Public. tail"
        );
    }
}
