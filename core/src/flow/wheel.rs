//! A timing wheel for flow aging. Each flow sits in at most one bucket list (intrusive, linked
//! through the flow slab by index), so arming costs O(1) and no allocation; advancing the
//! wheel visits only the buckets whose time has come: O(expired + re-armed) per call.
//!
//! Re-arming is lazy: a packet only moves the flow's deadline forward; when the flow's bucket
//! fires and its deadline is still ahead, it is linked into the bucket of its deadline then.

/// One tick of the wheel, in milliseconds.
pub const TICK_MS: u64 = 100;
/// Buckets: the horizon is `BUCKETS × TICK_MS` (409.6 s); longer timeouts go round again.
pub const BUCKETS: usize = 4096;
pub(crate) const NIL: u32 = u32::MAX;

/// `Links::prev` of a flow that is not in the wheel.
const UNLINKED: u32 = u32::MAX;
/// `Links::prev` of the first flow of a bucket: this bit plus the bucket number. Slab indices
/// stay below it (flow and session capacities are far smaller).
const HEAD: u32 = 1 << 31;

/// Links of one flow in the wheel (stored in the flow). 12 bytes.
#[derive(Clone, Copy, Debug)]
pub struct Links {
    pub next: u32,
    /// The previous flow in the bucket, `HEAD | bucket` for the first one, `UNLINKED` when the
    /// flow is in no bucket.
    prev: u32,
    /// Tick at which the flow must expire. The bucket it is linked in fires no later than the
    /// deadline as it was when linked, so a later deadline needs no move.
    pub deadline: u32,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            next: NIL,
            prev: UNLINKED,
            deadline: 0,
        }
    }
}

impl Links {
    #[inline]
    fn linked(&self) -> bool {
        self.prev != UNLINKED
    }
}

const _: () = assert!(BUCKETS < HEAD as usize);

/// The wheel's bucket heads and cursor. The links live in the flows; every method takes the
/// slab of links as a closure-free `&mut [L]` through the `HasLinks` trait.
pub struct Wheel {
    heads: Box<[u32]>,
    /// The next tick to process.
    cursor: u32,
}

pub trait HasLinks {
    fn links(&mut self, idx: u32) -> &mut Links;
}

impl Default for Wheel {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Wheel {
    pub fn new(now_tick: u32) -> Wheel {
        Wheel {
            heads: vec![NIL; BUCKETS].into_boxed_slice(),
            cursor: now_tick,
        }
    }

    /// Memory of the bucket heads, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.heads.len() * std::mem::size_of::<u32>()
    }

    /// Set the flow's deadline; link it now only if it is not linked or its bucket fires too
    /// late for the new deadline.
    #[inline(always)]
    pub fn arm<S: HasLinks>(&mut self, slab: &mut S, idx: u32, deadline: u32) {
        debug_assert!(idx < HEAD);
        let deadline = deadline.max(self.cursor);
        let l = slab.links(idx);
        if l.linked() {
            if l.deadline <= deadline {
                l.deadline = deadline;
                return; // its bucket fires early enough; re-armed lazily then
            }
            self.unlink(slab, idx);
        }
        self.link(slab, idx, deadline);
    }

    #[inline(never)]
    fn link<S: HasLinks>(&mut self, slab: &mut S, idx: u32, tick: u32) {
        let b = tick as usize % BUCKETS;
        let head = self.heads[b];
        {
            let l = slab.links(idx);
            l.next = head;
            l.prev = HEAD | b as u32;
            l.deadline = tick;
        }
        if head != NIL {
            slab.links(head).prev = idx;
        }
        self.heads[b] = idx;
    }

    /// Remove a flow from the wheel (when it is deleted for another reason than expiry).
    pub fn unlink<S: HasLinks>(&mut self, slab: &mut S, idx: u32) {
        let l = *slab.links(idx);
        if !l.linked() {
            return;
        }
        if l.prev & HEAD != 0 {
            self.heads[(l.prev & !HEAD) as usize] = l.next;
        } else {
            slab.links(l.prev).next = l.next;
        }
        if l.next != NIL {
            slab.links(l.next).prev = l.prev;
        }
        let l = slab.links(idx);
        l.next = NIL;
        l.prev = UNLINKED;
    }

    /// Advance to `now_tick`, calling `expired(idx)` for each flow whose deadline has passed
    /// (it is unlinked first), at most `budget` of them; the rest wait for the next call.
    /// Each tick's bucket is processed once; returns how many expired.
    pub fn advance<S: HasLinks>(
        &mut self,
        slab: &mut S,
        now_tick: u32,
        budget: usize,
        mut expired: impl FnMut(&mut S, u32),
    ) -> usize {
        let mut n = 0;
        let mut walked = 0usize;
        while self.cursor <= now_tick {
            let b = self.cursor as usize % BUCKETS;
            // Detach the bucket: flows re-armed into this same bucket (a turn later) go to a
            // fresh list and are not seen again in this pass.
            let mut idx = std::mem::replace(&mut self.heads[b], NIL);
            while idx != NIL {
                if n >= budget {
                    self.reattach(slab, b, idx);
                    return n;
                }
                let l = *slab.links(idx);
                {
                    let m = slab.links(idx);
                    m.next = NIL;
                    m.prev = UNLINKED;
                }
                if l.next != NIL {
                    // First of the detached rest (which `reattach` may put back in bucket b).
                    slab.links(l.next).prev = HEAD | b as u32;
                }
                if l.deadline <= now_tick {
                    n += 1;
                    expired(slab, idx);
                } else {
                    self.link(slab, idx, l.deadline);
                }
                idx = l.next;
            }
            walked += 1;
            if walked >= BUCKETS {
                // A full turn visited every bucket: everything due has been handled.
                self.cursor = now_tick + 1;
            } else {
                self.cursor += 1;
            }
        }
        n
    }

    /// Put the unprocessed rest of a detached chain back in front of bucket `b`.
    fn reattach<S: HasLinks>(&mut self, slab: &mut S, b: usize, chain: u32) {
        let mut tail = chain;
        loop {
            let next = slab.links(tail).next;
            if next == NIL {
                break;
            }
            tail = next;
        }
        let old = self.heads[b];
        slab.links(tail).next = old;
        if old != NIL {
            slab.links(old).prev = tail;
        }
        self.heads[b] = chain;
    }

    /// The next tick the wheel will process.
    pub fn cursor(&self) -> u32 {
        self.cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Slab(Vec<Links>);
    impl HasLinks for Slab {
        fn links(&mut self, idx: u32) -> &mut Links {
            &mut self.0[idx as usize]
        }
    }

    fn collect(w: &mut Wheel, s: &mut Slab, now: u32) -> Vec<u32> {
        let mut v = Vec::new();
        w.advance(s, now, usize::MAX, |_, i| v.push(i));
        v.sort();
        v
    }

    #[test]
    fn expires_at_deadline_not_before() {
        let mut s = Slab(vec![Links::default(); 4]);
        let mut w = Wheel::new(0);
        w.arm(&mut s, 0, 5);
        w.arm(&mut s, 1, 10);
        w.arm(&mut s, 2, 5000); // beyond the horizon
        assert!(collect(&mut w, &mut s, 4).is_empty());
        assert_eq!(collect(&mut w, &mut s, 5), vec![0]);
        assert_eq!(collect(&mut w, &mut s, 9), Vec::<u32>::new());
        assert_eq!(collect(&mut w, &mut s, 10), vec![1]);
        assert_eq!(collect(&mut w, &mut s, 4999), Vec::<u32>::new());
        assert_eq!(collect(&mut w, &mut s, 5001), vec![2]);
    }

    #[test]
    fn lazy_rearm_and_shortening() {
        let mut s = Slab(vec![Links::default(); 2]);
        let mut w = Wheel::new(0);
        w.arm(&mut s, 0, 10);
        w.arm(&mut s, 0, 20); // pushed later: stays linked at 10, re-armed when 10 fires
        assert!(collect(&mut w, &mut s, 15).is_empty());
        w.arm(&mut s, 0, 17); // earlier than its bucket (20): moved
        assert_eq!(collect(&mut w, &mut s, 17), vec![0]);
    }

    #[test]
    fn unlink_and_budget() {
        let mut s = Slab(vec![Links::default(); 100]);
        let mut w = Wheel::new(0);
        for i in 0..100 {
            w.arm(&mut s, i, 3);
        }
        w.unlink(&mut s, 50);
        let mut got = Vec::new();
        assert_eq!(w.advance(&mut s, 3, 40, |_, i| got.push(i)), 40);
        assert_eq!(w.advance(&mut s, 3, 1000, |_, i| got.push(i)), 59);
        got.sort();
        assert_eq!(got.len(), 99);
        assert!(!got.contains(&50));
    }

    #[test]
    fn a_long_stall_expires_everything_due() {
        let mut s = Slab(vec![Links::default(); 3]);
        let mut w = Wheel::new(0);
        w.arm(&mut s, 0, 1);
        w.arm(&mut s, 1, 7000);
        w.arm(&mut s, 2, 20000);
        assert_eq!(collect(&mut w, &mut s, 10000), vec![0, 1]);
        assert_eq!(collect(&mut w, &mut s, 20000), vec![2]);
    }
}
