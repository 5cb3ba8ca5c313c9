"""cut_page: rows read with limit+1 become a page and a `next` link that resumes after the last row."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.requests import Request

from lmx_common.pagination import Page, cursor_value, cut_page
from lmx_common.problems import ProblemError


@dataclass
class Row:
    id: str


def request(query: str = "", prefix: str = "") -> Request:
    headers = [(b"x-forwarded-prefix", prefix.encode())] if prefix else []
    return Request(
        {"type": "http", "method": "GET", "path": "/v1/things", "query_string": query.encode(), "headers": headers}
    )


def test_a_full_page_and_one_more_row_links_the_next_page_after_the_last_row_shown():
    rows = [Row(str(i)) for i in range(4)]
    page, links = cut_page(request("pageSize=3&kind=a"), rows, 3, lambda r: {"id": r.id})
    assert [r.id for r in page] == ["0", "1", "2"]
    assert links.self_.href == "/v1/things?pageSize=3&kind=a"
    assert links.next is not None
    query = parse_qs(urlsplit(links.next.href).query)
    assert query["pageSize"] == ["3"] and query["kind"] == ["a"]
    assert cursor_value(query["cursor"][0], "id") == "2"


@pytest.mark.parametrize("count", [0, 2, 3])
def test_no_extra_row_means_the_last_page(count):
    page, links = cut_page(request(), [Row(str(i)) for i in range(count)], 3, lambda r: {"id": r.id})
    assert len(page) == count and links.next is None


def test_links_keep_the_gateway_prefix_and_replace_an_earlier_cursor():
    _, links = cut_page(request(prefix="/housing"), [Row("a"), Row("b")], 1, lambda r: {"id": r.id})
    assert links.next is not None and links.next.href.startswith("/housing/v1/things?cursor=")
    cursor = parse_qs(urlsplit(links.next.href).query)["cursor"][0]
    _, again = cut_page(request(f"cursor={cursor}"), [Row("b"), Row("c")], 1, lambda r: {"id": r.id})
    assert again.next is not None and again.next.href.count("cursor=") == 1


def test_no_cursor_is_the_first_page_and_a_forged_one_is_400():
    assert cursor_value(None, "id") is None
    with pytest.raises(ProblemError) as raised:
        cursor_value("not-a-cursor", "id")
    assert raised.value.status == 400


def test_a_page_serialises_with_underscore_links():
    page, links = cut_page(request(), [Row("a")], 5, lambda r: {"id": r.id})
    body = Page[str](items=[r.id for r in page], links=links).model_dump(mode="json", by_alias=True)
    assert body == {"items": ["a"], "_links": {"self": {"href": "/v1/things"}, "next": None}}
