#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (Corpus/<target>/) from the repository's own material: the client lines of
protocol/transcripts/, the example configuration in deploy/ and configurations shaped like the tests', and a few
core stories. Run from anywhere: `python3 Fuzz/seeds.py`. Crash inputs found later are kept beside these under
their own names (crash-*) and are not touched by this script."""
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(target, name, data):
    directory = os.path.join(HERE, "Corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)


def lines_seeds():
    # A seed is: a byte choosing the line limit (index into the target's limits), a byte seeding the reads, the stream.
    transcripts = os.path.join(ROOT, "protocol", "transcripts")
    count = 0
    for name in sorted(os.listdir(transcripts)):
        sent = []
        with open(os.path.join(transcripts, name), encoding="utf-8") as text:
            for line in text:
                match = re.match(r"^[A-Za-z0-9_.-]*> (.*)$", line.rstrip("\n"))
                if match:
                    sent.append(match.group(1))
        if not sent:
            continue
        stream = ("\n".join(sent) + "\n").encode()
        base = os.path.splitext(name)[0]
        write("lines", base, bytes([6, count]) + stream)
        # The same lines with CR LF, against the smallest limit.
        write("lines", base + "-crlf-64", bytes([0, count + 1]) + stream.replace(b"\n", b"\r\n"))
        count += 2
    odd = [
        b"t SEND 1 :a\\nb\\\\c\n",
        b"t SEND 1 :bad \\t escape\n",
        b"t OPEN presales store=tmall priority=vip lang=en customer=b-1 :\xe4\xbd\xa0\xe5\xa5\xbd\n",
        b"t OPEN presales :\xc3\x28 invalid\n",
        b"t PING\r\n\r\n  \n:\n *\n",
        b"t LOGIN agent alice c2VjcmV0PT0= shop=acme\n",
        b"t HISTORY 12 after=0 limit=10000\n",
        b"t HISTORY 01 after=-1 limit=10001\n",
        b"t QUEUE after=3 after=4\n",
        b"t RATE 1 5 customer=b1 :\xe5\xa5\xbd\n",
        b"t TRANSFER 3 agent=bob skill=refund :why\n",
        b"x" * 300 + b"\nt PING\n",
        b"t SEND 1 :" + b"\xe8\xb4\xa7" * 40 + b"\n",
    ]
    for index, stream in enumerate(odd):
        write("lines", "odd-%02d" % index, bytes([index % 7, index]) + stream)


HASH = "a" * 64


def configuration_seeds():
    with open(os.path.join(ROOT, "deploy", "kefud.toml"), "rb") as text:
        write("configuration", "deploy-kefud", text.read())
    write("configuration", "everything", f"""# Every section kefud reads.
[server]
listen = "127.0.0.1:0"
state_dir = "/tmp/kefu"
max_line_bytes = 64
shutdown_grace_s = 0.25
idle_timeout_s = 0
max_pipelined = 16
slow_client_bytes = 65536
slow_client_grace_s = 1.5
kept_event_bytes = 4096

[sla]
first_response_s = 1.5
response_s = 90
warn_s = 20
customer_idle_close_s = 0
resolution_s = 7200
max_reassign = 3
breach_records_per_s = 0

[[sla.policy]]
store = "jd"
first_response_s = 30
hours = "00:00-24:00"
closed_days = []

[[sla.policy]]
priority = "vip"
skill = "presales"
response_s = 90
warn_s = 20

[customers]
token_sha256 = "{HASH}"

[[agent]]
id = "alice"
token_sha256 = "{HASH}"
max_chats = 5
skills = {{ refund = 3, presales = 2 }}
stores = ["tmall", "jd"]
languages = ["zh", "en"]

[[agent]]
id = "bob.smith-2"
name = "Bob Smith"
token_sha256 = "{HASH}"
max_chats = 1000
[agent.skills]
complaint = 5
logistics = 1

[[supervisor]]
id = "lead"
token_sha256 = "{HASH}"

[[manager]]
id = "boss"
token_sha256 = "{HASH}"

[[gateway]]
id = "tmall"
token_sha256 = "{HASH}"

[[skill]]
name = "complaint"
min_level = 4
widen_after_s = 60
fallback = ["refund"]
max_queue = 100

[routing]
sticky_window_s = 259200
sticky_wait_s = 30
vip_boost_s = 600
wrap_up_s = 10
reconnect_grace_s = 60
auto_away_breaches = 2
auto_away_window_s = 600

[auto_reply]
greeting = "亲,欢迎光临"
queued = "请稍候\\n马上来"
out_of_hours = "休息中"

[csat]
enabled = true
question = "满意吗?"
expire_s = 86400

[[escalation]]
after_s = 0
actions = ["reassign", "supervisor"]

[[escalation]]
after_s = 1800
actions = ["manager"]

[business_hours]
time_zone = "America/New_York"
hours = "09:00-21:30"
closed_days = ["sun"]
holidays = ["2026-10-01", "2027-02-06"]

[http]
listen = "[::1]:7391"
""".encode())
    write("configuration", "shop", f"""[customers]
token_sha256 = "{HASH}"

[[agent]]
id = "a"
token_sha256 = "{HASH}"
max_chats = 1
skills = {{ presales = 1 }}
""".encode())
    write("configuration", "cluster", f"""[server]
listen = "0.0.0.0:7390"

[cluster]
postgres = "postgresql://kefu:s%40cret@db.internal:5433/kefu"
node = "kefu-1"
advertise = "10.0.0.11:7390"
lease_ttl_s = 12
renew_every_s = 2
probe_every_s = 0.5
""".encode())
    write("configuration", "syntax", b"""# TOML the parser must take or refuse well.
a = 1_000
b = -0.5e3
c = 0x1F
d = 'literal \\ string'
e = \"\"\"
multi
line\"\"\"
f = [1, [2, 3], { x = 1 }, ]
g = { y = "z",
      w = true }
"quoted key".inner = 1
[t.u.v]
[[arr]]
[[arr]]
k = inf
""")


def core_seeds():
    generator = random.Random(14)
    for index in range(24):
        length = generator.choice([16, 64, 200, 600, 1500])
        write("core", "story-%02d" % index, bytes(generator.randrange(256) for _ in range(length)))


if __name__ == "__main__":
    lines_seeds()
    configuration_seeds()
    core_seeds()
