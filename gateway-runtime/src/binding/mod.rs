//! HTTP bindings of RPCs as the generator resolves them (pure `'static` data), and what the
//! runtime derives from them: the router path ([`template`]) and the request message built from
//! path variables, query parameters and body ([`request`]).
//!
//! A [`Binding`] mirrors one `google.api.http` rule: method, path template, body and
//! `response_body`, plus the request fields the query string may set.

pub(crate) mod request;
pub(crate) mod template;

use http::Method;

/// One HTTP binding of an RPC, as resolved by the generator (pure data, `'static`).
#[derive(Debug)]
pub struct Binding {
    /// The gRPC method, `package.Service/Method` (e.g. `etcdserverpb.KV/Range`), for errors
    /// and logs.
    pub rpc: &'static str,
    /// HTTP method.
    pub method: Method,
    /// The parsed `google.api.http` path template.
    pub template: PathTemplate,
    /// What the HTTP body carries.
    pub body: BodyRule,
    /// The response field sent as the HTTP body instead of the whole response (proto name).
    pub response_body: Option<&'static str>,
    /// Request fields settable from the query string (empty when `body` is `Whole`).
    pub query_fields: &'static [QueryField],
}

/// A parsed path template: `/v1/{name=shelves/*}/books:publish`.
#[derive(Debug)]
pub struct PathTemplate {
    /// The segments after the leading `/`.
    pub segments: &'static [Segment],
    /// The custom verb after the last `:` (without the colon), if any.
    pub verb: Option<&'static str>,
}

/// One segment of a path template.
#[derive(Debug)]
pub enum Segment {
    /// Fixed text.
    Literal(&'static str),
    /// `*`: exactly one segment.
    Wildcard,
    /// `**`: the rest of the path.
    DeepWildcard,
    /// `{field=pattern}`: segments whose text becomes a request field.
    Variable {
        /// Dotted proto field path, e.g. `book.name`.
        field: &'static str,
        /// The segments the value matches (`{name}` is `[Wildcard]`).
        pattern: &'static [Segment],
    },
}

/// What the HTTP body of a binding carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRule {
    /// The whole request message (`body: "*"`).
    Whole,
    /// Nothing (`body` absent): fields come from the path and the query string.
    Empty,
    /// One field (`body: "shelf"`), given as its proto name.
    Field(&'static str),
}

/// A request field reachable from the query string.
#[derive(Debug)]
pub struct QueryField {
    /// Dotted proto field path, e.g. `filter.author_name`.
    pub path: &'static str,
    /// The same path in lowerCamelCase JSON names, also accepted, e.g. `filter.authorName`.
    pub json_path: &'static str,
    /// How the text of a parameter becomes JSON.
    pub kind: FieldKind,
    /// How many values the field takes from the query string.
    pub cardinality: Cardinality,
}

/// How a query-settable field takes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// One value: the last occurrence wins.
    Single,
    /// A repeated field: every occurrence adds an element.
    Repeated,
    /// A map field: each `field[key]=value` sets the entry `key` (as grpc-gateway reads them).
    Map,
}

/// JSON type of a query-settable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Strings, bytes (base64 text) and enums (names or numbers).
    Text,
    /// Integers and floating point numbers (sent as JSON strings, which the decoder accepts).
    Number,
    /// `true` / `false`.
    Bool,
}

/// Templates shared by the unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::Segment;

    /// `/v1/{book.name=shelves/*/books/*}`.
    pub(crate) const BOOK_NAME: &[Segment] = &[
        Segment::Literal("v1"),
        Segment::Variable {
            field: "book.name",
            pattern: &[
                Segment::Literal("shelves"),
                Segment::Wildcard,
                Segment::Literal("books"),
                Segment::Wildcard,
            ],
        },
    ];
}
