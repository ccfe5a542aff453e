//! The route module: one registration per HTTP binding on the `GatewayRouter`, calling the
//! tonic client, and one `ServiceClient` impl per routed service.

use anyhow::{Context, Result, bail};
use proc_macro2::TokenStream;
use quote::quote;

use super::{
    bindings,
    rust_names::{binding_static, client_type, register_fn, rust_ident, type_path},
};
use crate::model::{Method, Service, Streaming};

/// Generates the route module for `api`, using prost's Rust names in `rust_services`.
pub(super) fn emit(api: &[Service], rust_services: &[prost_build::Service]) -> Result<TokenStream> {
    let mut service_items = Vec::new();
    let mut statics = Vec::new();
    let mut calls = Vec::new();
    let mut with_query_fields = false;
    for service in api {
        let routed: Vec<&Method> = service
            .methods
            .iter()
            .filter(|method| !method.bindings.is_empty())
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
        let client = client_type(&service.package, rust);
        let mut registrations = Vec::new();
        for method in routed {
            let rust_method = rust
                .methods
                .iter()
                .find(|m| m.proto_name == method.name)
                .with_context(|| format!("no Rust method for {}", method.rpc()))?;
            let request = type_path(&service.package, &rust_method.input_type)?;
            let call = rust_ident(&rust_method.name)?;
            for (index, binding) in method.bindings.iter().enumerate() {
                if method.streaming != Streaming::Unary && !binding.is_plain() {
                    bail!(
                        "{}: streaming over the HTTP binding `{} {}` (path variables, query \
                         parameters, a body field or response_body) is not supported by the \
                         generator yet",
                        method.rpc(),
                        binding.verb.as_str(),
                        binding.path
                    );
                }
                let name = binding_static(rust, rust_method, index);
                statics.push(bindings::binding_static(&name, method, binding));
                with_query_fields |= !binding.query.is_empty();
                let request_type = match method.streaming {
                    Streaming::Bidi => {
                        quote!(tonic::Request<gateway_runtime::stream::RequestStream<#request>>)
                    }
                    _ => quote!(tonic::Request<#request>),
                };
                let register = match method.streaming {
                    Streaming::Unary => quote!(unary),
                    Streaming::Server => quote!(server_streaming),
                    Streaming::Bidi => quote!(bidi_streaming),
                    Streaming::Client => {
                        registrations.push(quote! { .unsupported(&#name) });
                        continue;
                    }
                };
                registrations.push(quote! {
                    .#register(&#name, |mut client: #client, request: #request_type| async move {
                        client.#call(request).await
                    })
                });
            }
        }
        let fn_name = register_fn(rust);
        let doc = format!(
            " Registers the HTTP bindings of `{}.{}`.",
            service.package, service.name
        );
        service_items.push(quote! {
            #[doc = #doc]
            pub fn #fn_name(router: GatewayRouter) -> GatewayRouter {
                router #(#registrations)*
            }

            impl ServiceClient for #client {
                fn from_transport(transport: GrpcTransport, limits: MessageLimits) -> Self {
                    Self::new(transport)
                        .max_decoding_message_size(limits.decoding)
                        .max_encoding_message_size(limits.encoding)
                }
            }
        });
        calls.push(quote! { let router = #fn_name(router); });
    }
    let imports = if statics.is_empty() {
        quote!(
            use gateway_runtime::GatewayRouter;
        )
    } else {
        let binding_names = bindings::imports(with_query_fields);
        quote! {
            use gateway_runtime::binding::{#(#binding_names),*};
            use gateway_runtime::{GatewayRouter, GrpcTransport, MessageLimits, ServiceClient};
            use http::Method;
        }
    };
    Ok(quote! {
        #imports

        /// Registers every HTTP binding declared in the protos.
        pub fn register(router: GatewayRouter) -> GatewayRouter {
            #(#calls)*
            router
        }

        #(#service_items)*

        #(#statics)*
    })
}
