//! The reader and writer under the ecosystem's traits: tokio `AsyncRead`/`AsyncBufRead`/
//! `AsyncWrite`, futures `AsyncRead`/`AsyncBufRead`/`AsyncWrite`, `Stream<Item =
//! io::Result<Bytes>>` and `Sink<Bytes>` — exact bytes, and failed bodies as exact io errors.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::io;

use bytes::Bytes;
use py_buffer_core::{channel, AbortReason, Error, Options};

fn inner(e: &io::Error) -> &Error {
    e.get_ref().unwrap().downcast_ref::<Error>().unwrap()
}

mod tokio_traits {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_write_to_async_read_across_tasks() {
        let (mut w, mut r) = channel(Options::new().max_buffered(100));
        let body: Vec<u8> = (0..50_000u32).map(|i| (i % 7) as u8).collect();
        let expected = body.clone();
        let producer = tokio::spawn(async move {
            for piece in body.chunks(333) {
                w.write_all(piece).await.unwrap();
            }
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        // Inherent methods shadow the traits' names, hence the qualified calls.
        assert_eq!(
            AsyncReadExt::read_to_end(&mut r, &mut got).await.unwrap(),
            50_000
        );
        producer.await.unwrap();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn buf_read_lines_and_exact() {
        let (mut w, mut r) = channel(Options::new());
        w.write_all(b"alpha\nbeta\n1234gamma").await.unwrap();
        w.shutdown().await.unwrap();
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "alpha\n");
        assert_eq!(r.fill_buf().await.unwrap(), b"beta\n1234gamma");
        r.consume(5);
        assert_eq!(r.tell(), 11);
        let mut four = [0u8; 4];
        r.read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"1234");
        let mut lines = r.lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("gamma"));
        assert_eq!(lines.next_line().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_truncated_body_is_an_unexpected_eof_after_the_bytes() {
        let (mut w, mut r) = channel(Options::new().content_length(10));
        w.write_all(b"abc").await.unwrap();
        w.shutdown().await.unwrap();
        let mut got = Vec::new();
        let e = AsyncReadExt::read_to_end(&mut r, &mut got)
            .await
            .unwrap_err();
        assert_eq!(got, b"abc");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            inner(&e),
            &Error::Truncated {
                expected: 10,
                got: 3
            }
        );
    }

    #[tokio::test]
    async fn writes_after_the_reader_closed_are_broken_pipes() {
        let (mut w, r) = channel(Options::new());
        r.close();
        let e = w.write_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(inner(&e), &Error::ReaderClosed);
    }
}

mod futures_traits {
    use super::*;
    use futures::executor::block_on;
    use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    use futures::{SinkExt, StreamExt, TryStreamExt};

    #[test]
    fn async_write_and_async_read() {
        block_on(async {
            let (mut w, mut r) = channel(Options::new());
            w.write_all(b"hello\nworld").await.unwrap();
            AsyncWriteExt::close(&mut w).await.unwrap();
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            assert_eq!(line, "hello\n");
            let mut buf = [0u8; 3];
            assert_eq!(AsyncReadExt::read(&mut r, &mut buf).await.unwrap(), 3);
            assert_eq!(&buf, b"wor");
            let mut rest = Vec::new();
            AsyncReadExt::read_to_end(&mut r, &mut rest).await.unwrap();
            assert_eq!(rest, b"ld");
            assert_eq!(AsyncReadExt::read(&mut r, &mut buf).await.unwrap(), 0);
        });
    }

    #[test]
    fn buf_read_peeks_without_consuming() {
        block_on(async {
            let (w, mut r) = channel(Options::new());
            w.try_write(b"abcdef").unwrap();
            assert_eq!(r.fill_buf().await.unwrap(), b"abcdef");
            assert_eq!(r.fill_buf().await.unwrap(), b"abcdef");
            assert_eq!(r.tell(), 0);
            r.consume_unpin(4);
            assert_eq!(r.tell(), 4);
            assert_eq!(r.fill_buf().await.unwrap(), b"ef");
        });
    }

    #[test]
    fn stream_yields_chunks_then_the_error_of_a_failed_body() {
        block_on(async {
            let (w, mut r) = channel(Options::new());
            let big = vec![3u8; 100 * 1024];
            w.try_write(&big).unwrap();
            w.try_write(b"tail").unwrap();
            w.abort(AbortReason::other("reset")).unwrap();
            let mut total = 0;
            let err = loop {
                match r.next().await.unwrap() {
                    Ok(chunk) => {
                        assert!(!chunk.is_empty() && chunk.len() <= 64 * 1024);
                        total += chunk.len();
                    }
                    Err(e) => break e,
                }
            };
            assert_eq!(total, 100 * 1024 + 4);
            assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
            assert_eq!(inner(&err), &Error::Aborted(AbortReason::other("reset")));
        });
    }

    #[test]
    fn stream_ends_at_a_clean_eof() {
        block_on(async {
            let (w, r) = channel(Options::new());
            let producer = std::thread::spawn(move || {
                for i in 0..100u8 {
                    w.try_write(&[i; 10]).unwrap();
                }
                w.close().unwrap();
            });
            let chunks: Vec<Bytes> = r.try_collect().await.unwrap();
            producer.join().unwrap();
            let all: Vec<u8> = chunks.concat();
            let expected: Vec<u8> = (0..100u8).flat_map(|i| [i; 10]).collect();
            assert_eq!(all, expected);
        });
    }

    #[test]
    fn sink_feeds_a_stream() {
        block_on(async {
            let (mut w, r) = channel(Options::new());
            let items = futures::stream::iter(
                [&b"ab"[..], b"", b"cd", &[b'e'; 5000][..]].map(|b| Ok(Bytes::copy_from_slice(b))),
            );
            w.send_all(&mut items.map(Ok::<_, Error>).map(|r| r.and_then(|x| x)))
                .await
                .unwrap();
            SinkExt::close(&mut w).await.unwrap();
            let all = r.read_to_end().await.unwrap();
            assert_eq!(&all[..4], b"abcd");
            assert_eq!(all.len(), 5004);
            assert_eq!(
                SinkExt::send(&mut w, Bytes::from_static(b"x")).await,
                Err(Error::Closed)
            );
        });
    }
}
