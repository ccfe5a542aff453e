//! The swagger emitter: etcd's published documents, and the binding forms etcd does not use.

use std::{collections::BTreeMap, path::PathBuf};

use gateway_codegen::{load, manifest, model, swagger};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// SHA-256 of etcd's published swagger documents: etcd main's
/// `Documentation/dev-guide/apispec/swagger/`, generated from the same protos as the crates.io
/// package `etcd-client` 0.21.1 (the source of `proto/`).
const PUBLISHED_DIGESTS: &[(&str, &str)] = &[
    (
        "rpc.swagger.json",
        "132c0e41f061dcb74faac985d5abec4fb81bc198fbed5c53560762459c874363",
    ),
    (
        "v3election.swagger.json",
        "22fbaaee5d6d988995b0a02a65b8366b7c528d195a63b7a7f767015391b0201a",
    ),
    (
        "v3lock.swagger.json",
        "46e8e8d150871f35df9eb5e1b8131cf44b2397c735d139fd99dd37c7885fdaa0",
    ),
];

/// A local copy of etcd's published documents (beside the workspace), used only to name the
/// first difference when a digest does not match.
const REFERENCE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/reference/swagger/etcd-main/"
);

fn proto_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto")
}

fn generate(includes: &[PathBuf], files: &[String]) -> BTreeMap<String, String> {
    let descriptors = load::load(includes, files).unwrap();
    let api = model::model(&descriptors.pool, files).unwrap();
    swagger::emit(&descriptors, &api).unwrap()
}

fn etcd_documents() -> BTreeMap<String, String> {
    let files = manifest::parse(include_str!("../../proto/etcd-api-protos.txt"));
    generate(&[proto_root()], &files)
}

/// etcd's published document `name`, when a local copy exists.
fn reference(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("{REFERENCE_DIR}{name}")).ok()
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The first difference between two JSON values, with its JSON path, or `None`.
fn first_difference(path: &str, ours: &Value, theirs: &Value) -> Option<String> {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}/{key}");
                match b.get(key) {
                    None => return Some(format!("{here}: unexpected (ours: {value})")),
                    Some(other) => {
                        if let Some(diff) = first_difference(&here, value, other) {
                            return Some(diff);
                        }
                    }
                }
            }
            b.iter()
                .find(|(key, _)| !a.contains_key(*key))
                .map(|(key, value)| format!("{path}/{key}: missing (reference: {value})"))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                if let Some(diff) = first_difference(&format!("{path}/{index}"), x, y) {
                    return Some(diff);
                }
            }
            (a.len() != b.len())
                .then(|| format!("{path}: {} items, reference has {}", a.len(), b.len()))
        }
        _ => (ours != theirs).then(|| format!("{path}: ours {ours}, reference {theirs}")),
    }
}

fn keys(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn etcd_documents_equal_the_published_ones() {
    let documents = etcd_documents();
    let names: Vec<&str> = documents.keys().map(String::as_str).collect();
    let published: Vec<&str> = PUBLISHED_DIGESTS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, published);
    for (name, digest) in PUBLISHED_DIGESTS {
        let ours = &documents[*name];
        assert!(ours.ends_with("}\n"), "{name}: trailing newline");
        if sha256(ours) == *digest {
            continue;
        }
        let Some(theirs) = reference(name) else {
            panic!(
                "{name}: SHA-256 {} differs from the published {digest} (put etcd's documents \
                 in {REFERENCE_DIR} to see where)",
                sha256(ours)
            );
        };
        if let Some(diff) = first_difference("", &parse(ours), &parse(&theirs)) {
            panic!("{name} differs at {diff}");
        }
        let (ours_keys, theirs_keys) = (parse(ours), parse(&theirs));
        for key in ["", "paths", "definitions"] {
            let pick = |value: &Value| match key {
                "" => keys(value),
                key => keys(&value[key]),
            };
            assert_eq!(
                pick(&ours_keys),
                pick(&theirs_keys),
                "{name}: order of {key:?} keys"
            );
        }
        if let Some((line, (a, b))) = ours
            .lines()
            .zip(theirs.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!("{name} line {}: ours {a:?}, reference {b:?}", line + 1);
        }
        panic!("{name}: SHA-256 differs from the published {digest}");
    }
}

fn bookstore() -> Value {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bookstore");
    let documents = generate(&[fixture, proto_root()], &["bookstore.proto".to_owned()]);
    let names: Vec<&str> = documents.keys().map(String::as_str).collect();
    assert_eq!(names, ["bookstore.swagger.json"]);
    parse(&documents["bookstore.swagger.json"])
}

/// Asserts `ours` equals `expected`, naming the first difference.
fn assert_json(what: &str, ours: &Value, expected: Value) {
    if let Some(diff) = first_difference("", ours, &expected) {
        panic!("{what} differs at {diff}\nours: {ours:#}");
    }
}

/// The standard error response every operation has.
fn default_response() -> Value {
    json!({
        "description": "An unexpected error response.",
        "schema": {"$ref": "#/definitions/rpcStatus"}
    })
}

fn shelf_response() -> Value {
    json!({
        "200": {
            "description": "A successful response.",
            "schema": {"$ref": "#/definitions/bookstoreShelf"}
        },
        "default": default_response()
    })
}

#[test]
fn bookstore_paths_and_verbs() {
    let document = bookstore();
    let verbs: Vec<(String, Vec<String>)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| (path.clone(), keys(item)))
        .collect();
    let expected = [
        ("/v1/shelves", vec!["get", "post"]),
        ("/v1/{book.name}", vec!["put", "patch"]),
        ("/v1/{name}", vec!["get", "delete"]),
        ("/v1/{name}:merge", vec!["post"]),
        ("/v1/{parent}/books", vec!["get"]),
    ];
    let expected: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(path, verbs)| {
            (
                path.to_string(),
                verbs.iter().map(|v| v.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(verbs, expected);
    assert_eq!(
        keys(&document["definitions"]),
        [
            "BookstoreMergeShelvesBody",
            "bookstoreBook",
            "bookstoreBookFilter",
            "bookstoreGenre",
            "bookstoreListBooksResponse",
            "bookstoreListShelvesResponse",
            "bookstoreShelf",
            "protobufAny",
            "rpcStatus",
        ]
    );
    assert_json(
        "info",
        &document["info"],
        json!({
            "title": "bookstore.proto",
            "description": "A small bookstore: shelves that hold books.",
            "version": "version not set"
        }),
    );
    assert_json(
        "tags",
        &document["tags"],
        json!([{"name": "Bookstore", "description": "Bookstore manages shelves and the books on them."}]),
    );
}

#[test]
fn bookstore_get_without_body_takes_query_parameters_and_response_body() {
    let document = bookstore();
    assert_json(
        "GET /v1/shelves",
        &document["paths"]["/v1/shelves"]["get"],
        json!({
            "summary": "Lists the shelves.",
            "operationId": "Bookstore_ListShelves",
            "responses": {
                "200": {
                    "description": "The shelves, oldest first.",
                    "schema": {
                        "type": "array",
                        "items": {"type": "object", "$ref": "#/definitions/bookstoreShelf"}
                    }
                },
                "default": default_response()
            },
            "parameters": [
                {
                    "name": "page_size",
                    "description": "Maximum number of shelves to return.",
                    "in": "query",
                    "required": false,
                    "type": "integer",
                    "format": "int32"
                },
                {
                    "name": "page_token",
                    "description": "Page to return, from a previous response's `next_page_token`.",
                    "in": "query",
                    "required": false,
                    "type": "string"
                }
            ],
            "tags": ["Bookstore"]
        }),
    );
}

#[test]
fn bookstore_body_field_is_the_body_and_the_rest_is_query() {
    let document = bookstore();
    assert_json(
        "POST /v1/shelves",
        &document["paths"]["/v1/shelves"]["post"],
        json!({
            "summary": "Creates a shelf.",
            "operationId": "Bookstore_CreateShelf",
            "responses": shelf_response(),
            "parameters": [
                {
                    "name": "shelf",
                    "description": "The shelf to create.",
                    "in": "body",
                    "required": true,
                    "schema": {"$ref": "#/definitions/bookstoreShelf"}
                },
                {
                    "name": "request_id",
                    "description": "Makes retries idempotent",
                    "in": "query",
                    "required": false,
                    "type": "string"
                }
            ],
            "tags": ["Bookstore"]
        }),
    );
}

#[test]
fn bookstore_path_variables_become_typed_path_parameters() {
    let document = bookstore();
    let name = json!({
        "name": "name",
        "description": "Name of the shelf.",
        "in": "path",
        "required": true,
        "type": "string",
        "pattern": "shelves/[^/]+"
    });
    assert_json(
        "GET /v1/{name}",
        &document["paths"]["/v1/{name}"]["get"],
        json!({
            "summary": "Gets a shelf.",
            "description": "Fails with NOT_FOUND when there is no such shelf.",
            "operationId": "Bookstore_GetShelf",
            "responses": shelf_response(),
            "parameters": [name],
            "tags": ["Bookstore"]
        }),
    );
    assert_json(
        "DELETE /v1/{name}",
        &document["paths"]["/v1/{name}"]["delete"],
        json!({
            "summary": "Deletes a shelf and returns it.",
            "operationId": "Bookstore_DeleteShelf",
            "responses": shelf_response(),
            "parameters": [
                name,
                {
                    "name": "force",
                    "description": "Also delete a shelf that still holds books.",
                    "in": "query",
                    "required": false,
                    "type": "boolean"
                }
            ],
            "tags": ["Bookstore"]
        }),
    );
}

#[test]
fn bookstore_query_parameters_cover_repeated_enum_and_nested_fields() {
    let document = bookstore();
    assert_json(
        "GET /v1/{parent}/books parameters",
        &document["paths"]["/v1/{parent}/books"]["get"]["parameters"],
        json!([
            {
                "name": "parent",
                "description": "The shelf, `shelves/{shelf}`.",
                "in": "path",
                "required": true,
                "type": "string",
                "pattern": "shelves/[^/]+"
            },
            {
                "name": "page_size",
                "description": "Maximum number of books to return.",
                "in": "query",
                "required": false,
                "type": "integer",
                "format": "int32"
            },
            {
                "name": "page_token",
                "description": "Page to return, from a previous response's `next_page_token`.",
                "in": "query",
                "required": false,
                "type": "string"
            },
            {
                "name": "authors",
                "description": "Only books by one of these authors.",
                "in": "query",
                "required": false,
                "type": "array",
                "items": {"type": "string"},
                "collectionFormat": "multi"
            },
            {
                "name": "genre",
                "description": "Only books of this genre.\n\n - GENRE_UNSPECIFIED: Not known.\n - FICTION: Invented stories.\n - NON_FICTION: Facts.",
                "in": "query",
                "required": false,
                "type": "string",
                "enum": ["GENRE_UNSPECIFIED", "FICTION", "NON_FICTION"],
                "default": "GENRE_UNSPECIFIED"
            },
            {
                "name": "filter.title_contains",
                "description": "Text the title contains.",
                "in": "query",
                "required": false,
                "type": "string"
            },
            {
                "name": "filter.published_after",
                "description": "Earliest year of first publication.",
                "in": "query",
                "required": false,
                "type": "string",
                "format": "int64"
            }
        ]),
    );
}

#[test]
fn bookstore_body_field_with_a_nested_path_variable_is_inlined_without_it() {
    let document = bookstore();
    let item = &document["paths"]["/v1/{book.name}"];
    assert_eq!(item["patch"]["operationId"], "Bookstore_UpdateBook");
    assert_eq!(item["put"]["operationId"], "Bookstore_UpdateBook2");
    assert_eq!(item["patch"]["parameters"], item["put"]["parameters"]);
    assert_json(
        "PATCH /v1/{book.name} parameters",
        &item["patch"]["parameters"],
        json!([
            {
                "name": "book.name",
                "description": "Resource name, `shelves/{shelf}/books/{book}`.",
                "in": "path",
                "required": true,
                "type": "string",
                "pattern": "shelves/[^/]+/books/[^/]+"
            },
            {
                "name": "book",
                "description": "The new book; its name selects the book to update",
                "in": "body",
                "required": true,
                "schema": {
                    "type": "object",
                    "properties": {
                        "author": {"type": "string", "title": "The author's name"},
                        "title": {"type": "string", "description": "Title of the book."},
                        "genre": {"$ref": "#/definitions/bookstoreGenre"},
                        "published_year": {
                            "type": "string",
                            "format": "int64",
                            "description": "Year of first publication."
                        },
                        "labels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "Free-form labels."
                        }
                    },
                    "title": "The new book; its name selects the book to update"
                }
            },
            {
                "name": "update_mask",
                "description": "Fields of `book` to update; all when empty.",
                "in": "query",
                "required": false,
                "type": "array",
                "items": {"type": "string"},
                "collectionFormat": "multi"
            }
        ]),
    );
}

#[test]
fn bookstore_whole_body_with_path_variables_gets_a_body_definition() {
    let document = bookstore();
    assert_json(
        "POST /v1/{name}:merge",
        &document["paths"]["/v1/{name}:merge"]["post"],
        json!({
            "summary": "Moves the books of another shelf to this one and deletes the other shelf.",
            "operationId": "Bookstore_MergeShelves",
            "responses": shelf_response(),
            "parameters": [
                {
                    "name": "name",
                    "description": "Name of the shelf that receives the books.",
                    "in": "path",
                    "required": true,
                    "type": "string",
                    "pattern": "shelves/[^/]+"
                },
                {
                    "name": "body",
                    "in": "body",
                    "required": true,
                    "schema": {"$ref": "#/definitions/BookstoreMergeShelvesBody"}
                }
            ],
            "tags": ["Bookstore"]
        }),
    );
    assert_json(
        "BookstoreMergeShelvesBody",
        &document["definitions"]["BookstoreMergeShelvesBody"],
        json!({
            "type": "object",
            "properties": {
                "other_shelf": {
                    "type": "string",
                    "description": "Name of the shelf whose books move; it is deleted."
                }
            }
        }),
    );
}

#[test]
fn bookstore_definitions_carry_comments_enums_and_maps() {
    let document = bookstore();
    let definitions = &document["definitions"];
    assert_json(
        "bookstoreShelf",
        &definitions["bookstoreShelf"],
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Resource name, `shelves/{shelf}`."},
                "theme": {"type": "string", "title": "What the books on the shelf have in common"},
                "book_count": {
                    "type": "integer",
                    "format": "int32",
                    "description": "Number of books on the shelf. Output only.",
                    "readOnly": true
                }
            },
            "description": "A shelf."
        }),
    );
    assert_json(
        "bookstoreGenre",
        &definitions["bookstoreGenre"],
        json!({
            "type": "string",
            "enum": ["GENRE_UNSPECIFIED", "FICTION", "NON_FICTION"],
            "default": "GENRE_UNSPECIFIED",
            "description": "Literary genre.\n\n - GENRE_UNSPECIFIED: Not known.\n - FICTION: Invented stories.\n - NON_FICTION: Facts."
        }),
    );
    assert_json(
        "bookstoreBook labels",
        &definitions["bookstoreBook"]["properties"]["labels"],
        json!({
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Free-form labels."
        }),
    );
}

/// Every `$ref` in `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => references(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, out)),
        _ => {}
    }
}

#[test]
fn documents_are_self_consistent() {
    let mut documents: Vec<(String, Value)> = etcd_documents()
        .into_iter()
        .map(|(name, text)| (name, parse(&text)))
        .collect();
    documents.push(("bookstore.swagger.json".to_owned(), bookstore()));
    for (name, document) in &documents {
        let mut targets = Vec::new();
        references(document, &mut targets);
        for target in targets {
            let definition = target.strip_prefix("#/definitions/").unwrap();
            assert!(
                document["definitions"].get(definition).is_some(),
                "{name}: dangling {target}"
            );
        }
        let mut ids = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for operation in item.as_object().unwrap().values() {
                ids.push(operation["operationId"].as_str().unwrap().to_owned());
                let mut declared: Vec<&str> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                let mut used: Vec<&str> = path
                    .split('{')
                    .skip(1)
                    .map(|rest| rest.split('}').next().unwrap())
                    .collect();
                declared.sort();
                used.sort();
                assert_eq!(declared, used, "{name}: path parameters of {path}");
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "{name}: operationIds are unique");
    }
}
