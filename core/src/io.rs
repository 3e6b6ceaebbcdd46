//! The interface between the poll loop and whatever moves packets: DPDK ports in production
//! (`port::DpdkIo`), a `Vec`-backed fake in unit tests. The worker is generic over it so the
//! datapath logic is tested without starting EAL.

/// Which side of the virtual wire a port is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The port facing the clients (connections are opened from here).
    Client = 0,
    /// The port facing the servers.
    Server = 1,
}

impl Side {
    /// The side a frame received on `self` leaves from.
    #[inline]
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    /// 0 for client, 1 for server: an index into per-side arrays.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    pub const BOTH: [Side; 2] = [Side::Client, Side::Server];

    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// One packet buffer, owned. Dropping it returns it to its pool.
pub trait Frame: Sized {
    /// The frame's bytes (first segment).
    fn data(&self) -> &[u8];
    /// The frame's bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// The frame's bytes followed by the buffer's tailroom, for growing the frame in place; the
    /// frame itself is the first `data().len()` bytes.
    fn with_tailroom(&mut self) -> &mut [u8];
    /// Set the frame length, within `with_tailroom().len()`. Returns false (and changes nothing)
    /// when it does not fit or the frame is not a single segment.
    fn set_len(&mut self, len: usize) -> bool;
    /// The hash the NIC computed for RSS, when it did.
    fn rss_hash(&self) -> Option<u32>;
    /// A second handle to the same buffer (a reference count, not a copy). The bytes must not
    /// be modified while more than one handle exists.
    fn share(&self) -> Self;
    /// Whether the whole frame is in `data()` (single segment).
    fn is_contiguous(&self) -> bool;
}

/// Maximum frames per RX burst and per TX buffer.
pub const BURST: usize = 32;

/// A worker's view of its queue on both ports.
pub trait PacketIo {
    type Buf: Frame;
    /// Receive up to `BURST` frames from `side` into `out` (cleared first; its capacity is kept,
    /// so no allocation once warmed up).
    fn rx_burst(&mut self, side: Side, out: &mut Vec<Self::Buf>);
    /// Queue a frame for transmission on `side`; sent when the buffer fills or on `flush`.
    fn tx(&mut self, side: Side, buf: Self::Buf);
    /// Send everything buffered; frames the driver refuses are freed and counted.
    fn flush(&mut self);
    /// A fresh, empty buffer for frames the appliance makes itself (ACKs, RSTs); None when the
    /// pool is empty.
    fn alloc(&mut self) -> Option<Self::Buf>;
    /// Frames dropped because a TX queue was full, per side.
    fn tx_dropped(&self) -> [u64; 2];
}
