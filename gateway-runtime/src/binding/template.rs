//! Path templates → router paths, as grpc-gateway's runtime compiles `httprule` templates.
//!
//! Every wildcard becomes a named capture (`v0`, `v1`, ...; `**` a catch-all capture), and each
//! path variable records which literal text and captures make up its value. The router matches
//! whole segments only, so a custom verb after a capture (`/v1/{name=shelves/*}:merge`) is
//! matched as the end of that capture's text; after a literal it is part of the path.

use super::{Binding, Segment};

/// Where a binding is served and how its path variables are read back from the captures.
#[derive(Debug)]
pub(crate) struct BindingRoute {
    /// The binding this route serves.
    pub(crate) binding: &'static Binding,
    /// The path as the router matches it (`/v1/shelves/{v0}/books/{v1}`).
    pub(crate) path: String,
    /// Request fields bound to parts of the path.
    pub(crate) variables: Vec<PathVariable>,
    /// The capture whose text must end with the custom verb (`":merge"`), which is removed from
    /// the value.
    pub(crate) verb_capture: Option<VerbCapture>,
}

/// A custom verb carried by the last capture of a route.
#[derive(Debug)]
pub(crate) struct VerbCapture {
    /// The capture's name.
    pub(crate) capture: String,
    /// The verb with its colon, e.g. `:merge`.
    pub(crate) suffix: String,
}

/// A request field bound to part of the path.
#[derive(Debug)]
pub(crate) struct PathVariable {
    /// Dotted proto field path, e.g. `book.name`.
    pub(crate) field: &'static str,
    /// The value: literal text and captures, concatenated (`shelves/` + `{v0}`).
    pub(crate) parts: Vec<PathPart>,
}

/// A piece of a path variable's value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PathPart {
    /// Fixed text of the pattern, e.g. `shelves/`.
    Literal(String),
    /// The text of the named route capture.
    Capture(String),
}

impl BindingRoute {
    /// Compiles `binding`'s template.
    ///
    /// # Panics
    ///
    /// If a variable's pattern contains another variable (the template grammar forbids it).
    pub(crate) fn compile(binding: &'static Binding) -> Self {
        let mut compiler = Compiler::default();
        let mut variables = Vec::new();
        for segment in binding.template.segments {
            compiler.path.push('/');
            match segment {
                Segment::Literal(text) => compiler.path.push_str(text),
                Segment::Wildcard => {
                    compiler.capture(false);
                }
                Segment::DeepWildcard => {
                    compiler.capture(true);
                }
                Segment::Variable { field, pattern } => {
                    let parts = compiler.variable(binding.rpc, pattern);
                    variables.push(PathVariable { field, parts });
                }
            }
        }
        let verb_capture = binding.template.verb.and_then(|verb| compiler.verb(verb));
        Self {
            binding,
            path: compiler.path,
            variables,
            verb_capture,
        }
    }
}

/// The router path under construction.
#[derive(Default)]
struct Compiler {
    path: String,
    captures: usize,
    /// The capture the path ends with, if it ends with one.
    last_capture: Option<String>,
}

impl Compiler {
    /// Appends a new named capture (a catch-all one when `deep`) and returns its name.
    fn capture(&mut self, deep: bool) -> String {
        let name = format!("v{}", self.captures);
        self.captures += 1;
        let star = if deep { "*" } else { "" };
        self.path.push_str(&format!("{{{star}{name}}}"));
        self.last_capture = Some(name.clone());
        name
    }

    /// Appends a variable's pattern and returns the parts of its value.
    fn variable(&mut self, rpc: &str, pattern: &[Segment]) -> Vec<PathPart> {
        const SINGLE_SEGMENT: &[Segment] = &[Segment::Wildcard];
        let pattern = if pattern.is_empty() {
            SINGLE_SEGMENT
        } else {
            pattern
        };
        let mut parts: Vec<PathPart> = Vec::new();
        for (index, piece) in pattern.iter().enumerate() {
            if index > 0 {
                self.path.push('/');
                push_literal(&mut parts, "/");
            }
            match piece {
                Segment::Literal(text) => {
                    self.path.push_str(text);
                    self.last_capture = None;
                    push_literal(&mut parts, text);
                }
                Segment::Wildcard => parts.push(PathPart::Capture(self.capture(false))),
                Segment::DeepWildcard => parts.push(PathPart::Capture(self.capture(true))),
                Segment::Variable { .. } => panic!("{rpc}: nested path variable"),
            }
        }
        parts
    }

    /// Places the custom verb: on the last capture when the path ends with one, else as
    /// literal text of the path.
    fn verb(&mut self, verb: &str) -> Option<VerbCapture> {
        let suffix = format!(":{verb}");
        if self.path.ends_with('}')
            && let Some(capture) = self.last_capture.take()
        {
            return Some(VerbCapture { capture, suffix });
        }
        self.path.push_str(&suffix);
        None
    }
}

/// Appends literal text, merging it with a preceding literal.
fn push_literal(parts: &mut Vec<PathPart>, text: &str) {
    match parts.last_mut() {
        Some(PathPart::Literal(existing)) => existing.push_str(text),
        _ => parts.push(PathPart::Literal(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::binding::{BodyRule, PathTemplate, fixtures};

    const fn binding(segments: &'static [Segment], verb: Option<&'static str>) -> Binding {
        Binding {
            rpc: "test.Service/Method",
            method: Method::POST,
            template: PathTemplate { segments, verb },
            body: BodyRule::Whole,
            response_body: None,
            query_fields: &[],
        }
    }

    static NESTED: Binding = binding(fixtures::BOOK_NAME, None);

    #[test]
    fn variables_get_one_capture_per_wildcard() {
        let route = BindingRoute::compile(&NESTED);
        assert_eq!(route.path, "/v1/shelves/{v0}/books/{v1}");
        assert_eq!(route.variables.len(), 1);
        assert_eq!(route.variables[0].field, "book.name");
        assert_eq!(
            route.variables[0].parts,
            [
                PathPart::Literal("shelves/".into()),
                PathPart::Capture("v0".into()),
                PathPart::Literal("/books/".into()),
                PathPart::Capture("v1".into()),
            ]
        );
        assert!(route.verb_capture.is_none());
    }

    static VERB_ON_CAPTURE: Binding = binding(
        &[
            Segment::Literal("v1"),
            Segment::Variable {
                field: "name",
                pattern: &[],
            },
        ],
        Some("merge"),
    );

    static VERB_ON_LITERAL: Binding = binding(
        &[Segment::Literal("v1"), Segment::Literal("shelves")],
        Some("clear"),
    );

    static DEEP: Binding = binding(
        &[
            Segment::Literal("v1"),
            Segment::Wildcard,
            Segment::Variable {
                field: "path",
                pattern: &[Segment::Literal("files"), Segment::DeepWildcard],
            },
        ],
        Some("stat"),
    );

    #[test]
    fn custom_verbs() {
        let route = BindingRoute::compile(&VERB_ON_CAPTURE);
        assert_eq!(route.path, "/v1/{v0}");
        let verb = route.verb_capture.expect("verb on the capture");
        assert_eq!(
            (verb.capture.as_str(), verb.suffix.as_str()),
            ("v0", ":merge")
        );

        let route = BindingRoute::compile(&VERB_ON_LITERAL);
        assert_eq!(route.path, "/v1/shelves:clear");
        assert!(route.verb_capture.is_none());

        let route = BindingRoute::compile(&DEEP);
        assert_eq!(route.path, "/v1/{v0}/files/{*v1}");
        assert_eq!(
            route.variables[0].parts,
            [
                PathPart::Literal("files/".into()),
                PathPart::Capture("v1".into())
            ]
        );
        assert_eq!(route.verb_capture.expect("verb").capture, "v1");
    }
}
