/* The DPDK API surface the appliance uses; bindgen reads this with pkg-config's flags. */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_version.h>
#include <rte_pdump.h>
#include <rte_telemetry.h>
#include "shim.h"
