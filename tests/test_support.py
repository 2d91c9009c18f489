"""Tests of the test harness itself (tests/support), with real loopback traffic.

The rest of the suite trusts these fakes to behave like the real internet, mail
server and webhook endpoints; if they drift, every other test lies.  Clients
here ignore the machine's proxy environment explicitly (an explicit
``ProxyHandler``), so results do not depend on the developer's shell.
"""

from __future__ import annotations

import http.client
import json
import smtplib
import socket
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate

import pytest
import redis

from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver


def _opener(proxy_url: str | None) -> urllib.request.OpenerDirector:
    """A urllib opener using exactly ``proxy_url`` (or no proxy), never the environment."""
    proxies = {"http": proxy_url} if proxy_url else {}
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies))


def _fetch(
    web: MultiHostServer, url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with _opener(web.proxy_url).open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


# -- MultiHostServer ---------------------------------------------------------------------


def test_proxy_form_request_routes_by_host(web: MultiHostServer) -> None:
    web.site("www.outlet.test").add("/news?page=2", "<p>outlet</p>")
    web.site("mirror.example.test").add("/news?page=2", b"<p>mirror</p>")

    status, headers, body = _fetch(web, "http://www.outlet.test/news?page=2")
    assert (status, body) == (200, b"<p>outlet</p>")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Length"] == str(len(body))

    status, _, body = _fetch(web, "http://MIRROR.example.test/news?page=2")
    assert (status, body) == (200, b"<p>mirror</p>")

    records = web.requests
    assert [(r.host, r.path, r.method) for r in records] == [
        ("www.outlet.test", "/news?page=2", "GET"),
        ("mirror.example.test", "/news?page=2", "GET"),
    ]
    assert "User-Agent" in records[0].headers  # case-insensitive header lookup
    assert records[0].headers["user-agent"].startswith("Python-urllib")
    assert web.requests_for("www.outlet.test") == [records[0]]
    web.clear_log()
    assert web.requests == []


def test_origin_form_request_routes_by_host_header(web: MultiHostServer) -> None:
    web.site("www.outlet.test").add("/", "home", content_type="text/plain")
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": "www.outlet.test"})
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"home")
        # Keep-alive: a second request on the same connection also works.
        conn.request("HEAD", "/", headers={"Host": "www.outlet.test:80"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Length") == "4"
        assert response.read() == b""
    finally:
        conn.close()
    assert [(r.host, r.method) for r in web.requests] == [
        ("www.outlet.test", "GET"),
        ("www.outlet.test", "HEAD"),
    ]


def test_missing_paths_unknown_hosts_and_custom_status(web: MultiHostServer) -> None:
    site = web.site("www.outlet.test")
    site.add("/gone", "moved", status=301, headers={"Location": "http://www.outlet.test/new"})
    site.add("/new", "new page")
    site.add("/old", "old")
    site.remove("/old")

    assert _fetch(web, "http://www.outlet.test/robots.txt")[0] == 404
    assert _fetch(web, "http://www.outlet.test/old")[0] == 404
    # urllib follows the redirect through the proxy, as Scrapy would.
    assert _fetch(web, "http://www.outlet.test/gone")[2] == b"new page"
    status, _, body = _fetch(web, "http://nowhere.test/")
    assert (status, body) == (502, b"unknown host")


def test_refuse_mode_closes_without_response(web: MultiHostServer) -> None:
    web.site("down.test").mode = "refuse"

    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        _opener(web.proxy_url).open("http://down.test/", timeout=10)

    # At socket level: the request is read, then the connection closes with no bytes.
    with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
        sock.sendall(b"GET http://down.test/x HTTP/1.1\r\nHost: down.test\r\n\r\n")
        try:
            received = sock.recv(1024)
        except ConnectionResetError:
            received = b""
    assert received == b""
    assert [r.path for r in web.requests_for("down.test")] == ["/", "/x"]


def test_status_mode_answers_every_request(web: MultiHostServer) -> None:
    site = web.site("busy.test")
    site.add("/", "fine")
    site.mode = 503
    status, _, body = _fetch(web, "http://busy.test/")
    assert status == 503
    assert body.startswith(b"503")
    assert _fetch(web, "http://busy.test/anything")[0] == 503
    site.mode = "up"
    assert _fetch(web, "http://busy.test/")[:3:2] == (200, b"fine")
    with pytest.raises(ValueError):
        site.mode = "sideways"  # type: ignore[assignment]


def test_conditional_requests_answer_304(web: MultiHostServer) -> None:
    last_modified = formatdate(time.time() - 3600, usegmt=True)
    site = web.site("www.outlet.test")
    site.add("/feed.xml", "<rss/>", content_type="application/rss+xml", headers={"ETag": '"v1"'})
    site.add("/page", "page", headers={"Last-Modified": last_modified})
    url = "http://www.outlet.test/feed.xml"

    status, headers, body = _fetch(web, url, {"If-None-Match": '"v1"'})
    assert (status, body) == (304, b"")
    assert headers["ETag"] == '"v1"'
    assert _fetch(web, url, {"If-None-Match": 'W/"v0", W/"v1"'})[0] == 304
    assert _fetch(web, url, {"If-None-Match": '"v0"'})[:3:2] == (200, b"<rss/>")

    page = "http://www.outlet.test/page"
    assert _fetch(web, page, {"If-Modified-Since": formatdate(usegmt=True)})[0] == 304
    older = formatdate(time.time() - 7200, usegmt=True)
    assert _fetch(web, page, {"If-Modified-Since": older})[0] == 200
    assert _fetch(web, page)[0] == 200


def test_web_server_context_manager_and_restart_on_same_port() -> None:
    with MultiHostServer() as server:
        server.site("a.test").add("/", "a")
        port = server.port
        assert server.proxy_url == f"http://127.0.0.1:{port}"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    server.start()
    try:
        assert server.port == port
        assert _fetch(server, "http://a.test/")[2] == b"a"
    finally:
        server.stop()


# -- WebhookReceiver ---------------------------------------------------------------------


def _post_json(url: str, payload: object, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with _opener(None).open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_webhook_records_posts_and_answers_scripted_statuses(webhook: WebhookReceiver) -> None:
    assert webhook.url == f"http://127.0.0.1:{webhook.port}/hook"
    webhook.responses = [500, 503]
    statuses = [_post_json(webhook.url, {"n": i}, {"X-Signature": f"sig{i}"}) for i in range(3)]
    assert statuses == [500, 503, 200]

    posts = webhook.wait_for(3, timeout=5)
    assert [p.json() for p in posts] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [p.status for p in posts] == [500, 503, 200]
    first = posts[0]
    assert first.path == "/hook"
    assert first.body == b'{"n": 0}'
    assert first.headers["x-signature"] == "sig0"
    assert first.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in first.headers)


def test_webhook_wait_for_times_out(webhook: WebhookReceiver) -> None:
    with pytest.raises(TimeoutError, match="got 0"):
        webhook.wait_for(1, timeout=0.2)


# -- SmtpSink ----------------------------------------------------------------------------


def _mail(subject: str = "Alert: keyword seen") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "newswatch@example.test"
    message["To"] = "editor@example.test"
    message["Subject"] = subject
    message.set_content("The keyword «budget» appeared.")
    message.add_alternative("<p>The keyword <b>budget</b> appeared.</p>", subtype="html")
    return message


def _send(sink: SmtpSink, message: EmailMessage) -> None:
    # smtplib never consults proxy variables; connect straight to the loopback port.
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        client.send_message(message, to_addrs=["editor@example.test", "desk@example.test"])


def test_smtp_sink_receives_and_parses(smtp: SmtpSink) -> None:
    assert smtp.url == f"smtp://127.0.0.1:{smtp.port}"
    _send(smtp, _mail())
    (mail,) = smtp.wait_for(1, timeout=5)
    assert mail.mail_from == "newswatch@example.test"
    assert mail.rcpt_tos == ["editor@example.test", "desk@example.test"]
    assert b"Subject: Alert: keyword seen" in mail.raw
    assert mail.message["Subject"] == "Alert: keyword seen"
    assert mail.subject == "Alert: keyword seen"
    assert "«budget»" in mail.text_body()
    assert "<b>budget</b>" in mail.html_body()


def test_smtp_sink_accepts_login(smtp: SmtpSink) -> None:
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as client:
        client.login("user", "secret")
        client.send_message(_mail())
    smtp.wait_for(1, timeout=5)
    assert smtp.logins == [("user", "secret")]


def test_smtp_refuse_with_makes_smtplib_raise(smtp: SmtpSink) -> None:
    smtp.refuse_with = (554, "5.7.1 rejected")
    with pytest.raises(smtplib.SMTPDataError) as excinfo:
        _send(smtp, _mail())
    assert excinfo.value.smtp_code == 554
    assert b"5.7.1 rejected" in excinfo.value.smtp_error
    assert smtp.messages == []
    smtp.refuse_with = None
    _send(smtp, _mail())
    assert len(smtp.wait_for(1, timeout=5)) == 1


def test_smtp_stop_and_restart_on_same_port() -> None:
    sink = SmtpSink()
    with sink:
        port = sink.port
        _send(sink, _mail("first"))
    assert not sink.running
    with pytest.raises(OSError):
        _send(sink, _mail("while down"))
    with sink:
        assert sink.port == port
        _send(sink, _mail("second"))
        mails = sink.wait_for(2, timeout=5)
    assert [m.subject for m in mails] == ["first", "second"]


# -- Redis -------------------------------------------------------------------------------


def test_redis_fixture_answers_ping(redis_clean_url: str) -> None:
    client = redis.Redis.from_url(redis_clean_url)
    try:
        assert client.ping() is True
        assert client.dbsize() == 0
        client.set("newswatch:test", "1", ex=60)
        assert client.get("newswatch:test") == b"1"
    finally:
        client.close()


def test_redis_clean_url_flushes_between_tests(redis_clean_url: str) -> None:
    client = redis.Redis.from_url(redis_clean_url)
    try:
        assert client.get("newswatch:test") is None
    finally:
        client.close()
