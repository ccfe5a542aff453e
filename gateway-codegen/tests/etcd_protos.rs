//! The generator on etcd's own protos (the repository's `proto/` tree).

use std::path::PathBuf;

use gateway_codegen::{
    Generator,
    model::{Streaming, Verb},
};

/// etcd's API protos, from the repository's manifest.
fn etcd_protos() -> Vec<String> {
    gateway_codegen::manifest::parse(include_str!("../../proto/etcd-api-protos.txt"))
}

fn proto_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto")
}

fn model() -> Vec<gateway_codegen::model::Service> {
    let files = etcd_protos();
    let descriptors = gateway_codegen::load::load(&[proto_root()], &files).unwrap();
    gateway_codegen::model::model(&descriptors.pool, &files).unwrap()
}

#[test]
fn model_has_every_method_and_binding() {
    let api = model();
    let methods: usize = api.iter().map(|s| s.methods.len()).sum();
    assert_eq!(methods, 49);
    let count = |file: &str| -> usize {
        api.iter()
            .filter(|s| s.file.ends_with(file))
            .flat_map(|s| &s.methods)
            .map(|m| m.bindings.len())
            .sum()
    };
    assert_eq!(count("rpc.proto"), 44);
    assert_eq!(count("v3election.proto"), 5);
    assert_eq!(count("v3lock.proto"), 2);
    let services: Vec<String> = api
        .iter()
        .map(|s| format!("{}.{}", s.package, s.name))
        .collect();
    assert_eq!(
        services,
        [
            "etcdserverpb.KV",
            "etcdserverpb.Watch",
            "etcdserverpb.Lease",
            "etcdserverpb.Cluster",
            "etcdserverpb.Maintenance",
            "etcdserverpb.Auth",
            "v3electionpb.Election",
            "v3lockpb.Lock",
        ]
    );
}

#[test]
fn range_stream_has_no_binding_and_revoke_has_an_additional_one() {
    let api = model();
    let method = |svc: &str, name: &str| {
        api.iter()
            .find(|s| s.name == svc)
            .and_then(|s| s.methods.iter().find(|m| m.name == name))
            .cloned()
            .unwrap()
    };
    let range_stream = method("KV", "RangeStream");
    assert!(range_stream.bindings.is_empty());
    assert_eq!(range_stream.streaming, Streaming::Server);

    let revoke = method("Lease", "LeaseRevoke");
    let paths: Vec<&str> = revoke.bindings.iter().map(|b| b.path.as_str()).collect();
    assert_eq!(paths, ["/v3/lease/revoke", "/v3/kv/lease/revoke"]);
    assert!(revoke.bindings.iter().all(|b| b.verb == Verb::Post));

    let watch = method("Watch", "Watch");
    assert_eq!(watch.streaming, Streaming::Bidi);
    assert_eq!(watch.input, "etcdserverpb.WatchRequest");
    assert_eq!(watch.bindings[0].path, "/v3/watch");
}

#[test]
fn generation_is_deterministic_and_marked() {
    let generator = Generator::new(proto_root()).files(etcd_protos());
    let first = generator.generate().unwrap();
    let second = generator.generate().unwrap();
    assert_eq!(first.files, second.files);
    let names: Vec<&str> = first.files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "authpb.rs",
            "authpb.serde.rs",
            "etcdserverpb.rs",
            "etcdserverpb.serde.rs",
            "mod.rs",
            "mvccpb.rs",
            "mvccpb.serde.rs",
            "routes.rs",
            "v3electionpb.rs",
            "v3electionpb.serde.rs",
            "v3lockpb.rs",
            "v3lockpb.serde.rs",
        ]
    );
    for (name, content) in &first.files {
        assert!(
            content.starts_with(gateway_codegen::HEADER),
            "{name} lacks the header"
        );
    }
    let routes = &first.files["routes.rs"];
    assert_eq!(routes.matches(".unary(").count(), 47);
    assert_eq!(routes.matches(".server_streaming(").count(), 2);
    assert_eq!(routes.matches(".bidi_streaming(").count(), 2);
    assert!(!routes.contains(".unimplemented_stream("));
    assert!(routes.contains("`POST /v3/kv/lease/timetolive`"));
    assert!(routes.contains(".lease_time_to_live(request)"));
    assert_eq!(routes.matches("impl ServiceClient").count(), 8);
    assert!(!routes.contains("usize::MAX"));
    assert!(!routes.contains("{v0}"));
}

#[test]
fn unsupported_binding_form_fails_naming_method_and_form() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unsupported");
    // The fixture imports google/api from the etcd include tree.
    let err = gateway_codegen::load::load(&[fixtures, proto_root()], &["shelf.proto".to_owned()])
        .and_then(|d| gateway_codegen::model::model(&d.pool, &["shelf.proto".to_owned()]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("shelf.Shelves.GetShelf"), "{err}");
    assert!(err.contains("custom"), "{err}");
}

/// Generates the fixture `file` of `tests/fixtures/unsupported`, returning the error.
fn unsupported_fixture_error(file: &str) -> String {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unsupported");
    Generator::new(fixtures)
        .include(proto_root())
        .file(file)
        .generate()
        .unwrap_err()
        .to_string()
}

#[test]
fn streaming_over_a_general_binding_fails_naming_method_and_form() {
    let err = unsupported_fixture_error("streams.proto");
    assert!(err.contains("streams.Shelves/WatchShelf"), "{err}");
    assert!(err.contains("GET /v1/{name=shelves/*}:watch"), "{err}");
    assert!(err.contains("streaming"), "{err}");
}

#[test]
fn map_fields_are_query_parameters_with_keys() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/maps");
    let output = Generator::new(fixtures)
        .include(proto_root())
        .file("labels.proto")
        .generate()
        .unwrap();
    let routes = output.files["routes.rs"]
        .split_whitespace()
        .collect::<String>();
    let want = r#"query_fields:&[QueryField{path:"labels",json_path:"labels",kind:FieldKind::Text,cardinality:Cardinality::Map,},]"#;
    assert!(routes.contains(want), "{routes}");
    let swagger = &output.swagger["labels.swagger.json"];
    assert!(swagger.contains(r#""name": "labels[string]""#), "{swagger}");
}
