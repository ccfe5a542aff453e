//! The generator's output for every `google.api.http` form, compiled and served: the routes
//! generated from `tests/fixtures/bookstore/bookstore.proto` (checked in under
//! `tests/bookstore/generated/`, rewritten by `cargo xtask regenerate`) in front of an
//! in-process gRPC server.

#[rustfmt::skip]
#[path = "bookstore/generated/mod.rs"]
mod generated;

use axum::body::Body;
use gateway_runtime::GatewayRouter;
use generated::bookstore::{
    Book, CreateShelfRequest, DeleteShelfRequest, GetShelfRequest, ListBooksRequest,
    ListBooksResponse, ListShelvesRequest, ListShelvesResponse, MergeShelvesRequest, Shelf,
    UpdateBookRequest,
    bookstore_server::{Bookstore, BookstoreServer},
};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tonic::{Response, Status};
use tower::ServiceExt;

/// Answers with what it was asked, so the tests see how the gateway built each request.
struct Echo;

#[tonic::async_trait]
impl Bookstore for Echo {
    async fn list_shelves(
        &self,
        request: tonic::Request<ListShelvesRequest>,
    ) -> Result<Response<ListShelvesResponse>, Status> {
        let request = request.into_inner();
        let name = format!("size={} token={}", request.page_size, request.page_token);
        Ok(Response::new(ListShelvesResponse {
            shelves: vec![Shelf {
                name,
                ..Default::default()
            }],
            next_page_token: "not in the body".into(),
        }))
    }

    async fn create_shelf(
        &self,
        request: tonic::Request<CreateShelfRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let request = request.into_inner();
        let mut shelf = request.shelf.unwrap_or_default();
        shelf.name = format!("shelves/{}", request.request_id);
        Ok(Response::new(shelf))
    }

    async fn get_shelf(
        &self,
        request: tonic::Request<GetShelfRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let name = request.into_inner().name;
        if name == "shelves/missing" {
            return Err(Status::not_found(format!("{name} does not exist")));
        }
        Ok(Response::new(Shelf {
            name,
            ..Default::default()
        }))
    }

    async fn delete_shelf(
        &self,
        request: tonic::Request<DeleteShelfRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let request = request.into_inner();
        Ok(Response::new(Shelf {
            name: request.name,
            theme: format!("force={}", request.force),
            book_count: 0,
        }))
    }

    async fn merge_shelves(
        &self,
        request: tonic::Request<MergeShelvesRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let request = request.into_inner();
        Ok(Response::new(Shelf {
            name: request.name,
            theme: format!("merged {}", request.other_shelf),
            book_count: 2,
        }))
    }

    async fn list_books(
        &self,
        request: tonic::Request<ListBooksRequest>,
    ) -> Result<Response<ListBooksResponse>, Status> {
        let request = request.into_inner();
        let filter = request.filter.unwrap_or_default();
        Ok(Response::new(ListBooksResponse {
            books: vec![Book {
                name: request.parent,
                author: request.authors.join(","),
                title: filter.title_contains,
                genre: request.genre,
                published_year: filter.published_after,
                ..Default::default()
            }],
            next_page_token: format!("size={}", request.page_size),
        }))
    }

    async fn update_book(
        &self,
        request: tonic::Request<UpdateBookRequest>,
    ) -> Result<Response<Book>, Status> {
        let request = request.into_inner();
        let mut book = request.book.unwrap_or_default();
        book.title = format!("{} [{}]", book.title, request.update_mask.join(","));
        Ok(Response::new(book))
    }
}

fn app() -> axum::Router {
    let transport = gateway_runtime::transport(BookstoreServer::new(Echo));
    generated::routes::register(GatewayRouter::new(transport)).into_router()
}

async fn call(method: Method, uri: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
        panic!(
            "{uri}: not JSON ({err}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

#[tokio::test]
async fn get_with_query_parameters_and_response_body() {
    let (status, body) = call(
        Method::GET,
        "/v1/shelves?pageSize=5&page_token=abc&unknown=1",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // `response_body: "shelves"`: the body is the list alone.
    assert_eq!(body, json!([{"name": "size=5 token=abc"}]));
}

#[tokio::test]
async fn post_with_a_body_field_and_query_parameters() {
    let (status, body) = call(
        Method::POST,
        "/v1/shelves?request_id=r1",
        r#"{"theme":"poetry","bookCount":3}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"name": "shelves/r1", "theme": "poetry", "book_count": 3})
    );
}

#[tokio::test]
async fn path_variables_with_patterns() {
    let (status, body) = call(Method::GET, "/v1/shelves/s1", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"name": "shelves/s1"}));

    let (status, body) = call(Method::DELETE, "/v1/shelves/s2?force=true", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"name": "shelves/s2", "theme": "force=true"}));

    let (status, body) = call(Method::GET, "/v1/shelves/missing", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": "shelves/missing does not exist", "code": 5, "message": "shelves/missing does not exist"})
    );
}

#[tokio::test]
async fn custom_verb_after_a_variable() {
    let (status, body) = call(
        Method::POST,
        "/v1/shelves/s1:merge",
        r#"{"other_shelf":"shelves/s9"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"name": "shelves/s1", "theme": "merged shelves/s9", "book_count": 2})
    );

    // The same path without the verb is no route for POST.
    let (status, body) = call(Method::POST, "/v1/shelves/s1", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": "Not Found", "code": 5, "message": "Not Found"})
    );
}

#[tokio::test]
async fn repeated_enum_and_nested_query_parameters() {
    let uri = "/v1/shelves/s1/books?authors=ann&authors=bob&genre=FICTION&filter.titleContains=sea&filter.published_after=1900&page_size=7";
    let (status, body) = call(Method::GET, uri, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "books": [{"name": "shelves/s1", "author": "ann,bob", "title": "sea", "genre": "FICTION", "published_year": "1900"}],
            "next_page_token": "size=7"
        })
    );

    let (status, body) = call(Method::GET, "/v1/shelves/s1/books?page_size=many", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 3);
    assert!(
        body["message"].as_str().unwrap().contains("page_size"),
        "{body}"
    );
}

#[tokio::test]
async fn body_field_with_a_nested_path_variable_and_an_additional_binding() {
    for method in [Method::PATCH, Method::PUT] {
        let (status, body) = call(
            method.clone(),
            "/v1/shelves/s1/books/b2?update_mask=title&updateMask=author",
            r#"{"title":"Dune","author":"Herbert","name":"ignored"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{method}");
        assert_eq!(
            body,
            json!({"name": "shelves/s1/books/b2", "author": "Herbert", "title": "Dune [title,author]"}),
            "{method}"
        );
    }
}

#[tokio::test]
async fn wrong_method_and_bad_booleans_are_json_errors() {
    let (status, body) = call(Method::PATCH, "/v1/shelves", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        body,
        json!({"error": "Method Not Allowed", "code": 12, "message": "Method Not Allowed"})
    );

    let (status, body) = call(Method::DELETE, "/v1/shelves/s2?force=maybe", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({
            "error": "invalid query parameter force=maybe: expected true or false",
            "code": 3,
            "message": "invalid query parameter force=maybe: expected true or false"
        })
    );
}
