#!/usr/bin/env python3
"""Turns the JSON lines of `userstream bench` runs into docs/benchmarks.md.

Usage: bench_report.py RUNS.jsonl COMMAND  (the command is quoted in the report)
Hand-written findings, if any, come from scripts/bench_findings.md and are included verbatim.
"""
import json, os, platform, sys
from collections import defaultdict

from report_common import cpu_model, git_rev, k, mem_total

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
command = sys.argv[2] if len(sys.argv) > 2 else "scripts/bench.sh"
KIB = 1024

def ms(us):
    return f"{us/1000:.2f} ms"

def ratio(a, b):
    return f"{a/b:.2f}×" if a and b else "n/a"

fanout = defaultdict(dict)  # (connections) -> peer -> {"max": run, "half": run, "fixed": run}
for run in runs:
    if run["scenario"] != "fanout":
        continue
    slot = "max" if run["target_rate"] is None else None
    fanout[run["connections"]].setdefault(run["peer"], {})
    entry = fanout[run["connections"]][run["peer"]]
    if slot is None:
        slot = "fixed" if run["target_rate"] == 10000 and "half" in entry else "half"
    entry[slot] = run

tokens = {r["peer"]: r for r in runs if r["scenario"] == "tokens"}
expiry = [r for r in runs if r["scenario"] == "expiry"]
peers = ["userstream", "floor", "nats-server", "sockudo"]
others = [p for p in peers if p != "userstream"]

out = []
w = out.append
w("# Benchmarks\n")
w("Measured by the project's own harness (`userstream bench`, driven by `scripts/bench.sh`): every")
w("server runs as its own process on loopback, and one load generator drives each through the same")
w("steps with the same connection counts, message sizes, batch sizes and rates, in one run. Each")
w("connection subscribes its own account (one subject per account for nats-server); events are")
w("~110-byte `balanceUpdate` frames carrying their publish time, so latency is publish → read.\n")
w(f"- Machine: {os.cpu_count()} cores ({cpu_model()}), {mem_total()}, {platform.system()} {platform.release()}; "
  "the load generator shares the cores with the server under test.")
meta = next((r for r in runs if r["scenario"] == "meta"), {})
commit = meta.get("commit", git_rev()) + (" with uncommitted changes" if meta.get("dirty") else "")
w(f"- Commit measured: `{commit}`. Command: `{command.strip()}`. Raw results: `docs/benchmarks.jsonl`.")
w("- Peers: **floor** = a fan-out server on the same WebSocket stack (axum + tungstenite) with no")
w("  protocol logic; **nats-server** (Debian package) with its WebSocket listener, published over its")
w("  TCP protocol; **Sockudo** 5.2.0 (crates.io, a Rust Pusher-protocol server; one private channel per")
w("  account, subscriptions signed with the app secret, published through its signed HTTP API, at")
w("  most 10 events per request as the Pusher API allows) when `SOCKUDO=1` built it.\n")

for n in sorted(fanout):
    by_peer = fanout[n]
    w(f"## Fan-out, {n:,} subscribed connections\n")
    present = [p for p in peers if p in by_peer]
    compared = [p for p in others if p in by_peer]
    w("| | " + " | ".join(present) + "".join(f" | userstream ÷ {p}" for p in compared) + " |")
    w("|---|" + "---|" * (len(present) + len(compared)))
    def row(label, get, fmt):
        vals = {p: get(by_peer[p]) for p in present}
        cells = [fmt(vals[p]) if vals[p] is not None else "n/a" for p in present]
        u = vals.get("userstream")
        w(f"| {label} | " + " | ".join(cells) + "".join(f" | {ratio(u, vals.get(p))}" for p in compared) + " |")
    row("delivered events/s at saturation", lambda e: e.get("max", {}).get("delivered_per_sec"), k)
    row("p50 latency at half saturation", lambda e: e.get("half", {}).get("latency", {}).get("p50_us"), ms)
    row("p99 latency at half saturation", lambda e: e.get("half", {}).get("latency", {}).get("p99_us"), ms)
    row("p99.9 latency at half saturation", lambda e: e.get("half", {}).get("latency", {}).get("p999_us"), ms)
    row("p50 latency at 10k events/s", lambda e: e.get("fixed", {}).get("latency", {}).get("p50_us"), ms)
    row("p99 latency at 10k events/s", lambda e: e.get("fixed", {}).get("latency", {}).get("p99_us"), ms)
    row("max latency at 10k events/s", lambda e: e.get("fixed", {}).get("latency", {}).get("max_us"), ms)
    row("connect+subscribe per second", lambda e: e.get("max", {}).get("connect_subscribe_per_sec"), k)
    row("server RSS per subscribed connection", lambda e: e.get("max", {}).get("rss_per_connection_bytes"), lambda b: f"{b/KIB:.1f} KiB")
    row("server CPU at saturation", lambda e: e.get("max", {}).get("server_cpu_percent"), lambda c: f"{c:.0f} %")
    w("")

stacks = ["floor", "floor/fastwebsockets", "floor/tokio-websockets"]
if any(s in fanout[n] for n in fanout for s in stacks[1:]):
    w("## WebSocket crate: the floor on each candidate\n")
    w("The same fan-out at saturation, served by the floor on each WebSocket crate (the HTTP")
    w("handshake is axum's for all three; each coalesces what is queued for a connection).\n")
    w("| connections | crate | delivered events/s | ÷ tungstenite | RSS per connection | server CPU | connect+subscribe/s |")
    w("|---|---|---|---|---|---|---|")
    for n in sorted(fanout):
        base = fanout[n].get("floor", {}).get("max", {}).get("delivered_per_sec")
        for s in stacks:
            r = fanout[n].get(s, {}).get("max")
            if not r:
                continue
            name = "tungstenite (axum)" if s == "floor" else s.split("/")[1]
            w(f"| {n:,} | {name} | {k(r['delivered_per_sec'])} | {ratio(r['delivered_per_sec'], base)} | "
              f"{r['rss_per_connection_bytes']/KIB:.1f} KiB | {r['server_cpu_percent']:.0f} % | {k(r['connect_subscribe_per_sec'])} |")
    w("")

if any("userstream/sbe" in fanout[n] for n in fanout):
    w("## JSON or SBE sessions\n")
    w("The same fan-out at saturation, userstream's subscribers in JSON or in SBE (schema 3:5); bytes")
    w("are the payload read per event, frame included.\n")
    w("| connections | format | delivered events/s | SBE ÷ JSON | bytes per event | server CPU |")
    w("|---|---|---|---|---|---|")
    for n in sorted(fanout):
        base = fanout[n].get("userstream", {}).get("max", {})
        for name, r in (("JSON", base), ("SBE", fanout[n].get("userstream/sbe", {}).get("max", {}))):
            if not r:
                continue
            b = r.get("bytes_per_event")
            w(f"| {n:,} | {name} | {k(r['delivered_per_sec'])} | "
              f"{ratio(r['delivered_per_sec'], base.get('delivered_per_sec')) if name == 'SBE' else ''} | "
              f"{f'{b:.0f}' if b else 'n/a'} | {r['server_cpu_percent']:.0f} % |")
    w("")

intake = [r for r in runs if r["scenario"] == "intake"]
if intake:
    w("## Publish intake: JSON parser\n")
    w("In process, one core: each line of a 500-item NDJSON publish batch (four event types, from")
    w("`balanceUpdate` to a 35-field `executionReport`) parsed into the parser's own tree; for the")
    w("parser the server uses, also the whole path to typed events.\n")
    w("| parser | tree, ns per item | tree ÷ serde_json | to typed events, ns per item |")
    w("|---|---|---|---|")
    base = next((r["tree_ns_per_event"] for r in intake if r["parser"] == "serde_json"), None)
    for r in intake:
        decoded = r.get("decoded_ns_per_event")
        w(f"| {r['parser']} | {r['tree_ns_per_event']:.0f} | {ratio(r['tree_ns_per_event'], base)} | "
          f"{f'{decoded:.0f}' if decoded else 'n/a'} |")
    w("")

churn = {r["peer"]: r for r in runs if r["scenario"] == "churn"}
if churn:
    w("## Subscribe churn\n")
    w("Loops that open a connection, subscribe one account, wait for the answer and close, over and")
    w(f"over ({next(iter(churn.values()))['concurrency']} at a time).\n")
    present = [p for p in peers if p in churn]
    compared = [p for p in others if p in churn]
    w("| | " + " | ".join(present) + "".join(f" | userstream ÷ {p}" for p in compared) + " |")
    w("|---|" + "---|" * (len(present) + len(compared)))
    vals = {p: churn[p]["cycles_per_sec"] for p in present}
    w("| cycles per second | " + " | ".join(k(vals[p]) for p in present)
      + "".join(f" | {ratio(vals.get('userstream'), vals.get(p))}" for p in compared) + " |\n")

if tokens:
    w("## Token issuance\n")
    w("| | requests/s |")
    w("|---|---|")
    u, f = tokens.get("userstream"), tokens.get("floor")
    if u: w(f"| userstream `POST /sapi/v1/userListenToken` (key lookup, AES-GCM token) | {k(u['requests_per_sec'])} |")
    if f: w(f"| bare axum handler (floor `POST /token`, fixed answer) | {k(f['requests_per_sec'])} |")
    if u and f: w(f"| ratio | {ratio(u['requests_per_sec'], f['requests_per_sec'])} |")
    w("")

if expiry:
    e = expiry[-1]
    l = e["lateness"]
    w("## Expiry storm\n")
    w(f"{e['subscriptions']:,} subscriptions whose tokens expire in the same second; lateness is the")
    w("arrival of `eventStreamTerminated` minus the subscription's `expirationTime`.\n")
    w("| terminated | p50 | p99 | p99.9 | max |")
    w("|---|---|---|---|---|")
    w(f"| {e['terminated']:,} / {e['subscriptions']:,} | {ms(l['p50_us'])} | {ms(l['p99_us'])} | {ms(l['p999_us'])} | {ms(l['max_us'])} |\n")

# Goals, checked against what was measured.
w("## Goals\n")
w("| goal | measured | |")
w("|---|---|---|")
def goal(text, measured, ok):
    w(f"| {text} | {measured} | {'met' if ok else '**missed**'} |")
big = max(fanout) if fanout else None
if big:
    e = fanout[big]
    u = e.get("userstream", {}).get("max", {}).get("delivered_per_sec")
    for peer, need in (("nats-server", 2.0), ("sockudo", 2.0), ("floor", 0.7)):
        other = e.get(peer, {}).get("max", {}).get("delivered_per_sec")
        if u and other:
            goal(f"fan-out ≥ {need}× {peer} ({big:,} connections)", ratio(u, other), u / other >= need)
    p99 = e.get("userstream", {}).get("half", {}).get("latency", {}).get("p99_us")
    if p99: goal("p99 ≤ 2 ms at half saturation", ms(p99), p99 <= 2000)
    rss = e.get("userstream", {}).get("max", {}).get("rss_per_connection_bytes")
    if rss: goal("≤ 4 KiB RSS per subscribed connection", f"{rss/KIB:.1f} KiB", rss <= 4 * KIB)
    cs = e.get("userstream", {}).get("max", {}).get("connect_subscribe_per_sec")
    if cs: goal("connect+subscribe ≥ 10k/s", k(cs), cs >= 10000)
if tokens.get("userstream") and tokens.get("floor"):
    r = tokens["userstream"]["requests_per_sec"] / tokens["floor"]["requests_per_sec"]
    goal("token issuance ≥ 0.5× a bare axum handler", f"{r:.2f}×", r >= 0.5)
if expiry:
    p = expiry[-1]["lateness"]["p99_us"]
    goal("expiry storm p99 lateness ≤ 50 ms", ms(p), p <= 50000)
if not any("sockudo" in by_peer for by_peer in fanout.values()):
    goal("Sockudo compared", "not built on this machine (`SOCKUDO=1 scripts/bench.sh`)", False)
w("")

findings = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_findings.md")
if os.path.exists(findings):
    w(open(findings).read().rstrip() + "\n")

print("\n".join(out))
