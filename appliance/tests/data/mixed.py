#!/usr/bin/env python3
"""Write a pcap of mixed and malformed traffic for the appliance's e2e tests.

usage: mixed.py OUT.pcap   -- prints a JSON summary of what it wrote (counts by kind)
Only test addresses (198.18.0.0/15, 2001:2::/48) are used."""
import json, random, sys
from scapy.all import Ether, Dot1Q, Dot1AD, IP, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, \
    IPv6ExtHdrDestOpt, TCP, UDP, ICMP, ICMPv6EchoRequest, ARP, Raw, fragment, wrpcap

random.seed(11)
C, S = "02:00:00:00:00:01", "02:00:00:00:00:02"
e = lambda: Ether(src=C, dst=S)
out, kinds = [], {}
def add(kind, pkts):
    pkts = pkts if isinstance(pkts, list) else [pkts]
    out.extend(pkts); kinds[kind] = kinds.get(kind, 0) + len(pkts)

add("udp", [e()/IP(src="198.18.0.1", dst="198.18.0.2")/UDP(sport=5000+i, dport=53)/Raw(b"q"*20) for i in range(10)])
add("icmp", [e()/IP(src="198.18.0.1", dst="198.18.0.2")/ICMP()/Raw(b"ping") for _ in range(5)])
add("ipv6_tcp", [e()/IPv6(src="2001:2::1", dst="2001:2::2")/TCP(sport=41000+i, dport=443, flags="S") for i in range(5)])
add("ipv6_ext", [e()/IPv6(src="2001:2::1", dst="2001:2::2")/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/TCP(sport=42000, dport=443, flags="S")])
add("icmpv6", [e()/IPv6(src="2001:2::1", dst="2001:2::2")/ICMPv6EchoRequest()])
add("vlan_tcp", [e()/Dot1Q(vlan=100)/IP(src="198.18.0.1", dst="198.18.0.2")/TCP(sport=43000+i, dport=443, flags="S", options=[("MSS", 1460)]) for i in range(5)])
add("qinq_tcp", [e()/Dot1AD(vlan=10)/Dot1Q(vlan=20)/IP(src="198.18.0.1", dst="198.18.0.2")/TCP(sport=44000, dport=443, flags="S")])
add("ipv4_fragments", fragment(e()/IP(src="198.18.0.1", dst="198.18.0.2")/UDP(sport=6000, dport=6001)/Raw(b"x"*3000), fragsize=1000))
add("ipv6_fragments", [e()/IPv6(src="2001:2::1", dst="2001:2::2")/IPv6ExtHdrFragment(offset=0, m=1, id=7)/UDP(sport=7000, dport=7001)/Raw(b"y"*64),
                        e()/IPv6(src="2001:2::1", dst="2001:2::2")/IPv6ExtHdrFragment(offset=9, m=0, id=7, nh=17)/Raw(b"y"*64)])
add("arp", [Ether(src=C, dst="ff:ff:ff:ff:ff:ff")/ARP(psrc="198.18.0.1", pdst="198.18.0.2")])
# Malformed: every one must be counted and dropped (the default rule), never crash.
bad = []
good_tcp = bytes(e()/IP(src="198.18.0.1", dst="198.18.0.2")/TCP(sport=45000, dport=443, flags="S", options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]))
for cut in range(14, len(good_tcp)):          # truncated at every offset past Ethernet
    bad.append(Ether(good_tcp[:cut]))
b = bytearray(good_tcp); b[14] = 0x43; bad.append(Ether(bytes(b)))          # IHL < 5
b = bytearray(good_tcp); b[14+12+20] = 0x30; bad.append(Ether(bytes(b)))    # TCP data offset 3
b = bytearray(good_tcp); b[14+12+20] = 0xf0; bad.append(Ether(bytes(b)))    # data offset past the end
b = bytearray(good_tcp); b[14+20+20+1] = 0; bad.append(Ether(bytes(b)))     # MSS option length 0
b = bytearray(good_tcp); b[14+20+20+1] = 1; bad.append(Ether(bytes(b)))     # option length 1
b = bytearray(good_tcp); b[14+20+20+1] = 40; bad.append(Ether(bytes(b)))    # option overruns
b = bytearray(good_tcp); b[16:18] = (9000).to_bytes(2, "big"); bad.append(Ether(bytes(b)))  # total length > frame
add("malformed", bad)
add("garbage", [Raw(bytes(random.getrandbits(8) for _ in range(random.randint(1, 13)))) for _ in range(5)])  # shorter than Ethernet
wrpcap(sys.argv[1], out, linktype=1)
print(json.dumps(kinds))
