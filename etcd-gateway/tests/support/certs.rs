//! Throw-away certificates for the TLS suites, generated per test (rcgen) into a temp
//! directory: CAs, server certificates for `127.0.0.1`/`localhost`, client certificates.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use tempfile::TempDir;

/// A certificate authority that signs the certificates of a test.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
    /// The CA certificate, DER.
    pub der: Vec<u8>,
}

/// A certificate and its private key.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
    /// The certificate, DER (what a TLS peer presents).
    pub der: Vec<u8>,
}

/// Validity of a leaf certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// 2020 to 2100.
    Current,
    /// 2001 to 2002.
    Expired,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-sign CA");
        Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost` (also usable as a client one).
    pub fn server(&self, common_name: &str, serial: u64) -> Leaf {
        self.leaf(common_name, serial, Validity::Current)
    }

    /// A client certificate (also usable as a server one).
    pub fn client(&self, common_name: &str, validity: Validity) -> Leaf {
        self.leaf(common_name, 1000, validity)
    }

    fn leaf(&self, common_name: &str, serial: u64, validity: Validity) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.serial_number = Some(SerialNumber::from(serial));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let (not_before, not_after) = match validity {
            Validity::Current => ((2020, 1, 1), (2100, 1, 1)),
            Validity::Expired => ((2001, 1, 1), (2002, 1, 1)),
        };
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// A temp directory for certificate files (and whatever else a test keeps next to them).
pub struct CertDir {
    dir: TempDir,
}

impl CertDir {
    pub fn new() -> CertDir {
        CertDir {
            dir: tempfile::Builder::new()
                .prefix("etcd-gw-test-tls-")
                .tempdir()
                .expect("create temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `<dir>/<name>` atomically (write, then rename), returns the path
    /// as a string for command lines.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        let staging = self.dir.path().join(format!(".{name}.new"));
        std::fs::write(&staging, contents).expect("write certificate file");
        std::fs::rename(&staging, &path).expect("rename certificate file");
        path_string(path)
    }

    /// Writes a CA certificate as `<name>.pem`.
    pub fn write_ca(&self, name: &str, ca: &Ca) -> String {
        self.write(&format!("{name}.pem"), &ca.pem)
    }

    /// Writes a leaf as `<name>.pem` and `<name>-key.pem`; returns (cert path, key path).
    pub fn write_leaf(&self, name: &str, leaf: &Leaf) -> (String, String) {
        (
            self.write(&format!("{name}.pem"), &leaf.cert_pem),
            self.write(&format!("{name}-key.pem"), &leaf.key_pem),
        )
    }
}

fn path_string(path: PathBuf) -> String {
    path.to_str().expect("UTF-8 temp path").to_owned()
}
