//! Message types, tonic clients and servers, via prost-build and tonic-prost-build.

use std::{cell::RefCell, collections::BTreeMap, rc::Rc};

use anyhow::{Context, Result};
use prost_build::{Module, Service, ServiceGenerator};
use prost_types::FileDescriptorSet;

/// Rust code per proto package, plus the services as prost named them.
pub struct Messages {
    /// `package → code` (message types, clients, servers).
    pub packages: BTreeMap<String, String>,
    /// Services with prost's Rust identifiers, in generation order.
    pub services: Vec<Service>,
}

/// Generates Rust for the files of `set` whose package is in `packages`.
pub fn emit(set: &FileDescriptorSet, packages: &[String]) -> Result<Messages> {
    let recorded = Rc::new(RefCell::new(Vec::new()));
    let tonic = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .service_generator();
    let mut config = prost_build::Config::new();
    config.service_generator(Box::new(Recorder {
        inner: tonic,
        services: Rc::clone(&recorded),
    }));
    let requests = set
        .file
        .iter()
        .filter(|file| packages.iter().any(|p| p == file.package()))
        .map(|file| {
            (
                Module::from_protobuf_package_name(file.package()),
                file.clone(),
            )
        })
        .collect();
    let modules = config
        .generate(requests)
        .context("generating message types and services")?;
    let packages = modules
        .into_iter()
        .map(|(module, code)| {
            (
                module
                    .to_file_name_or("_")
                    .trim_end_matches(".rs")
                    .to_owned(),
                code,
            )
        })
        .collect();
    drop(config);
    let services = Rc::try_unwrap(recorded)
        .map(RefCell::into_inner)
        .unwrap_or_else(|shared| shared.borrow().clone());
    Ok(Messages { packages, services })
}

/// Records every service with prost's Rust names, then lets tonic generate it.
struct Recorder {
    inner: Box<dyn ServiceGenerator>,
    services: Rc<RefCell<Vec<Service>>>,
}

impl ServiceGenerator for Recorder {
    fn generate(&mut self, service: Service, buf: &mut String) {
        self.services.borrow_mut().push(service.clone());
        self.inner.generate(service, buf);
    }

    fn finalize(&mut self, buf: &mut String) {
        self.inner.finalize(buf);
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        self.inner.finalize_package(package, buf);
    }
}
