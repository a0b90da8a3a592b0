"""Drives rigor's toxiproxy-compatible API with toxiproxy-python, a client rigor did not write,
and measures each toxic's effect on an echo server behind the proxy.

Usage: toxiproxy_client.py API_PORT ECHO_ADDR. Prints one `ok <check> <figure>` line per check;
an assertion error fails the run.
"""

import socket
import sys
import time

from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import NotFound, ProxyExists

api_port, echo = int(sys.argv[1]), sys.argv[2]
APIConsumer.host, APIConsumer.port = "127.0.0.1", api_port
server = Toxiproxy()
assert server.running()
print("ok version", server.version().decode())


def connect(proxy):
    host, port = proxy.listen.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def round_trip(s, payload=b"ping"):
    start = time.monotonic()
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65536)
        assert chunk, "closed early"
        got += chunk
    assert got == payload
    return time.monotonic() - start


proxy = server.create(upstream=echo, name="echo")
assert "echo" in server.proxies()
try:
    server.create(upstream=echo, name="echo")
    raise AssertionError("a second proxy of the same name")
except ProxyExists:
    print("ok duplicate-refused")

s = connect(proxy)
base = round_trip(s)
proxy.add_toxic(type="latency", attributes={"latency": 100})
slow = min(round_trip(s) for _ in range(3))
assert 0.100 <= slow < 0.150, slow
assert list(proxy.toxics()) == ["latency_downstream"]
proxy.destroy_toxic("latency_downstream")
fast = round_trip(s)
assert fast < 0.050, fast
print("ok latency %.1f ms (without %.1f ms)" % (slow * 1e3, fast * 1e3))

# 100 KB/s both ways on 200 kB: 2 s for the echo's answer at the downstream rate alone would
# be slow for a test; upstream only, 400 KB/s: about 0.5 s.
proxy.add_toxic(type="bandwidth", stream="upstream", attributes={"rate": 400})
data = b"x" * 200_000
took = round_trip(s, data)
rate = len(data) / took / 1000
assert abs(rate / 400 - 1) < 0.05, rate
proxy.destroy_toxic("bandwidth_upstream")
print("ok bandwidth %.1f KB/s of 400" % rate)

proxy.add_toxic(type="limit_data", stream="downstream", attributes={"bytes": 10})
s2 = connect(proxy)
s2.sendall(b"0123456789abcdef")
got = b""
while True:
    chunk = s2.recv(100)
    if not chunk:
        break
    got += chunk
assert got == b"0123456789", got
proxy.destroy_toxic("limit_data_downstream")
print("ok limit_data %d bytes then close" % len(got))

proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 200})
s3 = connect(proxy)
start = time.monotonic()
s3.sendall(b"lost")
assert s3.recv(100) == b"", "no data, then a close"
took = time.monotonic() - start
assert 0.195 <= took < 0.300, took
proxy.destroy_toxic("timeout_upstream")
print("ok timeout closed after %.0f ms" % (took * 1e3))

proxy.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 100})
s4 = connect(proxy)
start = time.monotonic()
try:
    s4.sendall(b"x")
    s4.recv(100)
    s4.recv(100)
    raise AssertionError("no reset")
except ConnectionResetError:
    took = time.monotonic() - start
assert 0.095 <= took < 0.200, took
proxy.destroy_toxic("reset_peer_upstream")
print("ok reset_peer reset after %.0f ms" % (took * 1e3))

proxy.add_toxic(type="slow_close", stream="downstream", attributes={"delay": 300})
s5 = connect(proxy)
round_trip(s5)
start = time.monotonic()
s5.shutdown(socket.SHUT_WR)
assert s5.recv(100) == b""
took = time.monotonic() - start
assert 0.295 <= took < 0.400, took
print("ok slow_close FIN after %.0f ms" % (took * 1e3))

with proxy.down():
    try:
        connect(proxy)
        raise AssertionError("a disabled proxy accepted")
    except ConnectionRefusedError:
        print("ok disabled refuses")
assert round_trip(connect(proxy)) < 0.050
print("ok enabled again")

server.reset()
assert proxy.toxics() == {}
server.destroy(proxy)
assert server.proxies() == {}
try:
    proxy.destroy_toxic("nope")
    raise AssertionError("a toxic of a deleted proxy")
except NotFound:
    print("ok deleted")
