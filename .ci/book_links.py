"""Every relative link of a built mdBook resolves: the file exists, and so does its #anchor.

Usage: python3 .ci/book_links.py BOOK_DIR

Reads every .html file under BOOK_DIR (the output of `mdbook build`), collects the ids (`id=` and
`name=`) of each page, then checks every `href` and `src` that is not an absolute URL: the path,
relative to the page (or to its <base href>), must be a file under BOOK_DIR (a directory means its
index.html), and a `#fragment` must be an id of that page. Prints one line per broken link, naming
the page, the link and what is missing; exit 1 if any is broken, 2 on bad usage, else 0 with one
summary line.
"""

import html.parser
import os
import sys
import urllib.parse

SKIP_SCHEMES = ("http:", "https:", "mailto:", "javascript:", "data:", "ftp:", "tel:")


class Page(html.parser.HTMLParser):
    """The ids, the links and the <base href> of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []
        self.base = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)
            if tag == "base" and name == "href":
                self.base = value
            elif name in ("href", "src"):
                self.links.append((tag, value, self.getpos()[0]))

    handle_startendtag = handle_starttag


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print("usage: python3 .ci/book_links.py BOOK_DIR   (the output of mdbook build)", file=sys.stderr)
        return 2
    root = os.path.realpath(argv[1])
    pages = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".html"):
                path = os.path.join(d, f)
                p = Page()
                with open(path, encoding="utf-8") as fh:
                    p.feed(fh.read())
                pages[path] = p
    if not pages:
        print(f"book_links: no .html file under {argv[1]}", file=sys.stderr)
        return 1
    broken = []
    checked = 0
    for path, page in sorted(pages.items()):
        rel_page = os.path.relpath(path, root)
        if page.base is not None and page.base.startswith("/"):
            here = os.path.join(root, page.base.lstrip("/"))
        else:
            here = os.path.dirname(path)
        for tag, link, line in page.links:
            if link.startswith(SKIP_SCHEMES) or link.startswith("//"):
                continue
            checked += 1
            target, _, fragment = link.partition("#")
            target = urllib.parse.unquote(target.split("?", 1)[0])
            fragment = urllib.parse.unquote(fragment)
            if target == "":
                dest = path
            else:
                dest = os.path.normpath(
                    os.path.join(root, target.lstrip("/")) if target.startswith("/") else os.path.join(here, target)
                )
                if os.path.isdir(dest):
                    dest = os.path.join(dest, "index.html")
            where = f"{rel_page}:{line}: <{tag}> {link}"
            if not (dest == root or dest.startswith(root + os.sep)):
                broken.append(f"{where}: points outside the book")
                continue
            if not os.path.isfile(dest):
                broken.append(f"{where}: no file {os.path.relpath(dest, root)}")
                continue
            if fragment and dest.endswith(".html"):
                ids = pages[dest].ids if dest in pages else set()
                if fragment not in ids:
                    broken.append(f"{where}: no #{fragment} in {os.path.relpath(dest, root)}")
    for b in broken:
        print(b)
    print(f"book_links: {len(pages)} pages, {checked} relative links, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
