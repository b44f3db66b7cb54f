//! `Reader::try_line_in_block`, the line fast path: it returns exactly what the general
//! `readline` would, moves the shared position the same way, and stands aside (returns `None`)
//! whenever the general path must decide: lines across blocks, partial lines, EOF, bounded mode.

use std::io::SeekFrom;

use py_buffer_core::{channel, Bytes, Options, ReadKind};

/// Lines of varying length, many of them crossing the 4 KiB blocks they are written in.
fn body() -> Vec<u8> {
    (0..2000)
        .flat_map(|i| {
            let mut line = vec![b'a' + (i % 26) as u8; i % 97];
            line.push(b'\n');
            line
        })
        .collect()
}

fn next_line(reader: &py_buffer_core::Reader) -> (Vec<u8>, bool) {
    if let Some(line) = reader.try_line_in_block(b'\n', |l| l.to_vec()) {
        return (line, true);
    }
    let kind = ReadKind::Until {
        delim: b'\n',
        limit: None,
    };
    let line = reader
        .try_read_with(kind, |s| s.to_vec())
        .expect("complete body")
        .unwrap();
    (line, false)
}

#[test]
fn fast_and_general_paths_read_the_same_lines() {
    let data = body();
    let (writer, reader) = channel(Options::new());
    for chunk in data.chunks(4096) {
        // Kept blocks (owned Bytes of >= 4 KiB) and copied ones alike.
        writer
            .try_write_bytes(&mut Bytes::copy_from_slice(chunk))
            .unwrap();
    }
    writer.close().unwrap();
    let expected: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let (mut fast, mut general) = (0, 0);
    for want in &expected {
        let before = reader.tell();
        let (line, was_fast) = next_line(&reader);
        assert_eq!(&line[..], *want);
        assert_eq!(reader.tell(), before + want.len() as u64);
        if was_fast {
            fast += 1;
        } else {
            general += 1;
        }
    }
    assert!(
        fast > 0 && general > 0,
        "both paths taken: {fast} fast, {general} general"
    );
    assert!(
        reader.try_line_in_block(b'\n', |l| l.to_vec()).is_none(),
        "EOF"
    );
    // A seek back reads the same lines again.
    reader.seek(SeekFrom::Start(0)).unwrap();
    assert_eq!(next_line(&reader).0, expected[0]);
}

#[test]
fn a_partial_line_is_left_to_the_general_path() {
    let (writer, reader) = channel(Options::new());
    writer.try_write(b"abc").unwrap();
    assert!(reader.try_line_in_block(b'\n', |l| l.to_vec()).is_none());
    assert_eq!(reader.tell(), 0);
    writer.try_write(b"\n").unwrap();
    assert_eq!(
        reader.try_line_in_block(b'\n', |l| l.to_vec()),
        Some(b"abc\n".to_vec())
    );
}

#[test]
fn bounded_buffers_take_the_general_path() {
    let (writer, reader) = channel(Options::new().max_buffered(1024));
    writer.try_write(b"a\nb\n").unwrap();
    assert!(reader.try_line_in_block(b'\n', |l| l.to_vec()).is_none());
    assert_eq!(reader.tell(), 0);
}
