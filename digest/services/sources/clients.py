"""Live upstream clients. Each turns transport failures into one-line SourceErrors."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import arxiv
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from digest.services.sources.arxiv_feed import record_from_result, scan_entries
from digest.services.sources.records import PaperRecord, SourceError


def http_session(*, user_agent: str, max_retry_after: float, retries: int = 3) -> requests.Session:
    """A session that retries transient answers with backoff and honours Retry-After up to
    `max_retry_after` seconds (urllib3 would otherwise sleep up to 6 hours in a worker)."""
    retry = Retry(
        total=retries,
        backoff_factor=1.0,
        backoff_max=60,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        retry_after_max=int(max_retry_after),
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.headers["User-Agent"] = user_agent
    return session


def retry_after_seconds(response: requests.Response, *, limit: float) -> float:
    """The wait a Retry-After header asks for (seconds or an HTTP date), at most `limit`;
    0 when there is none or it cannot be read."""
    value = response.headers.get("Retry-After")
    if value is None:
        return 0.0
    try:
        return Retry(retry_after_max=int(limit)).parse_retry_after(value)
    except InvalidHeader:
        return 0.0


class ArxivSession(requests.Session):
    """The session `arxiv.Client` fetches through, making up for what the package lacks:
    - a timeout on every request (it sets none: a hung connection would hold a worker);
    - after an answer with Retry-After, the next request waits that long, at most
      `max_retry_after` (the package retries after its own 3 s whatever the server asked);
    - every page passes the strict scan that replays pass (the package's parser drops entity
      references and keeps what a cut-off page still holds): a DTD, entities or damage end
      the fetch with a SourceError, and the next run asks again."""

    def __init__(self, *, timeout: float, max_retry_after: float):
        super().__init__()
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self.not_before = 0.0

    def request(self, *args, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        time.sleep(max(0.0, self.not_before - time.monotonic()))
        response = super().request(*args, **kwargs)
        wait = retry_after_seconds(response, limit=self.max_retry_after)
        self.not_before = time.monotonic() + wait
        if response.status_code == 200:
            scan = scan_entries(response.content, source="arxiv")
            if scan.damage:
                raise SourceError("arxiv", f"damaged page refused: {scan.damage}")
        return response


def arxiv_client(
    *,
    api_url: str,
    page_size: int,
    delay_seconds: float,
    num_retries: int,
    timeout: float,
    max_retry_after: float,
) -> arxiv.Client:
    """One client per run: it spaces all of its requests, over every search it makes, by at
    least 3 seconds as arXiv asks."""
    client = arxiv.Client(
        page_size=page_size, delay_seconds=max(3.0, delay_seconds), num_retries=num_retries
    )
    client.query_url_format = api_url + "?{}"
    client._session = ArxivSession(timeout=timeout, max_retry_after=max_retry_after)
    return client


def newest_search(*, categories: list[str], max_results: int) -> arxiv.Search:
    """Newest submissions in our categories first."""
    return arxiv.Search(
        query=" OR ".join(f"cat:{category}" for category in categories),
        max_results=max_results,
        sort_by=arxiv.SortCriterion.SubmittedDate,
        sort_order=arxiv.SortOrder.Descending,
    )


def lookup_search(*, arxiv_ids: list[str]) -> arxiv.Search:
    """Given papers by id (the newest version of each)."""
    return arxiv.Search(id_list=arxiv_ids, max_results=len(arxiv_ids))


def iter_arxiv_records(*, client: arxiv.Client, search: arxiv.Search) -> Iterator[PaperRecord]:
    """The search's results through `arxiv.Client` (its pacing, paging and retries)."""
    try:
        for result in client.results(search):
            yield record_from_result(result)
    except arxiv.HTTPError as exc:
        raise SourceError("arxiv", f"HTTP {exc.status} after {exc.retry + 1} tries") from exc
    except arxiv.UnexpectedEmptyPageError as exc:
        problem = f"empty page mid-pagination after {exc.retry + 1} tries"
        raise SourceError("arxiv", problem) from exc
    except requests.RequestException as exc:
        raise SourceError("arxiv", f"network error: {type(exc).__name__}") from exc
    except ValueError as exc:  # the package's parser met a damaged entry
        raise SourceError("arxiv", f"unreadable response: {exc}") from exc


def _get(session: requests.Session, url: str, *, source: str, **kwargs) -> requests.Response:
    try:
        response = session.get(url, **kwargs)
    except requests.RequestException as exc:
        raise SourceError(source, f"network error: {type(exc).__name__} for {url}") from exc
    return response


def fetch_daily_papers(
    *, session: requests.Session, api_url: str, day: date, timeout: float
) -> bytes:
    url = f"{api_url}/api/daily_papers"
    response = _get(
        session, url, source="huggingface", params={"date": day.isoformat()}, timeout=timeout
    )
    if response.status_code != 200:
        raise SourceError("huggingface", f"HTTP {response.status_code} for {response.url}")
    return response.content


@dataclass(frozen=True)
class RepoReading:
    """What GitHub's `GET /repos/{owner}/{name}` said of one repository."""

    stars: int | None
    size_kb: int | None = None  # 0 for an empty repository
    default_branch: str = ""
    description: str = ""
    # 404 (no such repository, or not public yet) or 451 (blocked), with GitHub's message.
    refused: int | None = None
    problem: str = ""
    # Set when GitHub's rate limit is spent: no request should be made before this time.
    rate_limited_until: datetime | None = None


# Answers that describe the repository, not a failure of ours: recorded, never retried.
REFUSALS = (404, 451)


def _github_message(response: requests.Response) -> str:
    """GitHub's error body is {"message": ..., "documentation_url": ...}; anything else is
    summed up by its status."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return f"HTTP {response.status_code}: {message or response.reason or 'no message'}"


def fetch_repo(
    *, session: requests.Session, api_url: str, owner: str, name: str, token: str, timeout: float
) -> RepoReading:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{api_url}/repos/{owner}/{name}"
    response = _get(session, url, source="github", headers=headers, timeout=timeout)
    if response.status_code in (403, 429) and response.headers.get("X-RateLimit-Remaining") == "0":
        reset = int(response.headers.get("X-RateLimit-Reset", "0"))
        return RepoReading(stars=None, rate_limited_until=datetime.fromtimestamp(reset, tz=UTC))
    if response.status_code in REFUSALS:
        problem = _github_message(response)
        return RepoReading(stars=None, refused=response.status_code, problem=problem)
    if response.status_code != 200:
        raise SourceError("github", f"HTTP {response.status_code} for {url}")
    try:
        body = response.json()
        size = body.get("size")
        return RepoReading(
            stars=int(body["stargazers_count"]),
            size_kb=size if isinstance(size, int) and size >= 0 else None,
            default_branch=str(body.get("default_branch") or ""),
            description=str(body.get("description") or ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SourceError("github", f"unexpected answer for {url}") from exc


def fetch_hf_paper(
    *, session: requests.Session, api_url: str, arxiv_id: str, timeout: float
) -> bytes | None:
    """`GET /api/papers/{id}`: Hugging Face's page of one paper (None if it has none)."""
    url = f"{api_url}/api/papers/{arxiv_id}"
    response = _get(session, url, source="huggingface", timeout=timeout)
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise SourceError("huggingface", f"HTTP {response.status_code} for {url}")
    return response.content
