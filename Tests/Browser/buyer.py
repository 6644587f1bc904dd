"""A buyer on the line protocol over TCP, as a gateway or a shop's app would be: what the browser tests talk to the
pages through (pages.py for Chromium, pages_firefox.py for Firefox)."""

import socket


class Buyer:
    def __init__(self, port, name):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.socket.makefile("rw", encoding="utf-8", newline="\n")
        assert self.command(f"l LOGIN customer {name} shop-gateway-secret").startswith("l OK"), "buyer login"

    def send(self, line):
        self.file.write(line + "\n")
        self.file.flush()

    def command(self, line):
        """Sends a tagged line and returns its completion (events before it are skipped)."""
        tag = line.split(" ")[0]
        self.send(line)
        while True:
            answer = self.file.readline().rstrip("\n")
            if answer.startswith(tag + " "):
                return answer

    def expect(self, prefix, seconds):
        """The next line starting with `prefix`, within `seconds`."""
        self.socket.settimeout(seconds)
        while True:
            line = self.file.readline().rstrip("\n")
            if line.startswith(prefix):
                return line
