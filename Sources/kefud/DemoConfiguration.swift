/// The demo configuration kefud runs on when started without `--config`: a copy of `deploy/kefud.toml`
/// (a test keeps the two identical; `make demo-config` regenerates this file), embedded so that `make run`
/// works from a fresh clone with no setup.
enum DemoConfiguration {
    static let text = #"""
# kefud demo configuration: what `kefud` runs on by default.
#
# The tokens below (shop-gateway-secret, alice-secret, ...) are public demo secrets for trying kefud only.
# Before real use, pick your own secrets and store their hashes: printf %s 'YOUR-SECRET' | sha256sum

# Listener and process settings.
[server]
listen = "127.0.0.1:7390"   # host:port; write IPv6 as "[::1]:7390"
# state_dir = "./var"       # SQLite store; when left out: $STATE_DIRECTORY under systemd, else ./var
# max_line_bytes = 16384    # longest protocol line accepted
# shutdown_grace_s = 5      # seconds sessions get to finish on shutdown
# max_pipelined = 256       # lines a client may send ahead of their replies before it is no longer read
# slow_client_bytes = 1048576  # unread output a client may keep above this only for slow_client_grace_s
# slow_client_grace_s = 10     # then (or at 8 times the bytes at once) it is closed as too slow
# shops_dir = "/etc/kefu/shops"  # one <shop>.toml per further shop (its team, no [server]); LOGIN ... shop=<shop>
# TLS beside listen (or instead of it: leave listen out). TLS 1.2 and 1.3; a reload re-reads the files.
# listen_tls = "0.0.0.0:7443"
# tls_certificate = "/etc/kefu/tls/fullchain.pem"   # PEM chain, own certificate first
# tls_private_key = "/etc/kefu/tls/privkey.pem"
# tls_client_ca = "/etc/kefu/tls/gateways-ca.pem"  # when set, every client must present a certificate it signed

# HTTP beside the line protocol: GET /healthz (alive) and /readyz (200 once serving, 503 before and while stopping).
# Leave the table out for no HTTP at all.
[http]
listen = "127.0.0.1:7391"   # host:port, loopback only by default
# listen_tls = "0.0.0.0:7444"  # HTTPS and wss: with the same four tls keys as [server] (listen may then go)

# Service-level targets.
[sla]
first_response_s = 120      # an agent must answer a new chat within this many seconds
response_s = 180            # and every later buyer message (a new round) within this many
# breach_records_per_s = 200  # breaches a second journald gets one by one; the rest are listed in one summary

# The gateway that brings customers in authenticates with this shared secret (demo: shop-gateway-secret).
[customers]
token_sha256 = "70eb1e69e0e61e6f50457f66a06497aa2a2206f8c74b0ca2c277c5bd8359ef4b"

# Agents answer chats. Skill levels run from 1 (basic) to 5 (expert); max_chats caps concurrent chats.
[[agent]]
id = "alice"
name = "Alice"
token_sha256 = "0c848abb03307b06cf70cd4e29c157dc81af5e94ab3eb1d0c59a120269572376"   # alice-secret
max_chats = 5
skills = { presales = 3, logistics = 2 }
stores = ["tmall", "jd"]     # storefronts served; leave out for all
languages = ["zh", "en"]     # leave out for any

[[agent]]
id = "bob"
name = "Bob"
token_sha256 = "9f03ef1533a68d2f506f81ef463c1183a82a6bd40e45613f36e6fe1889cf1b99"   # bob-secret
max_chats = 5
skills = { presales = 2, refund = 3, returns = 3 }

[[agent]]
id = "carol"
name = "Carol"
token_sha256 = "9e1d0a638ff9fd18986d8057aef3c36871aa54b27a6fcc6411fb32f8325675e2"   # carol-secret
max_chats = 3
skills = { refund = 4, complaint = 5, returns = 2 }

# Supervisors watch queues and agents; their ids must differ from agent ids.
[[supervisor]]
id = "lead"
name = "Lead"
token_sha256 = "0a70631b84816dd3124d632f39f08a1964fee40b36210d27e8bc16e7aba7a16b"   # lead-secret

# Routing rules (all optional; the defaults are shown).
[routing]
sticky_window_s = 259200     # a returning buyer (老客户) goes back to their agent within 72 h
sticky_wait_s = 0            # how long to wait for that agent when they are online but full
vip_boost_s = 600            # a vip counts as having waited 10 minutes longer (no starving normal chats)
wrap_up_s = 0                # slot stays busy this long after a close
reconnect_grace_s = 60       # a dropped agent keeps its chats this long
auto_away_breaches = 2       # breaches within auto_away_window_s that set an idle agent away (严禁空挂)
auto_away_window_s = 600

# Complaints go to seniors only; after 5 minutes any level, after 10 minutes refund agents too.
[[skill]]
name = "complaint"
min_level = 3
widen_after_s = 300
fallback = ["refund"]
# max_queue = 50             # beyond this, OPEN answers busy

# A platform bridge bringing many buyers over one connection (demo secret: tmall-bridge-secret).
[[gateway]]
id = "tmall-bridge"
token_sha256 = "85a90ba1fe3987953f3dc298aea5eca43f662653e8804208cebce6e236e63e4a"

# Keeping data only as long as needed (PIPL): the texts of conversations closed more than closed_after_days ago (their
# messages and notes) are deleted, a few hundred rows at a time, 10 s after the start and then hourly; rounds, ratings,
# presence and who sent each message when stay, so every report stays the same. Left out (or 0): kept for ever.
# `kefuctl purge --dry-run --config <this file>` says what would go.
# [retention]
# closed_after_days = 180     # days after a conversation's close
# batch = 500                 # rows one purge transaction changes (10 to 10000)

# The input journal: every input the routing core takes (messages without their texts, logins, presence, clock ticks,
# reloads), committed with the records it caused, so that `kefuctl replay` can run a recorded day through the core again
# (with these rules: decision for decision; with others: what would the day have been?) and `kefuctl simulate
# --recorded-day` can staff a sale day from a real one. About 21 bytes a message. 0 writes none.
# [replay]
# keep_days = 14              # rows older go, a whole run (from a start of kefud) at a time

"""#
}
