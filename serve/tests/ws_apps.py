"""ASGI apps with WebSocket routes for the WebSocket tests (``--app-dir serve/tests``).

``app``: a framework-free ASGI app, one route per behaviour; what its sessions saw of the
client's close is kept in `SEEN` (``GET /seen`` returns it as JSON). ``fastapi_app``: the
same kind of echo written with FastAPI, served by py-buffer-serve and by uvicorn alike.
"""

import asyncio
import json
import os

SEEN = []


async def http(scope, receive, send):
    """``GET /seen``: what the sessions saw; ``/...`` anything else: 200 ``plain <path>``
    (an upgrade request served as plain HTTP ends here)."""
    path = scope["path"]
    body = json.dumps(SEEN).encode() if path == "/seen" else b"plain " + path.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def echo(receive, send, scope):
    """Accepts (with ``chat`` if offered, and an ``x-ws`` header), then echoes every message;
    ``close CODE REASON`` closes with them; records the disconnect it sees."""
    subprotocol = "chat" if "chat" in scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol,
                "headers": [(b"x-ws", b"yes")]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            SEEN.append({"path": scope["path"], "code": message["code"],
                         "reason": message.get("reason", "")})
            return
        text = message.get("text")
        if text is not None and text.startswith("close "):
            _, code, reason = text.split(" ", 2)
            await send({"type": "websocket.close", "code": int(code), "reason": reason})
            SEEN.append({"path": scope["path"], "after_close": await receive()})
            return
        await send({"type": "websocket.send", **{k: v for k, v in message.items()
                                                  if k in ("text", "bytes")}})


async def stream(receive, send, scope):
    """``/stream?COUNT&SIZE``: COUNT binary messages of SIZE bytes (byte i is i % 251), then
    close 1000."""
    count, size = (int(v) for v in scope["query_string"].decode().split("&"))
    await send({"type": "websocket.accept"})
    block = bytes(i % 251 for i in range(size))
    for _ in range(count):
        await send({"type": "websocket.send", "bytes": block})
    await send({"type": "websocket.close", "code": 1000})


async def send_after_close(receive, send, scope):
    """Accepts, waits for the client's close, then sends: records what the send raised."""
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass
    try:
        await send({"type": "websocket.send", "text": "too late"})
        SEEN.append({"path": scope["path"], "raised": None})
    except Exception as exc:  # what a send on a closed session raises
        SEEN.append({"path": scope["path"], "raised": type(exc).__name__,
                     "oserror": isinstance(exc, OSError)})


async def refuse(receive, send, scope):
    await send({"type": "websocket.close"})


async def returns(receive, send, scope):
    pass


async def raises(receive, send, scope):
    raise RuntimeError("refused by raising")


async def raises_after_accept(receive, send, scope):
    await send({"type": "websocket.accept"})
    raise RuntimeError("broken after accepting")


async def hello(receive, send, scope):
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "hello"})


async def pid(receive, send, scope):
    """Accepts, sends the serving process's pid, echoes until the client closes."""
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": str(os.getpid())})
    await echo_after_accept(receive, send)


async def echo_after_accept(receive, send):
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", **{k: v for k, v in message.items()
                                                  if k in ("text", "bytes")}})


async def slow(receive, send, scope):
    """Accepts, then reads nothing until told: ``/slow`` counts what it finally receives."""
    await send({"type": "websocket.accept"})
    await asyncio.sleep(0.5)
    total = count = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            SEEN.append({"path": scope["path"], "count": count, "total": total})
            return
        count += 1
        total += len(message.get("bytes") or b"")
        if count % 100 == 0:
            await send({"type": "websocket.send", "text": str(total)})


ROUTES = {"/echo": echo, "/stream": stream, "/send-after-close": send_after_close,
          "/refuse": refuse, "/return": returns, "/raise": raises,
          "/raise-after-accept": raises_after_accept, "/hello": hello, "/slow": slow, "/pid": pid}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
    elif scope["type"] == "http":
        await http(scope, receive, send)
    else:
        SEEN.append({"path": scope["path"], "scope": {
            k: scope[k] for k in ("scheme", "path", "subprotocols", "http_version", "root_path")}
            | {"raw_path": scope["raw_path"].decode(),
               "query_string": scope["query_string"].decode()}})
        assert await receive() == {"type": "websocket.connect"}
        await ROUTES[scope["path"]](receive, send, scope)


def _fastapi():
    from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
    from starlette.responses import PlainTextResponse

    api = FastAPI()

    @api.websocket("/deny")
    async def deny(websocket: WebSocket):
        raise HTTPException(status_code=401, detail="who are you")

    @api.websocket("/denial")
    async def denial(websocket: WebSocket):
        await websocket.send_denial_response(
            PlainTextResponse("go away", status_code=418, headers={"x-why": "tea"}))

    @api.websocket("/upper/{name}")
    async def upper(websocket: WebSocket, name: str):
        await websocket.accept()
        await websocket.send_text(f"hi {name}")
        try:
            while True:
                text = await websocket.receive_text()
                if text == "bye":
                    await websocket.close(code=4001, reason="bye")
                    return
                await websocket.send_json({"upper": text.upper(), "len": len(text)})
        except WebSocketDisconnect as exc:
            SEEN.append({"path": "/upper", "code": exc.code})

    @api.get("/plain")
    async def plain():
        return {"plain": True}

    return api


fastapi_app = _fastapi()
