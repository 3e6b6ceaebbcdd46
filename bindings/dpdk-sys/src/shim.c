/*
 * DPDK implements its fast path as `static inline` functions in headers, so they have no symbol
 * Rust could link against. Each wrapper below exists for exactly that reason and does nothing but
 * call the inline function; with -O3 the cost is one call.
 */
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include "shim.h"

/* Receive a burst from one RX queue (inline: dispatches through rte_eth_fp_ops). */
uint16_t shim_rte_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

/* Transmit a burst on one TX queue; the driver takes ownership of the first N returned. */
uint16_t shim_rte_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

/* Allocate one mbuf from a pool (inline: per-lcore cache fast path). */
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

/* Allocate COUNT mbufs at once, all or nothing. */
int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

/* Free a (possibly chained) mbuf; honours the reference count. */
void shim_rte_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

/* Grow the packet at its tail; NULL when the last segment has no tailroom. */
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

/* Shrink the packet at its tail. */
int shim_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

/* Add VALUE to the reference count (held packets keep a reference across TX). */
uint16_t shim_rte_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value)
{
	return rte_mbuf_refcnt_update(m, value);
}

uint16_t shim_rte_mbuf_refcnt_read(const struct rte_mbuf *m)
{
	return rte_mbuf_refcnt_read(m);
}

/* rte_pktmbuf_mtod is a macro: start of the packet data in the first segment. */
void *shim_rte_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

int shim_rte_pktmbuf_is_contiguous(const struct rte_mbuf *m)
{
	return rte_pktmbuf_is_contiguous(m);
}

/* Not inline in the header, but only exported from some builds: wrap for a stable name. */
int shim_rte_pktmbuf_linearize(struct rte_mbuf *m)
{
	return rte_pktmbuf_linearize(m);
}

/* The calling thread's lcore id (a per-lcore TLS variable behind a macro). */
unsigned shim_rte_lcore_id(void)
{
	return rte_lcore_id();
}

uint64_t shim_rte_rdtsc(void)
{
	return rte_rdtsc();
}

/* rte_errno is a per-lcore TLS variable behind a macro. */
int shim_rte_errno(void)
{
	return rte_errno;
}

void shim_rte_prefetch0(const void *p)
{
	rte_prefetch0(p);
}

/* RSS hash-function masks are RTE_BIT64() macros, which bindgen cannot evaluate. */
uint64_t shim_rss_hf_ip_tcp_udp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

uint64_t shim_rx_offload_rss_hash(void)
{
	return RTE_ETH_RX_OFFLOAD_RSS_HASH;
}
