//! Counters written by one thread (a worker) and read by another (control), without locks.

use std::sync::atomic::{AtomicU64, Ordering};

/// A counter with a single writer: `add` is a plain load and store (no locked instruction),
/// readers see a value at most one update old.
#[derive(Default, Debug)]
#[repr(transparent)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add `n`. Only the owning worker may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }

    /// Overwrite (gauges).
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed)
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Declare a struct of named counters with a `snapshot` listing (name, value) pairs, so the
/// control thread can print, sum and serialise them without knowing each field.
#[macro_export]
macro_rules! counters {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident,)* }) => {
        $(#[$m])*
        #[derive(Default, Debug)]
        pub struct $name { $($(#[$fm])* pub $field: $crate::stats::Counter,)* }
        impl $name {
            /// Every counter with its name, in declaration order.
            pub fn snapshot(&self) -> $crate::stats::Snapshot {
                vec![$((stringify!($field).to_string(), self.$field.get()),)*]
            }
        }
    };
}

/// A named counter value in a snapshot.
pub type Snapshot = Vec<(String, u64)>;

/// Aggregate snapshots by name across workers, keeping the first snapshot's order: counters
/// and gauges add up; a maximum (a name ending in `_max`) is the largest of them.
pub fn sum(snapshots: &[Snapshot]) -> Snapshot {
    let mut out: Snapshot = Vec::new();
    let merge = |slot: &mut (String, u64), v: u64| {
        if slot.0.ends_with("_max") {
            slot.1 = slot.1.max(v);
        } else {
            slot.1 += v;
        }
    };
    for s in snapshots {
        for (i, (name, v)) in s.iter().enumerate() {
            match out.get_mut(i) {
                Some(slot) if slot.0 == *name => merge(slot, *v),
                _ => match out.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => merge(slot, *v),
                    None => out.push((name.clone(), *v)),
                },
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    counters! {
        pub struct Demo { a, b, size_max, }
    }

    #[test]
    fn snapshot_and_sum() {
        let x = Demo::default();
        x.a.add(3);
        x.b.inc();
        let y = Demo::default();
        y.a.add(4);
        x.size_max.set(9);
        y.size_max.set(5);
        let v = |s: &[(&str, u64)]| {
            s.iter()
                .map(|(n, v)| (n.to_string(), *v))
                .collect::<Snapshot>()
        };
        assert_eq!(x.snapshot(), v(&[("a", 3), ("b", 1), ("size_max", 9)]));
        assert_eq!(
            sum(&[x.snapshot(), y.snapshot()]),
            v(&[("a", 7), ("b", 1), ("size_max", 9)])
        );
    }
}
