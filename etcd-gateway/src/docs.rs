//! The API documents and a page that renders them: `GET /openapi.json` (OpenAPI 3.1, what this
//! gateway serves), `GET /swagger.json` (Swagger 2.0: etcd's three documents merged into one),
//! `GET /swagger/<file>` (each document as etcd publishes it) and `GET /docs`.
//!
//! Everything is embedded at build time from `api/` (written by `cargo xtask regenerate`), so
//! the page works offline.

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use gateway_runtime::GatewayState;

const OPENAPI: &str = include_str!("../api/openapi.json");
const SWAGGER: &str = include_str!("../api/swagger.json");
const PER_FILE: &[(&str, &str)] = &[
    ("rpc.swagger.json", include_str!("../api/rpc.swagger.json")),
    (
        "v3election.swagger.json",
        include_str!("../api/v3election.swagger.json"),
    ),
    (
        "v3lock.swagger.json",
        include_str!("../api/v3lock.swagger.json"),
    ),
];
const PAGE: &str = include_str!("docs/index.html");

/// The routes: `(path, handler)`.
pub fn routes() -> Vec<(&'static str, MethodRouter<GatewayState>)> {
    vec![
        ("/openapi.json", get(|| async { json(OPENAPI) })),
        ("/swagger.json", get(|| async { json(SWAGGER) })),
        ("/swagger/{file}", get(per_file)),
        ("/docs", get(|| async { page() })),
    ]
}

async fn per_file(Path(file): Path<String>) -> Response {
    match PER_FILE.iter().find(|(name, _)| *name == file) {
        Some((_, document)) => json(document),
        None => gateway_runtime::error::not_found(),
    }
}

fn json(document: &'static str) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document,
    )
        .into_response()
}

fn page() -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        PAGE,
    )
        .into_response()
}
