//! The static `gateway_runtime::binding::Binding` of each HTTP binding: the model's resolved
//! binding written as Rust data.

use proc_macro2::TokenStream;
use quote::quote;

use crate::{
    model::{Binding, BodyRule, FieldKind, Method, Verb},
    path_template::Segment,
};

/// The `static` item `name` describing `binding` of `method`.
pub(super) fn binding_static(name: &syn::Ident, method: &Method, binding: &Binding) -> TokenStream {
    let rpc = method.rpc();
    let doc = format!(" `{} {}`: `{rpc}`.", binding.verb.as_str(), binding.path);
    let verb = verb(binding.verb);
    let segments = segments(&binding.template.segments);
    let template_verb = match &binding.template.verb {
        Some(text) => quote!(Some(#text)),
        None => quote!(None),
    };
    let body = match &binding.body {
        BodyRule::Whole => quote!(BodyRule::Whole),
        BodyRule::None => quote!(BodyRule::Empty),
        BodyRule::Field(field) => {
            let path = field.dotted();
            quote!(BodyRule::Field(#path))
        }
    };
    let response_body = match &binding.response_body {
        Some(field) => {
            let path = field.dotted();
            quote!(Some(#path))
        }
        None => quote!(None),
    };
    let query_fields = binding
        .query
        .iter()
        .map(|parameter| {
            let path = parameter.dotted();
            let json_path = &parameter.json_path;
            let kind = match parameter.kind {
                FieldKind::Text => quote!(FieldKind::Text),
                FieldKind::Number => quote!(FieldKind::Number),
                FieldKind::Bool => quote!(FieldKind::Bool),
            };
            let cardinality = match (parameter.map_key, parameter.repeated) {
                (Some(_), _) => quote!(Cardinality::Map),
                (None, true) => quote!(Cardinality::Repeated),
                (None, false) => quote!(Cardinality::Single),
            };
            quote! {
                QueryField { path: #path, json_path: #json_path, kind: #kind, cardinality: #cardinality }
            }
        })
        .collect::<Vec<_>>();
    quote! {
        #[doc = #doc]
        static #name: Binding = Binding {
            rpc: #rpc,
            method: #verb,
            template: PathTemplate { segments: #segments, verb: #template_verb },
            body: #body,
            response_body: #response_body,
            query_fields: &[#(#query_fields),*],
        };
    }
}

/// The names statics use from `gateway_runtime::binding`, for the route module's imports
/// (`Cardinality`, `FieldKind` and `QueryField` only when some binding has query fields).
pub(super) fn imports(with_query_fields: bool) -> Vec<syn::Ident> {
    let mut names = vec!["Binding", "BodyRule", "PathTemplate", "Segment"];
    if with_query_fields {
        names.extend(["Cardinality", "FieldKind", "QueryField"]);
    }
    names.sort_unstable();
    names
        .into_iter()
        .map(|name| quote::format_ident!("{name}"))
        .collect()
}

/// A segment list as a `&[Segment]` expression.
fn segments(segments: &[Segment]) -> TokenStream {
    let items = segments.iter().map(|segment| match segment {
        Segment::Literal(text) => quote!(Segment::Literal(#text)),
        Segment::Wildcard => quote!(Segment::Wildcard),
        Segment::DeepWildcard => quote!(Segment::DeepWildcard),
        Segment::Variable { field, pattern, .. } => {
            let field = field.join(".");
            let pattern = self::segments(pattern);
            quote!(Segment::Variable { field: #field, pattern: #pattern })
        }
    });
    quote!(&[#(#items),*])
}

/// The `http::Method` constant of a verb.
fn verb(verb: Verb) -> TokenStream {
    match verb {
        Verb::Get => quote!(Method::GET),
        Verb::Put => quote!(Method::PUT),
        Verb::Post => quote!(Method::POST),
        Verb::Delete => quote!(Method::DELETE),
        Verb::Patch => quote!(Method::PATCH),
    }
}
