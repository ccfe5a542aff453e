//! etcd's alarms (`v3alarm` and `applyAlarm` of etcd 3.5): the set of active alarms, one per
//! (member id, alarm type), kept in memory and recorded in the `alarm` table by the writer
//! (see [`Alarms::take_unrecorded`]), so they survive a restart.
//!
//! While NOSPACE is active, puts, txns with a put and lease grants fail with
//! `etcdserver: mvcc: database space exceeded` (etcd's capped applier); while CORRUPT is
//! active, every write fails with `etcdserver: corrupt cluster`. Reads are never refused.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use prost::Message;

use super::errors::EtcdError;
use crate::etcdserverpb::{AlarmMember, AlarmType};

/// What the active alarms allow writes to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restriction {
    /// No alarm: every write is applied.
    None,
    /// NOSPACE: writes that add data (puts, txns with a put, lease grants) are refused.
    Capped,
    /// CORRUPT: every write is refused (and takes precedence over NOSPACE).
    Corrupt,
}

impl Restriction {
    /// Fails for a write that adds data (`adds_data`) or any write, as the restriction says.
    pub fn check(self, adds_data: bool) -> Result<(), EtcdError> {
        match self {
            Self::None => Ok(()),
            Self::Capped if adds_data => Err(EtcdError::NoSpace),
            Self::Capped => Ok(()),
            Self::Corrupt => Err(EtcdError::Corrupt),
        }
    }
}

/// The active alarms of a store.
#[derive(Debug, Default)]
pub struct Alarms {
    /// (alarm type, member id) of every active alarm.
    active: Mutex<BTreeSet<(i32, u64)>>,
    /// Whether `active` changed since the `alarm` table last recorded it.
    unrecorded: AtomicBool,
}

impl Alarms {
    /// The alarms recorded in storage (each a marshalled `AlarmMember`, as etcd's alarm bucket
    /// keeps them).
    pub fn restore(recorded: &[Vec<u8>]) -> Result<Self, EtcdError> {
        let mut active = BTreeSet::new();
        for key in recorded {
            let member = AlarmMember::decode(key.as_slice())
                .map_err(|err| EtcdError::storage(format!("bad recorded alarm: {err}")))?;
            active.insert((member.alarm, member.member_id));
        }
        Ok(Self {
            active: Mutex::new(active),
            unrecorded: AtomicBool::new(false),
        })
    }

    fn active(&self) -> MutexGuard<'_, BTreeSet<(i32, u64)>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The active alarms of type `alarm` (all of them for [`AlarmType::None`]), by type then
    /// member id.
    pub fn get(&self, alarm: i32) -> Vec<AlarmMember> {
        self.active()
            .iter()
            .filter(|(kind, _)| alarm == AlarmType::None as i32 || *kind == alarm)
            .map(|&(alarm, member_id)| AlarmMember { member_id, alarm })
            .collect()
    }

    /// Raises `alarm` for `member_id`; answers the alarm (also when it was already active),
    /// or `None` for [`AlarmType::None`], which etcd ignores.
    pub fn activate(&self, member_id: u64, alarm: i32) -> Option<AlarmMember> {
        if alarm == AlarmType::None as i32 {
            return None;
        }
        if self.active().insert((alarm, member_id)) {
            self.unrecorded.store(true, Ordering::Release);
            tracing::warn!(
                alarm = alarm_name(alarm),
                from = format_args!("{member_id:x}"),
                "alarm raised"
            );
        }
        Some(AlarmMember { member_id, alarm })
    }

    /// Disarms `alarm` of `member_id`; answers it, or `None` if it was not active.
    pub fn deactivate(&self, member_id: u64, alarm: i32) -> Option<AlarmMember> {
        if !self.active().remove(&(alarm, member_id)) {
            return None;
        }
        self.unrecorded.store(true, Ordering::Release);
        tracing::warn!(
            alarm = alarm_name(alarm),
            from = format_args!("{member_id:x}"),
            "alarm disarmed"
        );
        Some(AlarmMember { member_id, alarm })
    }

    /// What the active alarms allow writes to do.
    pub fn restriction(&self) -> Restriction {
        let active = self.active();
        let any = |kind: AlarmType| active.iter().any(|(alarm, _)| *alarm == kind as i32);
        if any(AlarmType::Corrupt) {
            Restriction::Corrupt
        } else if any(AlarmType::Nospace) {
            Restriction::Capped
        } else {
            Restriction::None
        }
    }

    /// The active alarms as etcd's `Status` lists them in `errors`
    /// (`memberID:<decimal id> alarm:NOSPACE `, the protobuf text form).
    pub fn status_errors(&self) -> Vec<String> {
        self.get(AlarmType::None as i32)
            .iter()
            .map(|member| {
                format!(
                    "memberID:{} alarm:{} ",
                    member.member_id,
                    alarm_name(member.alarm)
                )
            })
            .collect()
    }

    /// The encoded alarms to record, if they changed since they were last recorded; the
    /// caller records them or calls [`Alarms::mark_unrecorded`].
    pub fn take_unrecorded(&self) -> Option<Vec<Vec<u8>>> {
        if !self.unrecorded.swap(false, Ordering::AcqRel) {
            return None;
        }
        Some(
            self.get(AlarmType::None as i32)
                .iter()
                .map(Message::encode_to_vec)
                .collect(),
        )
    }

    /// The alarms taken by [`Alarms::take_unrecorded`] could not be recorded.
    pub fn mark_unrecorded(&self) {
        self.unrecorded.store(true, Ordering::Release);
    }
}

/// etcd's name of an alarm type (`NOSPACE`, `CORRUPT`), or its number.
pub fn alarm_name(alarm: i32) -> String {
    AlarmType::try_from(alarm)
        .map(|kind| kind.as_str_name().to_owned())
        .unwrap_or_else(|_| alarm.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOSPACE: i32 = AlarmType::Nospace as i32;
    const CORRUPT: i32 = AlarmType::Corrupt as i32;

    #[test]
    fn activate_get_deactivate_as_etcd() {
        let alarms = Alarms::default();
        assert_eq!(alarms.activate(7, AlarmType::None as i32), None);
        let raised = AlarmMember {
            member_id: 7,
            alarm: NOSPACE,
        };
        assert_eq!(alarms.activate(7, NOSPACE), Some(raised));
        assert_eq!(alarms.activate(7, NOSPACE), Some(raised));
        assert_eq!(alarms.get(AlarmType::None as i32), vec![raised]);
        assert_eq!(alarms.get(CORRUPT), vec![]);
        assert_eq!(alarms.restriction(), Restriction::Capped);
        assert_eq!(alarms.status_errors(), vec!["memberID:7 alarm:NOSPACE "]);
        assert_eq!(alarms.deactivate(8, NOSPACE), None);
        assert_eq!(alarms.deactivate(7, NOSPACE), Some(raised));
        assert_eq!(alarms.restriction(), Restriction::None);
    }

    #[test]
    fn recorded_alarms_round_trip() {
        let alarms = Alarms::default();
        assert_eq!(alarms.take_unrecorded(), None);
        alarms.activate(1, CORRUPT);
        alarms.activate(2, NOSPACE);
        let recorded = alarms.take_unrecorded().unwrap();
        assert_eq!(alarms.take_unrecorded(), None);
        let restored = Alarms::restore(&recorded).unwrap();
        assert_eq!(
            restored.get(AlarmType::None as i32),
            alarms.get(AlarmType::None as i32)
        );
        assert_eq!(restored.restriction(), Restriction::Corrupt);
    }

    #[test]
    fn restrictions_refuse_what_etcd_refuses() {
        assert_eq!(Restriction::None.check(true), Ok(()));
        assert_eq!(Restriction::Capped.check(false), Ok(()));
        assert_eq!(Restriction::Capped.check(true), Err(EtcdError::NoSpace));
        assert_eq!(Restriction::Corrupt.check(false), Err(EtcdError::Corrupt));
    }
}
