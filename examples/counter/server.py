"""Counts visits in a file on a volume, so the count outlives every container."""
import fcntl
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTER_FILE = os.environ.get("COUNTER_FILE", "/data/count")
PORT = int(os.environ.get("PORT", "8000"))


def increment() -> int:
    # The lock makes the read-increment-write atomic across requests and across the
    # old and new container that both run for a moment during a redeploy.
    with open(COUNTER_FILE, "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        text = counter.read().strip()
        count = int(text) + 1 if text else 1
        counter.seek(0)
        counter.truncate()
        counter.write(str(count))
        counter.flush()
        os.fsync(counter.fileno())
        return count


class CounterHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/":
            self.send_error(404)
            return
        body = f"Visits: {increment()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    os.makedirs(os.path.dirname(COUNTER_FILE), exist_ok=True)
    print(f"counter listening on port {PORT}, counting in {COUNTER_FILE}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), CounterHandler).serve_forever()
