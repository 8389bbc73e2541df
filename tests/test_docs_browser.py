"""Open the built documentation in headless Chromium and check what it shows.

The site is built by ``bash .ci/docs`` (or ``python -m sphinx -W -b html doc
doc/_build/html``); these tests are skipped when it is absent, or when no
Chromium is installed (Debian: ``apt-get install chromium``). They drive the
browser over the DevTools protocol on a pipe (``--remote-debugging-pipe``),
so they need no extra Python package, and read the page as a person would
see it: the document title, the text, and every image with its decoded size
and on-screen size. Screenshots are saved to ``doc/_build/screenshots/`` as a
build artifact (``NEUROSKETCH_DOC_SCREENSHOTS`` overrides the folder).
"""

# License: BSD (3-clause)

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("NEUROSKETCH_DOC_HTML", ROOT / "doc" / "_build" / "html"))
SHOTS = Path(
    os.environ.get("NEUROSKETCH_DOC_SCREENSHOTS", ROOT / "doc" / "_build" / "screenshots")
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1600",
    "--remote-debugging-pipe",
]
# What a person sees: every image with its decoded and its on-screen size.
PAGE_STATE = """JSON.stringify({
  title: document.title,
  text: document.body ? document.body.innerText : "",
  images: Array.from(document.images).map(img => ({
    src: img.getAttribute("src"), complete: img.complete,
    naturalWidth: img.naturalWidth, width: img.getBoundingClientRect().width,
    height: img.getBoundingClientRect().height})),
  links: Array.from(document.querySelectorAll("a[href]"))
    .map(a => a.getAttribute("href")),
})"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Headless Chromium driven by the DevTools protocol over a pipe."""

    def __init__(self, executable, user_data_dir):
        # The browser reads commands on fd 3 and writes replies on fd 4.
        self._cmd_r, self._cmd_w = os.pipe()
        self._out_r, self._out_w = os.pipe()
        # the browser's own log goes to a file, so a full pipe never blocks it
        self.log = Path(user_data_dir).with_name("chromium.log")
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            close_fds=False,
            preexec_fn=self._map_fds,
        )
        os.close(self._cmd_r)
        os.close(self._out_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)

    def _map_fds(self):
        # In the child, before exec: move the pipe ends to fds 3 and 4 through
        # close-on-exec copies above 10 (so that neither overwrites the other);
        # dup2 makes 3 and 4 inheritable, every other fd of ours closes on exec.
        read_end = fcntl.fcntl(self._cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        write_end = fcntl.fcntl(self._out_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out_r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time.")
            chunk = os.read(self._out_r, 1 << 20)
            if not chunk:
                err = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Chromium closed its DevTools pipe:\n{err}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, session=False, timeout=60, **params):
        """Send one command and return its result (events are kept)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def open(self, path: Path) -> dict:
        """Load a local page, let images decode, return what it shows."""
        self.events.clear()
        self.send("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_event("Page.loadEventFired")
        # Lazy images (loading="lazy") load when scrolled to: scroll through.
        self.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        self.evaluate("""Promise.all(Array.from(document.images).map(img =>
            img.complete ? null
                         : new Promise(r => { img.onload = img.onerror = r; })))""")
        self.evaluate("window.scrollTo(0, 0)")
        return json.loads(self.evaluate(PAGE_STATE))

    def evaluate(self, expression):
        result = self.send(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, fname: Path) -> Path:
        data = self.send(
            "Page.captureScreenshot",
            session=True,
            format="png",
            captureBeyondViewport=False,
        )["data"]
        fname.parent.mkdir(parents=True, exist_ok=True)
        fname.write_bytes(base64.b64decode(data))
        return fname

    def js_exceptions(self):
        return [
            e["params"]["exceptionDetails"]
            for e in self.events
            if e.get("method") == "Runtime.exceptionThrown"
        ]

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._out_r)
        self._log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (HTML / "index.html").exists():
        pytest.skip(
            f"The documentation is not built ({HTML / 'index.html'} is absent); "
            "build it with `bash .ci/docs`."
        )
    executable = _chromium()
    if executable is None:
        pytest.skip("No Chromium found; install it with `apt-get install chromium`.")
    # a new, empty profile for every run
    instance = Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield instance
    instance.close()


def _shown_images(state, marker=""):
    """Images whose src contains ``marker``, decoded and drawn on screen."""
    return [
        im
        for im in state["images"]
        if marker in (im["src"] or "")
        and im["complete"]
        and im["naturalWidth"] > 0
        and im["width"] > 50
    ]


def _assert_no_broken_images(state, page):
    broken = [
        im["src"] for im in state["images"] if im["complete"] and im["naturalWidth"] == 0
    ]
    assert not broken, f"{page}: images that did not load: {broken}"


def test_landing_page(browser):
    """The home page says what the package is and shows the architecture figure."""
    state = browser.open(HTML / "index.html")
    shot = browser.screenshot(SHOTS / "index.png")
    assert "mne-neurosketch" in state["title"]
    assert "NeuroSketch" in state["text"] and "braindecode" in state["text"]
    _assert_no_broken_images(state, "index.html")
    figure = _shown_images(state, "architecture.png")
    assert figure, f"architecture figure not shown; images: {state['images']}"
    assert figure[0]["naturalWidth"] >= 600
    assert shot.stat().st_size > 10_000
    assert "How to cite" in state["text"]
    assert not browser.js_exceptions()


def test_benchmark_results_page(browser):
    """The results page shows curated tables beside their figures, no raw CSV."""
    state = browser.open(HTML / "benchmark_results.html")
    browser.screenshot(SHOTS / "benchmark_results.png")
    _assert_no_broken_images(state, "benchmark_results.html")
    assert "Unnamed: 0" not in state["text"]
    assert "score (%), mean ± std" in state["text"]
    assert _shown_images(state, "score_plot"), "the score plot is not shown"
    assert not browser.js_exceptions()


def test_api_page(browser):
    """The API page lists the public names and links each to its own page."""
    state = browser.open(HTML / "api.html")
    browser.screenshot(SHOTS / "api.png")
    assert "API reference" in state["text"]
    # The estimator under its public name, not its module's.
    names = ("NeuroSketch", "NeuroSketchSD", "from_reference", "NeuroSketchClassifier")
    for name in names:
        assert name in state["text"]
        assert f"generated/mne_neurosketch.{name}.html" in state["links"], name
    _assert_no_broken_images(state, "api.html")
    # A class page shows the model's own parameters and, through braindecode's
    # docstring inheritance, the signal parameters of its mixin.
    state = browser.open(HTML / "generated" / "mne_neurosketch.NeuroSketch.html")
    browser.screenshot(SHOTS / "api_neurosketch.png")
    for parameter in ("seg_dim", "drop_prob", "n_chans", "n_times", "sfreq"):
        assert parameter in state["text"], parameter
    assert not browser.js_exceptions()


def test_gallery_page(browser):
    """An example page shows its code, its output and its figures."""
    page = HTML / "auto_examples" / "plot_05_what_the_network_sees.html"
    if not page.exists():
        pytest.fail(f"{page.name} was not built; the gallery is incomplete.")
    state = browser.open(page)
    browser.screenshot(SHOTS / "gallery_what_the_network_sees.png")
    _assert_no_broken_images(state, page.name)
    figures = _shown_images(state, "sphx_glr_plot_05")
    assert len(figures) >= 2, f"expected the example's figures, got {state['images']}"
    assert "held-out accuracy" in state["text"]  # the captured output is shown
    assert not browser.js_exceptions()

    index = browser.open(HTML / "auto_examples" / "index.html")
    browser.screenshot(SHOTS / "gallery_index.png")
    assert len(_shown_images(index, "thumb")) >= 2, "gallery thumbnails not shown"
