"""Lists the users table of a PostgreSQL server as JSON, one connection per request.

Settings come from the environment: DATABASE_HOST (such as db.internal, the name of
another app of the same owner), DATABASE_NAME, DATABASE_USER and DATABASE_PASSWORD.
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2


def fetch_users():
    connection = psycopg2.connect(
        host=os.environ["DATABASE_HOST"],
        dbname=os.environ["DATABASE_NAME"],
        user=os.environ["DATABASE_USER"],
        password=os.environ.get("DATABASE_PASSWORD", ""),
        connect_timeout=5,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, name FROM users ORDER BY id")
            return [{"id": row[0], "name": row[1]} for row in cursor.fetchall()]
    finally:
        connection.close()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            status, body = 200, {"users": fetch_users()}
        except psycopg2.Error as error:
            status, body = 503, {"error": str(error).strip()}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"Listening on port {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
