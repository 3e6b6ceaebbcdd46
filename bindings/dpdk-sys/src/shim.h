/* Out-of-line wrappers for DPDK's static inline fast-path functions (see shim.c). */
#ifndef DPDK_SYS_SHIM_H
#define DPDK_SYS_SHIM_H
#include <stdint.h>
struct rte_mbuf;
struct rte_mempool;

uint16_t shim_rte_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t shim_rte_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
uint16_t shim_rte_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);
uint16_t shim_rte_mbuf_refcnt_read(const struct rte_mbuf *m);
unsigned shim_rte_lcore_id(void);
uint64_t shim_rte_rdtsc(void);
int shim_rte_errno(void);
uint64_t shim_rss_hf_ip_tcp_udp(void);
uint64_t shim_rx_offload_rss_hash(void);
#endif
