//! An OpenAPI 3.1 document describing what the gateway really serves, derived from the swagger
//! (OpenAPI 2.0) documents: the same operations and schemas, plus the gateway's own error shape,
//! the framing of streamed responses (JSON lines and Server-Sent Events), the API prefixes as
//! servers, and optional `Authorization`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::model::{Service, Streaming};

/// Settings of the OpenAPI document.
#[derive(Debug, Clone)]
pub struct OpenApiOptions {
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// `info.description` (Markdown).
    pub description: String,
    /// Path prefix removed from every path and given back as servers (e.g. `/v3`).
    pub path_prefix: String,
    /// Servers: `(url, description)`; each url is usually a prefix like `/v3` or `/v3beta`.
    pub servers: Vec<(String, String)>,
}

/// Name of the gateway's unary error schema.
const ERROR: &str = "GatewayError";
/// Name of the schema of the final error message of a stream.
const STREAM_ERROR: &str = "GatewayStreamError";

/// Builds the OpenAPI 3.1 document from the swagger documents of `api` (paths and definitions
/// are merged); which operations stream comes from the model.
pub fn openapi(api: &[Service], swagger: &[Value], options: &OpenApiOptions) -> Result<Value> {
    let mut streaming = BTreeMap::new();
    for method in api.iter().flat_map(|service| &service.methods) {
        for index in 0..method.bindings.len() {
            streaming.insert(method.operation_id(index), method.streaming);
        }
    }
    convert_documents(swagger, &streaming, options)
}

/// The OpenAPI 3.1 document of `swagger`, with each operation's streaming kind from
/// `streaming` (by `operationId`).
fn convert_documents(
    swagger: &[Value],
    streaming: &BTreeMap<String, Streaming>,
    options: &OpenApiOptions,
) -> Result<Value> {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    let mut security_schemes = Map::new();
    for document in swagger {
        for (name, schema) in object(document, "definitions") {
            let schema = rewrite_refs(schema.clone());
            match schemas.get(name) {
                Some(existing) if *existing != schema => {
                    bail!("definition {name} differs between swagger documents")
                }
                _ => {
                    schemas.insert(name.clone(), schema);
                }
            }
        }
        for (name, scheme) in object(document, "securityDefinitions") {
            security_schemes.insert(name.clone(), scheme.clone());
        }
        for (path, item) in object(document, "paths") {
            let Some(relative) = path.strip_prefix(&options.path_prefix) else {
                bail!("path {path} lacks the prefix {}", options.path_prefix);
            };
            let mut operations = Map::new();
            for (verb, operation) in item.as_object().into_iter().flatten() {
                let id = operation["operationId"].as_str().unwrap_or_default();
                let kind = streaming.get(id).with_context(|| {
                    format!("operation {id} ({verb} {path}) is not in the model")
                })?;
                operations.insert(verb.clone(), convert_operation(operation, *kind)?);
            }
            paths.insert(relative.to_owned(), Value::Object(operations));
        }
    }
    schemas.insert(ERROR.to_owned(), error_schema());
    schemas.insert(STREAM_ERROR.to_owned(), stream_error_schema());
    let servers: Vec<Value> = options
        .servers
        .iter()
        .map(|(url, description)| json!({"url": url, "description": description}))
        .collect();
    let mut components = Map::new();
    components.insert("schemas".into(), Value::Object(schemas));
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": options.title,
            "version": options.version,
            "description": options.description,
        },
        "servers": servers,
        "paths": paths,
    });
    if !security_schemes.is_empty() {
        let names: Vec<String> = security_schemes.keys().cloned().collect();
        components.insert("securitySchemes".into(), Value::Object(security_schemes));
        // Authentication is optional: etcd only requires it once auth is enabled.
        let mut requirements: Vec<Value> = names.iter().map(|n| json!({ n: [] })).collect();
        requirements.push(json!({}));
        document["security"] = Value::Array(requirements);
    }
    document["components"] = Value::Object(components);
    Ok(document)
}

fn object<'a>(document: &'a Value, key: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    document
        .get(key)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// One operation of a method with `streaming`, from OpenAPI 2.0 to 3.1.
fn convert_operation(operation: &Value, streaming: Streaming) -> Result<Value> {
    let mut out = Map::new();
    for key in ["summary", "description", "operationId", "tags"] {
        if let Some(value) = operation.get(key) {
            out.insert(key.to_owned(), value.clone());
        }
    }
    let mut parameters = Vec::new();
    for parameter in operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if parameter["in"] == "body" {
            let mut body = json!({
                "required": parameter.get("required").cloned().unwrap_or(Value::Bool(false)),
                "content": {"application/json": {"schema": rewrite_refs(parameter["schema"].clone())}},
            });
            if streaming.client() {
                body["description"] = json!(
                    "A sequence of request messages: JSON objects separated by whitespace or \
                     newlines (or concatenated), each sent upstream as soon as it has arrived. \
                     Over a WebSocket, one text message per request."
                );
            }
            out.insert("requestBody".into(), body);
        } else {
            parameters.push(convert_parameter(parameter));
        }
    }
    if !parameters.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters));
    }
    let ok = &operation["responses"]["200"];
    let success = if streaming.server() {
        let result = rewrite_refs(ok["schema"]["properties"]["result"].clone());
        let line = json!({
            "type": "object",
            "properties": {
                "result": result,
                "error": {"$ref": format!("#/components/schemas/{STREAM_ERROR}")},
            },
        });
        json!({
            "description": "A stream: one JSON object per response message, `{\"result\":...}`, \
                            flushed as it arrives; a failure after the first message ends the \
                            stream with one `{\"error\":{...}}` object. Sent as JSON lines \
                            (`Content-Type: application/json`, one object per line, as etcd's \
                            gateway does) or, when the request accepts `text/event-stream`, as \
                            Server-Sent Events (`data: <object>`).",
            "content": {
                "application/json": {"schema": line.clone()},
                "text/event-stream": {"schema": line},
            },
        })
    } else {
        json!({
            "description": "A successful response.",
            "content": {"application/json": {"schema": rewrite_refs(ok["schema"].clone())}},
        })
    };
    out.insert(
        "responses".into(),
        json!({
            "200": success,
            "default": {
                "description": "An error. The HTTP status follows the gRPC code (InvalidArgument, \
                                FailedPrecondition, OutOfRange → 400; Unauthenticated → 401; \
                                PermissionDenied → 403; NotFound → 404; ResourceExhausted → 429; \
                                Unavailable → 503; ...).",
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{ERROR}")}}},
            },
        }),
    );
    Ok(Value::Object(out))
}

/// A path or query parameter, from OpenAPI 2.0 to 3.1 (type details move into `schema`).
fn convert_parameter(parameter: &Value) -> Value {
    let mut out = Map::new();
    let mut schema = Map::new();
    for (key, value) in parameter.as_object().into_iter().flatten() {
        match key.as_str() {
            "name" | "in" | "description" | "required" => {
                out.insert(key.clone(), value.clone());
            }
            "collectionFormat" => {
                out.insert("explode".into(), Value::Bool(value == "multi"));
            }
            _ => {
                schema.insert(key.clone(), rewrite_refs(value.clone()));
            }
        }
    }
    out.insert("schema".into(), Value::Object(schema));
    Value::Object(out)
}

/// `#/definitions/X` → `#/components/schemas/X`, everywhere in `value`.
fn rewrite_refs(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "$ref"
                    && let Some(target) = child
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/definitions/"))
                {
                    *child = Value::String(format!("#/components/schemas/{target}"));
                } else {
                    *child = rewrite_refs(child.take());
                }
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = rewrite_refs(item.take());
            }
        }
        _ => {}
    }
    value
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "The gateway's error body: `error` and `message` carry the same text \
                        (both keys, as grpc-gateway's clients parse either), `code` is the \
                        numeric gRPC status code.",
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "integer", "format": "int32"},
            "message": {"type": "string"},
        },
        "required": ["error", "code", "message"],
    })
}

fn stream_error_schema() -> Value {
    json!({
        "type": "object",
        "description": "The final message of a failed stream, with the keys of both \
                        grpc-gateway generations.",
        "properties": {
            "grpc_code": {"type": "integer", "format": "int32"},
            "http_code": {"type": "integer", "format": "int32"},
            "message": {"type": "string"},
            "http_status": {"type": "string"},
            "code": {"type": "integer", "format": "int32"},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_operations_schemas_and_refs() {
        let swagger = json!({
            "paths": {"/v3/kv/range": {"post": {
                "summary": "Range",
                "operationId": "KV_Range",
                "parameters": [{"name": "body", "in": "body", "required": true,
                                "schema": {"$ref": "#/definitions/RangeRequest"}}],
                "responses": {"200": {"description": "A successful response.",
                                      "schema": {"$ref": "#/definitions/RangeResponse"}}},
                "tags": ["KV"],
            }}},
            "definitions": {"RangeRequest": {"type": "object"}, "RangeResponse": {
                "type": "object", "properties": {"kvs": {"type": "array",
                "items": {"$ref": "#/definitions/KeyValue"}}}}},
            "securityDefinitions": {"ApiKey": {"type": "apiKey", "name": "Authorization", "in": "header"}},
        });
        let options = OpenApiOptions {
            title: "t".into(),
            version: "1".into(),
            description: "d".into(),
            path_prefix: "/v3".into(),
            servers: vec![("/v3".into(), "current".into())],
        };
        let streaming = BTreeMap::from([("KV_Range".to_owned(), Streaming::Unary)]);
        let doc = convert_documents(&[swagger], &streaming, &options).unwrap();
        let op = &doc["paths"]["/kv/range"]["post"];
        assert_eq!(op["operationId"], "KV_Range");
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/RangeRequest"
        );
        assert_eq!(
            doc["components"]["schemas"]["RangeResponse"]["properties"]["kvs"]["items"]["$ref"],
            "#/components/schemas/KeyValue"
        );
        assert_eq!(doc["security"], json!([{"ApiKey": []}, {}]));
        assert_eq!(doc["servers"][0]["url"], "/v3");
    }
}
