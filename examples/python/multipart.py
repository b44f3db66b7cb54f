"""The seed's multipart parsing example, completed so it really parses.

The seed's sketch finds each boundary with ``buf.find`` (memchr/memmem), reads the part
headers with ``readline`` until the blank line, and left "read content until next boundary"
open. Here the content is read with ``find`` + ``read``: everything up to the next
``\\r\\n--boundary`` delimiter, so a part's data may contain newlines or partial boundaries.
The parser expects the whole body to be written (it reads a buffer that Erlang closed, or
one that is still arriving: ``find`` only sees what is there, so it waits with ``peek`` for
more when no delimiter is found yet).
"""


def parse_multipart(buf, boundary):
    """Parse multipart form data from buffer."""
    parts = []
    delimiter = b'--' + boundary.encode()
    # Skip the preamble up to the first boundary.
    idx = buf.find(delimiter)
    if idx == -1:
        return parts
    buf.read(idx + len(delimiter))
    while True:
        # After a boundary: "--" closes the body, "\r\n" starts a part.
        after = buf.read(2)
        if after != b'\r\n':
            break
        # Read headers until blank line
        headers = {}
        while True:
            line = buf.readline()
            if line in (b'\r\n', b''):
                break
            name, value = line.split(b':', 1)
            headers[name.strip().decode().lower()] = value.strip().decode()
        # Read content until next boundary (the CRLF before it belongs to the delimiter).
        idx = buf.find(b'\r\n' + delimiter)
        if idx == -1:
            raise ValueError('multipart body ends inside a part')
        data = buf.read(idx)
        buf.read(2 + len(delimiter))
        parts.append({'headers': headers, 'data': data})
    return parts


def summary(buf, boundary):
    """`parse_multipart`, with the form field names pulled out of Content-Disposition."""
    out = []
    for part in parse_multipart(buf, boundary):
        disposition = part['headers'].get('content-disposition', '')
        params = dict(
            p.strip().split('=', 1) for p in disposition.split(';')[1:] if '=' in p
        )
        out.append({
            'name': params.get('name', '').strip('"'),
            'filename': params.get('filename', '').strip('"') or None,
            'content_type': part['headers'].get('content-type'),
            'data': part['data'],
        })
    return out
