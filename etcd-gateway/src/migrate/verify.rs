//! The check after the copy: both sides ranged in key order and compared key by key (value
//! and lease), the key counts compared, and every lease looked up on the target.

use std::collections::VecDeque;
use std::fmt;

use anyhow::{Context, Result};

use super::progress;
use super::source::{Source, key_after};
use super::target::Target;
use crate::etcdserverpb::LeaseLeasesRequest;
use crate::mvccpb::KeyValue;

/// Differences listed in the report at most (all are counted).
const SHOWN: usize = 10;

/// What the comparison found.
#[derive(Debug, Default)]
pub struct Verified {
    /// Keys in the source.
    pub source_keys: u64,
    /// Keys in the target.
    pub target_keys: u64,
    /// Keys equal on both sides.
    pub equal: u64,
    /// Source keys absent from the target.
    pub missing: u64,
    /// Source keys whose value or lease differs on the target.
    pub different: u64,
    /// Target keys absent from the source.
    pub extra: u64,
    /// Source leases absent from the target.
    pub missing_leases: u64,
    /// The first differences, described.
    pub examples: Vec<String>,
    /// Whether keys of the target's own are allowed (`--force`).
    pub force: bool,
}

impl Verified {
    /// Whether the target holds an exact copy (with `--force`: holds every source key).
    pub fn is_ok(&self) -> bool {
        self.missing == 0
            && self.different == 0
            && self.missing_leases == 0
            && (self.force || self.extra == 0)
    }

    /// `Ok` if the copy is good, else an error that summarizes the differences.
    pub fn into_result(self) -> Result<()> {
        anyhow::ensure!(
            self.is_ok(),
            "verification failed: {} missing, {} different, {} unexpected keys, {} missing \
             leases on the target",
            self.missing,
            self.different,
            self.extra,
            self.missing_leases
        );
        Ok(())
    }

    fn note(&mut self, example: String) {
        if self.examples.len() < SHOWN {
            self.examples.push(example);
        }
    }
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            write!(
                f,
                "verified: {} of {} keys equal on both sides (values and leases)",
                self.equal, self.source_keys
            )?;
            if self.extra > 0 {
                write!(f, "; the target holds {} keys of its own", self.extra)?;
            }
            return Ok(());
        }
        write!(
            f,
            "verification FAILED: source {} keys, target {} keys; {} equal, {} missing, {} \
             different, {} unexpected; {} leases missing",
            self.source_keys,
            self.target_keys,
            self.equal,
            self.missing,
            self.different,
            self.extra,
            self.missing_leases
        )?;
        for example in &self.examples {
            write!(f, "\n  {example}")?;
        }
        Ok(())
    }
}

/// Compares `source` with `target` (see the module documentation).
pub async fn verify(source: &Source, target: &Target, force: bool) -> Result<Verified> {
    let mut verified = Verified {
        force,
        ..Verified::default()
    };
    let bar = progress::keys("verifying", source.key_count()?);
    let mut source_keys = SourcePages::new(source);
    let mut target_keys = TargetPages::new(target);
    let mut source_kv = source_keys.next()?;
    let mut target_kv = target_keys.next().await?;
    loop {
        match (source_kv.take(), target_kv.take()) {
            (None, None) => break,
            (Some(ours), None) => {
                verified.source_keys += 1;
                verified.missing += 1;
                verified.note(format!("missing on the target: {}", show(&ours.key)));
                source_kv = source_keys.next()?;
            }
            (None, Some(theirs)) => {
                verified.target_keys += 1;
                verified.extra += 1;
                if !force {
                    verified.note(format!("only on the target: {}", show(&theirs.key)));
                }
                target_kv = target_keys.next().await?;
            }
            (Some(ours), Some(theirs)) => match ours.key.cmp(&theirs.key) {
                std::cmp::Ordering::Less => {
                    target_kv = Some(theirs);
                    verified.source_keys += 1;
                    verified.missing += 1;
                    verified.note(format!("missing on the target: {}", show(&ours.key)));
                    source_kv = source_keys.next()?;
                }
                std::cmp::Ordering::Greater => {
                    source_kv = Some(ours);
                    verified.target_keys += 1;
                    verified.extra += 1;
                    if !force {
                        verified.note(format!("only on the target: {}", show(&theirs.key)));
                    }
                    target_kv = target_keys.next().await?;
                }
                std::cmp::Ordering::Equal => {
                    verified.source_keys += 1;
                    verified.target_keys += 1;
                    compare(&mut verified, &ours, &theirs);
                    bar.inc(1);
                    source_kv = source_keys.next()?;
                    target_kv = target_keys.next().await?;
                }
            },
        }
    }
    bar.finish_and_clear();
    check_leases(source, target, &mut verified).await?;
    Ok(verified)
}

/// Compares one key present on both sides.
fn compare(verified: &mut Verified, ours: &KeyValue, theirs: &KeyValue) {
    if ours.value != theirs.value {
        verified.different += 1;
        verified.note(format!(
            "{}: value differs ({} bytes here, {} bytes on the target)",
            show(&ours.key),
            ours.value.len(),
            theirs.value.len()
        ));
    } else if ours.lease != theirs.lease {
        verified.different += 1;
        verified.note(format!(
            "{}: lease differs ({:x} here, {:x} on the target)",
            show(&ours.key),
            ours.lease,
            theirs.lease
        ));
    } else {
        verified.equal += 1;
    }
}

/// Looks every source lease up in the target's lease list.
async fn check_leases(source: &Source, target: &Target, verified: &mut Verified) -> Result<()> {
    let listed = target
        .lease()
        .lease_leases(LeaseLeasesRequest {})
        .await
        .with_context(|| format!("cannot list the leases of {}", target.url()))?
        .into_inner()
        .leases;
    let present: std::collections::HashSet<i64> = listed.iter().map(|lease| lease.id).collect();
    for (id, _) in source.leases()? {
        if !present.contains(&id) {
            verified.missing_leases += 1;
            verified.note(format!("lease {id:x} missing on the target"));
        }
    }
    Ok(())
}

/// A key for people: its text if it is UTF-8, else its bytes.
fn show(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("{key:?}"),
    }
}

/// The source's keys one at a time, read a page at a time.
struct SourcePages<'a> {
    source: &'a Source,
    page: VecDeque<KeyValue>,
    start: Vec<u8>,
    done: bool,
}

impl<'a> SourcePages<'a> {
    fn new(source: &'a Source) -> Self {
        Self {
            source,
            page: VecDeque::new(),
            start: Vec::new(),
            done: false,
        }
    }

    fn next(&mut self) -> Result<Option<KeyValue>> {
        if self.page.is_empty() && !self.done {
            let page = self.source.page(&self.start)?;
            match page.last() {
                Some(last) => self.start = key_after(&last.key),
                None => self.done = true,
            }
            self.page = page.into();
        }
        Ok(self.page.pop_front())
    }
}

/// The target's keys one at a time, read a page at a time at the revision of the first page.
struct TargetPages<'a> {
    target: &'a Target,
    page: VecDeque<KeyValue>,
    start: Vec<u8>,
    revision: i64,
    done: bool,
}

impl<'a> TargetPages<'a> {
    fn new(target: &'a Target) -> Self {
        Self {
            target,
            page: VecDeque::new(),
            start: Vec::new(),
            revision: 0,
            done: false,
        }
    }

    async fn next(&mut self) -> Result<Option<KeyValue>> {
        if self.page.is_empty() && !self.done {
            let (page, revision) = self.target.page(&self.start, self.revision).await?;
            self.revision = revision;
            match page.last() {
                Some(last) => self.start = key_after(&last.key),
                None => self.done = true,
            }
            self.page = page.into();
        }
        Ok(self.page.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::Verified;
    use crate::mvccpb::KeyValue;

    fn kv(key: &str, value: &str, lease: i64) -> KeyValue {
        KeyValue {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            lease,
            ..Default::default()
        }
    }

    #[test]
    fn differences_fail_the_verification_and_are_listed() {
        let mut verified = Verified {
            source_keys: 3,
            target_keys: 3,
            ..Verified::default()
        };
        super::compare(&mut verified, &kv("a", "1", 0), &kv("a", "1", 0));
        super::compare(&mut verified, &kv("b", "1", 0), &kv("b", "22", 0));
        super::compare(&mut verified, &kv("c", "1", 7), &kv("c", "1", 0));
        assert_eq!((verified.equal, verified.different), (1, 2));
        assert_eq!(
            verified.to_string(),
            "verification FAILED: source 3 keys, target 3 keys; 1 equal, 0 missing, 2 \
             different, 0 unexpected; 0 leases missing\n  \"b\": value differs (1 bytes here, \
             2 bytes on the target)\n  \"c\": lease differs (7 here, 0 on the target)"
        );
        assert_eq!(
            verified.into_result().unwrap_err().to_string(),
            "verification failed: 0 missing, 2 different, 0 unexpected keys, 0 missing leases \
             on the target"
        );
    }

    #[test]
    fn keys_of_the_target_fail_only_without_force() {
        let verified = Verified {
            source_keys: 1,
            target_keys: 2,
            equal: 1,
            extra: 1,
            ..Verified::default()
        };
        assert!(!verified.is_ok());
        let forced = Verified {
            force: true,
            ..verified
        };
        assert_eq!(
            forced.to_string(),
            "verified: 1 of 1 keys equal on both sides (values and leases); the target holds 1 \
             keys of its own"
        );
        assert!(forced.into_result().is_ok());
    }
}
