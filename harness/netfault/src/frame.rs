//! The virtio-net header in front of every packet on the link's TUN devices.
//!
//! The devices are opened with `IFF_VNET_HDR` and TCP/UDP segmentation offload
//! (`TUNSETOFFLOAD`, through tun-rs's `offload`), as a virtual machine's NIC is: the kernel
//! hands the engine a sender's whole GSO super-packet (up to 64 KiB: one read where there were
//! some forty) with its checksum left to do, and takes such a frame on the other side the same
//! way. While a direction is unimpaired the engine moves frames whole, header included, and
//! nobody computes segments or checksums. An impairment acts on packets as the wire would carry
//! them: a direction with one reads through tun-rs's `recv_multiple`, which cuts each frame into
//! its segments with their checksums complete (wireguard-go's way), and every shaped packet is
//! written back behind a plain header.

use tun_rs::VIRTIO_NET_HDR_LEN;

/// The header's length: a frame's IP packet starts here.
pub(crate) const HDR: usize = VIRTIO_NET_HDR_LEN;

/// The header in front of a packet rigor built or shaped: one whole packet, checksums done
/// (the receiving stack verifies them, so a corrupted packet is caught there).
pub(crate) const PLAIN: [u8; HDR] = [0; HDR];

/// The largest frame a TUN device hands over: a GSO packet of 64 KiB behind its header.
pub(crate) const MAX_FRAME: usize = HDR + 65_536;

/// Segments one GSO frame may hold (tun-rs's batch: 64 KiB in segments of 536 bytes or more).
pub(crate) const MAX_SEGMENTS: usize = tun_rs::IDEAL_BATCH_SIZE;

/// `gso_type` values (linux/virtio_net.h) and its ECN bit.
const GSO_NONE: u8 = 0;
const GSO_UDP_L4: u8 = 5;
const GSO_ECN: u8 = 0x80;

/// How many packets a wire would carry for `frame`: one, or a GSO frame's payload in
/// `gso_size` pieces. Counters count these, whether a frame was cut or moved whole.
///
/// The header is the kernel's `struct virtio_net_hdr` in native byte order; read here rather
/// than through tun-rs's decoder, which the crate hides from its documented API.
pub(crate) fn packets(frame: &[u8]) -> u64 {
    let Some((head, packet)) = frame.split_at_checked(HDR) else {
        return 1;
    };
    let field = |at: usize| u16::from_ne_bytes([head[at], head[at + 1]]);
    let (gso_type, gso_size, csum_start) = (head[1], field(4), usize::from(field(6)));
    if gso_type == GSO_NONE || gso_size == 0 {
        return 1;
    }
    // The transport header's own length, not the header's `hdr_len`, which the kernel may set
    // to the whole first packet (wireguard-go and tun-rs distrust it too).
    let transport = if gso_type & !GSO_ECN == GSO_UDP_L4 {
        8
    } else {
        packet
            .get(csum_start + 12)
            .map_or(20, |offset| usize::from(offset >> 4) * 4)
    };
    let payload = packet.len().saturating_sub(csum_start + transport);
    payload.div_ceil(usize::from(gso_size)).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/TCP frame of `payload` bytes behind TSO's header: `mss`-byte segments.
    fn tso_frame(payload: usize, mss: u16) -> Vec<u8> {
        let builder = etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 2000, 1, 65_535);
        let mut packet = Vec::new();
        builder
            .write(&mut packet, &vec![7u8; payload])
            .expect("a packet that fits");
        let mut frame = vec![1, 1]; // NEEDS_CSUM, GSO_TCPV4
        // hdr_len as the kernel may give it (the whole first packet), ignored.
        frame.extend_from_slice(&1500u16.to_ne_bytes());
        frame.extend_from_slice(&mss.to_ne_bytes());
        frame.extend_from_slice(&20u16.to_ne_bytes()); // csum_start: past the IP header
        frame.extend_from_slice(&16u16.to_ne_bytes()); // csum_offset: TCP's checksum
        frame.extend_from_slice(&packet);
        frame
    }

    #[test]
    fn a_tso_frame_counts_as_its_segments() {
        assert_eq!(packets(&tso_frame(10_000, 1448)), 7);
        assert_eq!(packets(&tso_frame(1448 * 3, 1448)), 3);
        assert_eq!(packets(&tso_frame(1, 1448)), 1);
    }

    #[test]
    fn a_plain_or_short_frame_is_one_packet() {
        let mut frame = PLAIN.to_vec();
        frame.extend_from_slice(&[0x45; 40]);
        assert_eq!(packets(&frame), 1);
        assert_eq!(packets(&frame[..5]), 1);
        let mut cut = tso_frame(100, 1448);
        cut.truncate(HDR + 25);
        assert_eq!(packets(&cut), 1);
    }
}
