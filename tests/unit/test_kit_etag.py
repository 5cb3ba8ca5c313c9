"""The one ETag/If-Match policy (lmx_common.etag): 428 when missing, * passes, weak and stale are 412."""

from __future__ import annotations

import pytest

from lmx_common.etag import check_if_match, etag
from lmx_common.problems import ProblemError


def test_the_tag_is_the_quoted_version():
    assert etag(3) == '"3"'


def test_a_missing_if_match_on_an_update_is_428():
    with pytest.raises(ProblemError) as raised:
        check_if_match(None, 3, what="housing location")
    assert raised.value.status == 428 and raised.value.slug == "precondition-required"


def test_a_missing_if_match_on_an_appending_post_goes_ahead():
    check_if_match(None, 3, required=False)


@pytest.mark.parametrize("if_match", ['"3"', ' "3" ', "*", '"2", "3"', 'W/"3", "3"'])
def test_the_current_strong_tag_or_star_passes(if_match):
    check_if_match(if_match, 3)
    check_if_match(if_match, 3, required=False)


@pytest.mark.parametrize("if_match", ['W/"3"', '"2"', '"x-3"', "3", '"2", W/"3"'])
def test_weak_stale_or_foreign_tags_are_412_with_the_current_etag(if_match):
    for required in (True, False):
        with pytest.raises(ProblemError) as raised:
            check_if_match(if_match, 3, required=required)
        assert raised.value.status == 412 and raised.value.slug == "precondition-failed"
        assert raised.value.headers["ETag"] == '"3"'
