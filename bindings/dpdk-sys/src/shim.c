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

/* Free a (possibly chained) mbuf; honours the reference count. */
void shim_rte_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

/* Add VALUE to the reference count (held packets keep a reference across TX). */
uint16_t shim_rte_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value)
{
	return rte_mbuf_refcnt_update(m, value);
}

/* Read the reference count (inline: an atomic load). */
uint16_t shim_rte_mbuf_refcnt_read(const struct rte_mbuf *m)
{
	return rte_mbuf_refcnt_read(m);
}

/* The calling thread's lcore id (a per-lcore TLS variable behind a macro). */
unsigned shim_rte_lcore_id(void)
{
	return rte_lcore_id();
}

/* Read the time-stamp counter (inline assembly). */
uint64_t shim_rte_rdtsc(void)
{
	return rte_rdtsc();
}

/* rte_errno is a per-lcore TLS variable behind a macro. */
int shim_rte_errno(void)
{
	return rte_errno;
}

/* RSS hash-function masks are RTE_BIT64() macros, which bindgen cannot evaluate. */
uint64_t shim_rss_hf_ip_tcp_udp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

/* The RSS-hash RX offload flag, also an RTE_BIT64() macro. */
uint64_t shim_rx_offload_rss_hash(void)
{
	return RTE_ETH_RX_OFFLOAD_RSS_HASH;
}
