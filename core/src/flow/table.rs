//! The per-worker flow table: preallocated 128-byte slots, each a flow plus the links of a
//! chained hash index whose bucket heads live in the slots too, an intrusive free list and the
//! aging wheel. Nothing here allocates after `FlowTable::new`; the table's memory is exactly
//! 128 bytes per session of capacity (plus the wheel's 16 KiB).

use super::key::{FlowKey, HashKey};
use super::state::{flag, Flow, TcpState};
use super::wheel::{HasLinks, Links, Wheel, NIL};
use super::Timeouts;

/// Result of `FlowTable::lookup_or_insert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    Found(u32),
    Created(u32),
    /// The table is full.
    Full,
}

/// End of a hash chain.
const END: u32 = 0x7fff_ffff;
/// `Slot::next` of a free slot: this bit plus the next free slot (`FREE | END`: none).
const FREE: u32 = 1 << 31;

/// One slot of the table: a flow, its hash-chain link, and the head of the hash bucket with
/// the same number. The index has no storage of its own: bucket `b`'s chain starts in slot
/// `b`, so the table costs exactly two cache lines per session. A new flow goes into the slot
/// of its own bucket when that slot is free, so most lookups touch one 128-byte slot. The
/// free list is doubly linked (a free slot's back link
/// is kept in its unused flow) so that a given free slot can be taken.
///
/// The links come first: with the flow's key they fill the slot's first cache line, which is
/// all a lookup reads of a slot whose flow is not the one sought (or that only holds the
/// head of a bucket whose flows live elsewhere); the second line is the found flow's state.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Slot {
    /// The next flow in this flow's hash chain (`END`), or `FREE | next free slot`.
    next: u32,
    /// The first flow of hash bucket number = this slot's index (`END`: empty bucket).
    head: u32,
    flow: Flow,
}

/// Bytes of flow table per session of capacity, its hash index included.
pub const SLOT_BYTES: usize = 128;

const _: () = assert!(std::mem::size_of::<Slot>() == SLOT_BYTES);

impl Slot {
    /// Start loading the first line: the links and the key.
    #[inline]
    fn prefetch_links(&self) {
        prefetch((self as *const Slot).cast());
    }
    /// Start loading the second line: the flow's state.
    #[inline]
    fn prefetch_state(&self) {
        prefetch((self as *const Slot).cast::<u8>().wrapping_add(64));
    }
    #[inline]
    fn prefetch_all(&self) {
        self.prefetch_links();
        self.prefetch_state();
    }
}

struct Slab(HugeSlice<Slot>);

impl HasLinks for Slab {
    #[inline]
    fn links(&mut self, idx: u32) -> &mut Links {
        &mut self.0[idx as usize].flow.links
    }
}

/// A worker's flows: `capacity` slots, as many hash buckets (chained through the slots), an
/// intrusive free list and the aging wheel. Nothing here allocates after `FlowTable::new`.
pub struct FlowTable {
    slab: Slab,
    /// First free slot (`END`: the table is full).
    free: u32,
    len: usize,
    wheel: Wheel,
    pub timeouts: Timeouts,
    /// Timeouts in wheel ticks by `TcpState` (computed once: `touch` runs per packet).
    timeout_ticks: [u32; 6],
    next_seq: u64,
    worker: u16,
    pub capacity: u32,
    /// The secret the keys are hashed with (`FlowKey::hash`).
    hash_key: HashKey,
}

impl FlowTable {
    /// A table for `capacity` flows (at most 2^31 − 2); session ids are `worker << 48 | n`;
    /// keys hashed with `hash_key` (the appliance draws it at random: `HashKey::random`).
    pub fn new(capacity: u32, worker: u16, timeouts: Timeouts, hash_key: HashKey) -> FlowTable {
        let cap = capacity.clamp(1, END - 1);
        let empty = Slot {
            flow: Flow::default(),
            next: 0,
            head: END,
        };
        let mut slots = HugeSlice::new(cap as usize, empty);
        for (i, s) in slots.iter_mut().enumerate() {
            let (i, next) = (i as u32, i as u32 + 1);
            s.next = FREE | if next == cap { END } else { next };
            s.flow.links.next = if i == 0 { END } else { i - 1 };
        }
        FlowTable {
            slab: Slab(slots),
            free: 0,
            len: 0,
            wheel: Wheel::new(0),
            timeout_ticks: [
                TcpState::NonTcp,
                TcpState::SynSent,
                TcpState::SynReceived,
                TcpState::Established,
                TcpState::HalfClosed,
                TcpState::Closed,
            ]
            .map(|st| timeouts.ticks(st)),
            timeouts,
            next_seq: 1,
            worker,
            capacity: cap,
            hash_key,
        }
    }

    /// The secret this table's keys are hashed with: lookups take `key.hash(table.hash_key())`.
    #[inline]
    pub fn hash_key(&self) -> &HashKey {
        &self.hash_key
    }

    /// `key`'s hash in this table.
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        key.hash(&self.hash_key)
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Memory the table holds, in bytes: the slots (flows with their index) and the wheel.
    pub fn memory_bytes(&self) -> usize {
        self.slab.0.len() * std::mem::size_of::<Slot>() + self.wheel.memory_bytes()
    }

    #[inline]
    pub fn get(&self, idx: u32) -> &Flow {
        &self.slab.0[idx as usize].flow
    }
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Flow {
        &mut self.slab.0[idx as usize].flow
    }

    /// The session id of the flow in slot `idx`.
    pub fn session_id(&self, idx: u32) -> u64 {
        self.get(idx).session_id(self.worker)
    }

    /// Hash bucket of a key hash: its high 32 bits scaled onto `capacity` (no power of two
    /// needed, so the bucket count equals the slot count).
    #[inline]
    fn bucket(&self, hash: u64) -> usize {
        (((hash >> 32) * self.capacity as u64) >> 32) as usize
    }

    /// First step of a pipelined lookup: start loading the first line of the slot of the
    /// bucket of `hash`: the bucket's chain head and, usually, the key of a flow living there.
    /// Returns the bucket, for the next steps.
    #[inline]
    pub fn prefetch_bucket(&self, hash: u64) -> u32 {
        let b = self.bucket(hash);
        self.slab.0[b].prefetch_links();
        b as u32
    }

    /// Second step, a while after `prefetch_bucket`: start loading the bucket's first flow,
    /// the rest of the bucket's own slot when it lives there, both lines of its slot when
    /// it lives elsewhere.
    #[inline]
    pub fn prefetch_flow(&self, b: u32) {
        let slots = &self.slab.0;
        if let Some(bucket) = slots.get(b as usize) {
            let head = bucket.head;
            if let Some(s) = slots.get(head as usize) {
                if head == b {
                    s.prefetch_state();
                } else {
                    s.prefetch_all();
                }
            }
        }
    }

    /// Third step: start loading the second flow of bucket `b`'s chain, where a lookup goes
    /// when the key is not the first one's (a third of lookups at 80% load: half of the
    /// flows share their bucket). Call it a while after `prefetch_flow`, whose slot holds
    /// the link; then `lookup` finds the flow in cache unless it is third or further (one
    /// lookup in fifteen at that load). Keys are not compared first: that measured no
    /// faster than loading a slot that may turn out not to be needed.
    #[inline]
    pub fn prefetch_next(&self, b: u32) {
        let slots = &self.slab.0;
        let Some(bucket) = slots.get(b as usize) else {
            return;
        };
        if let Some(first) = slots.get(bucket.head as usize) {
            if let Some(s) = slots.get(first.next as usize) {
                s.prefetch_all();
            }
        }
    }

    /// Find the flow of `key`.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<u32> {
        let slots = &self.slab.0;
        let mut i = slots[self.bucket(hash)].head;
        while i != END {
            let s = &slots[i as usize];
            if s.flow.key == *key {
                return Some(i);
            }
            i = s.next;
        }
        None
    }

    /// Find the flow of `key`, or create it (zeroed but for key, id and start time).
    #[inline]
    pub fn lookup_or_insert(&mut self, key: &FlowKey, hash: u64, now_ms: u64) -> Insert {
        match self.lookup(key, hash) {
            Some(i) => Insert::Found(i),
            None => self.insert(key, hash, now_ms),
        }
    }

    /// Create the flow of `key`, which the caller has just looked up and not found (zeroed but
    /// for key, id and start time). `Created` or `Full`.
    #[inline]
    pub fn insert(&mut self, key: &FlowKey, hash: u64, now_ms: u64) -> Insert {
        debug_assert!(self.lookup(key, hash).is_none());
        let b = self.bucket(hash);
        // The bucket's own slot if free (one slot to load on lookups), else any free slot.
        let home = !self.live(b as u32);
        let idx = if home { b as u32 } else { self.free };
        if idx == END {
            return Insert::Full;
        }
        self.take_free(idx);
        let seq = self.next_seq;
        self.next_seq += 1;
        let slots = &mut self.slab.0;
        let head = slots[b].head;
        if home || head != b as u32 {
            slots[idx as usize].next = head;
            slots[b].head = idx;
        } else {
            // Keep the flow that lives in the bucket's slot first in its chain.
            slots[idx as usize].next = slots[b].next;
            slots[b].next = idx;
        }
        let s = &mut self.slab.0[idx as usize];
        s.flow = Flow {
            key: *key,
            seq_hi: (seq >> 32) as u16,
            seq_lo: seq as u32,
            start_ms: now_ms as u32,
            wscale: [0xff; 2],
            ..Flow::default()
        };
        self.len += 1;
        Insert::Created(idx)
    }

    /// Unlink free slot `idx` from the free list.
    #[inline]
    fn take_free(&mut self, idx: u32) {
        let slots = &mut self.slab.0;
        let next = slots[idx as usize].next & !FREE;
        let prev = slots[idx as usize].flow.links.next;
        if prev == END {
            self.free = next;
        } else {
            slots[prev as usize].next = FREE | next;
        }
        if next != END {
            slots[next as usize].flow.links.next = prev;
        }
    }

    /// Put slot `idx` at the front of the free list (its flow is dead: its wheel link field
    /// holds the free list's back link).
    #[inline]
    fn put_free(&mut self, idx: u32) {
        let old = self.free;
        let slots = &mut self.slab.0;
        slots[idx as usize].next = FREE | old;
        slots[idx as usize].flow.links.next = END;
        if old != END {
            slots[old as usize].flow.links.next = idx;
        }
        self.free = idx;
    }

    /// Note activity at `now_ms` and (re)arm the flow's timeout for its current state.
    #[inline(always)]
    pub fn touch(&mut self, idx: u32, now_ms: u64) {
        let f = &mut self.slab.0[idx as usize].flow;
        f.last_ms = (now_ms as u32).wrapping_sub(f.start_ms);
        self.arm(idx, now_ms);
    }

    /// (Re)arm the flow's timeout for its current state, from `now_ms`.
    #[inline(always)]
    fn arm(&mut self, idx: u32, now_ms: u64) {
        let state = self.slab.0[idx as usize].flow.state;
        let deadline = tick_of(now_ms).saturating_add(self.timeout_ticks[state as usize]);
        self.wheel.arm(&mut self.slab, idx, deadline);
    }

    /// Whether slot `idx` holds a flow.
    #[inline]
    fn live(&self, idx: u32) -> bool {
        self.slab.0[idx as usize].next & FREE == 0
    }

    /// Remove a flow, returning it (to build its record).
    pub fn remove(&mut self, idx: u32) -> Flow {
        debug_assert!(self.live(idx));
        self.wheel.unlink(&mut self.slab, idx);
        let f = self.slab.0[idx as usize].flow;
        let next = self.slab.0[idx as usize].next;
        let b = self.bucket(self.hash(&f.key));
        let slots = &mut self.slab.0;
        if slots[b].head == idx {
            slots[b].head = next;
        } else {
            let mut i = slots[b].head;
            while i != END && slots[i as usize].next != idx {
                i = slots[i as usize].next;
            }
            // A live flow is always in its bucket's chain.
            debug_assert!(i != END, "flow {idx} missing from its chain");
            if i != END {
                slots[i as usize].next = next;
            }
        }
        self.put_free(idx);
        self.len -= 1;
        f
    }

    /// Expire flows whose timeout has passed at `now_ms` (at most `budget`), handing each
    /// removed flow to `on_expired`. Cost: O(expired + re-armed).
    /// Flows with `ACCUMULATING` set are not removed but re-armed: the accumulator owns data
    /// of theirs (possibly acknowledged to the client already) and its own hold and
    /// retransmission timers end the session; the flow ages normally after that.
    pub fn expire(
        &mut self,
        now_ms: u64,
        budget: usize,
        mut on_expired: impl FnMut(u32, Flow),
    ) -> usize {
        let mut expired = [NIL; 64];
        let mut total = 0;
        loop {
            let mut n = 0;
            let cap = budget.saturating_sub(total).min(expired.len());
            if cap == 0 {
                break;
            }
            self.wheel
                .advance(&mut self.slab, tick_of(now_ms), cap, |_, idx| {
                    expired[n] = idx;
                    n += 1;
                });
            for &idx in &expired[..n] {
                if self.get(idx).has(flag::ACCUMULATING) {
                    self.arm(idx, now_ms); // not a packet: last_ms stays
                    continue;
                }
                let f = self.remove(idx);
                on_expired(idx, f);
            }
            total += n;
            if n < cap {
                break;
            }
        }
        total
    }

    /// Remove every flow (shutdown), handing each to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(u32, Flow)) {
        for idx in self.indices() {
            let flow = self.remove(idx);
            f(idx, flow);
        }
    }

    /// Indices of live flows (shutdown, tests). A scan of every slot.
    pub fn indices(&self) -> Vec<u32> {
        (0..self.capacity).filter(|&i| self.live(i)).collect()
    }

    /// Live flows among slots `from..` (at most `scan` slots visited), with their indices, and
    /// where the next scan starts (None: the end was reached). For control requests, which a
    /// worker answers a slice at a time between bursts.
    pub fn scan(&self, from: u32, scan: u32) -> (impl Iterator<Item = (u32, &Flow)>, Option<u32>) {
        let end = from.saturating_add(scan).min(self.capacity);
        let next = (end < self.capacity).then_some(end);
        let it = (from.min(end)..end)
            .filter(|&i| self.live(i))
            .map(|i| (i, self.get(i)));
        (it, next)
    }
}

/// A fixed-size array in memory aligned to 2 MiB and advised to be backed by transparent
/// huge pages (`MADV_HUGEPAGE`), so that a table of any size sits in whole huge pages: a flow
/// lookup then costs no TLB miss. (A `Vec` of the same size starts wherever the allocator
/// puts it, and the partial 2 MiB region at its start stays in 4 KiB pages.)
struct HugeSlice<T: Copy> {
    ptr: std::ptr::NonNull<T>,
    len: usize,
}

const HUGE_PAGE: usize = 2 << 20;

impl<T: Copy> HugeSlice<T> {
    fn new(n: usize, value: T) -> HugeSlice<T> {
        let layout = Self::layout(n);
        // SAFETY: the layout has a non-zero size (at least one element of a non-zero size).
        let raw = unsafe { std::alloc::alloc(layout) }.cast::<T>();
        let Some(ptr) = std::ptr::NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: [ptr, ptr + layout.size()) is the allocation just made, 2 MiB aligned, not
        // yet touched; MADV_HUGEPAGE changes how it is backed, never its contents or
        // validity. A refusal (THP disabled) leaves 4 KiB pages.
        unsafe {
            libc::madvise(ptr.as_ptr().cast(), layout.size(), libc::MADV_HUGEPAGE);
        }
        for i in 0..n {
            // SAFETY: i < n, inside the allocation; T is Copy (no drop of the garbage there).
            unsafe { ptr.as_ptr().add(i).write(value) };
        }
        HugeSlice { ptr, len: n }
    }

    fn layout(n: usize) -> std::alloc::Layout {
        // The size is not rounded up: memory per flow stays what the slots need; only the
        // last, partial huge page's worth is in 4 KiB pages.
        let bytes = n.max(1) * std::mem::size_of::<T>().max(1);
        std::alloc::Layout::from_size_align(bytes, HUGE_PAGE).expect("flow table size")
    }
}

impl<T: Copy> std::ops::Deref for HugeSlice<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: ptr holds len initialised elements (written in `new`) for self's lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> std::ops::DerefMut for HugeSlice<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and &mut self is the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this same layout; T is Copy, nothing to drop.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), Self::layout(self.len)) }
    }
}

// SAFETY: a HugeSlice owns its elements like a Box<[T]>; sending it sends them.
unsafe impl<T: Copy + Send> Send for HugeSlice<T> {}

/// Ask the CPU to start loading the cache line at `p` (a hint: any address is allowed).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint that never faults, whatever the address; SSE is part of
    // the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline]
pub fn tick_of(ms: u64) -> u32 {
    (ms / super::TICK_MS).min(u32::MAX as u64 - 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables' hash secret in these tests.
    fn hk() -> HashKey {
        HashKey::from_seed(7)
    }

    #[test]
    fn slots_start_on_a_huge_page_and_hold_the_value() {
        for n in [1usize, 1000, 20_000] {
            let s = HugeSlice::new(n, 7u64 << 40 | n as u64);
            assert_eq!(s.as_ptr() as usize % HUGE_PAGE, 0, "n = {n}");
            assert_eq!(s.len(), n);
            assert!(s.iter().all(|&v| v == 7u64 << 40 | n as u64));
        }
    }

    fn key(n: u16) -> FlowKey {
        let mut k = FlowKey::default();
        k.a[15] = 1;
        k.b[15] = 2;
        k.port_a = n;
        k.port_b = 443;
        k.proto = 6;
        k
    }

    #[test]
    fn insert_find_remove_and_full() {
        let mut t = FlowTable::new(3, 1, Timeouts::default(), hk());
        let ids: Vec<_> = (0..3)
            .map(|i| match t.lookup_or_insert(&key(i), t.hash(&key(i)), 0) {
                Insert::Created(x) => x,
                o => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(
            t.lookup_or_insert(&key(1), t.hash(&key(1)), 0),
            Insert::Found(ids[1])
        );
        assert_eq!(
            t.lookup_or_insert(&key(9), t.hash(&key(9)), 0),
            Insert::Full
        );
        assert_eq!(t.session_id(ids[0]) >> 48, 1);
        t.remove(ids[1]);
        assert_eq!(t.lookup(&key(1), t.hash(&key(1))), None);
        assert!(matches!(
            t.lookup_or_insert(&key(9), t.hash(&key(9)), 0),
            Insert::Created(_)
        ));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn aging_by_state() {
        let to = Timeouts {
            handshake: 1.0,
            established: 5.0,
            ..Timeouts::default()
        };
        let mut t = FlowTable::new(16, 0, to, hk());
        let Insert::Created(a) = t.lookup_or_insert(&key(1), t.hash(&key(1)), 0) else {
            panic!()
        };
        t.get_mut(a).state = TcpState::SynSent;
        t.touch(a, 0);
        let Insert::Created(b) = t.lookup_or_insert(&key(2), t.hash(&key(2)), 0) else {
            panic!()
        };
        t.get_mut(b).state = TcpState::Established;
        t.touch(b, 0);
        let mut gone = Vec::new();
        t.expire(900, 100, |_, f| gone.push(f.key.port_a));
        assert!(gone.is_empty());
        t.expire(1000, 100, |_, f| gone.push(f.key.port_a));
        assert_eq!(gone, vec![1]);
        t.touch(b, 4000); // activity pushes its deadline to 9 s
        t.expire(6000, 100, |_, f| gone.push(f.key.port_a));
        assert_eq!(gone, vec![1]);
        t.expire(9000, 100, |_, f| gone.push(f.key.port_a));
        assert_eq!(gone, vec![1, 2]);
        assert!(t.is_empty());
    }

    #[test]
    fn expiry_cost_is_bounded_by_budget() {
        let mut t = FlowTable::new(
            1000,
            0,
            Timeouts {
                non_tcp: 1.0,
                ..Timeouts::default()
            },
            hk(),
        );
        for i in 0..1000 {
            let Insert::Created(x) = t.lookup_or_insert(&key(i), t.hash(&key(i)), 0) else {
                panic!()
            };
            t.touch(x, 0);
        }
        let mut n = 0;
        assert_eq!(t.expire(1000, 100, |_, _| n += 1), 100);
        assert_eq!(t.expire(1000, 10_000, |_, _| n += 1), 900);
        assert_eq!(n, 1000);
        assert!(t.is_empty());
    }

    #[test]
    fn a_slots_links_and_key_share_its_first_cache_line() {
        let t = FlowTable::new(4, 0, Timeouts::default(), hk());
        let s = &t.slab.0[1];
        let base = s as *const Slot as usize;
        assert_eq!(base % 64, 0);
        let end_of = |p: usize, len: usize| p - base + len;
        assert!(end_of(&s.next as *const u32 as usize, 4) <= 64);
        assert!(end_of(&s.head as *const u32 as usize, 4) <= 64);
        let key = &s.flow.key as *const FlowKey as usize;
        assert!(end_of(key, std::mem::size_of::<FlowKey>()) <= 64);
    }

    #[test]
    fn table_memory_is_128_bytes_per_session() {
        assert_eq!(std::mem::size_of::<Flow>(), 120);
        let t = FlowTable::new(100_000, 0, Timeouts::default(), hk());
        let wheel = t.wheel.memory_bytes();
        assert_eq!(t.memory_bytes() - wheel, 100_000 * 128);
        let per = t.memory_bytes() as f64 / 100_000.0;
        assert!(per < 128.2, "{per} bytes per session");
    }

    /// A model check: random inserts, lookups and removals in a small table (long chains,
    /// every bucket shared) agree with a std HashMap, and the free list never loses a slot.
    #[test]
    fn chains_and_free_list_agree_with_a_model() {
        use std::collections::HashMap;
        let cap = 61;
        let to = Timeouts {
            non_tcp: 0.5,
            ..Timeouts::default()
        };
        let mut t = FlowTable::new(cap, 3, to, hk());
        let mut model: HashMap<u16, u32> = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut aged = 0;
        for step in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 97) as u16;
            let kk = key(k);
            // The pipeline's prefetch steps read links in whatever state the chains are in
            // (empty buckets, free slots, ends of chains): they must never index out of range.
            let b = t.prefetch_bucket(t.hash(&kk));
            t.prefetch_flow(b);
            t.prefetch_next(b);
            match x >> 60 {
                0..=9 => match t.lookup_or_insert(&kk, t.hash(&kk), step * 10) {
                    Insert::Created(i) => {
                        assert!(model.insert(k, i).is_none(), "created twice: {k}");
                        assert!(model.len() <= cap as usize);
                        // In the wheel too: a free slot's back link shares its link field.
                        t.touch(i, step * 10);
                    }
                    Insert::Found(i) => {
                        assert_eq!(model.get(&k), Some(&i));
                        t.touch(i, step * 10);
                    }
                    Insert::Full => assert_eq!(model.len(), cap as usize),
                },
                _ => {
                    if let Some(i) = model.remove(&k) {
                        assert_eq!(t.remove(i).key, kk);
                    }
                }
            }
            if step % 997 == 0 {
                // A step is 10 ms: age out flows idle for the non-TCP timeout (0.5 s).
                t.expire(step * 10, usize::MAX, |i, f| {
                    assert_eq!(model.remove(&f.key.port_a), Some(i));
                    aged += 1;
                });
            }
            assert_eq!(t.len(), model.len());
            if step % 1000 == 0 {
                for (k, i) in &model {
                    assert_eq!(t.lookup(&key(*k), t.hash(&key(*k))), Some(*i));
                }
                let mut live = t.indices();
                live.sort();
                let mut want: Vec<u32> = model.values().copied().collect();
                want.sort();
                assert_eq!(live, want);
            }
        }
        assert!(aged > 0, "nothing aged out");
        // Fill up: every slot is reachable again.
        for k in 1000..1000 + cap as u16 {
            let _ = t.lookup_or_insert(&key(k), t.hash(&key(k)), 0);
        }
        assert_eq!(t.len(), cap as usize);
        assert_eq!(
            t.lookup_or_insert(&key(5000), t.hash(&key(5000)), 0),
            Insert::Full
        );
        let mut n = 0;
        t.drain(|_, _| n += 1);
        assert_eq!((n, t.len()), (cap as usize, 0));
        assert!(matches!(
            t.lookup_or_insert(&key(1), t.hash(&key(1)), 0),
            Insert::Created(_)
        ));
    }

    #[test]
    fn new_flows_take_their_buckets_own_slot_when_free() {
        let mut t = FlowTable::new(100_000, 0, Timeouts::default(), hk());
        let mut home = 0;
        for k in 0..1000 {
            let kk = key(k);
            let Insert::Created(i) = t.lookup_or_insert(&kk, t.hash(&kk), 0) else {
                panic!()
            };
            home += usize::from(i as usize == t.bucket(t.hash(&kk)));
        }
        // Only a bucket collision (about 1000²/2/100000 = 5 expected) sends a flow elsewhere.
        assert!(
            home >= 980,
            "{home} of 1000 flows in their own bucket's slot"
        );
        for k in 0..1000 {
            assert!(t.lookup(&key(k), t.hash(&key(k))).is_some());
        }
    }

    #[test]
    fn scan_visits_each_live_flow_once_in_slices() {
        let mut t = FlowTable::new(1000, 0, Timeouts::default(), hk());
        let mut kept = Vec::new();
        for k in 0..300 {
            let Insert::Created(i) = t.lookup_or_insert(&key(k), t.hash(&key(k)), 0) else {
                panic!()
            };
            if k % 3 == 0 {
                t.remove(i);
            } else {
                kept.push(i);
            }
        }
        kept.sort();
        let (mut from, mut seen) = (Some(0), Vec::new());
        while let Some(f) = from {
            let (it, next) = t.scan(f, 64);
            seen.extend(it.map(|(i, _)| i));
            from = next;
        }
        assert_eq!(seen, kept);
    }

    #[test]
    fn session_ids_carry_the_worker() {
        let mut t = FlowTable::new(4, 7, Timeouts::default(), hk());
        let Insert::Created(a) = t.lookup_or_insert(&key(1), t.hash(&key(1)), 0) else {
            panic!()
        };
        let Insert::Created(b) = t.lookup_or_insert(&key(2), t.hash(&key(2)), 0) else {
            panic!()
        };
        assert_eq!(t.session_id(a), 7 << 48 | 1);
        assert_eq!(t.session_id(b), 7 << 48 | 2);
    }
}
