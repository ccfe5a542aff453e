//! Rust names of the generated items, as prost and tonic derive them from the protos.

use anyhow::{Context, Result};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Where the route module finds the generated package modules, as a Rust path prefix.
const PACKAGES_ROOT: &str = "super";

/// Module path components prost uses for a proto package.
pub(super) fn module_parts(package: &str) -> Vec<String> {
    prost_build::Module::from_protobuf_package_name(package)
        .parts()
        .map(str::to_owned)
        .collect()
}

/// Rust path of a package module, seen from the route module.
pub(super) fn package_path(package: &str) -> TokenStream {
    let parts = module_parts(package)
        .into_iter()
        .map(|part| format_ident!("{part}"));
    let root = format_ident!("{}", PACKAGES_ROOT);
    quote!(#root #(:: #parts)*)
}

/// Resolves a prost type path (relative to its package module) to a path from the route module.
pub(super) fn type_path(package: &str, relative: &str) -> Result<syn::Path> {
    let mut module = module_parts(package);
    let mut rest = relative;
    while let Some(stripped) = rest.strip_prefix("super::") {
        module.pop();
        rest = stripped;
    }
    let full = std::iter::once(PACKAGES_ROOT.to_owned())
        .chain(module)
        .chain(std::iter::once(rest.to_owned()))
        .collect::<Vec<_>>()
        .join("::");
    syn::parse_str(&full).with_context(|| format!("bad type path {full}"))
}

/// `name` as an identifier, failing on text that is not one.
pub(super) fn rust_ident(name: &str) -> Result<syn::Ident> {
    syn::parse_str(name).with_context(|| format!("bad identifier {name}"))
}

/// The path of a service's tonic client on the gRPC transport, seen from the route module
/// (`super::etcdserverpb::kv_client::KvClient<GrpcTransport>`).
pub(super) fn client_type(package: &str, service: &prost_build::Service) -> TokenStream {
    let package = package_path(package);
    let module = format_ident!("{}_client", tonic_snake(&service.name));
    let client = format_ident!("{}Client", service.name);
    quote!(#package::#module::#client<GrpcTransport>)
}

/// The name of the static describing the binding at `index` of a method: `<SERVICE>_<METHOD>`
/// in upper snake case, `_ALT<index>` appended for additional bindings.
pub(super) fn binding_static(
    service: &prost_build::Service,
    method: &prost_build::Method,
    index: usize,
) -> syn::Ident {
    let mut name = format!(
        "{}_{}",
        tonic_snake(&service.name).to_ascii_uppercase(),
        method.name.to_ascii_uppercase()
    );
    if index > 0 {
        name.push_str(&format!("_ALT{index}"));
    }
    format_ident!("{name}")
}

/// The name of the function registering a service's bindings (`register_kv`).
pub(super) fn register_fn(service: &prost_build::Service) -> syn::Ident {
    format_ident!("register_{}", tonic_snake(&service.name))
}

/// Lower snake case exactly as tonic names client modules (`Kv` → `kv`, `LeaseFoo` → `lease_foo`).
fn tonic_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c.to_ascii_lowercase());
        if chars.peek().is_some_and(|next| next.is_uppercase()) {
            out.push('_');
        }
    }
    out
}
