//! What an RTU line answers, through tokio-modbus's RTU client framing (CRC, function, lengths)
//! and rigor's typing of the answer, for the fuzz target `modbus_rtu` (`fuzz/`). Not an API.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_modbus::client::{Client, Context as Modbus};
use tokio_modbus::{Request, Slave};

use super::answer::check;
use super::link::{Asker, judge};

/// Runs requests on a line whose instruments answered with `data`: the first byte picks the
/// requests (function, unit id, quantity); then come the line's answers, each a length byte and
/// that many bytes, the next one on the wire after the next request. Returns how many answers
/// came in turn (values or exceptions) before the line was no longer trusted.
#[doc(hidden)]
pub fn fuzz_rtu_answers(data: &[u8]) -> usize {
    let Some((&pick, mut rest)) = data.split_first() else {
        return 0;
    };
    let mut answers = VecDeque::new();
    while let Some((&len, after)) = rest.split_first() {
        let (answer, after) = after.split_at(usize::from(len).min(after.len()));
        answers.push_back(answer.to_vec());
        rest = after;
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return 0;
    };
    let line = Line {
        answers,
        wire: Vec::new(),
        read: 0,
    };
    runtime.block_on(async move {
        let mut context = tokio_modbus::client::rtu::attach_slave(line, Slave(1 + pick % 3));
        let mut answered = 0;
        for n in 0..4u8 {
            let function = pick.rotate_left(u32::from(n) * 2) % 7;
            let count = 1 + u16::from(pick >> 4) * 4;
            let asker = Asker {
                who: "fuzzed instrument",
                unit: 1 + pick % 3,
                timeout: Duration::from_secs(1),
            };
            if !request(&mut context, function, count, &asker).await {
                break;
            }
            answered += 1;
        }
        answered
    })
}

/// A serial line in memory: each request sent puts the next answer on the wire; past an
/// answer's end the line reads as closed, so a short answer fails at once rather than after a
/// timeout.
#[derive(Debug)]
struct Line {
    answers: VecDeque<Vec<u8>>,
    wire: Vec<u8>,
    read: usize,
}

impl AsyncRead for Line {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let line = &mut *self;
        let left = line.wire.get(line.read..).unwrap_or_default();
        let n = left.len().min(buf.remaining());
        buf.put_slice(&left[..n]);
        line.read += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Line {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        request: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(request.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let line = &mut *self;
        line.wire = line.answers.pop_front().unwrap_or_default();
        line.read = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// One request as rigor's instruments and lines make them, its answer judged and checked as
/// theirs are; whether the line is still trusted.
async fn request(context: &mut Modbus, function: u8, count: u16, asker: &Asker<'_>) -> bool {
    let request = match function {
        0 => Request::ReadHoldingRegisters(0, count),
        1 => Request::ReadInputRegisters(8, count),
        2 => Request::ReadCoils(0, count),
        3 => Request::ReadDiscreteInputs(0, count),
        4 => Request::WriteSingleRegister(9, 1234),
        5 => Request::WriteSingleCoil(2, true),
        _ => Request::WriteMultipleRegisters(0, vec![0x55AA; usize::from(count.min(123))].into()),
    };
    let sent = request.clone();
    let answer = tokio::time::timeout(asker.timeout, context.call(request)).await;
    let (response, healthy) = judge(answer, asker, "a request");
    if let Ok(response) = response {
        let _ = check(&sent, response);
    }
    healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(frame: &[u8]) -> Vec<u8> {
        let mut c: u16 = 0xFFFF;
        for &b in frame {
            c ^= u16::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0xA001
                } else {
                    c >> 1
                };
            }
        }
        let mut out = frame.to_vec();
        out.extend_from_slice(&c.to_le_bytes());
        out
    }

    /// The seeds of `.ci/fuzz` do what they say: answers in turn are taken, an exception too,
    /// and a CRC error or another unit's answer makes the line untrusted.
    #[test]
    fn answers_in_turn_are_taken_and_garbled_ones_end_the_line() {
        let line = |answers: &[Vec<u8>]| {
            let mut data = vec![0]; // unit 1, read one holding register each time
            for a in answers {
                data.push(u8::try_from(a.len()).unwrap_or(0));
                data.extend_from_slice(a);
            }
            fuzz_rtu_answers(&data)
        };
        let one = crc(&[1, 3, 2, 0x04, 0xB0]);
        assert_eq!(
            line(&[one.clone(), one.clone(), one.clone(), one.clone()]),
            4
        );
        assert_eq!(line(&[crc(&[1, 0x83, 2]), one.clone()]), 2);
        assert_eq!(line(&[vec![1, 3, 2, 0x04, 0xB0, 0, 0]]), 0);
        assert_eq!(line(&[crc(&[7, 3, 2, 0, 1]), one.clone()]), 0);
        assert_eq!(line(&[one[..4].to_vec(), one]), 0);
    }
}
