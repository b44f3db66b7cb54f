"""The applications of ``make demo`` (examples/erlang/demo.erl), and the minimal servers that
call them inside the BEAM.

- `wsgi_app` is a WSGI application: it reads ``environ['wsgi.input']`` — a buffer an Erlang
  process is still writing — with blocking ``read()`` calls for the first part of the body,
  then by iterating over its lines, and answers with what it received (bytes, sha256, lines).
- `asgi_app` is an ASGI application: it awaits the body through ``receive``, the
  `py_buffer.asgi.receive` adapter over the same kind of buffer, and answers likewise.

`serve_wsgi` and `serve_asgi` play the web server: they build the environ/scope around the
buffer, run the application and return its JSON answer as a dict.
"""

import asyncio
import hashlib
import json

import py_buffer.asgi

#: How much of the body the WSGI app reads with ``read(65536)`` before iterating over lines.
READ_FIRST = 1 << 20


def wsgi_app(environ, start_response):
    body = environ['wsgi.input']
    digest = hashlib.sha256()
    size = lines = 0
    # Blocking reads (the GIL is released while they wait for Erlang).
    while size < READ_FIRST:
        chunk = body.read(65536)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        lines += chunk.count(b'\n')
    # Then line iteration (the first line may be the rest of one cut by the last read).
    for line in body:
        digest.update(line)
        size += len(line)
        lines += line.endswith(b'\n')
    answer = json.dumps({'bytes': size, 'sha256': digest.hexdigest(), 'lines': lines}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(answer)))])
    return [answer]


async def asgi_app(scope, receive, send):
    assert scope['type'] == 'http'
    digest = hashlib.sha256()
    size = lines = messages = 0
    while True:
        message = await receive()
        if message['type'] == 'http.disconnect':
            raise ConnectionError('client disconnected')
        chunk = message.get('body', b'')
        digest.update(chunk)
        size += len(chunk)
        lines += chunk.count(b'\n')
        messages += 1
        if not message.get('more_body', False):
            break
    answer = json.dumps({'bytes': size, 'sha256': digest.hexdigest(), 'lines': lines,
                         'messages': messages}).encode()
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-type', b'application/json')]})
    await send({'type': 'http.response.body', 'body': answer})


def serve_wsgi(buf, content_length=None):
    """Runs `wsgi_app` on `buf` like a WSGI server; returns (status, answer)."""
    environ = {
        'REQUEST_METHOD': 'POST', 'PATH_INFO': '/upload', 'SERVER_NAME': 'beam',
        'SERVER_PORT': '80', 'SERVER_PROTOCOL': 'HTTP/1.1', 'wsgi.version': (1, 0),
        'wsgi.url_scheme': 'http', 'wsgi.input': buf, 'wsgi.errors': None,
        'wsgi.multithread': True, 'wsgi.multiprocess': False, 'wsgi.run_once': False,
    }
    if content_length is not None:
        environ['CONTENT_LENGTH'] = str(content_length)
    response = {}

    def start_response(status, headers, exc_info=None):
        response['status'], response['headers'] = status, headers

    body = b''.join(wsgi_app(environ, start_response))
    return response['status'], json.loads(body)


def serve_asgi(buf):
    """Runs `asgi_app` on `buf` like an ASGI server; returns (status, answer)."""
    scope = {'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1',
             'method': 'POST', 'path': '/upload', 'headers': []}
    sent = []

    async def send(message):
        sent.append(message)

    async def main():
        await asgi_app(scope, py_buffer.asgi.receive(buf), send)

    asyncio.run(main())
    status = sent[0]['status']
    body = b''.join(m.get('body', b'') for m in sent[1:])
    return status, json.loads(body)
