"""The board and the workspace in Firefox (Debian's firefox-esr, headless), driven over Marionette, Firefox's own
remote protocol, with Mozilla's marionette_driver from PyPI: no geckodriver exists for this machine (not in Debian
bookworm, not on PyPI). A buyer's OPEN over TCP shows on the board within 2 s and an agent's answer in the workspace
reaches the buyer's TCP client; screenshots of both pages go to the artifacts directory.

Usage: pages_firefox.py <http port> <line protocol port> <artifacts dir>. Exit status 0 when every check held."""

import os
import socket
import sys
import time

from marionette_driver import Wait
from marionette_driver.by import By
from marionette_driver.marionette import Marionette

from buyer import Buyer  # noqa: E402  (Tests/Browser/buyer.py, beside this file)

HTTP, TCP, ARTIFACTS = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(ARTIFACTS, exist_ok=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def text_of(client, selector):
    try:
        return client.find_element(By.CSS_SELECTOR, selector).text
    except Exception:
        return ""


def wait(client, seconds):
    return Wait(client, timeout=seconds, interval=0.05, ignored_exceptions=(Exception,))


def open_page(path, user, token):
    # Firefox's own log goes with the screenshots, not into the working directory.
    client = Marionette(
        bin="/usr/bin/firefox-esr", headless=True, port=free_port(), startup_timeout=60,
        gecko_log=os.path.join(ARTIFACTS, "gecko.log"))
    client.start_session()
    client.set_window_rect(width=1366, height=768)
    client.navigate(f"http://127.0.0.1:{HTTP}{path}")
    wait(client, 10).until(lambda c: c.find_element(By.ID, "login-id"))
    client.find_element(By.ID, "login-id").send_keys(user)
    client.find_element(By.ID, "login-token").send_keys(token)
    client.find_element(By.ID, "login-button").click()
    return client


board = agent = None
try:
    board = open_page("/", "lead", "lead-secret")
    wait(board, 10).until(lambda c: text_of(c, "#tile-waiting .value") == "0")
    agent = open_page("/agent", "alice", "alice-secret")
    wait(agent, 10).until(lambda c: text_of(c, "#presence") == "online")

    buyer = Buyer(TCP, "buyer-ff")
    opened = time.monotonic()
    assert buyer.command("o OPEN presales :这件外套有M码吗?") == "o OK conv=1"
    wait(board, 2).until(lambda c: text_of(c, "#tile-unanswered .value") == "1")
    print(f"firefox: board showed the new chat after {time.monotonic() - opened:.2f} s")

    wait(agent, 5).until(lambda c: c.find_element(By.CSS_SELECTOR, '#chats li[data-conv="1"]'))
    agent.find_element(By.CSS_SELECTOR, '#chats li[data-conv="1"]').click()
    wait(agent, 5).until(lambda c: "这件外套有M码吗?" in text_of(c, "#messages"))
    agent.execute_script("document.getElementById('answer').value = arguments[0]", script_args=["有的 😊\n今天下单明天发"])
    agent.find_element(By.ID, "send").click()
    line = buyer.expect("* MSG conv=1 from=agent", 5)
    assert line == "* MSG conv=1 from=agent :有的 😊\\n今天下单明天发", line

    for name, client in (("board", board), ("agent", agent)):
        with open(os.path.join(ARTIFACTS, f"{name}-firefox.png"), "wb") as out:
            out.write(client.screenshot(format="binary"))
    print("ok")
finally:
    for client in (board, agent):
        if client:
            client.delete_session()
            client.cleanup()
