//! The remote serial protocol's framing: `$payload#cs`, binary escapes and run-length encoding.
//! Written by hand: the maintained Rust crates for this protocol (`gdbstub`) implement the stub's
//! side, not the client's.

/// Frames `payload` as a packet: `$`, the payload, `#`, two hex digits of its byte sum.
pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    let sum = payload.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.push(b'$');
    out.extend_from_slice(payload);
    out.push(b'#');
    out.extend_from_slice(format!("{sum:02x}").as_bytes());
    out
}

/// Escapes binary data for an `X` packet: `#`, `$`, `}` and `*` become `}` and the byte XOR 0x20.
pub(crate) fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    for &b in data {
        if matches!(b, b'#' | b'$' | b'}' | b'*') {
            out.push(b'}');
            out.push(b ^ 0x20);
        } else {
            out.push(b);
        }
    }
}

/// How many bytes `data` takes escaped.
pub(crate) fn escaped_len(data: &[u8]) -> usize {
    data.len()
        + data
            .iter()
            .filter(|b| matches!(b, b'#' | b'$' | b'}' | b'*'))
            .count()
}

/// Takes the first whole packet out of `inbox`: its payload and its two checksum characters.
/// Acknowledgements and noise before a `$` are dropped; an unfinished packet stays for more bytes.
pub(crate) fn take_packet(inbox: &mut Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
    let Some(start) = inbox.iter().position(|b| *b == b'$') else {
        inbox.clear();
        return None;
    };
    inbox.drain(..start);
    let hash = inbox.iter().position(|b| *b == b'#')?;
    if inbox.len() < hash + 3 {
        return None;
    }
    let payload = inbox[1..hash].to_vec();
    let checksum = inbox[hash + 1..hash + 3].to_vec();
    inbox.drain(..hash + 3);
    Some((payload, checksum))
}

/// Expands run-length encoding in a reply: `X*n` repeats X `n - 29` more times.
pub(crate) fn expand_rle(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    while i < payload.len() {
        if payload[i] == b'*' && i + 1 < payload.len() {
            if let Some(&last) = out.last() {
                let count = usize::from(payload[i + 1]).saturating_sub(29);
                out.extend(std::iter::repeat_n(last, count));
            }
            i += 2;
        } else {
            out.push(payload[i]);
            i += 1;
        }
    }
    out
}

/// Whether `checksum` (two hex digits) is the sum of `payload`.
pub(crate) fn checksum_ok(payload: &[u8], checksum: &[u8]) -> bool {
    let sum = payload.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    std::str::from_utf8(checksum)
        .ok()
        .and_then(|c| u8::from_str_radix(c, 16).ok())
        == Some(sum)
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex text; `None` if it is not hex.
pub(crate) fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect()
}

/// GDB's CRC-32 for `qCRC` (libiberty's `xcrc32`): polynomial 0x04c11db7, most significant bit
/// first, initial value all ones, no final inversion.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xffff_ffff;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn packets_carry_their_checksum() {
        // GDB's own example: `$m0,4#fd`... the sum of "g" is 0x67.
        assert_eq!(frame(b"g"), b"$g#67");
        assert_eq!(frame(b""), b"$#00");
        assert!(checksum_ok(b"OK", b"9a"));
        assert!(!checksum_ok(b"OK", b"9b"));
    }

    #[test]
    fn binary_data_escapes_the_four_framing_bytes() {
        let mut out = Vec::new();
        escape_into(b"a#b$c}d*e", &mut out);
        assert_eq!(out, b"a}\x03b}\x04c}]d}\x0ae");
        assert_eq!(escaped_len(b"a#b$c}d*e"), out.len());
    }

    #[test]
    fn run_length_encoding_expands() {
        // "0* " is '0' and then 32 - 29 = 3 more.
        assert_eq!(expand_rle(b"0* "), b"0000");
        assert_eq!(expand_rle(b"ab*\"c"), b"abbbbbbc");
        assert_eq!(expand_rle(b"plain"), b"plain");
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(unhex(b"00ab10").unwrap(), [0x00, 0xab, 0x10]);
        assert!(unhex(b"0g").is_none());
    }

    #[test]
    fn the_crc_is_gdbs() {
        // The value `gdb` computes for `compare-sections` over "123456789".
        assert_eq!(crc32(b"123456789"), 0x0376_e6e7);
    }
}
