"""Real clients of `keel serve` for the tests in serve.rs: psycopg (libpq, extended
protocol), a raw TLS socket (what the server offers at startup) and urllib over HTTPS.

    python3 serve_clients.py COMMAND JSON_ARGS

prints one JSON document. Errors of the server come back as {"error": SQLSTATE, ...}.
"""

import base64
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

import psycopg


def connect(args, **kw):
    conn = psycopg.connect(args["dsn"], autocommit=True, **kw)
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    return conn, notices


def run(conn, sql, params=None):
    """Extended protocol (psycopg's default): Parse, Bind, Execute."""
    try:
        cur = conn.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
        return {"rows": [[jsonable(v) for v in r] for r in rows]}
    except psycopg.Error as e:
        return {"error": e.sqlstate, "message": str(e)}


def jsonable(v):
    if isinstance(v, (int, float, str)) or v is None:
        return v
    return str(v)


def query(args):
    try:
        conn, notices = connect(args)
    except psycopg.Error as e:
        return {"error": e.sqlstate, "message": str(e)}
    with conn:
        out = run(conn, args["sql"], args.get("params"))
    out["notices"] = notices
    return out


def statements(args):
    """Each statement on its own, through the extended protocol."""
    conn, _ = connect(args)
    with conn:
        return [run(conn, sql) for sql in args["statements"]]


def concurrent(args):
    """`clients` connections at once, each running every query; then one more connection
    while they are all open."""
    results = [None] * args["clients"]
    barrier = threading.Barrier(args["clients"] + 1)

    def client(i):
        try:
            conn, _ = connect(args)
        except psycopg.Error as e:
            results[i] = {"error": e.sqlstate, "message": str(e)}
            barrier.wait()
            return
        with conn:
            out = [run(conn, sql, params) for sql, params in args["queries"]]
            barrier.wait()  # all connected and answered: the next one is one too many
            barrier.wait()  # ... until it was tried
            results[i] = out

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args["clients"])]
    for t in threads:
        t.start()
    barrier.wait()
    try:
        extra = psycopg.connect(args["dsn"], autocommit=True)
        extra.close()
        one_more = {"connected": True}
    except psycopg.Error as e:
        one_more = {"error": e.sqlstate, "message": str(e)}
    barrier.wait()
    for t in threads:
        t.join()
    return {"results": results, "one_more": one_more}


def attempt(dsn):
    """A new connection running `SELECT 1`."""
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as e:
        return {"error": e.sqlstate, "message": str(e)}
    with conn:
        return run(conn, "SELECT 1")


def login_limit(args):
    """`limit` connections of one login held open; then one more of it (with its password
    and with a wrong one), one of another login, and one more of it after one was closed."""
    held = [connect(args)[0] for _ in range(args["limit"])]
    out = {
        "one_more": attempt(args["dsn"]),
        "wrong_password": attempt(args["wrong_dsn"]),
        "other_login": attempt(args["other_dsn"]),
    }
    held.pop().close()
    deadline = time.monotonic() + 10
    while True:
        out["after_close"] = attempt(args["dsn"])
        if "rows" in out["after_close"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for conn in held:
        conn.close()
    return out


def http_limit(args):
    """`limit` slow HTTP queries of one login at once (given up by the client after
    `give_up` seconds), one more query of it meanwhile, and one after they went away."""

    def slow():
        try:
            http({**args, "body": {"sql": args["slow"]}, "timeout": args["give_up"]})
        except OSError:
            pass

    threads = [threading.Thread(target=slow) for _ in range(args["limit"])]
    for t in threads:
        t.start()
    time.sleep(args["give_up"] / 2)
    out = {"one_more": http({**args, "body": {"sql": "SELECT 1"}})}
    for t in threads:
        t.join()
    deadline = time.monotonic() + 15
    while True:
        out["later"] = http({**args, "body": {"sql": "SELECT 1"}})
        if out["later"]["status"] == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return out


def timeout(args):
    conn, _ = connect(args)
    with conn:
        set_result = run(conn, "SET statement_timeout = %d" % args["ms"])
        start = time.monotonic()
        out = run(conn, args["sql"])
        out["elapsed"] = time.monotonic() - start
        out["set"] = set_result
        out["after"] = run(conn, "SELECT 1")
        return out


def cancel(args):
    conn, _ = connect(args)
    with conn:
        timer = threading.Timer(args["after"], conn.cancel)
        start = time.monotonic()
        timer.start()
        out = run(conn, args["sql"])
        out["elapsed"] = time.monotonic() - start
        timer.cancel()
        out["after"] = run(conn, "SELECT 1")
        return out


def isolation(args):
    """Client A lowers its statement timeout and tries to change the engine's settings;
    client B, at the same time, runs the same query with its own settings."""
    a, _ = connect(args)
    b, _ = connect(args)
    with a, b:
        out = {
            "a_set_timeout": run(a, "SET statement_timeout = 1"),
            "a_set_engine": run(a, "SET datafusion.execution.batch_size = 1"),
            "a_create": run(a, "CREATE VIEW mine AS SELECT 1 AS x"),
        }
        out["a_query"] = run(a, args["sql"])
        out["b_query"] = run(b, args["sql"])
        out["b_sees_view"] = run(b, "SELECT * FROM mine")
        return out


def hang_up(args):
    """Starts a query and exits the process without closing the connection (as a killed
    client does)."""
    conn, _ = connect(args)
    threading.Thread(target=lambda: run(conn, args["sql"]), daemon=True).start()
    time.sleep(args["after"])
    print(json.dumps({"hung_up": True}), flush=True)
    os._exit(0)


def startup(args):
    """A raw startup over TLS: which authentication the server asks for."""
    host, port = args["host"], args["port"]
    raw = socket.create_connection((host, port), timeout=10)
    raw.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest
    if raw.recv(1) != b"S":
        return {"tls": False}
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(raw, server_hostname=host)
    params = b"user\0" + args["user"].encode() + b"\0database\0keel\0\0"
    tls.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    kind = tls.recv(1)
    length = struct.unpack("!i", tls.recv(4))[0]
    body = b""
    while len(body) < length - 4:
        body += tls.recv(length - 4 - len(body))
    tls.close()
    if kind != b"R":
        return {"message": kind.decode(), "body": body.decode(errors="replace")}
    code = struct.unpack("!i", body[:4])[0]
    mechanisms = [m.decode() for m in body[4:].split(b"\0") if m]
    return {"auth_code": code, "mechanisms": mechanisms}


def http(args):
    ctx = ssl.create_default_context(cafile=args["ca"])
    request = urllib.request.Request(
        args["url"],
        data=json.dumps(args["body"]).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    if "user" in args:
        token = base64.b64encode(("%s:%s" % (args["user"], args["password"])).encode())
        request.add_header("Authorization", "Basic " + token.decode())
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=args.get("timeout", 120)) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    out = {"status": status, "versions": headers.get("keel-versions")}
    kind = headers.get("content-type", "")
    if "arrow" in kind:
        import polars

        frame = polars.read_ipc_stream(body)
        out["rows"] = frame.rows()
        out["columns"] = frame.columns
    elif "csv" in kind:
        out["csv"] = body.decode()
    else:
        out["json"] = json.loads(body) if body.startswith(b"{") else body.decode()
    return out


if __name__ == "__main__":
    command, payload = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[command](payload)))
