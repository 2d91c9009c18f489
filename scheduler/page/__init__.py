"""The read-only page of the running service: outlets, watches and alerts at a glance, and an
Atom feed of each watch (``newswatch run`` serves it on ``service.listen``)."""

from newswatch.scheduler.page.app import Answer, PageApp

__all__ = ["Answer", "PageApp"]
