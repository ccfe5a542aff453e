//! `google.api.http` path templates: `/v1/{name=shelves/*}/books/{book_id}:publish`.
//!
//! Grammar (from `google/api/http.proto`):
//! `Template = "/" Segments [ Verb ]`, `Segments = Segment { "/" Segment }`,
//! `Segment = "*" | "**" | LITERAL | Variable`, `Variable = "{" FieldPath [ "=" Segments ] "}"`,
//! `FieldPath = IDENT { "." IDENT }`, `Verb = ":" LITERAL`.

use anyhow::{Result, bail};

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// Segments after the leading `/`.
    pub segments: Vec<Segment>,
    /// The custom verb after the last `:`, if any.
    pub verb: Option<String>,
}

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A fixed path segment.
    Literal(String),
    /// `*`: exactly one segment, not bound to a field.
    Wildcard,
    /// `**`: the rest of the path, not bound to a field.
    DeepWildcard,
    /// `{field.path=pattern}`: segments whose text is the value of a request field.
    Variable {
        /// Field path in the request message, e.g. `["book", "name"]`.
        field: Vec<String>,
        /// The pattern the value matches; `{name}` means `[Wildcard]`.
        pattern: Vec<Segment>,
        /// The pattern was written out (`{name=*}`), not implied (`{name}`).
        explicit: bool,
    },
}

impl PathTemplate {
    /// Parses a template, naming the problem on failure.
    pub fn parse(template: &str) -> Result<Self> {
        let Some(rest) = template.strip_prefix('/') else {
            bail!("path template {template:?} must start with '/'");
        };
        let (body, verb) = split_verb(rest);
        let segments = parse_segments(body, template, true)?;
        if let Some(position) = segments.iter().position(contains_deep)
            && position + 1 != segments.len()
        {
            bail!("path template {template:?}: '**' is only allowed in the last segment");
        }
        Ok(Self {
            segments,
            verb: verb.map(str::to_owned),
        })
    }

    /// The bound variables, in order: field path, pattern, and whether the pattern was written.
    pub fn variables(&self) -> impl Iterator<Item = (&[String], &[Segment], bool)> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Variable {
                field,
                pattern,
                explicit,
            } => Some((field.as_slice(), pattern.as_slice(), *explicit)),
            _ => None,
        })
    }

    /// Whether the template is a plain path: literal segments and no custom verb.
    pub fn is_literal(&self) -> bool {
        self.verb.is_none()
            && self
                .segments
                .iter()
                .all(|segment| matches!(segment, Segment::Literal(_)))
    }
}

fn contains_deep(segment: &Segment) -> bool {
    match segment {
        Segment::DeepWildcard => true,
        Segment::Variable { pattern, .. } => pattern.iter().any(contains_deep),
        _ => false,
    }
}

/// Splits off the `:verb` suffix (a `:` after the last `/` and outside braces).
fn split_verb(path: &str) -> (&str, Option<&str>) {
    let mut depth = 0;
    let mut split = None;
    for (i, c) in path.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            '/' if depth == 0 => split = None,
            ':' if depth == 0 => split = Some(i),
            _ => {}
        }
    }
    match split {
        Some(i) => (&path[..i], Some(&path[i + 1..])),
        None => (path, None),
    }
}

fn parse_segments(text: &str, template: &str, allow_variables: bool) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let (segment, tail) = if rest.starts_with('{') {
            let Some(end) = rest.find('}') else {
                bail!("path template {template:?}: unclosed '{{'");
            };
            (&rest[..=end], &rest[end + 1..])
        } else {
            match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            }
        };
        segments.push(parse_segment(segment, template, allow_variables)?);
        match tail.strip_prefix('/') {
            Some(next) => rest = next,
            None if tail.is_empty() => return Ok(segments),
            None => bail!("path template {template:?}: unexpected {tail:?}"),
        }
    }
}

fn parse_segment(segment: &str, template: &str, allow_variables: bool) -> Result<Segment> {
    Ok(match segment {
        "" => bail!("path template {template:?}: empty segment"),
        "*" => Segment::Wildcard,
        "**" => Segment::DeepWildcard,
        variable if variable.starts_with('{') => {
            if !allow_variables {
                bail!("path template {template:?}: nested variable {variable}");
            }
            let inner = &variable[1..variable.len() - 1];
            let (field, pattern, explicit) = match inner.split_once('=') {
                Some((field, pattern)) => (field, parse_segments(pattern, template, false)?, true),
                None => (inner, vec![Segment::Wildcard], false),
            };
            let field: Vec<String> = field.split('.').map(str::to_owned).collect();
            if field.iter().any(|part| !is_ident(part)) {
                bail!("path template {template:?}: bad field path in {variable}");
            }
            Segment::Variable {
                field,
                pattern,
                explicit,
            }
        }
        literal if literal.contains(['{', '}', '*', '=']) => {
            bail!("path template {template:?}: bad segment {literal:?}")
        }
        literal => Segment::Literal(literal.to_owned()),
    })
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::{PathTemplate, Segment::*};

    fn lit(s: &str) -> super::Segment {
        Literal(s.to_owned())
    }

    #[test]
    fn literal_paths() {
        let t = PathTemplate::parse("/v3/kv/range").unwrap();
        assert_eq!(t.segments, [lit("v3"), lit("kv"), lit("range")]);
        assert_eq!(t.verb, None);
    }

    #[test]
    fn variables_patterns_and_verbs() {
        let t = PathTemplate::parse("/v1/{book.name=shelves/*/books/*}:publish").unwrap();
        assert_eq!(
            t.segments,
            [
                lit("v1"),
                Variable {
                    field: vec!["book".into(), "name".into()],
                    pattern: vec![lit("shelves"), Wildcard, lit("books"), Wildcard],
                    explicit: true,
                }
            ]
        );
        assert_eq!(t.verb.as_deref(), Some("publish"));
        let t = PathTemplate::parse("/v1/shelves/{shelf}/files/**").unwrap();
        assert_eq!(t.variables().count(), 1);
        assert_eq!(t.segments[4], DeepWildcard);
        assert!(PathTemplate::parse("/v3/kv/range").unwrap().is_literal());
    }

    #[test]
    fn errors_name_the_template() {
        for bad in [
            "v1/x",
            "/v1/{x",
            "/v1//x",
            "/v1/**/x",
            "/v1/{a-b}",
            "/v1/{a={b}}",
        ] {
            let err = PathTemplate::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
