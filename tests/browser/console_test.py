#!/usr/bin/env python3
"""The web console in a real browser: headless Chromium driven by Selenium.

What this proves, against one freshly started `alert-ledger serve` (its own data
directory, a free port, a tokens file with an admin, a writer and a reader), with a
local webhook receiver that answers 500 to its first POST and 200 afterwards:

- sign-in: pages send a stranger to /login; the session cookie is HttpOnly
  (document.cookie cannot see it) and SameSite=Strict;
- the board updates live: a trigger made through the API shows up as a new row without
  a reload (the latency from trigger to visible row is measured and printed);
- acknowledging from the board works (a plain form POST, redirect, row acknowledged);
- the alert's timeline shows the failed webhook attempt, then the delivered one;
- search and filters are in the URL and survive a reload;
- time travel (`?as_of=`) shows the alert as it was before its acknowledgement, under
  the past banner, and every link keeps `as_of`;
- every page renders (screenshots of each, also at phone width), an admin can verify the
  chain and run an online rebuild;
- a missing alert is a 404 page;
- a reader sees no write button and a forged POST with the reader's own session and
  CSRF token is refused (403) and writes nothing;
- sign-out ends the session (the cookie is gone and the old session id is dead);
- signing in only ever leads back to this server, however `next` is spelled;
- text keeps the contrast console.css promises (4.5:1) on every page;
- no token appears in any page the browser was shown, nor in the service's log.

Environment: ALERT_LEDGER_BIN (default $CARGO_TARGET_DIR/debug/alert-ledger),
CONSOLE_SCREENSHOTS (default: a temporary directory; a failing test leaves
failures/<test>.png there), CHROMIUM (default /usr/bin/chromium), CHROMEDRIVER (default
/usr/bin/chromedriver).
Prints `browser tests: N passed, M failed` and exits non-zero on any failure.
"""

import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

COOKIE = "alert_ledger_session"
WIDTH, HEIGHT = 1280, 900
TESTS = []


def test(fn):
    """Registers a test; they run in the order they are written."""
    TESTS.append(fn)
    return fn


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the webhook receiver ---------------------------------------------------------


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook endpoint: 500 to the first POST, 200 to every later one."""

    daemon_threads = True

    def __init__(self):
        self.calls = []  # (status answered, JSON body)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            status = 500 if not self.server.calls else 200
            try:
                payload = json.loads(body or b"null")
            except ValueError:
                payload = None
            self.server.calls.append((status, payload))
        answer = b'{"ok": true}' if status == 200 else b"receiver is warming up"
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


# --- the service, the API and the browser -----------------------------------------


class Console:
    """One service, one receiver, one browser, and what the tests learned so far."""

    def __init__(self):
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.getcwd(), "target")
        self.binary = os.environ.get("ALERT_LEDGER_BIN") or os.path.join(target, "debug", "alert-ledger")
        self.work = tempfile.mkdtemp(prefix="console-browser-")
        self.shots = os.environ.get("CONSOLE_SCREENSHOTS") or tempfile.mkdtemp(prefix="console-screenshots-")
        os.makedirs(self.shots, exist_ok=True)
        self.tokens = {role: f"{role}-{secrets.token_hex(16)}" for role in ("admin", "writer", "reader")}
        self.names = {role: f"browser-{role}" for role in self.tokens}
        self.base = f"http://127.0.0.1:{free_port()}"
        self.receiver = None
        self.service = None
        self.driver = None
        self.chromedriver = None
        self.role = None  # who the browser is signed in as
        self.sources = []  # (url, html) of every page the browser was shown
        self.alert = None  # the incident's alert: id and trigger position
        self.fixtures = {}
        self.latencies = []

    # The service.
    def start_service(self):
        tokens_file = os.path.join(self.work, "tokens")
        with open(tokens_file, "w") as f:
            for role, token in self.tokens.items():
                f.write(f"{role} {self.names[role]} {token}\n")
        self.log_path = os.path.join(self.work, "server.log")
        self.log = open(self.log_path, "w")
        # Short backoffs: the webhook's retry after its 500 comes within a second.
        self.service = subprocess.Popen(
            [self.binary, "serve", "--data-dir", os.path.join(self.work, "data"),
             "--listen", self.base.removeprefix("http://"), "--tokens-file", tokens_file,
             "--dispatch-backoff-ms", "300", "--dispatch-backoff-max-ms", "1000",
             "--dispatch-timeout-ms", "3000"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.service.poll() is None, f"the service exited: {self.log_tail()}"
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the service did not become ready in 30 s: {self.log_tail()}")

    def log_tail(self, lines=30):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def api(self, method, path, body=None, role="writer", expect=(200, 201)):
        """One API call with the role's bearer token; returns the decoded JSON."""
        request = urllib.request.Request(
            self.base + path, method=method,
            data=b"" if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.tokens[role]}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, data = err.code, err.read()
        assert status in expect, f"{method} {path} answered {status}: {data[:400]!r}"
        return json.loads(data) if data else None

    def trigger(self, **body):
        return self.api("POST", "/v1/alerts", body)

    def alert_now(self, alert_id, role="writer"):
        head = self.api("GET", "/v1/ledger/digest", role=role)["position"]
        return self.api("GET", f"/v1/alerts/{alert_id}?min_position={head}", role=role)

    # The browser.
    def start_browser(self):
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars", "--lang=en-US"):
            options.add_argument(arg)
        self.chromedriver = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"),
                                    log_output=os.path.join(self.work, "chromedriver.log"))
        self.driver = webdriver.Chrome(options=options, service=self.chromedriver)
        self.driver.set_page_load_timeout(30)
        self.set_viewport(WIDTH, HEIGHT)

    def set_viewport(self, width, height, mobile=False):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def visit(self, path):
        self.driver.get(self.base + path)
        self.record()

    def record(self):
        """Keeps the page's source for the no-token check."""
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete",
                  "the page did not finish loading")
        self.sources.append((self.driver.current_url, self.driver.page_source))

    def wait(self, condition, message, timeout=10, poll=0.1):
        return WebDriverWait(self.driver, timeout, poll_frequency=poll,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition, message)

    def path(self):
        return urllib.parse.urlsplit(self.driver.current_url).path

    def query(self):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.driver.current_url).query)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        return self.find(css).text.strip()

    def shot(self, name):
        path = os.path.join(self.shots, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        assert self.driver.save_screenshot(path), f"could not save {path}"

    def mark_document(self):
        """Marks the current document; `same_document()` says whether it is still shown."""
        self.driver.execute_script("window.__consoleTestMark = 'kept';")

    def same_document(self):
        return self.driver.execute_script("return window.__consoleTestMark === 'kept';")

    def sign_in(self, role):
        """Signs the browser in as `role` through the sign-in form (if not already)."""
        if self.role == role:
            return
        if not self.driver.current_url.startswith(self.base):
            self.visit("/login")
        self.driver.delete_all_cookies()
        self.role = None
        self.visit("/")
        self.wait(lambda d: self.path() == "/login", "/ did not send a stranger to /login")
        self.find("#token").send_keys(self.tokens[role])
        self.find("form[action='/login'] button[type=submit]").click()
        self.wait(lambda d: self.path() == "/" and d.find_elements(By.ID, "board"),
                  f"signing in as {role} did not lead to the board")
        self.record()
        assert f"{self.names[role]} ({role})" in self.text("form.signout .who"), \
            "the header does not name the signed-in person and role"
        self.role = role

    def fetch(self, url, method="GET", form=None):
        """fetch() from inside the page (same origin, with the session cookie)."""
        return self.driver.execute_async_script("""
            const [url, method, form, done] = arguments;
            const init = {method, credentials: 'same-origin'};
            if (form) { init.body = new URLSearchParams(form); }
            fetch(url, init)
              .then(r => r.text().then(text => done({status: r.status, text})))
              .catch(e => done({status: -1, text: String(e)}));
        """, url, method, form)

    def main_alert(self):
        """The incident's alert (triggered by the live-board test, or here if it failed)."""
        if self.alert is None:
            written = self.trigger(service="checkout", summary="Checkout database is not answering",
                                   severity="critical", resource="db-primary",
                                   details={"host": "db-1", "region": "eu-west-1"})
            self.alert = {"id": written["alert_id"], "position": written["position"]}
        return self.alert

    def row_status(self, alert_id):
        return self.text(f"#board tr[data-alert='{alert_id}'] td:nth-child(3) .badge")

    def stop(self):
        if self.driver is not None:
            try:
                self.driver.quit()  # also stops chromedriver
            except Exception as err:  # noqa: BLE001 - stopping must go on
                print(f"stopping the browser: {err}", file=sys.stderr)
        if self.chromedriver is not None:
            self.chromedriver.stop()  # a no-op when quit() already stopped it
        if self.service is not None and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(10)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()
        if self.receiver is not None:
            self.receiver.shutdown()
            self.receiver.server_close()
        if self.service is not None:
            self.log.close()


def set_up(c):
    """Routing for `checkout` to the receiver, resources, alerts to search, a task, a resolve."""
    c.receiver = Receiver()
    c.start_service()
    c.api("POST", "/v1/channels", {"id": "oncall-webhook", "name": "On-call webhook",
                                    "kind": "webhook", "url": c.receiver.url})
    c.api("POST", "/v1/services/checkout/route", {"channels": ["oncall-webhook"]})
    for resource, name in (("db-primary", "Primary database"), ("web-7", "Web server 7"),
                           ("web-8", "Web server 8"), ("lb-1", "Load balancer 1")):
        c.api("POST", "/v1/syncs", {"id": resource, "name": name})
    f = c.fixtures
    f["web7"] = c.trigger(service="storage", summary="Disk almost full on web-7", severity="warning",
                          resource="web-7", details={"mount": "/var", "used": "91%"})["alert_id"]
    f["web8"] = c.trigger(service="storage", summary="Disk full on web-8", severity="critical",
                          resource="web-8", details={"mount": "/", "used": "100%"})["alert_id"]
    f["cert"] = c.trigger(service="edge", summary="TLS certificate expires in 7 days",
                          severity="warning", resource="lb-1")["alert_id"]
    f["queue"] = c.trigger(service="billing", summary="Invoice queue backlog growing",
                           severity="error")["alert_id"]
    c.api("POST", f"/v1/alerts/{f['cert']}/acknowledge")
    c.api("POST", f"/v1/alerts/{f['cert']}/resolve")
    task = c.api("POST", "/v1/tasks", {"script": "clean-old-logs.sh", "args": ["--older-than", "7d"],
                                       "hosts": ["web-7", "web-8"], "timeout_secs": 900,
                                       "alert_id": f["web7"]})["id"]
    c.api("POST", f"/v1/tasks/{task}/hosts/web-7/start")
    c.api("POST", f"/v1/tasks/{task}/hosts/web-7/result",
          {"exit_code": 0, "output_tail": "removed 214 files (3.2 GiB) under /var/log/app\n/var now 64% used"})
    c.api("POST", f"/v1/tasks/{task}/hosts/web-8/start")
    f["task"] = task
    c.alert_now(f["web7"])  # the views (and the search index) hold all of the above
    c.start_browser()


# --- the tests ---------------------------------------------------------------------


@test
def sign_in_sets_an_httponly_strict_session_cookie(c):
    c.visit("/alerts?q=disk")
    assert c.path() == "/login", f"a stranger on /alerts was not sent to /login but to {c.driver.current_url}"
    assert c.query().get("next") == ["/alerts?q=disk"], f"/login lost where to go next: {c.query()}"
    assert c.find("#token").get_attribute("type") == "password", "the token field is not a password input"
    c.sign_in("writer")
    cookie = c.driver.get_cookie(COOKIE)
    assert cookie, f"no {COOKIE} cookie after sign-in: {c.driver.get_cookies()}"
    assert cookie.get("httpOnly") is True, f"the session cookie is not HttpOnly: {cookie}"
    assert cookie.get("sameSite") == "Strict", f"the session cookie is not SameSite=Strict: {cookie}"
    seen_by_script = c.driver.execute_script("return document.cookie;")
    assert COOKIE not in seen_by_script, f"document.cookie shows the session cookie: {seen_by_script!r}"


@test
def board_updates_live_after_a_trigger(c):
    c.sign_in("writer")
    c.visit("/")
    c.wait(lambda d: c.find("#live").get_attribute("data-state") == "live",
           "#live never reached data-state=live (the SSE stream /console/live did not connect)")
    before = int(c.text("#open-count"))
    c.mark_document()
    started = time.monotonic()
    written = c.trigger(service="checkout", summary="Checkout database is not answering",
                        severity="critical", resource="db-primary",
                        details={"host": "db-1", "region": "eu-west-1"})
    answered = time.monotonic()
    alert_id = written["alert_id"]
    c.alert = {"id": alert_id, "position": written["position"]}
    c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, f"#board tr[data-alert='{alert_id}']"),
           f"the new alert {alert_id} did not appear on the board within 10 s", poll=0.02)
    seen = time.monotonic()
    c.latencies.append(seen - started)
    print(f"    trigger -> row visible on the board: {(seen - started) * 1000:.0f} ms "
          f"(API answered after {(answered - started) * 1000:.0f} ms)")
    assert c.same_document(), "the page was reloaded; the row should have come in live"
    c.wait(lambda d: int(c.text("#open-count")) == before + 1,
           f"#open-count did not go from {before} to {before + 1}")
    assert c.row_status(alert_id) == "triggered", f"the new row's status is {c.row_status(alert_id)!r}"
    c.record()


@test
def acknowledge_from_the_board(c):
    alert_id = c.main_alert()["id"]
    c.sign_in("writer")
    c.visit("/")
    c.mark_document()
    row = f"#board tr[data-alert='{alert_id}']"
    # The live script may swap the board between finding the button and clicking it.
    for _ in range(5):
        try:
            c.find(f"{row} button.act-acknowledge").click()
            break
        except StaleElementReferenceException:
            continue
    c.wait(lambda d: not c.same_document(), "the Ack form did not submit (still the same page)")
    c.wait(lambda d: c.path() == "/", f"after Ack the browser is on {c.driver.current_url}, not the board")
    c.wait(lambda d: c.row_status(alert_id) == "acknowledged",
           "the row does not show acknowledged after the redirect")
    assert not c.find_all(f"{row} button.act-acknowledge"), "an acknowledged row still offers Ack"
    assert c.find_all(f"{row} button.act-resolve"), "an acknowledged row no longer offers Resolve"
    c.record()
    alert = c.alert_now(alert_id)
    assert alert["status"] == "acknowledged", f"the API says {alert['status']}"
    assert alert["acknowledged_by"] == c.names["writer"], \
        f"the acknowledgement was recorded for {alert['acknowledged_by']!r}, not the signed-in writer"


@test
def timeline_shows_the_failed_then_the_delivered_webhook(c):
    alert_id = c.main_alert()["id"]
    c.sign_in("writer")
    c.visit(f"/alerts/{alert_id}")
    deadline = time.monotonic() + 20
    while not c.find_all("#timeline li[data-type='message_delivered']") and time.monotonic() < deadline:
        time.sleep(0.5)
        c.driver.refresh()
        c.record()
    types = [li.get_attribute("data-type") for li in c.find_all("#timeline li")]
    assert "message_failed" in types, f"no message_failed in the timeline within 20 s: {types}"
    assert "message_delivered" in types, f"no message_delivered in the timeline within 20 s: {types}"
    failed, delivered = types.index("message_failed"), types.index("message_delivered")
    assert failed < delivered, f"message_delivered comes before message_failed: {types}"
    assert types[0] == "alert_triggered", f"the timeline does not start with the trigger: {types}"
    attempts = [i for i, t in enumerate(types) if t == "delivery_attempted"]
    assert len(attempts) >= 2 and attempts[0] < failed < attempts[1] < delivered, \
        f"expected attempt, failure, attempt, delivery in that order: {types}"
    failed_text = c.find_all("#timeline li[data-type='message_failed']")[0].text
    assert "500" in failed_text, f"the failed attempt does not show the receiver's 500: {failed_text!r}"
    assert c.receiver.calls and c.receiver.calls[0][0] == 500, f"the receiver's first answer was not a 500: {c.receiver.calls}"
    assert "acknowledged" in c.text("#alert-status"), f"status shows {c.text('#alert-status')!r}"


@test
def search_and_filters_survive_a_reload(c):
    c.sign_in("writer")
    c.visit("/alerts")
    every = {tr.get_attribute("data-alert") for tr in c.find_all("#alerts tr[data-alert]")}
    assert {c.fixtures["web7"], c.fixtures["web8"], c.fixtures["cert"]} <= every, \
        "the unfiltered list misses the fixture alerts"
    c.find("#filters input[name=q]").send_keys("disk")
    Select(c.find("#filters select[name=severity]")).select_by_value("warning")
    c.find("#filters button[type=submit]").click()
    c.wait(lambda d: c.query().get("q") == ["disk"] and c.query().get("severity") == ["warning"],
           f"the filter is not in the URL: {c.driver.current_url}")
    c.record()

    def shows_only_web7(when):
        rows = [tr.get_attribute("data-alert") for tr in c.find_all("#alerts tr[data-alert]")]
        assert rows == [c.fixtures["web7"]], \
            f"{when}: q=disk & severity=warning should list only the web-7 alert, got {rows}"

    shows_only_web7("after submitting")
    c.driver.refresh()
    c.record()
    # The server's own HTML (attributes, not what the browser might restore) keeps them.
    assert c.find("#filters input[name=q]").get_dom_attribute("value") == "disk", \
        "after a reload the search field no longer says 'disk'"
    chosen = Select(c.find("#filters select[name=severity]")).first_selected_option
    assert chosen.get_attribute("value") == "warning" and chosen.get_dom_attribute("selected") is not None, \
        "after a reload the severity select is not on 'warning'"
    shows_only_web7("after a reload")
    csv_href = c.find("#export-csv").get_attribute("href")
    assert "q=disk" in csv_href and "severity=warning" in csv_href, f"the CSV export ignores the filter: {csv_href}"
    csv = c.fetch(csv_href)
    lines = csv["text"].strip().splitlines()
    assert csv["status"] == 200 and len(lines) == 2 and c.fixtures["web7"] in lines[1], \
        f"the CSV export of the filter is not the header and the web-7 alert: {csv}"


@test
def time_travel_shows_the_alert_before_its_acknowledgement(c):
    alert = c.main_alert()
    assert c.alert_now(alert["id"])["status"] == "acknowledged", "the alert should be acknowledged by now"
    c.sign_in("writer")
    at = alert["position"]
    c.visit(f"/alerts/{alert['id']}?as_of={at}")
    banner = c.find_all("#past-banner")
    assert banner, "no #past-banner on a page with as_of"
    assert f"position {at}" in banner[0].text, f"the banner does not name position {at}: {banner[0].text!r}"
    status = c.text("#alert-status .badge")
    assert status == "triggered", f"as of the trigger's position the status badge says {status!r}"
    types = [li.get_attribute("data-type") for li in c.find_all("#timeline li")]
    assert "alert_acknowledged" not in types, f"the past timeline already holds the acknowledgement: {types}"
    assert not c.find_all("#alert-actions"), "the past offers write buttons (#alert-actions)"
    assert c.find("#as_of").get_dom_attribute("value") == str(at), "the time-travel field does not show the position"
    links = c.driver.execute_script("""
        return [...document.querySelectorAll('a[href]')]
          .filter(a => !a.getAttribute('href').startsWith('#') && !a.closest('#past-banner'))
          .map(a => [a.getAttribute('href'), new URL(a.href).searchParams.get('as_of')]);
    """)
    assert len(links) >= 6, f"expected the navigation and the page's links, found {links}"
    lost = [href for href, kept in links if kept != str(at)]
    assert not lost, f"these links drop as_of={at}: {lost}"
    c.shot("time-travel.png")


@test
def a_missing_alert_is_a_404_page(c):
    c.sign_in("writer")
    for missing in ("00000000-0000-4000-8000-000000000000", "no-such-alert"):
        c.visit(f"/alerts/{missing}")
        assert c.text("h1") == "Not found", f"/alerts/{missing} shows {c.text('h1')!r}, not 'Not found'"
        assert c.text("p.problem").startswith("404"), f"/alerts/{missing} says {c.text('p.problem')!r}"
        status = c.fetch(f"/alerts/{missing}")["status"]
        assert status == 404, f"/alerts/{missing} answered {status}, not 404"


@test
def every_page_renders(c):
    c.sign_in("admin")
    c.visit("/")
    c.wait(lambda d: c.find("#live").get_attribute("data-state") == "live", "the board did not go live")
    assert int(c.text("#open-count")) >= 4, f"the board counts {c.text('#open-count')} open alarms"
    c.shot("board.png")
    c.visit("/alerts")
    assert len(c.find_all("#alerts tr[data-alert]")) >= 5, "the alert list shows fewer than 5 alerts"
    c.shot("alerts.png")
    c.visit(f"/alerts/{c.main_alert()['id']}")
    assert c.find_all("#alert-actions button.act-resolve"), "the alert page offers no Resolve"
    assert c.find_all("#alert-actions button.act-escalate"), "the alert page offers no Escalate"
    assert c.find_all("#note-text") and c.find_all("#alert-actions button.act-notes"), "no note form"
    c.shot("alert.png")
    c.visit("/deliveries?state=delivered")
    health = c.find_all("#channel-health tr[data-channel='oncall-webhook']")
    assert health, "#channel-health has no row for oncall-webhook"
    assert "100.0 %" in health[0].text, f"the channel's success rate is not 100 %: {health[0].text!r}"
    # The incident's first notification needed two attempts (the receiver's 500, then 200).
    attempts = [row.find_element(By.CSS_SELECTOR, "td:nth-child(6)").text
                for row in c.find_all("#messages tr[data-message]")
                if c.main_alert()["id"] in row.find_element(By.CSS_SELECTOR, "a").get_attribute("href")]
    assert "2" in attempts, f"#messages does not show the retried message (attempts of the alert's: {attempts})"
    # A delivered message shows the provider's receipt, not the error of its failed attempt.
    outcomes = [row.find_element(By.CSS_SELECTOR, "td:nth-child(8)").text
                for row in c.find_all("#messages tr[data-message]")]
    assert outcomes and all("200" in o and "500" not in o for o in outcomes), \
        f"delivered messages should show their receipt: {outcomes}"
    c.shot("deliveries.png")
    c.visit("/tasks")
    task = c.find_all(f"article.task[data-task='{c.fixtures['task']}']")
    assert task, "the unfinished task is not on /tasks"
    assert "removed 214 files" in task[0].text and "succeeded" in task[0].text, \
        f"the task card lacks web-7's result: {task[0].text!r}"
    c.shot("tasks.png")
    c.visit("/trends")
    assert c.find_all("svg.chart"), "no chart on /trends"
    assert c.find_all("#trends-table tbody tr"), "#trends-table is empty"
    c.shot("trends.png")
    c.set_viewport(390, 844, mobile=True)
    try:
        c.visit("/")
        c.wait(lambda d: c.find("#live").get_attribute("data-state") == "live", "the phone board did not go live")
        wide = c.driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1;")
        assert not wide, "at 390 px the board scrolls sideways"
        c.shot("phone-board.png")
    finally:
        c.set_viewport(WIDTH, HEIGHT)


@test
def admin_verifies_the_chain_and_rebuilds(c):
    c.sign_in("admin")
    c.visit("/ledger")
    head = int(c.text("#head-position"))
    assert head > 10, f"#head-position says {head}"
    assert re.fullmatch(r"[0-9a-f]{64}", c.text("#head-hash")), f"#head-hash is {c.text('#head-hash')!r}"
    digest = c.fetch(c.find("#digest-link").get_attribute("href"))
    assert digest["status"] == 200 and json.loads(digest["text"])["position"] >= head, \
        f"the digest link answered {digest['status']}: {digest['text'][:200]}"
    c.find("#verify").click()
    c.wait(lambda d: d.find_elements(By.ID, "verify-result"), "no #verify-result after Verify")
    c.record()
    assert "The chain is intact" in c.text("#verify-result"), f"verify says {c.text('#verify-result')!r}"
    c.shot("ledger.png")
    Select(c.find("#projection")).select_by_value("alerts")
    c.find("#rebuild-start").click()
    c.wait(lambda d: c.path() == "/ledger", "starting a rebuild did not come back to /ledger")
    c.wait(lambda d: d.find_elements(By.ID, "rebuild-state") and c.text("#rebuild-state") == "swapped",
           "the rebuild did not reach 'swapped' within 30 s", timeout=30)
    c.record()


@test
def a_reader_has_no_write_buttons_and_a_forged_post_is_refused(c):
    target = c.fixtures["queue"]
    c.sign_in("reader")
    c.visit("/")
    assert c.find_all(f"#board tr[data-alert='{target}']"), "the reader's board lacks the billing alarm"
    assert not c.find_all("button[class*='act-']"), "the reader's board has write buttons"
    c.visit(f"/alerts/{target}")
    assert not c.find_all("#alert-actions"), "the reader's alert page has #alert-actions"
    assert not c.find_all("button[class*='act-']"), "the reader's alert page has write buttons"
    c.visit("/ledger")
    assert not c.find_all("#verify") and not c.find_all("#rebuild-start"), "the reader may verify or rebuild"
    csrf = c.find("form.signout input[name=csrf]").get_attribute("value")
    assert len(csrf) >= 32, f"the sign-out form carries no CSRF token: {csrf!r}"
    forged = c.fetch(f"/alerts/{target}/acknowledge", "POST", {"csrf": csrf})
    assert forged["status"] == 403, f"the reader's forged acknowledge answered {forged['status']}, not 403"
    assert "reader role" in forged["text"], "the 403 page does not say the reader role is the reason"
    alert = c.alert_now(target, role="reader")
    assert alert["status"] == "triggered" and alert["acknowledged_by"] is None, \
        f"the forged POST changed the alert: {alert['status']}, acknowledged by {alert['acknowledged_by']}"
    history = c.api("GET", f"/v1/alerts/{target}/history", role="reader")["events"]
    actors = {e["metadata"].get("actor") for e in history}
    assert c.names["reader"] not in actors, f"the reader wrote to the alert's history: {actors}"


@test
def sign_out_ends_the_session(c):
    c.sign_in("reader")
    c.visit("/")
    old = c.driver.get_cookie(COOKIE)["value"]
    c.find("form.signout button[type=submit]").click()
    c.wait(lambda d: c.path() == "/login", f"sign-out led to {c.driver.current_url}, not /login")
    c.record()
    c.role = None
    assert c.driver.get_cookie(COOKIE) is None, f"the session cookie outlived sign-out: {c.driver.get_cookie(COOKIE)}"
    c.visit("/")
    assert c.path() == "/login", f"after sign-out / showed {c.driver.current_url}, not /login"
    # The old session id is dead on the server too, not only forgotten by the browser.
    c.driver.add_cookie({"name": COOKIE, "value": old, "path": "/", "httpOnly": True, "sameSite": "Strict"})
    c.visit("/")
    assert c.path() == "/login", "the signed-out session id still opens the board"
    c.driver.delete_all_cookies()


@test
def sign_in_only_leads_back_to_this_server(c):
    """`next` may only name a page of this server, however a browser reads it."""
    origin = urllib.parse.urlsplit(c.base).netloc
    left = []
    for next_path in ("//example.invalid/", "/\\example.invalid/", "/\t/example.invalid/"):
        c.driver.get(c.base + "/login")
        c.driver.delete_all_cookies()
        c.role = None
        c.visit("/login?" + urllib.parse.urlencode({"next": next_path}))
        form_url = c.driver.current_url
        c.find("#token").send_keys(c.tokens["reader"])
        c.find("form[action='/login'] button[type=submit]").click()
        c.wait(lambda d: d.current_url != form_url, f"signing in with next={next_path!r} went nowhere")
        if urllib.parse.urlsplit(c.driver.current_url).netloc != origin:
            left.append(f"next={next_path!r} -> {c.driver.current_url}")
        else:
            c.record()
    c.driver.get(c.base + "/login")
    c.driver.delete_all_cookies()
    # Browsers read "/\\host" and "/<tab>/host" as "//host": found here once (an open
    # redirect after sign-in), fixed in back_to() (src/http/console/actions.rs).
    assert not left, f"signing in sent the browser off this server: {left}"


CONTRAST_JS = r"""
const rgb = s => s.match(/[\d.]+/g).map(Number);
const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255;
  return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
const background = el => { for (; el; el = el.parentElement) {
  const c = rgb(getComputedStyle(el).backgroundColor); if (c.length < 4 || c[3] > 0) return c; }
  return [255, 255, 255]; };
const low = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('svg') || !el.getClientRects().length) continue;
  if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  const style = getComputedStyle(el), a = lum(rgb(style.color)), b = lum(background(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(style.fontSize), large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) low.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
}
return low;
"""


@test
def text_contrast_is_at_least_4_5_to_1(c):
    """console.css promises a contrast of 4.5:1 (3:1 for large text); the browser's
    computed colours are measured against each text's background."""
    c.sign_in("writer")
    low = {}
    for path in ("/", "/alerts", f"/alerts/{c.main_alert()['id']}", "/deliveries", "/tasks", "/ledger", "/trends"):
        c.visit(path)
        for finding in c.driver.execute_script(CONTRAST_JS):
            low.setdefault(finding, []).append(path)
    # Found here once: the header's "name (role)" at 2.1:1, the timeline's `.who` colour
    # overriding the header's; console.css now scopes it.
    assert not low, "text below the contrast console.css promises: " + \
        "; ".join(f"{finding} on {', '.join(paths)}" for finding, paths in low.items())


@test
def no_token_in_any_page_or_the_log(c):
    assert len(c.sources) >= 20, f"only {len(c.sources)} pages were recorded"
    for role, token in c.tokens.items():
        leaks = [url for url, html in c.sources if token in html or token in url]
        assert not leaks, f"the {role} token appears in these pages: {leaks}"
        with open(c.log_path, errors="replace") as f:
            assert token not in f.read(), f"the {role} token appears in the service's log"


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the service
    sys.stdout.reconfigure(line_buffering=True)
    c = Console()
    passed, failed = 0, []
    try:
        print(f"browser tests: service {c.binary}, screenshots in {c.shots}")
        try:
            set_up(c)
        except Exception:
            traceback.print_exc(file=sys.stdout)
            if c.service is not None:
                print(c.log_tail())
            failed = [fn.__name__ for fn in TESTS]
            print(f"browser tests: 0 passed, {len(failed)} failed (setup failed)")
            return 1
        for fn in TESTS:
            started = time.monotonic()
            try:
                fn(c)
                passed += 1
                print(f"ok    {fn.__name__} ({time.monotonic() - started:.1f} s)")
            except Exception as err:  # noqa: BLE001 - one failure must not stop the rest
                failed.append(fn.__name__)
                print(f"FAIL  {fn.__name__} ({time.monotonic() - started:.1f} s): {err}")
                traceback.print_exc(file=sys.stdout)
                try:
                    c.shot(f"failures/{fn.__name__}.png")
                    print(f"      at {c.driver.current_url}; screenshot failures/{fn.__name__}.png")
                except Exception:  # noqa: BLE001
                    pass
        if failed:
            print("the service's last log lines:\n" + c.log_tail())
        if c.latencies:
            print("trigger -> board row latency: " + ", ".join(f"{s * 1000:.0f} ms" for s in c.latencies))
        print(f"browser tests: {passed} passed, {len(failed)} failed"
              + (f" ({', '.join(failed)})" if failed else ""))
        return 1 if failed else 0
    finally:
        c.stop()
        if failed or c.service is None or c.service.returncode not in (0, -15):
            print(f"kept the service's data and logs in {c.work}", file=sys.stderr)
        else:
            shutil.rmtree(c.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
