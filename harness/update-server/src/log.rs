//! The server's log: every request, and what the image transfers add up to.

use std::time::Duration;

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it came, since the server started.
    pub at: Duration,
    /// The path asked for.
    pub path: String,
    /// The byte range asked for (`start`, inclusive `end`), if any.
    pub range: Option<(u64, Option<u64>)>,
    /// The HTTP status answered.
    pub status: u16,
    /// The first byte of the body sent, as an offset into the file.
    pub offset: u64,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Whether the server cut the transfer on purpose.
    pub cut: bool,
    /// Whether the request was for the image (not the manifest).
    pub image: bool,
}

/// What the image transfers of the current offer add up to, from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferStats {
    /// Requests for the image.
    pub image_requests: u32,
    /// Of them, with a `Range` header (resumptions).
    pub ranged_requests: u32,
    /// Image bytes sent in all.
    pub bytes_sent: u64,
    /// Distinct image bytes sent.
    pub bytes_covered: u64,
    /// Bytes sent more than once: a client that resumes re-downloads none, one that restarts
    /// re-downloads everything it had.
    pub bytes_redownloaded: u64,
    /// Transfers the server cut on purpose.
    pub cuts: u32,
    /// From the start of the first transfer the server cut to the request that came after the
    /// last cut: how long the client took to get back to its download. Zero without a cut;
    /// `None` if no request followed the last cut (the client never came back).
    pub time_to_recover: Option<Duration>,
}

impl TransferStats {
    /// The stats of `records` (the image requests among them).
    pub fn of<'a>(records: impl IntoIterator<Item = &'a RequestRecord>) -> TransferStats {
        let mut stats = TransferStats {
            time_to_recover: Some(Duration::ZERO),
            ..TransferStats::default()
        };
        let mut spans: Vec<(u64, u64)> = Vec::new();
        let mut first_cut: Option<Duration> = None;
        for r in records.into_iter().filter(|r| r.image) {
            if let (Some(cut_at), None) = (first_cut, stats.time_to_recover) {
                stats.time_to_recover = Some(r.at.saturating_sub(cut_at));
            }
            if r.cut {
                first_cut.get_or_insert(r.at);
                stats.time_to_recover = None;
            }
            stats.image_requests += 1;
            stats.ranged_requests += u32::from(r.range.is_some());
            stats.cuts += u32::from(r.cut);
            stats.bytes_sent += r.bytes_sent;
            if r.bytes_sent > 0 {
                spans.push((r.offset, r.offset + r.bytes_sent));
            }
        }
        spans.sort_unstable();
        let mut covered = 0;
        let mut reach = 0;
        for (start, end) in spans {
            let start = start.max(reach);
            if end > start {
                covered += end - start;
            }
            reach = reach.max(end);
        }
        stats.bytes_covered = covered;
        stats.bytes_redownloaded = stats.bytes_sent - covered;
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(offset: u64, bytes_sent: u64) -> RequestRecord {
        RequestRecord {
            at: Duration::ZERO,
            path: "/firmware/image".into(),
            range: (offset > 0).then_some((offset, None)),
            status: if offset > 0 { 206 } else { 200 },
            offset,
            bytes_sent,
            cut: false,
            image: true,
        }
    }

    #[test]
    fn resuming_re_downloads_nothing_and_restarting_re_downloads_what_was_had() {
        let resumed = [sent(0, 100), sent(100, 50), sent(150, 50)];
        let s = TransferStats::of(&resumed);
        assert_eq!(
            (s.bytes_sent, s.bytes_covered, s.bytes_redownloaded),
            (200, 200, 0)
        );
        assert_eq!(s.ranged_requests, 2);
        let restarted = [sent(0, 100), sent(0, 150), sent(0, 200)];
        let s = TransferStats::of(&restarted);
        assert_eq!(
            (s.bytes_sent, s.bytes_covered, s.bytes_redownloaded),
            (450, 200, 250)
        );
        // A resume that overlaps a little re-downloads the overlap.
        let s = TransferStats::of(&[sent(0, 100), sent(90, 110)]);
        assert_eq!(s.bytes_redownloaded, 10);
    }

    #[test]
    fn time_to_recover_runs_from_the_first_cut_to_the_request_after_the_last() {
        let at = |ms: u64, mut r: RequestRecord, cut: bool| {
            r.at = Duration::from_millis(ms);
            r.cut = cut;
            r
        };
        let twice_cut = [
            at(100, sent(0, 100), true),
            at(900, sent(100, 50), true),
            at(2_400, sent(150, 50), false),
        ];
        let s = TransferStats::of(&twice_cut);
        assert_eq!(s.time_to_recover, Some(Duration::from_millis(2_300)));
        assert_eq!(
            TransferStats::of(&[at(5, sent(0, 200), false)]).time_to_recover,
            Some(Duration::ZERO)
        );
        // Cut, and never asked again.
        assert_eq!(
            TransferStats::of(&[at(5, sent(0, 100), true)]).time_to_recover,
            None
        );
    }
}
