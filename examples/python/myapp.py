"""The seed's WSGI application (the seed's Buffer API), called from Erlang by `py:call`.

`handle_request(environ)` is the seed's first Python snippet, run as written: read everything,
or line by line, or a specific amount, from ``environ['wsgi.input']`` (the `py_buffer` that
Erlang writes). `handle(environ)` answers the seed's "WSGI environ" Erlang example and
`stream_handler(buf)` its chunked streaming example.

Run from Erlang (see examples/erlang/*.erl)::

    {ok, Response} = py:call(myapp, handle, [Environ]).
"""

import json

processed = []


def process(line):
    """What the seed's line loop does with each line: here, keep it."""
    processed.append(line)


def handle_request(environ):
    """The seed's handler: the three ways of reading ``wsgi.input``."""
    wsgi_input = environ['wsgi.input']
    mode = environ.get('example.mode', 'all')
    if mode == 'all':
        # Read all data
        body = wsgi_input.read()
        return body
    if mode == 'lines':
        # Or read line by line
        processed.clear()
        for line in wsgi_input:
            process(line)
        return list(processed)
    # Or read specific amount
    chunk = wsgi_input.read(1024)
    return chunk


def handle(environ):
    """The seed's "WSGI environ" example: returns the request and its body."""
    body = environ['wsgi.input'].read()
    if environ.get('CONTENT_TYPE') == 'application/json':
        parsed = json.loads(body)
    else:
        parsed = None
    return {
        'method': environ['REQUEST_METHOD'],
        'path': environ['PATH_INFO'],
        'content_length': int(environ['CONTENT_LENGTH']),
        'body': body,
        'json': parsed,
    }


def stream_handler(buf):
    """The seed's chunked streaming example: reads while Erlang is still writing.

    ``read(1024)`` blocks (GIL released) until data arrives; returns the whole body and how
    many reads it took.
    """
    chunks = []
    while True:
        chunk = buf.read(1024)
        if not chunk:
            break
        chunks.append(chunk)
    return {'body': b''.join(chunks), 'reads': len(chunks)}
