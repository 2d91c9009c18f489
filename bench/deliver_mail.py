"""Mail delivery: N pending alerts sent by one delivery run to a local SMTP server.

The alerts are claimed in an embedded store for one email channel, then one
``DeliveryWorker.run_once`` sends them all to aiosmtpd on loopback (``tests/support/smtp.py``),
plain or with STARTTLS (``--tls``: a certificate of a throwaway CA, trusted through
``SSL_CERT_FILE``). Printed: the run's wall time, the CPU time of the thread that sends (the
SMTP server runs in a thread of its own and is not counted), mails per second, and SMTP sessions
the server saw. Run it twice, old code and new, to compare (``PYTHONPATH=<old tree>``).

Usage, from the repository root::

    python bench/deliver_mail.py [--alerts 1000] [--tls]
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import tempfile
import textwrap
import time
import warnings
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newswatch.alerts.delivery import ChannelSender, DeliveryWorker, sample_alert
from newswatch.alerts.render import Renderer
from newswatch.config import load_config
from newswatch.store import open_store
from tests.support.smtp import SmtpSink


def _config(folder: Path, smtp_url: str) -> Path:
    path = folder / "newswatch.yaml"
    path.write_text(
        textwrap.dedent(f"""
            outlets:
              desk: {{domains: [desk.example.org], feeds: [/rss.xml]}}
            watches:
              palmyra: {{query: Palmyra, notify: [analysts]}}
            channels:
              analysts:
                type: email
                to: [analyst@example.org]
                from: newswatch@example.org
                smtp: {smtp_url}
            """),
        encoding="utf-8",
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--tls", action="store_true", help="STARTTLS with a login")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "Session.login_data")  # aiosmtpd's own, once a login
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        tls = None
        if args.tls:
            import trustme

            ca = trustme.CA()
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(tls)
            ca.cert_pem.write_to_path(str(folder / "ca.pem"))
            os.environ["SSL_CERT_FILE"] = str(folder / "ca.pem")
        with SmtpSink(credentials=("nw", "secret") if tls else None, tls=tls) as sink:
            url = f"smtp://nw:secret@127.0.0.1:{sink.port}" if tls else sink.url
            config = load_config(_config(folder, url)).config
            store = open_store(None, timedelta(days=30), folder / "state")
            try:
                for n in range(args.alerts):
                    alert = sample_alert()
                    alert["id"] = f"bench-{n}"
                    store.claim("palmyra", f"https://desk.example.org/{n}", alert, ["analysts"])
                sender = ChannelSender(config, Renderer.for_config(config))
                worker = DeliveryWorker(store, sender, "bench")
                wall, cpu = time.perf_counter(), time.thread_time()
                report = worker.run_once(ignore_schedule=True)
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            finally:
                store.close()
            mails = sink.wait_for(args.alerts, timeout=60)
            sessions = len({mail.peer for mail in mails})
    kind = "STARTTLS + login" if args.tls else "plain"
    print(
        f"{args.alerts} alerts, {kind}: sent {report.sent}, failed {report.failed}; "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU of the sending thread, "
        f"{report.sent / wall:.0f} mails/s, {sessions} SMTP sessions"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
