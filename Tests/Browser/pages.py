"""The supervisor board and the agent workspace in a real headless Chromium (Debian's chromium and chromium-driver,
selenium from PyPI), against a kefud the Swift test started: a buyer's OPEN over TCP shows on the board within 2 s;
an agent answers in the workspace and the buyer's TCP client receives it; a breach turns the tile red and shows in
the feed. Screenshots of both pages, at 1366x768 and at a phone's width, go to the artifacts directory.

Usage: pages.py <http port> <line protocol port> <artifacts dir>. Exit status 0 when every check held."""

import os
import sys
import time

os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not reach for the network

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from buyer import Buyer  # noqa: E402  (Tests/Browser/buyer.py, beside this file)

HTTP, TCP, ARTIFACTS = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(ARTIFACTS, exist_ok=True)


def browser(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--lang=zh-CN"]:
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, seconds):
    # The board redraws what a push changed: an element found a moment ago may be gone; look again.
    return WebDriverWait(driver, seconds, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException])


def login(driver, path, user, token):
    driver.get(f"http://127.0.0.1:{HTTP}{path}")
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "login-id"))
    driver.find_element(By.ID, "login-id").send_keys(user)
    driver.find_element(By.ID, "login-token").send_keys(token)
    driver.find_element(By.ID, "login-button").click()


def text_of(driver, selector):
    try:
        return driver.find_element(By.CSS_SELECTOR, selector).text
    except Exception:
        return ""


def screenshots(driver, name):
    driver.save_screenshot(os.path.join(ARTIFACTS, f"{name}-1366x768.png"))
    driver.set_window_size(390, 844)
    time.sleep(0.5)
    driver.save_screenshot(os.path.join(ARTIFACTS, f"{name}-phone.png"))
    width = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    wide = driver.execute_script(
        "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth)"
        ".slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)")
    assert width <= 0, f"{name} is {width}px wider than a phone: it scrolls sideways ({wide})"
    driver.set_window_size(1366, 768)


board = browser(1366, 768)
agent = browser(1366, 768)
try:
    login(board, "/", "lead", "lead-secret")
    wait(board, 10).until(lambda d: text_of(d, "#tile-waiting .value") == "0")
    login(agent, "/agent", "alice", "alice-secret")
    wait(agent, 10).until(lambda d: text_of(d, "#presence") == "online")

    # A buyer opens over TCP: the board shows it within 2 s, pushed (the page never polls).
    buyer = Buyer(TCP, "buyer-1")
    opened = time.monotonic()
    assert buyer.command("o OPEN presales :这件外套有M码吗?") == "o OK conv=1"
    wait(board, 2).until(lambda d: text_of(d, "#tile-unanswered .value") == "1")
    shown = time.monotonic() - opened
    print(f"board showed the new chat after {shown:.2f} s")
    assert shown < 2

    # The agent answers in the workspace (Chinese, an emoji, a line break); the buyer's TCP client receives it.
    wait(agent, 5).until(lambda d: d.find_element(By.CSS_SELECTOR, '#chats li[data-conv="1"]'))
    agent.find_element(By.CSS_SELECTOR, '#chats li[data-conv="1"]').click()
    wait(agent, 5).until(lambda d: d.find_element(By.CSS_SELECTOR, '#conversation[data-conv="1"]'))
    wait(agent, 5).until(lambda d: "这件外套有M码吗?" in text_of(d, "#messages"))
    answer = agent.find_element(By.ID, "answer")
    # ChromeDriver types only the Basic Multilingual Plane: the emoji is put in as a user's paste would.
    agent.execute_script("arguments[0].value = arguments[1]", answer, "有的 😊\n今天下单明天发")
    agent.find_element(By.ID, "send").click()
    line = buyer.expect("* MSG conv=1 from=agent", 5)
    assert line == "* MSG conv=1 from=agent :有的 😊\\n今天下单明天发", line
    wait(agent, 5).until(lambda d: "已回复" in text_of(d, '#chats li[data-conv="1"]'))

    # Any number leads to its conversations: alice's row lists hers, one opens its history and EXPLAIN.
    board.find_element(By.CSS_SELECTOR, 'tr[data-agent="alice"]').click()
    wait(board, 5).until(lambda d: "buyer-1" in text_of(d, "#chats"))
    board.find_element(By.CSS_SELECTOR, "#chats a").click()
    wait(board, 5).until(lambda d: "这件外套有M码吗?" in text_of(d, "#conversation"))
    assert "EXPLAIN" in text_of(board, "#conversation")

    # A chat nobody can take waits past its limit: the tile turns red and the breach is in the feed.
    waiting = Buyer(TCP, "buyer-2")
    assert waiting.command("o OPEN complaint :质量问题") == "o OK conv=2"
    wait(board, 10).until(lambda d: "red" in d.find_element(By.ID, "tile-waiting").get_attribute("class"))
    wait(board, 5).until(lambda d: "会话 2 超时" in text_of(d, "#feed"))
    print("breach: tile red, in the feed")

    # The arrivals chart has both chats.
    counts = [int(bar.get_attribute("data-count")) for bar in board.find_elements(By.CSS_SELECTOR, "#arrivals rect")]
    assert len(counts) == 24 and sum(counts) == 2, counts

    screenshots(board, "board")
    screenshots(agent, "agent")
    print("ok")
finally:
    board.quit()
    agent.quit()
