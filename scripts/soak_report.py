#!/usr/bin/env python3
"""Summarises a `userstream bench soak` run (its --out directory).

Usage:
  soak_report.py OUT_DIR                      print the verdict and the main figures
  soak_report.py OUT_DIR --docs COMMAND       also draw docs/soak.png and rewrite the `## Soak`
                                              section of docs/reliability.md (COMMAND is quoted
                                              as the way to reproduce the run)
"""
import datetime, json, os, re, sys

import report_common
from report_common import cpu_model, k

out_dir = sys.argv[1]
docs = len(sys.argv) > 3 and sys.argv[2] == "--docs"
command = sys.argv[3] if docs else ""

def jsonl(name):
    path = os.path.join(out_dir, name)
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]

summary = jsonl("summary.json")[0]
samples = jsonl("samples.jsonl")
faults = jsonl("faults.jsonl")
MIB = 1 << 20

def n(x):
    return f"{x:,}"

def git_rev():
    """The commit measured: SOAK_COMMIT from scripts/soak.sh, else what is checked out."""
    return os.environ.get("SOAK_COMMIT") or report_common.git_rev(mark_dirty=True)

s = summary
verdict = "passed" if s["passed"] else "FAILED: " + "; ".join(s["failures"])
attribution = s["gap_attribution"]
main = [x for x in samples if x["phase"] == "main"]
def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
server_cpu = mean(x["server_cpu_percent"] for x in main)
client_cpu = mean(x["client_cpu_percent"] for x in main)
delivered_rate = mean(x["delivered_per_sec"] for x in main)

print(f"soak: {verdict}")
print(f"  {s['streams']} streams, {s['minutes']:g} min at {k(s['rate_per_sec'])} events/s, "
      f"{sum(s['faults'].values())} faults {s['faults']}")
print(f"  published {n(s['published'])}, expected {n(s['expected'])}, received {n(s['received'])}, "
      f"missed under a gap {n(s['missed_with_gap'])}, lost {s['lost']}, duplicates {s['duplicates']}, "
      f"out of order {s['out_of_order']}")
print(f"  gaps {n(s['gaps'])} {attribution['by_kind']}, unexplained {attribution['unexplained']}, "
      f"renewals {n(s['statuses']['renewed'])}")
print(f"  server at the end: {s['server_at_end']['connections']} connections, "
      f"{s['server_at_end']['subscriptions']} subscriptions")
for g in s["growth"]:
    state = ("ok" if g["rss_ok"] and g["fds_ok"] else "GREW") if g["judged"] else "not judged"
    print(f"  incarnation {g['incarnation']}: {state}, RSS {g['rss_first_bytes'] // MIB} -> "
          f"{g['rss_last_bytes'] // MIB} MiB, fds {g['fds_first']} -> {g['fds_last']}")
if not docs:
    sys.exit(0)

# ---- the plot ---------------------------------------------------------------------------
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLOURS = {"drop": "tab:orange", "mute": "tab:purple", "terminate": "tab:green",
           "shutdown": "tab:blue", "kill": "tab:red"}
minutes = [x["t"] / 60 for x in samples]
def series(key, scale=1.0):
    return [x[key] / scale if x[key] is not None else float("nan") for x in samples]

fig, axes = plt.subplots(3, 1, figsize=(11, 8.5), sharex=True)
axes[0].plot(minutes, series("rss_bytes", MIB), color="black", lw=1)
axes[0].set_ylabel("server RSS (MiB)")
axes[1].plot(minutes, series("fds"), color="black", lw=1)
axes[1].set_ylabel("server open fds")
axes[2].plot(minutes, series("published_per_sec"), color="tab:gray", lw=0.8, label="published")
axes[2].plot(minutes, series("delivered_per_sec"), color="black", lw=1, label="delivered")
axes[2].set_ylabel("events/s")
axes[2].set_xlabel("minutes since the main phase started (before 0: setup and ramp)")
for ax in axes:
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    for f in faults:
        if f.get("error"):
            continue
        colour = COLOURS[f["kind"]]
        if f["kind"] == "kill":
            ax.axvspan(f["t"] / 60, f["end_t"] / 60, color=colour, alpha=0.25, lw=0)
        else:
            style = "-" if f["target"] == "all" else ":"
            ax.axvline(f["t"] / 60, color=colour, lw=0.9, ls=style)
    phases = {}
    for x in samples:
        phases.setdefault(x["phase"], [x["t"], x["t"]])[1] = x["t"]
    for phase in ("setup", "ramp", "drain"):
        if phase in phases:
            ax.axvspan(phases[phase][0] / 60, phases[phase][1] / 60, color="0.85", alpha=0.5, lw=0)
handles = [plt.Line2D([], [], color=c, lw=2, label=kind) for kind, c in COLOURS.items()]
handles.append(plt.Line2D([], [], color="0.5", lw=1, ls=":", label="one account or connection"))
axes[0].legend(handles=handles, ncol=6, fontsize=8, loc="lower right")
axes[2].legend(fontsize=8, loc="lower right")
fig.suptitle(f"userstream soak: {s['streams']:,} streams, {s['minutes']:g} min, "
             f"{k(s['rate_per_sec'])} events/s, {sum(s['faults'].values())} faults")
fig.tight_layout()
fig.savefig("docs/soak.png", dpi=90)

# ---- the section ------------------------------------------------------------------------
date = datetime.datetime.fromtimestamp(s["started_unix_ms"] / 1000, datetime.timezone.utc)
targets = ", ".join(f"{v} {t}" for t, v in sorted(s["fault_targets"].items()))
kinds = ", ".join(f"{s['faults'].get(kind, 0)} {kind}" for kind in COLOURS)
blamed = ", ".join(f"{n(v)} {kind}" for kind, v in sorted(attribution["by_kind"].items())) or "none"
ramp = s["ramp"]
ramp_line = ""
if ramp:
    last = ramp[-1]
    ramp_line = (f"The ramp (×1.5 per {len(ramp)} steps from {k(ramp[0]['target_per_sec'])}/s) stopped keeping "
                 f"up at {k(last['target_per_sec'])}/s offered: {k(last['published_per_sec'])}/s published, "
                 f"{k(last['delivered_per_sec'])}/s delivered, server CPU {last['server_cpu_percent'] or 0:.0f} %, "
                 f"load generator (all streams) {last['client_cpu_percent'] or 0:.0f} %. Saturation "
                 f"{k(s['saturation_per_sec'])}/s; the run used half.")
growth_rows = []
for g in s["growth"]:
    if g["judged"]:
        state = "no growth" if g["rss_ok"] and g["fds_ok"] else "**grew**"
        growth_rows.append(
            f"| {g['incarnation']} | {g['from_t'] / 60:.1f}–{g['to_t'] / 60:.1f} | "
            f"{g['rss_first_bytes'] / MIB:.0f} → {g['rss_last_bytes'] / MIB:.0f} MiB | "
            f"{g['fds_first']:,} → {g['fds_last']:,} | {state} |")
    else:
        growth_rows.append(f"| {g['incarnation']} | (shorter than warm-up + {s['growth_rule']['min_window_secs']:.0f} s) | | | not judged |")
rule = s["growth_rule"]
st = s["statuses"]

section = f"""## Soak

`scripts/soak.sh [MINUTES]` (default 30) builds the release binary and runs `userstream bench soak`:
the real server (`userstream serve`, its own process on loopback, tokens valid
{s['token_validity_ms'] / 1000:.0f} s so every stream renews about once a minute) and, in one load-generator
process, {s['streams']:,} `userstream-client` streams, each on its own account and API key. It
publishes numbered `balanceUpdate`s (each account's `d` counts 1, 2, 3…) through the admin API at
half the saturation a short ramp measures, and injects faults from a seeded schedule: `drop`,
`mute` (2–15 s; the streams ping after 5 s of silence and give a ping 3 s), `terminate` and
`shutdown` (grace 8–15 s) through `POST /admin/v1/faults` on every connection, one account or one
connection, and `kill -9` of the server followed by a restart on the same ports and data directory
(down 1–5 s). Then publishing stops and every stream is sent fresh events until it has caught up.

What it checks, per stream, in the order the client yields items:

- **lost**: a hole in the numbers is explained only when a `Gap` status arrived since the last event
  before it; anything in an unexplained hole (or never received at the end) that never arrives is
  lost. Must be 0. Events of a publish request cut by a kill may or may not have been published,
  and count either way.
- **duplicates**: a number yielded twice. Must be 0. **Out of order** (a number filling an
  earlier hole: a handover's new connection outrunning the old one) must be 0 too.
- **gaps**: each one must be blamed on a fault that touched that stream at that time (its window
  overlaps the fault's, 2 s before to 15 s after). A gap blamed only on `shutdown` fails the run
  (its make-before-break handover should lose nothing), as does a gap no fault explains (a
  renewal, say).
- **no growth after warm-up**: server RSS (`VmRSS`) and open descriptors (`/proc/PID/fd`) are
  sampled every second. Each server process (a `kill -9` starts a new one) is judged on its own,
  in the main phase, after a warm-up of {rule['warmup_secs']:.0f} s from its start (one and a half renewal periods:
  by then every stream has come back and been through a renewal round). Its *floor*, the lower
  quartile of the samples, in the last third of that time may exceed the floor in the first
  third by at most {rule['rss_fraction'] * 100:.0f} % + {rule['rss_bytes'] // MIB} MiB (RSS) and {rule['fds_fraction'] * 100:.0f} % + {rule['fds']} (descriptors). Bursts
  come and go (each renewal round opens thousands of token connections for a few seconds, a
  fault makes every stream reconnect at once) and the floor ignores them; a leak raises the
  level the process returns to between them. A process with less than {rule['min_window_secs']:.0f} s after its
  warm-up is not judged.
- every stream subscribed, renewed, never ended, and caught up at the end; and the server then
  held exactly one connection and one subscription per stream (`GET /healthz`), so no fault
  left a session or a subscription behind.

CI runs a 2-minute version from `scripts/test.sh`: `scripts/soak.sh --check 2`, on the debug
binary the tests have just built (a release build takes about ten minutes on this machine), with
1,000 streams and 40-second tokens. It checks and fails the same way but leaves this page alone,
and takes about two and a half minutes. A thousand streams because every mass fault (`kill -9`, a drop of every
connection) is still a thundering herd of a thousand reconnects and subscribes, while the debug
build recovers from one in about 5 s with a load generator of about 350 MB; 5,000 streams pass
too, but need 1.6 GB and 12 s per recovery, little headroom on a CI machine busy with other work.

### Latest full run

Verdict: **{verdict}**.

- {date:%Y-%m-%d %H:%M} UTC, commit `{git_rev()}`, `{command}`; {cpu_model()}, {os.cpu_count()} cores shared
  by the server, the load generator and whatever else ran on the machine.
- **{s['streams']:,} streams for {s['minutes']:g} minutes** at **{k(s['rate_per_sec'])} events/s**
  (mean delivered {k(delivered_rate or 0)}/s; server CPU {server_cpu or 0:.0f} %, load generator {client_cpu or 0:.0f} %). {ramp_line}
- **Faults: {sum(s['faults'].values())}** ({kinds}; targets: {targets}; {s['fault_errors']} could not be
  injected); {s['server_restarts']} server restarts.
- **Events**: {n(s['published'])} published ({n(s['uncertain'])} in requests cut by a kill);
  {n(s['expected'])} had to reach their stream, {n(s['received'])} did, {n(s['missed_with_gap'])} were missed
  under a reported gap.
- **Lost without a gap: {s['lost']}. Duplicates: {s['duplicates']}. Out of order: {s['out_of_order']}.**
- **Gaps: {n(s['gaps'])}**, blamed on {blamed}; unexplained: {attribution['unexplained']}.
- Statuses: {n(st['renewed'])} renewals, {n(st['reconnecting'])} reconnect attempts,
  {n(st['handovers_started'])} handovers started and {n(st['handovers_completed'])} completed, {n(st['token_retries'])} token retries;
  {s['fatal_streams']} streams ended, {s['undrained_streams']} failed to catch up; at the end the server held
  {s['server_at_end']['connections']:,} connections and {s['server_at_end']['subscriptions']:,} subscriptions.
- Peaks: server RSS {(s['peak_rss_bytes'] or 0) / MIB:.0f} MiB, {s['peak_fds'] or 0:,} descriptors; load generator
  RSS {(s['peak_client_rss_bytes'] or 0) / MIB:.0f} MiB.

| server process | judged (min) | RSS floor, first → last third | descriptors floor | verdict |
|---|---|---|---|---|
""" + "\n".join(growth_rows) + """

![Server RSS, open descriptors and delivery rate over the run; faults marked (solid: every
connection, dotted: one account or connection; red bands: server killed and down)](soak.png)
"""

path = "docs/reliability.md"
text = open(path).read()
match = re.search(r"^## Soak\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
if match is None:
    text = text.rstrip("\n") + "\n\n" + section
else:
    text = text[:match.start()] + section + ("\n" if match.end() < len(text) else "") + text[match.end():]
open(path, "w").write(text)
print(f"wrote {path} and docs/soak.png")
