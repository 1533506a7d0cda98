"""Find code-repository links in paper text and bring them to one canonical form.

Pure functions (no Django, no network), so that ingestion and tests can call them on any
text. A canonical URL is ``https://<host>/<owner>/<name>``: the same repository written
as ``http://www.GitHub.com/a/b.git``, ``github.com/a/b/tree/main/src`` or
``\\url{https://github.com/a/b}.`` must give one ``CodeLink``, not three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RepoRef", "extract_code_urls", "parse_repo_url", "project_page_url"]

GITHUB = "github.com"
GITLAB = "gitlab.com"
BITBUCKET = "bitbucket.org"
CODEBERG = "codeberg.org"
ANONYMOUS = "anonymous.4open.science"

_HOSTS = (GITHUB, GITLAB, BITBUCKET, CODEBERG, ANONYMOUS)
_HOST_ALTERNATION = "|".join(re.escape(host) for host in _HOSTS)

# Where a counted host starts. The look-behind refuses a host that is only the tail of
# another one (gist.github.com, api.github.com, notgithub.com, user@github.com); it sits
# after the optional scheme so that "athttps://github.com/a/b" (a missing space before
# the URL) still counts, and before "www." so that "www." itself is allowed.
_HOST_PREFIX = rf"(?:https?://)?(?<![\w.@-])(?:www\.)?(?P<host>{_HOST_ALTERNATION})"

# A candidate in free text: a counted host, then the "/"-separated segments made of the
# characters that forges allow in names. Any other character (space, "}", ")", "?", ",",
# non-ASCII...) ends it, so the next URL in the text is found even without a space before
# it; trailing dots and ".git" are dealt with when parsing.
_CANDIDATE_RE = re.compile(_HOST_PREFIX + r"(?:/[A-Za-z0-9_.-]*)+", re.IGNORECASE)

# One URL given on its own: same host rule, anchored, the rest is the path.
_URL_RE = re.compile(r"\s*" + _HOST_PREFIX + r"(?P<path>/.*)?", re.IGNORECASE | re.DOTALL)

# Characters that the four forges allow in owner, group and repository names. A segment
# is cut at the first other character: "?", "#", ")", ",", ":", "%" or any non-ASCII.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_.-]*")

# At most this many path segments are looked at: GitLab nests groups 20 deep, and a
# bound keeps a pathological "a/a/a/..." string cheap.
_MAX_SEGMENTS = 24

# Characters a URL in prose is often wrapped in; stripped before parsing a lone URL.
_WRAPPERS = "<>()[]{}\"'`,;:"

# GitHub and Bitbucket account names have no dots: "github.com/github.com/..." is not a
# repository, while GitLab and Codeberg allow "first.last" owners.
_DOTLESS_OWNERS = frozenset((GITHUB, BITBUCKET))

# First path segments that are site pages, not owners (GitHub reserves these names).
_RESERVED_OWNERS: dict[str, frozenset[str]] = {
    GITHUB: frozenset({
        "about", "account", "advisories", "apps", "blog", "codespaces", "collections",
        "contact", "copilot", "customer-stories", "dashboard", "discussions", "education",
        "enterprise", "enterprises", "events", "explore", "features", "git-guides", "home",
        "issues", "join", "login", "logout", "marketplace", "mobile", "new", "nonprofit",
        "notifications", "organizations", "orgs", "password_reset", "premium-support",
        "pricing", "pulls", "readme", "resources", "search", "security", "session",
        "settings", "signup", "site", "solutions", "sponsors", "stars", "team", "topics",
        "trending", "users", "watching", "why-github",
    }),
    GITLAB: frozenset({
        "-", "admin", "api", "assets", "dashboard", "explore", "groups", "help", "projects",
        "public", "search", "snippets", "uploads", "users",
    }),
    BITBUCKET: frozenset({
        "account", "blog", "dashboard", "product", "repo", "site", "snippets", "support",
    }),
    CODEBERG: frozenset({"-", "admin", "api", "assets", "explore", "org", "repo", "user"}),
}  # fmt: skip

# Old-style GitLab sub-pages written without "/-/" (gitlab.com/g/repo/tree/main): once
# group and repository are known, these words start a sub-page, not a subgroup.
_GITLAB_SUBPAGES = frozenset({
    "blame", "blob", "branches", "commit", "commits", "compare", "graphs", "issues",
    "merge_requests", "pipelines", "raw", "releases", "tags", "tree", "wikis",
})  # fmt: skip


@dataclass(frozen=True)
class RepoRef:
    """A repository on a counted host, as stored in a ``CodeLink``."""

    url: str  # canonical: https://<host>/<owner>/<name>
    host: str  # e.g. "github.com"
    owner: str  # GitLab: the full group path "group/subgroup"; anonymous.4open.science: ""
    name: str  # the repository name (anonymous.4open.science: the anonymised id)


def forge_mentions(text: str) -> list[str]:
    """Every URL on a counted forge host in ``text``, as written, repository or not."""
    if not isinstance(text, str):  # the contract is "never raises", even on bad input
        return []
    # LaTeX escapes an underscore inside \url{} as "\_"; the URL itself has "_".
    return [match.group(0) for match in _CANDIDATE_RE.finditer(text.replace("\\_", "_"))]


# A project's own page on GitHub Pages ("Project page: https://neu-vi.github.io/LASER/"), with
# or without a scheme; the same rule as hosts above for what may precede it.
_PROJECT_PAGE_RE = re.compile(
    r"(?:https?://)?(?<![\w.@-])(?P<site>[A-Za-z0-9-]+\.github\.io)(?P<path>/[A-Za-z0-9_.~%/-]*)?",
    re.IGNORECASE,
)
MAX_URL_LENGTH = 255


def project_page_url(text: str) -> str | None:
    """The first GitHub Pages address in ``text``, as https, without trailing punctuation."""
    if not isinstance(text, str):
        return None
    for match in _PROJECT_PAGE_RE.finditer(text.replace("\\_", "_")):
        url = f"https://{match['site'].lower()}{(match['path'] or '/').rstrip('.')}"
        if len(url) <= MAX_URL_LENGTH:
            return url
    return None


def extract_code_urls(text: str) -> list[str]:
    """Canonical repository URLs named in ``text``, first spelling first, no duplicates."""
    seen: set[str] = set()
    urls: list[str] = []
    for mention in forge_mentions(text):
        ref = parse_repo_url(mention)
        # Forges compare owner and name case-insensitively: keep the first spelling only.
        if ref is not None and ref.url.lower() not in seen:
            seen.add(ref.url.lower())
            urls.append(ref.url)
    return urls


def parse_repo_url(url: str) -> RepoRef | None:
    """Split one URL into host, owner and name; None if it names no repository."""
    if not isinstance(url, str):
        return None
    match = _URL_RE.match(url.strip().strip(_WRAPPERS))
    if match is None:
        return None
    host = match.group("host").lower()
    segments = _path_segments(match.group("path") or "")
    if host == ANONYMOUS:
        return _anonymous_ref(segments)
    if not segments or segments[0].lower() in _RESERVED_OWNERS[host]:
        return None
    # Only GitLab nests groups; elsewhere anything after owner/name is a sub-page.
    segments = _gitlab_project_path(segments) if host == GITLAB else segments[:2]
    if len(segments) < 2 or (host in _DOTLESS_OWNERS and "." in segments[0]):
        return None
    # Sentence punctuation and a clone URL's ".git" are not part of the name.
    owner, name = "/".join(segments[:-1]), _strip_name(segments[-1])
    if not name:
        return None
    return RepoRef(f"https://{host}/{owner}/{name}", host, owner, name)


def _path_segments(path: str) -> list[str]:
    """The leading, well-formed segments of a URL path.

    Stops at the first empty segment or at the first character that no forge allows in
    a name, so a query, a fragment or a closing ")" ends the path there.
    """
    segments: list[str] = []
    for raw in path.split("/", _MAX_SEGMENTS + 1)[1 : _MAX_SEGMENTS + 1]:
        segment = _SEGMENT_RE.match(raw).group(0)
        if not segment:
            break
        segments.append(segment)
        if segment != raw:  # something else followed: the URL ends inside this segment
            break
    return segments


def _strip_name(name: str) -> str:
    """Drop trailing dots and ".git" until neither is left (so the result is stable)."""
    while True:
        stripped = name.rstrip(".")
        if stripped.lower().endswith(".git"):
            stripped = stripped[: -len(".git")]
        if stripped == name:
            return name
        name = stripped


def _gitlab_project_path(segments: list[str]) -> list[str]:
    """Keep GitLab's group/subgroup/.../project path and drop any sub-page after it."""
    kept: list[str] = []
    for segment in segments:
        if segment == "-" or (len(kept) >= 2 and segment.lower() in _GITLAB_SUBPAGES):
            break
        kept.append(segment)
        # GitLab names cannot end in "." or ".git": such a segment is the last one.
        if segment != _strip_name(segment):
            break
    return kept


def _anonymous_ref(segments: list[str]) -> RepoRef | None:
    """anonymous.4open.science/r/<id> (or the older /repository/<id>), sub-paths dropped."""
    if len(segments) < 2 or segments[0].lower() not in ("r", "repository"):
        return None
    name = _strip_name(segments[1])
    if not name:
        return None
    return RepoRef(f"https://{ANONYMOUS}/r/{name}", ANONYMOUS, "", name)
