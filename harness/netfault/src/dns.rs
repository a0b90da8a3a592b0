//! The link's failing resolver: recognises a device's DNS query (UDP to port 53) and builds the
//! SERVFAIL answer a broken resolver would send.
//!
//! IP and UDP go through etherparse (checksums included). The DNS part is written here: a
//! SERVFAIL answer is the query's header with three fields changed and its question echoed, and
//! a DNS crate would parse the whole message only to do that.

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

/// DNS's port.
const DNS_PORT: u16 = 53;
/// A DNS header's length.
const HEADER: usize = 12;

/// Whether `packet` is a DNS query over UDP.
pub fn is_query(packet: &[u8]) -> bool {
    let Ok(sliced) = SlicedPacket::from_ip(packet) else {
        return false;
    };
    matches!(sliced.transport, Some(TransportSlice::Udp(udp))
        if udp.destination_port() == DNS_PORT
            && udp.payload().len() >= HEADER
            // QR clear: a query, not an answer passing by.
            && udp.payload()[2] & 0x80 == 0)
}

/// The IP packet answering the query in `packet` with SERVFAIL, or `None` if it is not a
/// well-formed DNS query.
pub fn servfail(packet: &[u8]) -> Option<Vec<u8>> {
    let sliced = SlicedPacket::from_ip(packet).ok()?;
    let Some(TransportSlice::Udp(udp)) = sliced.transport else {
        return None;
    };
    let message = servfail_message(udp.payload())?;
    let builder = match sliced.net? {
        NetSlice::Ipv4(ip) => {
            PacketBuilder::ipv4(ip.header().destination(), ip.header().source(), 64)
        }
        NetSlice::Ipv6(ip) => {
            PacketBuilder::ipv6(ip.header().destination(), ip.header().source(), 64)
        }
        NetSlice::Arp(_) => return None,
    }
    .udp(udp.destination_port(), udp.source_port());
    let mut out = Vec::with_capacity(builder.size(message.len()));
    builder.write(&mut out, &message).ok()?;
    Some(out)
}

/// The DNS message answering `query` with SERVFAIL: its id, opcode and RD kept, QR and RA set,
/// its question echoed, no records.
fn servfail_message(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < HEADER || query[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    // Walk the questions (uncompressed names in a query) to drop any EDNS record after them.
    let mut end = HEADER;
    for _ in 0..qdcount {
        loop {
            let len = usize::from(*query.get(end)?);
            end += 1;
            if len == 0 {
                break;
            }
            if len & 0xc0 != 0 {
                return None;
            }
            end += len;
        }
        end += 4;
    }
    let mut answer = query.get(..end)?.to_vec();
    answer[2] = 0x80 | (query[2] & 0x79);
    answer[3] = 0x80 | 2;
    answer[6..HEADER].fill(0);
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `a.io` A with an EDNS OPT record after the question.
    fn query() -> Vec<u8> {
        let mut q = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(&[1, b'a', 2, b'i', b'o', 0, 0, 1, 0, 1]);
        q.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
        q
    }

    #[test]
    fn servfail_keeps_the_id_and_question_and_drops_the_edns_record() {
        let a = servfail_message(&query()).expect("an answer");
        assert_eq!(&a[..4], &[0xbe, 0xef, 0x81, 0x82]);
        assert_eq!(&a[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&a[12..], &[1, b'a', 2, b'i', b'o', 0, 0, 1, 0, 1]);
        assert_eq!(servfail_message(&a), None, "an answer is not answered");
    }

    #[test]
    fn the_answer_packet_goes_back_to_the_asker() {
        let builder = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(4000, 53);
        let mut packet = Vec::new();
        builder.write(&mut packet, &query()).expect("built");
        assert!(is_query(&packet));
        let answer = servfail(&packet).expect("an answer");
        let sliced = SlicedPacket::from_ip(&answer).expect("parses");
        let Some(NetSlice::Ipv4(ip)) = sliced.net else {
            panic!("ipv4")
        };
        assert_eq!(ip.header().destination(), [10, 0, 0, 1]);
        let Some(TransportSlice::Udp(udp)) = sliced.transport else {
            panic!("udp")
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (53, 4000));
        assert_eq!(udp.payload()[3] & 0x0f, 2);
        assert!(!is_query(&answer));
    }
}
