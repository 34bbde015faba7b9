#!/usr/bin/env python3
"""Server CPU per "Sign in with Portcullis" round trip, split by step.

Starts a release `portcullis serve` on a fresh SQLite data directory (port 0), creates a
user and a client with the CLI, then runs each step of the code flow N times, one request
at a time, and reads the server's CPU time (sum of every thread's /proc schedstat, in ns)
around each phase:

  authorize  GET /authorize with no session           -> login page
  login      POST /login (argon2id verification)      -> 303 back to /authorize
  consent    GET /authorize (session, no consent) + POST /consent (Allow) -> code
  token      POST /token (code + PKCE)                -> access, ID and refresh tokens

Usage: python3 bench/roundtrip.py [--binary target/release/portcullis] [-n 200]
Standard library only.
"""
import argparse, base64, hashlib, http.client, json, os, re, secrets, subprocess, sys, tempfile, time
import urllib.parse

PASSWORD = "correct horse battery staple"


def cpu_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread ended between listdir and open
    return total


class Conn:
    """One keep-alive connection with a cookie jar of our two cookies."""

    def __init__(self, host, port):
        self.c = http.client.HTTPConnection(host, port)
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        self.c.request(method, path, body=body, headers=h)
        r = self.c.getresponse()
        data = r.read().decode()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name] = rest.split(";")[0]
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def field(html, name):
    m = re.search(f'name="{name}" value="([^"]*)"', html)
    return (m.group(1).replace("&#38;", "&").replace("&amp;", "&")) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/portcullis")
    ap.add_argument("-n", type=int, default=200)
    args = ap.parse_args()
    data = tempfile.mkdtemp(prefix="pc-bench-")
    env = dict(os.environ, PORTCULLIS_DATA_DIR=data, PORTCULLIS_LISTEN="127.0.0.1:0",
               PORTCULLIS_LOG__FORMAT="json", PORTCULLIS_LOG__LEVEL="warn,portcullis_server=info")
    cli = lambda *a, stdin="": subprocess.run([args.binary, *a], env=env, input=stdin, capture_output=True, text=True, check=True).stdout
    cli("user", "create", "--username", "bench", "--password-stdin", stdin=PASSWORD + "\n")
    client = json.loads(cli("client", "create", "--name", "Bench", "--redirect-uri", "http://127.0.0.1/cb", "--json"))
    server = subprocess.Popen([args.binary, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    for line in server.stderr:
        if "portcullis is ready" in line:
            addr = json.loads(line)["addr"]
            break
    host, port = addr.rsplit(":", 1)
    issuer = f"http://{addr}"
    subprocess.run(["true"])
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client["client_id"],
                                "redirect_uri": "http://127.0.0.1/cb", "scope": "openid profile email",
                                "state": "s", "nonce": "n", "code_challenge": challenge,
                                "code_challenge_method": "S256"})
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    totals = {"authorize": 0, "login": 0, "consent": 0, "token": 0}
    wall = time.perf_counter()
    for i in range(args.n):
        c = Conn(host, int(port))
        t0 = cpu_ns(server.pid)
        st, _, page = c.request("GET", f"/authorize?{q}")
        assert st == 200 and 'action="/login"' in page, st
        t1 = cpu_ns(server.pid)
        body = urllib.parse.urlencode({"csrf_token": field(page, "csrf_token"), "request": field(page, "request"),
                                       "username": "bench", "password": PASSWORD})
        st, h, _ = c.request("POST", "/login", body)
        assert st == 303, st
        t2 = cpu_ns(server.pid)
        st, h, page = c.request("GET", h["location"])
        if st == 200:  # consent page (first time for this user and client)
            body = urllib.parse.urlencode({"csrf_token": field(page, "csrf_token"), "request": field(page, "request"), "decision": "allow"})
            st, h, _ = c.request("POST", "/consent", body)
        assert st == 303, st
        code = urllib.parse.parse_qs(urllib.parse.urlparse(h["location"]).query)["code"][0]
        t3 = cpu_ns(server.pid)
        st, _, tok = c.request("POST", "/token", urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                               "redirect_uri": "http://127.0.0.1/cb", "code_verifier": verifier}), {"Authorization": f"Basic {basic}"})
        assert st == 200, (st, tok)
        t4 = cpu_ns(server.pid)
        for k, a, b in (("authorize", t0, t1), ("login", t1, t2), ("consent", t2, t3), ("token", t3, t4)):
            totals[k] += b - a
    wall = time.perf_counter() - wall
    server.terminate()
    server.wait()
    n = args.n
    total = sum(totals.values())
    print(f"{n} round trips in {wall:.2f}s wall; server CPU per round trip {total / n / 1000:.0f} us")
    for k, v in totals.items():
        print(f"  {k:<9} {v / n / 1000:8.0f} us  ({100 * v / total:4.1f}%)")
    print("argon2id: m=19456 KiB, t=2, p=1 (defaults); consent remembered after the first round trip,")
    print("so 'consent' is the code-issuing GET /authorize for the rest")


if __name__ == "__main__":
    sys.exit(main())
