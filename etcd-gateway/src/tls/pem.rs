//! Certificates and keys read from PEM files, with errors that name the flag and the file.

use std::path::Path;

use anyhow::{Context, Result, bail};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The raw bytes of the file given to `flag`.
pub fn read(flag: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))
}

/// Every certificate of the PEM file given to `flag` (at least one).
pub fn certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = read(flag, path)?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag} {}: malformed PEM", path.display()))?;
    if certificates.is_empty() {
        bail!(
            "{flag} {}: expected a PEM certificate (-----BEGIN CERTIFICATE-----), found none",
            path.display()
        );
    }
    Ok(certificates)
}

/// The private key of the PEM file given to `flag` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(flag: &str, path: &Path) -> Result<PrivateKeyDer<'static>> {
    let bytes = read(flag, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).with_context(|| {
        format!(
            "{flag} {}: expected a PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC), \
             found none",
            path.display()
        )
    })
}
