#!/usr/bin/env bash
# Checks that the repository speaks of itself only: a fresh clone must hold
# everything its text points to. Exits 1 and lists file:line for each
# finding; exits 0 and prints a one-line summary when there is none.
#
# Which files: every tracked file (git ls-files) except lock files
# (Cargo.lock, package-lock.json, *.lock), the built web app (web/dist/) and
# binary files (a NUL byte, or not UTF-8).
#
# What counts as a finding:
#   1. A link that leaves the repository:
#      - in Markdown files (*.md): link targets `[text](target)`,
#        `![alt](target)`, reference definitions `[id]: target`, autolinks
#        `<https://...>`, and bare http(s) URLs in prose (GitHub renders them
#        as links);
#      - in other text files: the same link forms on comment lines (doc
#        comments render as Markdown), and autolinks anywhere.
#      A link leaves the repository when it is an http(s) URL whose host is
#      not a placeholder (see "Allowed hosts"), another scheme (mailto:,
#      ftp:, ...), or a relative path that climbs out of the repository root.
#   2. A relative link to a file that is not tracked (a `#anchor` must also
#      be a heading of the Markdown file it points to).
#   3. Any mention of the folder beside the repository that held the origin
#      contract (dot-dot-slash "shared"), and any mention of its file name
#      in capitals ("API" ".md"): the contract is docs/api.md.
#   4. An absolute path of a machine: the work and root folders ("/" then
#      "work/" or "root/") in any file, the temporary folder ("/" then
#      "tmp/") in Markdown files.
#
# Exceptions, on purpose:
#   - Examples are data, not links: URLs inside Markdown code spans and
#     fenced code blocks, and URLs in code (string literals, test payloads,
#     XML namespaces) that are not written as a link, are not checked for
#     their host. So `"imageUrl": "https://shop.example/..."` in a payload
#     example is fine, and so is a fenced `curl http://127.0.0.1:8080/...`.
#   - Allowed hosts: loopback (localhost, 127.x.x.x, [::1], 0.0.0.0) and the
#     names reserved for examples and tests (RFC 2606 / RFC 6761):
#     example.com, example.org, example.net and their subdomains, and any
#     name ending in .example, .test, .invalid or .localhost.
#   - Rust intra-doc links (`[Foo](crate::foo)`, `[x](Self::y)`) and link
#     targets that are neither a URL nor path-like (no "/" and no file
#     extension) are not file links and are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

exec python3 - "$@" <<'PY'
import os
import re
import subprocess
import sys
import unicodedata

ROOT = os.getcwd()

# Built from pieces so that this script does not find itself.
SHARED = ".." + "/shared"
ORIGIN_NAME = re.compile(r"(?<![\w./-])" + "API" + r"\.md\b")
MACHINE_ANYWHERE = ["/" + "work/", "/" + "root/"]
MACHINE_IN_DOCS = ["/" + "tmp/"]

ALLOWED_HOST = re.compile(
    r"^(localhost|127(\.\d{1,3}){3}|\[::1\]|0\.0\.0\.0"
    r"|([a-z0-9-]+\.)*example\.(com|org|net)"
    r"|([a-z0-9-]+\.)*[a-z0-9-]+\.(example|test|invalid|localhost)"
    r"|example|[a-z0-9-]+\.localhost)$",
    re.IGNORECASE,
)

LINK = re.compile(r"!?\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\]\(\s*(<[^>\n]*>|[^()\s]+(?:\([^()\s]*\)[^()\s]*)*)(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*(<[^>\n]*>|\S+)")
AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>", re.IGNORECASE)
BARE_URL = re.compile(r"(?<![\w(<\[])(https?://[^\s<>`\"')\]]+)", re.IGNORECASE)
FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
COMMENT_LINE = re.compile(r"^\s*(//|/\*|\*|#|<!--|--|;)")
SKIP_NAMES = {"Cargo.lock", "package-lock.json"}


def tracked_files():
    out = subprocess.run(
        ["git", "ls-files", "-z"], check=True, capture_output=True
    ).stdout
    return [p for p in out.decode("utf-8", "replace").split("\0") if p]


def skipped(path):
    name = os.path.basename(path)
    return name in SKIP_NAMES or name.endswith(".lock") or path.startswith("web/dist/")


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, IsADirectoryError):
        return None  # tracked but deleted in the working tree
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"`|\*\*|__|\[|\]\([^)]*\)", "", heading.strip()).lower()
    out = []
    for ch in text:
        if ch in " -":
            out.append("-")
        elif ch == "_" or unicodedata.category(ch)[0] in "LN":
            out.append(ch)
    return "".join(out)


_anchors = {}


def anchors_of(path):
    if path not in _anchors:
        found, seen, fence = set(), {}, False
        text = read_text(path) or ""
        for line in text.splitlines():
            if FENCE.match(line):
                fence = not fence
                continue
            m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m and not fence:
                base = slug(m.group(1))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
        for m in re.finditer(r"<a\s+(?:name|id)=\"([^\"]+)\"", text):
            found.add(m.group(1))
        _anchors[path] = found
    return _anchors[path]


def url_host(url):
    m = re.match(r"^[a-z][a-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)", url, re.IGNORECASE)
    return m.group(1) if m else ""


def main():
    files = [p for p in tracked_files() if not skipped(p)]
    tracked = set(files) | set(tracked_files())
    dirs = set()
    for p in tracked:
        parts = p.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    findings = []

    def report(path, lineno, what):
        findings.append(f"{path}:{lineno}: {what}")

    def check_url(path, lineno, url):
        if re.match(r"^https?://", url, re.IGNORECASE):
            host = url_host(url)
            if not ALLOWED_HOST.match(host):
                report(path, lineno, f"link leaves the repository: {url}")
        else:
            report(path, lineno, f"link leaves the repository: {url}")

    def check_target(path, lineno, target, markdown):
        target = target.strip()
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1].strip()
        if not target:
            return
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) and not re.match(
            r"^[a-z]:[\\/]", target, re.IGNORECASE
        ):
            if "::" in target and not target.lower().startswith(("http", "ftp", "mailto")):
                return  # a Rust path (crate::x, Self::y)
            check_url(path, lineno, target)
            return
        if "::" in target:
            return
        file_part, _, anchor = target.partition("#")
        file_part = file_part.split("?")[0]
        if not markdown and not file_part:
            return
        if not markdown and "/" not in file_part and not re.search(r"\.[A-Za-z0-9]{1,5}$", file_part):
            return  # not path-like: code, not a link
        if file_part.startswith("/"):
            resolved = os.path.normpath(file_part.lstrip("/"))
        elif file_part:
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
        else:
            resolved = path
        if resolved == ".." or resolved.startswith("../"):
            report(path, lineno, f"link leaves the repository: {target}")
            return
        if resolved != "." and resolved not in tracked and resolved not in dirs:
            report(path, lineno, f"link to a file that is not in the repository: {target}")
            return
        if anchor and resolved.endswith(".md") and resolved in tracked:
            if anchor not in anchors_of(resolved):
                report(path, lineno, f"link to a heading that {resolved} does not have: #{anchor}")

    for path in files:
        text = read_text(path)
        if text is None:
            continue
        markdown = path.endswith(".md")
        fence = False
        for lineno, line in enumerate(text.splitlines(), 1):
            if SHARED in line:
                report(path, lineno, f"mentions {SHARED}, outside the repository (the contract is docs/api.md)")
            elif ORIGIN_NAME.search(line):
                report(path, lineno, "names API" ".md, which is not in the repository (the contract is docs/api.md)")
            for p in MACHINE_ANYWHERE + (MACHINE_IN_DOCS if markdown else []):
                if p in line:
                    report(path, lineno, f"absolute path of a machine: {p}")
            if markdown:
                if FENCE.match(line):
                    fence = not fence
                    continue
                if fence:
                    continue
                prose = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
                for m in LINK.finditer(prose):
                    check_target(path, lineno, m.group(1), True)
                m = REFDEF.match(prose)
                if m:
                    check_target(path, lineno, m.group(1), True)
                for m in AUTOLINK.finditer(prose):
                    check_url(path, lineno, m.group(1))
                without_links = AUTOLINK.sub(" ", LINK.sub(" ", REFDEF.sub(" ", prose)))
                for m in BARE_URL.finditer(without_links):
                    check_url(path, lineno, m.group(1).rstrip(".,;:"))
            else:
                prose = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
                for m in AUTOLINK.finditer(prose):
                    check_url(path, lineno, m.group(1))
                if COMMENT_LINE.match(line):
                    for m in LINK.finditer(prose):
                        check_target(path, lineno, m.group(1), False)

    if findings:
        for f in findings:
            print(f)
        print(
            f"check-links: {len(findings)} finding(s): links and paths must stay inside the repository",
            file=sys.stderr,
        )
        return 1
    print(f"check-links: {len(files)} tracked files, no link or path leaves the repository")
    return 0


sys.exit(main())
PY
