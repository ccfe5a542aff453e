//! The route module: one registration per HTTP binding, calling the tonic client.

use anyhow::{Context, Result, bail};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use prost_reflect::DescriptorPool;

use super::rules;
use crate::model::{Method, Service, Verb};

/// Where the route module finds the generated package modules, as a Rust path prefix.
const PACKAGES_ROOT: &str = "super";

/// Generates the route module for `api`, using prost's Rust names in `rust_services`.
pub fn emit(
    pool: &DescriptorPool,
    api: &[Service],
    rust_services: &[prost_build::Service],
) -> Result<TokenStream> {
    let mut service_fns = Vec::new();
    let mut statics = Vec::new();
    let mut calls = Vec::new();
    for service in api {
        let routed: Vec<&Method> = service
            .methods
            .iter()
            .filter(|m| !m.bindings.is_empty())
            .collect();
        if routed.is_empty() {
            continue;
        }
        let rust = rust_services
            .iter()
            .find(|s| s.package == service.package && s.proto_name == service.name)
            .with_context(|| {
                format!(
                    "no Rust service generated for {}.{}",
                    service.package, service.name
                )
            })?;
        let fn_name = format_ident!("register_{}", tonic_snake(&rust.name));
        let mut registrations = Vec::new();
        for method in routed {
            let rust_method = rust
                .methods
                .iter()
                .find(|m| m.proto_name == method.name)
                .with_context(|| format!("no Rust method for {}", method.grpc_path(service)))?;
            registrations.push(registration(
                pool,
                service,
                method,
                rust,
                rust_method,
                &mut statics,
            )?);
        }
        let doc = format!(
            " Registers the HTTP bindings of `{}.{}`.",
            service.package, service.name
        );
        service_fns.push(quote! {
            #[doc = #doc]
            pub fn #fn_name(router: GatewayRouter) -> GatewayRouter {
                router #(#registrations)*
            }
        });
        calls.push(quote! { let router = #fn_name(router); });
    }
    Ok(quote! {
        use gateway_runtime::GatewayRouter;
        use http::Method;

        /// Registers every HTTP binding declared in the protos.
        pub fn register(router: GatewayRouter) -> GatewayRouter {
            #(#calls)*
            router
        }

        #(#service_fns)*

        #(#statics)*
    })
}

fn registration(
    pool: &DescriptorPool,
    service: &Service,
    method: &Method,
    rust: &prost_build::Service,
    rust_method: &prost_build::Method,
    statics: &mut Vec<TokenStream>,
) -> Result<TokenStream> {
    let grpc = method.grpc_path(service);
    let rpc = grpc.trim_start_matches('/');
    let mut out = TokenStream::new();
    for (index, binding) in method.bindings.iter().enumerate() {
        let general = rules::needs_rule(binding);
        if general && (method.client_streaming || method.server_streaming) {
            bail!(
                "{rpc}: streaming over the HTTP binding {:?} {} (path variables, query parameters, a body field or response_body) is not supported by the generator yet",
                binding.verb,
                binding.path
            );
        }
        let verb = verb(binding.verb);
        let path = &binding.path;
        let input = type_path(&service.package, &rust_method.input_type)?;
        let (register, request) = match (method.client_streaming, method.server_streaming) {
            (false, false) => (quote!(unary), quote!(tonic::Request<#input>)),
            (false, true) => (quote!(server_streaming), quote!(tonic::Request<#input>)),
            (true, true) => (
                quote!(bidi_streaming),
                quote!(tonic::Request<gateway_runtime::stream::RequestStream<#input>>),
            ),
            (true, false) => {
                out.extend(quote! { .unimplemented_stream(#verb, #path, #rpc) });
                continue;
            }
        };
        let package = package_path(&service.package);
        let client_mod = format_ident!("{}_client", tonic_snake(&rust.name));
        let client = format_ident!("{}Client", rust.name);
        let call = rust_ident(&rust_method.name)?;
        let target = if general {
            let name = rules::rule_name(&rust.name, &rust_method.name, index);
            statics.push(rules::rule(pool, method, binding, &name)?);
            quote!(&#name)
        } else {
            quote!(#verb, #path)
        };
        let register = if general {
            quote!(unary_rule)
        } else {
            register
        };
        out.extend(quote! {
            .#register(#target, |transport, request: #request| async move {
                #package::#client_mod::#client::new(transport)
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX)
                    .#call(request)
                    .await
            })
        });
    }
    Ok(out)
}

pub(crate) fn verb(verb: Verb) -> TokenStream {
    match verb {
        Verb::Get => quote!(Method::GET),
        Verb::Put => quote!(Method::PUT),
        Verb::Post => quote!(Method::POST),
        Verb::Delete => quote!(Method::DELETE),
        Verb::Patch => quote!(Method::PATCH),
    }
}

/// Rust path of a package module, seen from the route module.
fn package_path(package: &str) -> TokenStream {
    let parts = module_parts(package)
        .into_iter()
        .map(|p| format_ident!("{p}"));
    let root = format_ident!("{}", PACKAGES_ROOT);
    quote!(#root #(:: #parts)*)
}

/// Resolves a prost type path (relative to its package module) to a path from the route module.
fn type_path(package: &str, relative: &str) -> Result<syn::Path> {
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

fn rust_ident(name: &str) -> Result<syn::Ident> {
    syn::parse_str(name).with_context(|| format!("bad identifier {name}"))
}

/// Module path components prost uses for a proto package.
pub(crate) fn module_parts(package: &str) -> Vec<String> {
    prost_build::Module::from_protobuf_package_name(package)
        .parts()
        .map(str::to_owned)
        .collect()
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
