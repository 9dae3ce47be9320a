"""
A surewire protocol server in FastAPI + uvicorn, written from docs/PROTOCOL.md.

No surewire code runs here: this file is the proof that the protocol can be
implemented from its document. It serves WebSocket, SSE and POST under one path,
with sessions, hello, ping/pong, acks/nacks, de-duplication by `seq`, a replay
buffer, resume (`last` / `Last-Event-ID`), SSE heartbeats and the WebSocket idle
close. It has no shared broker, so it never degrades: it sends no `notice` frames
(docs/PROTOCOL.md "notice") and ignores the `notices=1` query parameter clients send
(like every query parameter it does not know). The application is an echo service:

  client → {"type": "echo", "text": …}   server → {"type": "echo", "text": …}
  client → {"type": "chat", "text": …}   (accepted, no reply)
  client → {"type": "count", "n": …}     (accepted, no reply; recorded for tests)
  anything else                          → nack invalid_message

Run:  python3 -m uvicorn app:app --port 8000        (from this directory)
Env:  SUREWIRE_PATH (/realtime), SUREWIRE_HB_MS (15000), SUREWIRE_TTL_MS (60000),
      SUREWIRE_REPLAY (1000), SUREWIRE_MAX_FRAME (1048576),
      SUREWIRE_ORIGINS ("same-origin" | "*" | comma-separated origins),
      SUREWIRE_TOKEN (if set, the only accepted token; the identity is the token),
      SUREWIRE_TEST_HOOKS=1 (adds /_test/* endpoints used by the test suite).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocketDisconnect

PATH = os.environ.get("SUREWIRE_PATH", "/realtime")
HB_MS = int(os.environ.get("SUREWIRE_HB_MS", "15000"))
TTL_MS = int(os.environ.get("SUREWIRE_TTL_MS", "60000"))
REPLAY = int(os.environ.get("SUREWIRE_REPLAY", "1000"))
MAX_FRAME = int(os.environ.get("SUREWIRE_MAX_FRAME", "1048576"))
ORIGINS = os.environ.get("SUREWIRE_ORIGINS", "same-origin")
TOKEN = os.environ.get("SUREWIRE_TOKEN")
TEST_HOOKS = os.environ.get("SUREWIRE_TEST_HOOKS") == "1"

CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_TOO_LARGE = 1000, 1001, 1009
CLOSE_UNAUTHORIZED, CLOSE_IDLE, CLOSE_REPLACED = 4401, 4408, 4409
MAX_SAFE = 2**53 - 1

app = FastAPI()


def dumps(frame: Any) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------ frames


class BadFrame(Exception):
    pass


def is_seq(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SAFE


MAX_DEPTH = 64  # PROTOCOL.md: `d` nested deeper than this is a bad frame
MAX_TOPIC_LENGTH = 256


def deeper_than(v: Any, limit: int) -> bool:
    """Is `v` nested (dicts/lists) deeper than `limit`? Iterative, so hostile depth cannot overflow."""
    stack = [(v, 1)] if isinstance(v, (dict, list)) else []
    while stack:
        x, depth = stack.pop()
        if depth > limit:
            return True
        for c in x.values() if isinstance(x, dict) else x:
            if isinstance(c, (dict, list)):
                stack.append((c, depth + 1))
    return False


def check_client_frame(f: Any) -> dict:
    """PROTOCOL.md, client → server frames. Raises BadFrame."""
    if not isinstance(f, dict) or not isinstance(f.get("t"), str):
        raise BadFrame("frame is not an object with a string `t`")
    t = f["t"]
    if t == "msg":
        if not is_seq(f.get("seq")) or f["seq"] < 1 or "d" not in f:
            raise BadFrame("msg frame needs an integer `seq` >= 1 and `d`")
        if deeper_than(f["d"], MAX_DEPTH):
            raise BadFrame(f"msg `d` is nested deeper than {MAX_DEPTH} levels")
    elif t in ("sub", "unsub"):
        if not is_seq(f.get("seq")) or f["seq"] < 1 or not isinstance(f.get("topic"), str):
            raise BadFrame(f"{t} frame needs `seq` and a string `topic`")
        if len(f["topic"]) > MAX_TOPIC_LENGTH:
            raise BadFrame(f"{t} `topic` is longer than {MAX_TOPIC_LENGTH} characters")
    elif t == "ping":
        n = f.get("n")
        if "n" in f and (isinstance(n, bool) or not isinstance(n, (int, float)) or n != n or n in (float("inf"), float("-inf"))):
            raise BadFrame("ping `n` must be a number when present")
    elif t != "bye":
        raise BadFrame(f"unknown frame type {json.dumps(t)[:40]}")
    return f


def validate_message(d: Any) -> Optional[str]:
    """The application's schema for client messages; returns an error text or None."""
    if not isinstance(d, dict):
        return "message must be an object"
    t = d.get("type")
    if t in ("echo", "chat"):
        if not isinstance(d.get("text"), str):
            return "text: expected string"
        if t == "chat" and len(d["text"]) > 100_000:
            return "text: too long"
        return None
    if t == "count":
        n = d.get("n")
        return None if isinstance(n, int) and not isinstance(n, bool) else "n: expected integer"
    return "type: Invalid discriminator value. Expected 'chat' | 'echo' | 'count'"


# ------------------------------------------------------------------ sessions


class Sink:
    """One attached connection (a WebSocket or an SSE response), fed through a queue."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        # Items: (text, id or None) to write, or ("close", code, reason).
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    def write(self, text: str, msg_id: Optional[int] = None) -> None:
        if not self.closed:
            self.queue.put_nowait(("frame", text, msg_id))

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(("close", code, reason))


class Session:
    def __init__(self, identity: str) -> None:
        self.sid = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
        self.identity = identity
        self.next_id = 1
        self.buffer: Deque[Tuple[int, str]] = deque()
        self.last_seq = 0
        self.nacks: Dict[int, dict] = {}  # recent nacks by seq, repeated when the client resends
        self.topics: set = set()
        self.sink: Optional[Sink] = None
        self.expiry: Optional[asyncio.TimerHandle] = None
        self.lock = asyncio.Lock()  # a session's frames are processed one batch at a time, in order
        self.ended = False
        self.received: List[Any] = []  # test hook: accepted messages, in order

    def attach(self, sink: Sink, resume: Any) -> None:
        """hello, then the replay; replaces (closes) the previous sink. resume: 'none' | 'unknown' | last id."""
        old, self.sink = self.sink, sink
        if old is not None:
            old.close(CLOSE_REPLACED, "replaced by a newer connection")
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        hello: Dict[str, Any] = {
            "t": "hello", "sid": self.sid, "hb": HB_MS, "maxFrameBytes": MAX_FRAME,
            "resumed": isinstance(resume, int), "seq": self.last_seq,  # highest client seq consumed
            "batch": True,  # WebSocket messages may be JSON arrays of client frames (PROTOCOL.md, WebSocket transport)
        }
        start = resume if isinstance(resume, int) else 0
        oldest = self.buffer[0][0] if self.buffer else self.next_id
        if resume == "unknown":
            hello["reset"] = "session_unknown"
        elif isinstance(resume, int) and start + 1 < oldest and start + 1 < self.next_id:
            hello["resumed"] = False
            hello["reset"] = "replay_window_exceeded"
        sink.write(dumps(hello))
        for msg_id, text in self.buffer:
            if msg_id > start:
                sink.write(text, msg_id)

    def detach(self, sink: Sink) -> None:
        if self.sink is not sink:
            return
        self.sink = None
        if not self.ended:
            self.expiry = asyncio.get_running_loop().call_later(TTL_MS / 1000, self.end, "expired")

    def send(self, message: Any, topic: Optional[str] = None) -> None:
        """An application message: next id, into the replay buffer, out to the attached sink.
        `topic` when it was published to one (the frame then carries it; see publish())."""
        if self.ended:
            return
        msg_id = self.next_id
        self.next_id += 1
        frame: Dict[str, Any] = {"t": "msg", "id": msg_id, "d": message}
        if topic is not None:
            frame = {"t": "msg", "id": msg_id, "topic": topic, "d": message}
        text = dumps(frame)
        self.buffer.append((msg_id, text))
        while len(self.buffer) > REPLAY:
            self.buffer.popleft()
        if self.sink is not None:
            self.sink.write(text, msg_id)

    async def process(self, frames: List[dict], reply: Callable[[dict], None]) -> None:
        async with self.lock:
            acked = -1
            for f in frames:
                if self.ended:
                    return
                t = f["t"]
                if t == "ping":
                    if acked >= 0:
                        reply({"t": "ack", "seq": acked})
                        acked = -1
                    reply({"t": "pong", **({"n": f["n"]} if "n" in f else {})})
                    continue
                if t == "bye":
                    if acked >= 0:
                        reply({"t": "ack", "seq": acked})
                    self.end("client_closed")
                    return
                seq = f["seq"]
                if seq <= self.last_seq:  # a resend after a reconnect: already handled
                    if seq in self.nacks:  # its nack may have been lost: repeat it
                        if acked >= 0:
                            reply({"t": "ack", "seq": acked})
                            acked = -1
                        reply(self.nacks[seq])
                    else:
                        acked = max(acked, seq)
                    continue
                if seq != self.last_seq + 1:  # a gap: never process out of order
                    if acked >= 0:
                        reply({"t": "ack", "seq": acked})
                        acked = -1
                    reply({"t": "nack", "seq": seq, "code": "bad_frame", "message": f"sequence gap: expected seq {self.last_seq + 1}"})
                    continue
                self.last_seq = seq
                error = self.accept(f)
                if error is None:
                    acked = seq
                else:
                    if acked >= 0:
                        reply({"t": "ack", "seq": acked})
                        acked = -1
                    nack = {"t": "nack", "seq": seq, "code": error[0], "message": error[1]}
                    self.nacks[seq] = nack
                    while len(self.nacks) > 256:
                        self.nacks.pop(next(iter(self.nacks)))
                    reply(nack)
            if acked >= 0:
                reply({"t": "ack", "seq": acked})

    def accept(self, f: dict) -> Optional[Tuple[str, str]]:
        if f["t"] == "sub":
            self.topics.add(f["topic"])
            return None
        if f["t"] == "unsub":
            self.topics.discard(f["topic"])
            return None
        problem = validate_message(f["d"])
        if problem is not None:
            return ("invalid_message", problem)
        self.received.append(f["d"])
        if f["d"]["type"] == "echo":
            self.send({"type": "echo", "text": f["d"]["text"]})
        return None

    def end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        if self.expiry is not None:
            self.expiry.cancel()
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.close(CLOSE_GOING_AWAY if reason == "server_closed" else CLOSE_NORMAL, reason)
        self.buffer.clear()
        sessions.pop(self.sid, None)


sessions: Dict[str, Session] = {}


def publish(topic: str, message: Any) -> None:
    """Send to the sessions subscribed to `topic`; the msg frame carries the topic."""
    for session in list(sessions.values()):
        if topic in session.topics:
            session.send(message, topic)


def open_session(sid: Optional[str], last: Optional[int], identity: str, sink: Sink) -> Session:
    """Find or create the session for a new connection and attach the sink (PROTOCOL.md, Handshake)."""
    session = sessions.get(sid) if sid else None
    if session is not None and session.identity != identity:
        session = None  # bound to another identity: answered as unknown, the other session untouched
    is_new = session is None
    if session is None:
        session = Session(identity)
        sessions[session.sid] = session
    resume: Any = "none" if sid is None else ("unknown" if is_new else (last or 0))
    session.attach(sink, resume)
    return session


# ------------------------------------------------------------------ request helpers


def parse_last(raw: Optional[str]) -> Optional[int]:
    if raw is None or not raw.isdigit():
        return None
    n = int(raw)
    return n if n <= MAX_SAFE else None


def token_of(headers: Any, query: Any) -> Optional[str]:
    auth = headers.get("authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return query.get("access_token")


def authenticate(headers: Any, query: Any) -> Optional[str]:
    """The identity, or None when refused."""
    token = token_of(headers, query)
    if TOKEN is None:
        return "anonymous"
    return token if token == TOKEN else None


def origin_allowed(origin: Optional[str], host: Optional[str]) -> bool:
    if not origin:
        return True
    if ORIGINS == "*":
        return True
    try:
        origin_host = origin.split("://", 1)[1].rstrip("/")
    except IndexError:
        return False
    if origin_host == host:
        return True
    return ORIGINS != "same-origin" and origin in [o.strip() for o in ORIGINS.split(",")]


def cors_headers(request: Request) -> Optional[Dict[str, str]]:
    origin = request.headers.get("origin")
    if not origin_allowed(origin, request.headers.get("host")):
        return None
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def error_body(code: str, message: str) -> list:
    return [{"t": "error", "code": code, "message": message, "fatal": code in ("unauthorized", "forbidden", "origin_not_allowed")}]


def origin_refusal(origin: Optional[str], host: Optional[str]) -> str:
    return (
        f"Origin {origin} does not match Host {host or '(none)'} that this server saw. If a proxy in front rewrites Host, "
        "make it preserve Host (nginx: proxy_set_header Host $http_host; Apache: ProxyPreserveHost On), or list the origin in SUREWIRE_ORIGINS."
    )


def json_response(status: int, body: Any, headers: Dict[str, str]) -> Response:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", **headers})


# ------------------------------------------------------------------ HTTP: SSE, POST, preflight


async def realtime_http(request: Request) -> Response:
    allow = cors_headers(request)
    if allow is None:
        return json_response(403, error_body("origin_not_allowed", origin_refusal(request.headers.get("origin"), request.headers.get("host"))), {})
    method = request.method
    if method == "OPTIONS":
        return Response(
            status_code=204,
            headers={
                **allow,
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Content-Type, Last-Event-ID",
                "Access-Control-Max-Age": "600",
            },
        )
    if method == "GET" and request.headers.get("sec-websocket-key") and "websocket" not in request.headers.get("upgrade", "").lower():
        return json_response(
            426,
            error_body(
                "upgrade_headers_dropped",
                "WebSocket handshake arrived without the Upgrade header: a proxy in front of this server dropped it "
                '(nginx: proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"). Clients fall back to SSE + POST.',
            ),
            {**allow, "Upgrade": "websocket", "Connection": "Upgrade"},
        )
    if method == "GET":
        return await open_stream(request, allow)
    if method == "POST":
        return await handle_post(request, allow)
    return json_response(405, error_body("bad_frame", "use GET (SSE), POST, or a WebSocket upgrade"), {**allow, "Allow": "GET, POST, OPTIONS"})


async def open_stream(request: Request, allow: Dict[str, str]) -> Response:
    if "text/event-stream" not in request.headers.get("accept", ""):
        return json_response(400, error_body("bad_frame", "connect with a WebSocket upgrade or with Accept: text/event-stream (SSE)"), allow)
    identity = authenticate(request.headers, request.query_params)
    if identity is None:
        return json_response(401, error_body("unauthorized", "authentication failed"), allow)
    sid = request.query_params.get("sid")  # `v`, `notices` and unknown parameters are ignored
    header_last = request.headers.get("last-event-id")
    last = parse_last(header_last) if header_last is not None else parse_last(request.query_params.get("last"))
    sink = Sink("sse")
    session = open_session(sid, last, identity, sink)

    async def events():
        hb = HB_MS / 1000
        next_beat = time.monotonic() + hb
        try:
            while True:
                timeout = max(0.0, next_beat - time.monotonic())
                try:
                    item = await asyncio.wait_for(sink.queue.get(), timeout)
                except asyncio.TimeoutError:
                    item = None
                if time.monotonic() >= next_beat:  # at least every hb, whatever else flows
                    next_beat = time.monotonic() + hb
                    yield 'data: {"t":"hb"}\n\n'
                if item is None:
                    continue
                if item[0] == "close":
                    return  # replaced or ended: the response completes
                _, text, msg_id = item
                yield f"data: {text}\n\n" if msg_id is None else f"id: {msg_id}\ndata: {text}\n\n"
        finally:
            sink.closed = True
            session.detach(sink)

    return StreamingResponse(
        events(),
        status_code=200,
        headers={**allow, "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
        media_type="text/event-stream; charset=utf-8",
    )


async def handle_post(request: Request, allow: Dict[str, str]) -> Response:
    sid = request.query_params.get("sid")
    if not sid:
        return json_response(400, error_body("bad_frame", "POST needs the session token in the `sid` query parameter"), allow)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FRAME:
        return json_response(413, error_body("too_large", f"body exceeds maxFrameBytes={MAX_FRAME}"), {**allow, "Connection": "close"})
    body = await request.body()
    if len(body) > MAX_FRAME:
        return json_response(413, error_body("too_large", f"body exceeds maxFrameBytes={MAX_FRAME}"), {**allow, "Connection": "close"})
    identity = authenticate(request.headers, request.query_params)
    if identity is None:
        return json_response(401, error_body("unauthorized", "authentication failed"), allow)
    session = sessions.get(sid)
    if session is None:
        return json_response(404, error_body("session_unknown", "no such session; reconnect to get a new one"), allow)
    if session.identity != identity:
        return json_response(403, error_body("forbidden", "this session belongs to another identity"), allow)
    try:
        frames = json.loads(body.decode("utf-8"))
        if not isinstance(frames, list):
            raise BadFrame("POST body must be a JSON array of frames")
        frames = [check_client_frame(f) for f in frames]  # any bad frame: nothing in the batch is processed
    except (ValueError, BadFrame) as err:
        return json_response(400, error_body("bad_frame", str(err) if isinstance(err, BadFrame) else "body is not valid JSON"), allow)
    replies: List[dict] = []
    await session.process(frames, replies.append)
    return json_response(200, replies, allow)


for route_path in (PATH, PATH + "/"):
    app.add_api_route(route_path, realtime_http, methods=["GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"], include_in_schema=False)


# ------------------------------------------------------------------ WebSocket


async def realtime_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    origin, host = websocket.headers.get("origin"), websocket.headers.get("host")
    if not origin_allowed(origin, host):
        # Accept-then-close (PROTOCOL.md): no session, no frame read, a reason browsers can see.
        await websocket.send_text(dumps({"t": "error", "code": "origin_not_allowed", "message": origin_refusal(origin, host), "fatal": True}))
        await websocket.close(code=4403, reason="origin not allowed")
        return
    identity = authenticate(websocket.headers, websocket.query_params)
    if identity is None:
        # Accept-then-close, so browsers (which never see an HTTP status) get a reason.
        await websocket.send_text(dumps({"t": "error", "code": "unauthorized", "message": "authentication failed", "fatal": True}))
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
        return
    sid = websocket.query_params.get("sid")  # `v`, `notices` and unknown parameters are ignored
    sink = Sink("websocket")
    session = open_session(sid, parse_last(websocket.query_params.get("last")), identity, sink)

    async def writer() -> None:
        while True:
            item = await sink.queue.get()
            if item[0] == "close":
                await websocket.close(code=item[1], reason=item[2])
                return
            await websocket.send_text(item[1])

    write_task = asyncio.create_task(writer())
    reply = lambda f: sink.write(dumps(f)) if session.sink is sink else None  # noqa: E731 (replies of a replaced connection are dropped)
    try:
        while True:
            try:
                message = await asyncio.wait_for(websocket.receive(), timeout=3 * HB_MS / 1000)
            except asyncio.TimeoutError:
                sink.close(CLOSE_IDLE, "no ping from client")
                break
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                sink.write(dumps({"t": "error", "code": "bad_frame", "message": "binary frames are not part of the protocol"}))
                continue
            if len(text.encode("utf-8")) > MAX_FRAME:
                sink.close(CLOSE_TOO_LARGE, "frame too large")
                break
            try:
                parsed = json.loads(text)
                # One frame, or (hello said batch: true) an array of them, checked like a POST body:
                # any bad element makes the whole message a bad frame and nothing in it is processed.
                frames = [check_client_frame(f) for f in parsed] if isinstance(parsed, list) else [check_client_frame(parsed)]
            except (ValueError, BadFrame) as err:
                sink.write(dumps({"t": "error", "code": "bad_frame", "message": str(err) if isinstance(err, BadFrame) else "frame is not valid JSON"}))
                continue
            await session.process(frames, reply)  # one batch: one cumulative ack per run of accepted frames
    except WebSocketDisconnect:
        pass
    finally:
        session.detach(sink)
        if not sink.closed:
            sink.closed = True
            write_task.cancel()
        try:
            await asyncio.wait_for(write_task, 2)
        except (asyncio.CancelledError, asyncio.TimeoutError, Exception):
            pass


for route_path in (PATH, PATH + "/"):
    app.add_api_websocket_route(route_path, realtime_ws)


# ------------------------------------------------------------------ test hooks (SUREWIRE_TEST_HOOKS=1)

if TEST_HOOKS:

    @app.post("/_test/tick")
    async def test_tick(n: int = 1, start: int = 1) -> dict:
        """Send {"type":"tick","n":start..start+n-1} to every session."""
        for i in range(start, start + n):
            for session in list(sessions.values()):
                session.send({"type": "tick", "n": i})
        return {"sessions": len(sessions)}

    @app.post("/_test/publish")
    async def test_publish(topic: str, n: int = 1) -> dict:
        """Publish {"type":"tick","n":n} to `topic`."""
        publish(topic, {"type": "tick", "n": n})
        return {"sessions": len(sessions)}

    @app.get("/_test/received")
    async def test_received() -> dict:
        """Every accepted client message, per live session."""
        return {"sessions": [s.received for s in sessions.values()]}

    @app.get("/_test/health")
    async def test_health() -> dict:
        return {"ok": True}
