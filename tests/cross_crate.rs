//! Cross-crate behaviour through the umbrella crate: async producers feeding blocking
//! consumers and the reverse, over the ecosystem traits, with exact byte counts.

use std::io::{BufRead, Read};
use std::thread;

use futures::{SinkExt, StreamExt};
use py_buffer::blocking::{BlockingReader, BlockingWriter};
use py_buffer::{channel, Bytes, Error, Options};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

fn numbered_lines(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("line {i:06}\n")).collect()
}

#[test]
fn async_sink_feeds_a_blocking_line_reader_in_bounded_mode() {
    let lines = numbered_lines(20_000);
    let (mut writer, reader) = channel(Options::new().max_buffered(4096));
    let to_send = lines.clone();
    let producer = thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move {
            for line in to_send {
                writer.send(Bytes::from(line)).await.unwrap();
            }
            SinkExt::close(&mut writer).await.unwrap();
        });
    });
    let received: Vec<String> = BlockingReader::new(reader)
        .lines()
        .map(|line| format!("{}\n", line.unwrap()))
        .collect();
    producer.join().unwrap();
    assert_eq!(received, lines);
}

#[test]
fn blocking_writer_feeds_async_readers_over_tokio_traits() {
    let lines = numbered_lines(10_000);
    let (writer, reader) = channel(Options::new().max_buffered(1000));
    let writer = BlockingWriter::new(writer);
    let body: String = lines.concat();
    let to_send = body.clone();
    let producer = thread::spawn(move || {
        for piece in to_send.as_bytes().chunks(777) {
            writer.write_all(piece).unwrap();
        }
        writer.close().unwrap();
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let received = runtime.block_on(async move {
        let mut out = Vec::new();
        let mut lines = reader.lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            out.push(format!("{line}\n"));
        }
        out
    });
    producer.join().unwrap();
    assert_eq!(received, lines);
}

#[test]
fn tokio_write_all_then_stream_of_chunks_gives_every_byte_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let expected = body.clone();
    let received = runtime.block_on(async move {
        let (mut writer, mut reader) = channel(Options::new().max_buffered(64 * 1024));
        let producer = tokio::spawn(async move {
            for piece in body.chunks(10_000) {
                writer.write_all(piece).await.unwrap();
            }
            writer.shutdown().await.unwrap();
        });
        let mut out = Vec::new();
        while let Some(chunk) = reader.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        producer.await.unwrap();
        out
    });
    assert_eq!(received.len(), expected.len());
    assert!(received == expected, "bytes differ");
}

#[test]
fn a_dropped_async_writer_fails_a_blocking_read_to_end_without_losing_bytes() {
    let (writer, reader) = channel(Options::new());
    writer.try_write(b"partial body").unwrap();
    let mut reader = BlockingReader::new(reader);
    let consumer = thread::spawn(move || {
        let whole = reader.read_all();
        let mut rest = Vec::new();
        let tail = reader.read_to_end(&mut rest);
        (whole, rest, tail.map_err(|e| e.kind()))
    });
    drop(writer);
    let (whole, rest, tail) = consumer.join().unwrap();
    assert_eq!(
        whole,
        Err(Error::Aborted(py_buffer::AbortReason::WriterGone))
    );
    assert_eq!(
        rest, b"partial body",
        "read_to_end got the bytes that arrived"
    );
    assert_eq!(tail, Err(std::io::ErrorKind::ConnectionAborted));
}
