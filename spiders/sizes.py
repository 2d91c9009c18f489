"""Responses larger than ``crawl.max_page_size``: refused with a reason the spider can count.

Scrapy enforces DOWNLOAD_MAXSIZE in two places. The download handler cancels a body that is
(or announces itself as) too large, raising ``DownloadCancelledError``; and its
HttpCompressionMiddleware, decompressing a ``Content-Encoding: gzip`` (deflate, br, zstd) body,
stops past the limit and raises a bare ``IgnoreRequest``, which reads like a robots.txt or offsite
decision and was dropped without an error counted. This middleware takes the latter's place and
raises ``ResponseTooLarge`` instead, so both cases reach the spider as "too large".

Sitemaps are the exception: they are read as a stream by ``read_sitemap``, which gunzips them
itself within its own bound (50 MB uncompressed, the sitemaps.org limit). A sitemap request
(``meta["stream_gzip"]``) answered with ``Content-Encoding: gzip`` keeps its compressed body,
so a large but legitimate sitemap is never held decompressed in memory.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response

__all__ = ["BoundedCompressionMiddleware", "ResponseTooLarge", "is_too_large"]

_GZIP = {b"gzip", b"x-gzip"}


class ResponseTooLarge(IgnoreRequest):
    """A response whose body, once decompressed, is larger than the download size limit."""


class BoundedCompressionMiddleware(HttpCompressionMiddleware):
    def process_response(  # type: ignore[override]  # no spider argument (deprecated)
        self, request: Request, response: Response
    ) -> Request | Response:
        encodings = [
            e.strip().lower()
            for value in response.headers.getlist("Content-Encoding")
            for e in value.split(b",")
            if e.strip()
        ]
        if (
            request.meta.get("stream_gzip")
            and encodings
            and set(encodings) <= _GZIP
            and len(encodings) == 1
            and response.body.startswith(b"\x1f\x8b")
        ):
            headers = response.headers.copy()
            del headers["Content-Encoding"]
            return response.replace(headers=headers)  # read_sitemap gunzips it as a stream
        try:
            return super().process_response(request, response)
        except ResponseTooLarge:
            raise
        except IgnoreRequest as exc:  # the only IgnoreRequest it raises: over DOWNLOAD_MAXSIZE
            raise ResponseTooLarge(str(exc)) from exc


def is_too_large(exception: BaseException) -> bool:
    """Refused for its size: by the download handler or while decompressing."""
    return isinstance(exception, (ResponseTooLarge, DownloadCancelledError))
