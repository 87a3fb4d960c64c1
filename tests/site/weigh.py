"""Weigh pages of the built site: requests and bytes a reader's browser loads.

    python -m tests.site.weigh [--site _build/html] [--width 1280] [PAGE ...]

Headless Chromium, cache off, the site served from this machine (so bytes are uncompressed, as
the files are). "first view" is what loads before the reader scrolls; "whole page" adds what
loads while scrolling to the end (figures load as they come into view).
"""
import argparse
import collections
import functools
import http.server
import threading
import time
from pathlib import Path

from .conftest import ROOT, _QuietHandler, make_driver, set_width

KINDS = {"js": "script", "css": "style", "png": "image", "svg": "image", "jpg": "image", "woff": "font",
         "woff2": "font", "ttf": "font", "html": "html"}
LOADED = """return performance.getEntriesByType("resource").map(e => [e.name.split("?")[0], e.decodedBodySize])
    .concat([[location.href.split("?")[0], performance.getEntriesByType("navigation")[0].decodedBodySize]]);"""


def tally(entries):
    count, size = collections.Counter(), collections.Counter()
    for name, n in entries:
        kind = KINDS.get(name.rsplit(".", 1)[-1].lower(), "other")
        count[kind] += 1
        size[kind] += n
    return count, size


def describe(entries):
    count, size = tally(entries)
    parts = ", ".join(f"{kind} {count[kind]} / {size[kind] / 1e6:.2f} MB" for kind in sorted(size, key=size.get, reverse=True))
    return f"{sum(count.values())} requests, {sum(size.values()) / 1e6:.2f} MB ({parts})"


def weigh(site, pages, width):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    driver = make_driver()
    try:
        set_width(driver, width)
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        for page in pages:
            driver.get(f"{base}/{page}")
            time.sleep(3)
            first = driver.execute_script(LOADED)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            for y in range(0, height, 500):
                driver.execute_script(f"window.scrollTo(0, {y})")
                time.sleep(0.05)
            time.sleep(2)
            print(f"{page} at {width} px\n  first view: {describe(first)}\n  whole page: {describe(driver.execute_script(LOADED))}")
    finally:
        driver.quit()
        server.shutdown()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("pages", nargs="*", default=["book/03_2_attention.html", "book/index.html"])
    args = parser.parse_args(argv)
    weigh(args.site, args.pages, args.width)


if __name__ == "__main__":
    main()
