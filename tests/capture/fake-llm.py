#!/usr/bin/env python3
"""A fake LLM API origin over TLS, for the capture tests (loopback only).

    [FAKE_LLM_BIND=ADDR:PORT] fake-llm.py CERT KEY PORTFILE HOLDDIR

(by default a free port on 127.0.0.1, written to PORTFILE)

Answers, deterministically (the same bytes every time):
  POST /v1/chat/completions  OpenAI chat: SSE when the body says "stream": true,
                             JSON otherwise (gzip when the client accepts it)
  POST /v1/messages          Anthropic messages, streamed or not
  POST /v1/responses         OpenAI responses API, streamed
  POST /upload               reads the body, answers its length and SHA-256
  POST /v1/error             500 with an OpenAI-shaped error
  GET  /                     "plain origin" (for a non-LLM host)

A streamed answer with "X-Test-Cut: N" sends its first N events and closes
the connection (an origin that cuts its stream).
A streamed answer sends its first event, then holds the rest until the
file HOLDDIR/<X-Test-Hold> exists (the client makes it once it has the
first event) or 15 s pass; it writes HOLDDIR/<X-Test-Hold>.result saying
"released" or "timeout". So "the first event reached the client while the
origin held the rest" is checked by cause, not by a clock.
"""
import gzip
import hashlib
import http.server
import json
import os
import ssl
import sys
import time

CERT, KEY, PORTFILE, HOLDDIR = sys.argv[1:5]

CHAT_EVENTS = [
    {"id": "c1", "model": "gpt-4o-test", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}}]},
    {"id": "c1", "model": "gpt-4o-test", "choices": [{"index": 0, "delta": {"content": " world"}}]},
    {"id": "c1", "model": "gpt-4o-test", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_7", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":"}}]}}]},
    {"id": "c1", "model": "gpt-4o-test", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": "\"UTC\"}"}}]}, "finish_reason": "tool_calls"}]},
    {"id": "c1", "model": "gpt-4o-test", "choices": [], "usage": {"prompt_tokens": 17, "completion_tokens": 5}},
]
ANTHROPIC_EVENTS = [
    ("message_start", {"type": "message_start", "message": {"model": "claude-test", "usage": {"input_tokens": 23, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bonjour"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "tu_1", "name": "read_file", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"path\": \"a.txt\"}"}}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 11}}),
    ("message_stop", {"type": "message_stop"}),
]
RESPONSES_EVENTS = [
    ("response.created", {"type": "response.created", "response": {"model": "gpt-4.1-test"}}),
    ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hi from responses"}),
    ("response.completed", {"type": "response.completed", "response": {"model": "gpt-4.1-test", "usage": {"input_tokens": 3, "output_tokens": 4}}}),
]


def chat_sse():
    return [("data: " + json.dumps(e) + "\n\n").encode() for e in CHAT_EVENTS] + [b"data: [DONE]\n\n"]


def named_sse(events):
    return [("event: %s\ndata: %s\n\n" % (n, json.dumps(e))).encode() for n, e in events]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-llm: " + (fmt % args) + "\n")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def send_whole(self, status, ctype, data, gz=False):
        if gz:
            data = gzip.compress(data, mtime=0)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Set-Cookie", "session=ORIGIN-COOKIE-SECRET")
        self.end_headers()
        self.wfile.write(data)

    def send_stream(self, chunks):
        hold = self.headers.get("X-Test-Hold", "")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Set-Cookie", "session=ORIGIN-COOKIE-SECRET")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        cut = self.headers.get("X-Test-Cut", "")
        if cut.isdigit():
            for c in chunks[: int(cut)]:
                self.wfile.write(c)
            self.wfile.flush()
            return
        self.wfile.write(chunks[0])
        self.wfile.flush()
        result = "none"
        if hold:
            flag = os.path.join(HOLDDIR, os.path.basename(hold))
            result = "timeout"
            for _ in range(1500):
                if os.path.exists(flag):
                    result = "released"
                    break
                time.sleep(0.01)
            with open(flag + ".result", "w") as f:
                f.write(result + "\n")
        try:
            for c in chunks[1:]:
                self.wfile.write(c)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        self.send_whole(200, "text/plain", b"plain origin\n")

    def do_POST(self):
        raw = self.body()
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = {}
        gz = "gzip" in self.headers.get("Accept-Encoding", "")
        stream = isinstance(req, dict) and req.get("stream") is True
        if self.path.startswith("/v1/chat/completions"):
            if stream:
                return self.send_stream(chat_sse())
            return self.send_whole(200, "application/json", json.dumps({
                "id": "c2", "object": "chat.completion", "model": "gpt-4o-mini-test",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Plain answer " + "x" * 2000}}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3}}).encode(), gz)
        if self.path.startswith("/v1/messages"):
            if stream:
                return self.send_stream(named_sse(ANTHROPIC_EVENTS))
            return self.send_whole(200, "application/json", json.dumps({
                "type": "message", "model": "claude-test", "content": [{"type": "text", "text": "Salut"}],
                "usage": {"input_tokens": 4, "output_tokens": 2}}).encode(), gz)
        if self.path.startswith("/v1/responses"):
            return self.send_stream(named_sse(RESPONSES_EVENTS))
        if self.path.startswith("/upload"):
            return self.send_whole(200, "application/json", json.dumps(
                {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}).encode())
        if self.path.startswith("/v1/error"):
            return self.send_whole(500, "application/json", json.dumps(
                {"error": {"message": "the model is overloaded", "type": "server_error"}}).encode())
        self.send_whole(404, "text/plain", b"no such path\n")


def main():
    # FAKE_LLM_BIND=ADDR:PORT (tests/capture/test-capture-intercept.sh):
    # listen there instead of a free port on 127.0.0.1.
    addr, _, port = os.environ.get("FAKE_LLM_BIND", "127.0.0.1:0").rpartition(":")
    srv = http.server.ThreadingHTTPServer((addr, int(port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
