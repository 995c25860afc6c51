//! Reading on one core, analysing on the other: a producer thread reads the input (the
//! kernel's copy from the page cache), walks the file format and copies each frame into a
//! batch; the calling thread takes whole batches and hands their frames, in order, to the
//! analysis. Batches are recycled, so the steady state allocates nothing, and at most
//! [`IN_FLIGHT`] of them (a few MiB) wait between the threads.

use super::{CaptureError, LinkType, RawPacket, SourceSummary};
use crate::time::Timestamp;
use std::ops::ControlFlow;
use std::sync::mpsc;

/// Frame bytes gathered before a batch is handed over.
const BATCH_BYTES: usize = 512 << 10;
/// Frames gathered before a batch is handed over (small frames: DNS, ACKs).
const BATCH_FRAMES: usize = 4096;
/// Full batches waiting for the analysis at most.
const IN_FLIGHT: usize = 4;

/// One frame's facts; its bytes are `data[start..end]` of the batch.
#[derive(Clone, Copy)]
struct Frame {
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    interface: u32,
    start: usize,
    end: usize,
}

#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    frames: Vec<Frame>,
}

impl Batch {
    fn push(&mut self, p: &RawPacket<'_>) {
        let start = self.data.len();
        self.data.extend_from_slice(p.data);
        let end = self.data.len();
        self.frames.push(Frame { ts: p.ts, link: p.link, orig_len: p.orig_len, interface: p.interface, start, end });
    }

    fn full(&self) -> bool {
        self.data.len() >= BATCH_BYTES || self.frames.len() >= BATCH_FRAMES
    }

    fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
        // One huge frame (up to the reader's 64 MiB block cap) must not pin its buffer.
        if self.data.capacity() > 4 * BATCH_BYTES {
            self.data.shrink_to(BATCH_BYTES);
        }
    }
}

/// Runs `produce` on a second thread, handing it a per-frame callback that batches frames,
/// and calls `on_packet` for each frame on this thread. `on_packet` returning `Break` stops
/// the producer at its next frame. Gives the producer's result.
pub fn run<P>(
    produce: P,
    mut on_packet: impl FnMut(&RawPacket<'_>) -> ControlFlow<()>,
) -> Result<SourceSummary, CaptureError>
where
    P: FnOnce(&mut dyn FnMut(&RawPacket<'_>) -> ControlFlow<()>) -> Result<SourceSummary, CaptureError> + Send,
{
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let (free_tx, free_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let producer = std::thread::Builder::new().name("streamscope-read".into()).spawn_scoped(scope, move || {
            let mut batch = Batch::default();
            let mut emit = |p: &RawPacket<'_>| {
                batch.push(p);
                if batch.full() {
                    let next = free_rx.try_recv().unwrap_or_default();
                    if full_tx.send(std::mem::replace(&mut batch, next)).is_err() {
                        // The analysis stopped: stop reading.
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            };
            let result = produce(&mut emit);
            if !batch.frames.is_empty() {
                let _ = full_tx.send(batch);
            }
            result
        });
        let producer = match producer {
            Ok(p) => p,
            Err(e) => return Err(CaptureError::Io(format!("cannot start the reading thread: {e}"))),
        };
        'batches: for mut batch in full_rx {
            for f in &batch.frames {
                let data = batch.data.get(f.start..f.end).unwrap_or_default();
                let p = RawPacket { ts: f.ts, link: f.link, data, orig_len: f.orig_len, interface: f.interface };
                if on_packet(&p).is_break() {
                    // Dropping the receiver (leaving the loop) makes the producer's next hand-over fail.
                    break 'batches;
                }
            }
            batch.clear();
            let _ = free_tx.send(batch);
        }
        match producer.join() {
            Ok(result) => result,
            Err(_) => Err(CaptureError::Io("the reading thread failed".into())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![(i % 251) as u8; (i * 37) % 3000]).collect()
    }

    fn produce_all(
        src: &[Vec<u8>],
        emit: &mut dyn FnMut(&RawPacket<'_>) -> ControlFlow<()>,
    ) -> Result<SourceSummary, CaptureError> {
        let mut summary = SourceSummary::default();
        for (i, d) in src.iter().enumerate() {
            let p = RawPacket {
                ts: Timestamp(i as i64),
                link: LinkType::ETHERNET,
                data: d,
                orig_len: d.len() as u32 + 1,
                interface: (i % 3) as u32,
            };
            summary.bytes_read += 1;
            if emit(&p).is_break() {
                break;
            }
        }
        Ok(summary)
    }

    #[test]
    fn every_frame_arrives_in_order_across_batches() {
        let src = frames(20_000);
        let mut seen = 0usize;
        let summary = run(
            |emit| produce_all(&src, emit),
            |p| {
                assert_eq!(p.ts, Timestamp(seen as i64));
                assert_eq!(p.data, src[seen].as_slice());
                assert_eq!(p.orig_len as usize, src[seen].len() + 1);
                assert_eq!(p.interface as usize, seen % 3);
                seen += 1;
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert_eq!(seen, src.len());
        assert_eq!(summary.bytes_read, src.len() as u64);
    }

    #[test]
    fn a_break_stops_the_producer_without_hanging() {
        let src = frames(200_000);
        let mut seen = 0usize;
        let summary = run(
            |emit| produce_all(&src, emit),
            |_| {
                seen += 1;
                if seen == 10 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
        assert_eq!(seen, 10);
        // The producer stopped within the batches that could be in flight.
        assert!(summary.bytes_read < ((IN_FLIGHT + 3) * BATCH_FRAMES) as u64, "{}", summary.bytes_read);
    }

    #[test]
    fn producer_errors_come_back() {
        let r = run(|_| Err(CaptureError::NotACapture("no".into())), |_| ControlFlow::Continue(()));
        assert!(matches!(r, Err(CaptureError::NotACapture(_))));
    }
}
