//! Two fresh etcd servers of one version for differential stream tests: etcd's gateway on
//! one, ours on the other (or ours on its embedded store instead of the second server).

use std::time::Duration;

use serde_json::Value;

use super::etcd::{Etcd, EtcdVersion};
use super::gateway::{Gateway, Mode, Store, Target};
use super::http;
use super::http_stream::{Stream, assert_stream_head, parse};
use super::json::{Masker, diff};

/// Flag that makes etcd send progress notifications every second.
pub const PROGRESS_NOTIFY_1S: [&str; 2] = ["--experimental-watch-progress-notify-interval", "1s"];

/// One side of a differential stream test.
pub struct Side {
    pub label: &'static str,
    /// Where stream requests go: etcd's own gateway (A) or the gateway under test (B).
    pub addr: String,
    /// The server behind this side.
    pub etcd: Store,
    pub masker: Masker,
    /// The member's cluster and member IDs as etcd prints them.
    pub cluster_id: String,
    pub member_id: String,
}

impl Side {
    async fn new(label: &'static str, addr: String, etcd: Store) -> Side {
        let mut masker = Masker::new();
        let reply = http::post(&etcd.addr(), "/v3/cluster/member/list", "{}").await;
        let list = reply.expect_json();
        let id = list["members"][0]["ID"]
            .as_str()
            .unwrap_or_else(|| panic!("member list without ID: {list}"))
            .to_owned();
        let cluster_id = list["header"]["cluster_id"]
            .as_str()
            .unwrap_or_else(|| panic!("member list without cluster_id: {list}"))
            .to_owned();
        masker.seed_id(&id, "<member g1>");
        match &etcd {
            Store::Etcd(etcd) => {
                masker.port(etcd.client_port, "client");
                masker.port(etcd.peer_port, "peer");
            }
            Store::Embedded { addr } => {
                let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
                masker.port(port.expect("port in the gateway address"), "client");
            }
        }
        Side {
            label,
            addr,
            etcd,
            masker,
            cluster_id,
            member_id: id,
        }
    }

    /// The raw text of a message with this side's cluster ID, member ID and raft term replaced
    /// by placeholders, for byte-exact comparisons (key order, spacing, escaping).
    pub fn mask_text(&self, message: &str) -> String {
        let text = message
            .replace(&format!("\"{}\"", self.cluster_id), "\"<cluster_id>\"")
            .replace(&format!("\"{}\"", self.member_id), "\"<member g1>\"");
        let mut out = String::new();
        let mut rest = text.as_str();
        const TERM: &str = "\"raft_term\":\"";
        while let Some(pos) = rest.find(TERM) {
            out.push_str(&rest[..pos + TERM.len()]);
            rest = rest[pos + TERM.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
            out.push_str("<raft_term>");
        }
        out.push_str(rest);
        out
    }

    /// The masked JSON of one streamed message.
    pub fn mask(&mut self, message: &str) -> Value {
        self.masker.mask(&parse(message))
    }
}

/// Two fresh etcd servers of one version: side A answered by etcd's own gateway, side B by the
/// gateway under test (or by etcd's gateway too with `GATEWAY_UNDER_TEST=etcd`). With
/// [`Target::Embedded`], side B is our binary on its embedded store instead.
pub struct Pair {
    pub version: EtcdVersion,
    pub mode: Mode,
    pub target: Target,
    pub a: Side,
    pub b: Side,
    pub gateway: Option<Gateway>,
}

impl Pair {
    pub async fn start(version: EtcdVersion, etcd_args: &[&str]) -> Pair {
        Pair::start_with_mode(version, etcd_args, Mode::from_env()).await
    }

    /// Side B is our gateway whatever `GATEWAY_UNDER_TEST` says (tests of our own behaviour).
    pub async fn start_ours(version: EtcdVersion, etcd_args: &[&str]) -> Pair {
        Pair::start_with_mode(version, etcd_args, Mode::Binary).await
    }

    /// Side B on `target`. For [`Target::Embedded`], `etcd_args` apply to side A's etcd only
    /// (the embedded store has no such flags).
    pub async fn start_target(version: EtcdVersion, etcd_args: &[&str], target: Target) -> Pair {
        match target {
            Target::Etcd => Pair::start(version, etcd_args).await,
            Target::Embedded => {
                let mut etcd_a = Etcd::spawn_with_args(version, etcd_args);
                let gateway = Gateway::start_embedded().await;
                etcd_a.wait_ready().await;
                let a = Side::new("etcd", etcd_a.addr(), Store::Etcd(etcd_a)).await;
                let addr = gateway.addr.clone();
                let b = Side::new("ours (embedded)", addr.clone(), Store::Embedded { addr }).await;
                Pair {
                    version,
                    mode: Mode::Binary,
                    target,
                    a,
                    b,
                    gateway: Some(gateway),
                }
            }
        }
    }

    pub async fn start_with_mode(version: EtcdVersion, etcd_args: &[&str], mode: Mode) -> Pair {
        let mut etcds = Etcd::start_all_with_args(&[version, version], etcd_args).await;
        let etcd_b = etcds.pop().expect("two servers");
        let etcd_a = etcds.pop().expect("two servers");
        let gateway = match mode {
            Mode::Binary => Some(Gateway::start(&etcd_b.client_url()).await),
            Mode::Etcd => None,
        };
        let b_addr = gateway
            .as_ref()
            .map_or_else(|| etcd_b.addr(), |g| g.addr.clone());
        let a = Side::new("etcd", etcd_a.addr(), Store::Etcd(etcd_a)).await;
        let b_label = match mode {
            Mode::Binary => "ours",
            Mode::Etcd => "etcd (as ours)",
        };
        let b = Side::new(b_label, b_addr, Store::Etcd(etcd_b)).await;
        Pair {
            version,
            mode,
            target: Target::Etcd,
            a,
            b,
            gateway,
        }
    }

    /// The reference version, and the target of side B when it is not a second etcd.
    pub fn label(&self) -> String {
        match self.target {
            Target::Etcd => self.version.to_string(),
            Target::Embedded => format!("{} vs embedded", self.version),
        }
    }

    /// The same unary request straight to both etcd servers (not through our gateway; an
    /// embedded store is only reachable through our binary); both must answer 200 with equal
    /// masked bodies. Returns the masked body.
    pub async fn write(&mut self, path: &str, body: &str) -> Value {
        let (addr_a, addr_b) = (self.a.etcd.addr(), self.b.etcd.addr());
        let (ra, rb) = tokio::join!(
            http::request(&addr_a, "POST", path, &[], body.to_owned()),
            http::request(&addr_b, "POST", path, &[], body.to_owned()),
        );
        let (ra, rb) = (
            ra.unwrap_or_else(|e| panic!("{e}")),
            rb.unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(
            (ra.status, rb.status),
            (200, 200),
            "{} {path} {body}: {} / {}",
            self.label(),
            ra.describe(),
            rb.describe()
        );
        let ma = self.a.masker.mask(&ra.expect_json());
        let mb = self.b.masker.mask(&rb.expect_json());
        if let Some(d) = diff(&ma, &mb) {
            panic!(
                "{} {path} {body}: the two servers differ at {d}",
                self.label()
            );
        }
        ma
    }

    /// Opens the same stream request on both sides and checks the response heads.
    pub async fn open(&self, path: &str, headers: &[(&str, &str)], body: &str) -> (Stream, Stream) {
        let (sa, sb) = tokio::join!(
            Stream::post(&self.a.addr, path, headers, body),
            Stream::post(&self.b.addr, path, headers, body),
        );
        assert_stream_head(&sa, "application/json", &format!("etcd {path} {body}"));
        assert_stream_head(&sb, "application/json", &format!("ours {path} {body}"));
        (sa, sb)
    }

    /// Reads the next line on both sides: both must end with `\n` and be equal after masking,
    /// and equal to `want`.
    pub async fn next_both(&mut self, sa: &mut Stream, sb: &mut Stream, want: &Value) {
        let (la, lb) = tokio::join!(sa.next_line(), sb.next_line());
        self.compare(&la, &lb, want);
    }

    /// Compares one line of each side: both end with `\n`, are byte-equal once the IDs are
    /// replaced by placeholders, and equal `want` after masking.
    pub fn compare(&mut self, la: &str, lb: &str, want: &Value) {
        let version = self.label();
        assert!(
            la.ends_with('\n'),
            "{version} etcd line without newline: {la:?}"
        );
        assert!(
            lb.ends_with('\n'),
            "{version} our line without newline: {lb:?}"
        );
        self.compare_messages(la, lb, want);
    }

    /// Compares one message of each side (any framing): byte-equal once the IDs are replaced
    /// by placeholders, and equal to `want` after masking.
    pub fn compare_messages(&mut self, la: &str, lb: &str, want: &Value) {
        let version = self.label();
        let (ta, tb) = (self.a.mask_text(la), self.b.mask_text(lb));
        assert_eq!(
            ta, tb,
            "{version}: messages differ (etcd, ours) after masking the IDs"
        );
        let (ma, mb) = (self.a.mask(la), self.b.mask(lb));
        if let Some(d) = diff(&ma, &mb) {
            panic!(
                "{version}: lines differ at {d}\n  etcd: {la}  ours: {lb}  masked etcd: {ma}\n  masked ours: {mb}"
            );
        }
        if let Some(d) = diff(&ma, want) {
            panic!(
                "{version}: line differs from the expectation at {d}\n  masked: {ma}\n  expected: {want}"
            );
        }
    }

    /// Asserts that neither side sends anything for `wait`.
    pub async fn quiet_both(&self, sa: &mut Stream, sb: &mut Stream, wait: Duration) {
        tokio::join!(sa.expect_quiet(wait), sb.expect_quiet(wait));
    }
}
