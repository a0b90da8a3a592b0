//! What a router on a path with a smaller MTU answers a packet too big to pass with "don't
//! fragment" set: ICMP "fragmentation needed" with the next hop's MTU, so the sender's path MTU
//! discovery shrinks its packets (without it, TCP stalls on the first full-size segment).

use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{Icmpv4Type, NetSlice, PacketBuilder, SlicedPacket};

/// The ICMP "fragmentation needed" answer to `packet`, or `None` if it is not IPv4 with DF set
/// (IPv6 has no such answer here: rig links are IPv4).
pub fn frag_needed(packet: &[u8], mtu: usize) -> Option<Vec<u8>> {
    let sliced = SlicedPacket::from_ip(packet).ok()?;
    let Some(NetSlice::Ipv4(ip)) = sliced.net else {
        return None;
    };
    let header = ip.header();
    if !header.dont_fragment() {
        return None;
    }
    // The original's IP header and first 8 bytes of payload, as RFC 792 asks.
    let quoted = packet.get(..(header.slice().len() + 8).min(packet.len()))?;
    let builder = PacketBuilder::ipv4(header.destination(), header.source(), 64).icmpv4(
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
            next_hop_mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
        }),
    );
    let mut out = Vec::with_capacity(builder.size(quoted.len()));
    builder.write(&mut out, quoted).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::TransportSlice;

    #[test]
    fn a_df_packet_gets_fragmentation_needed_back_and_others_nothing() {
        let mut packet = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(4000, 5000)
            .write(&mut packet, &[0u8; 1200])
            .expect("built");
        // etherparse sets DF; the checksum is not what is tested.
        packet[6] &= !0x40;
        assert_eq!(frag_needed(&packet, 1000), None, "no DF, no answer");
        packet[6] |= 0x40;
        let answer = frag_needed(&packet, 1000).expect("an answer");
        let sliced = SlicedPacket::from_ip(&answer).expect("parses");
        let Some(NetSlice::Ipv4(ip)) = sliced.net else {
            panic!("ipv4")
        };
        assert_eq!(ip.header().destination(), [10, 0, 0, 1]);
        let Some(TransportSlice::Icmpv4(icmp)) = sliced.transport else {
            panic!("icmp")
        };
        assert_eq!(
            icmp.icmp_type(),
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu: 1000
            })
        );
        assert_eq!(icmp.payload().len(), 28);
    }
}
