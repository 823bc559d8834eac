"""Server-rendered HTML for the dashboard's pages: each page is a frame around one fragment, and
the fragment alone is what a live update fetches again."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from html import escape
from urllib.parse import quote

from cli import service_pretty, tasks
from cli.answers import NodeListing, ServiceSummary, TaskListing
from common.model import Network, Node, Service, ServiceMode, TaskState, UpdateState

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1d2733; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #d5dbe2; padding: .25rem .75rem; text-align: left; }
th { background: #eef2f6; }
.ready, .running { color: #17803d; } .down, .failed, .rejected { color: #b42318; }
.pending { color: #a15c07; } .error { color: #b42318; } .warning { color: #a15c07; }
#events { font-family: monospace; font-size: .85rem; max-height: 16rem; overflow-y: auto; }
#logs { background: #111; color: #ddd; padding: .5rem; max-height: 20rem; overflow-y: auto; }
pre { background: #f5f7f9; padding: .5rem; }
"""


def _name(value: object) -> str:
    return str(getattr(value, "name", value)).lower()


def _cell(text: object, cls: str = "") -> str:
    attr = f' class="{escape(cls)}"' if cls else ""
    return f"<td{attr}>{escape(str(text))}</td>"


def _table(headers: list[str], rows: list[str], table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def _link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def frame(title: str, fragment_url: str, body: str, extra: str = "") -> str:
    """A whole page: the live part (#live) is fetched again from fragment_url on each event."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{escape(title)} · Shoal</title>
<style>{STYLE}</style></head>
<body data-fragment="{escape(fragment_url)}">
<nav>{_link("/", "Cluster")}{_link("/networks", "Networks")}</nav>
<h1>{escape(title)}</h1>
<div id="live">{body}</div>
{extra}
<h2>Events</h2><div id="events"></div>
<script src="/static/dashboard.js"></script>
</body></html>"""


def overview(nodes: NodeListing, services: list[ServiceSummary], listing: TaskListing) -> str:
    running = Counter(t.node_id for t in listing.tasks if t.status.state == TaskState.RUNNING)
    node_rows = [
        _cell_link(f"/nodes/{quote(n.id)}", n.description.hostname or n.id)
        + _cell(_name(n.state), _name(n.state))
        + _cell(_name(n.availability))
        + _cell(_name(n.role))
        + _cell(running[n.id])
        for n in sorted(nodes.nodes, key=lambda n: n.description.hostname)
    ]
    service_rows = [
        _cell_link(f"/services/{quote(s.service.id)}", s.service.spec.name)
        + _cell(_name(s.service.spec.mode))
        + _cell(f"{s.running}/{s.desired}", "replicas")
        + _cell(s.service.spec.container.image)
        + _cell(_update_state(s.service))
        for s in sorted(services, key=lambda s: s.service.spec.name)
    ]
    return (
        "<h2>Nodes</h2>"
        + _table(["Hostname", "State", "Availability", "Role", "Running tasks"], node_rows, "nodes")
        + "<h2>Services</h2>"
        + _table(["Name", "Mode", "Replicas", "Image", "Update"], service_rows, "services")
    )


def _cell_link(href: str, text: str) -> str:
    return f"<td>{_link(href, text)}</td>"


def _update_state(service: Service) -> str:
    status = service.update_status
    if status.state is UpdateState.NONE:
        return ""
    return f"{_name(status.state)} {status.message}".strip()


def service_page(service: Service, listing: TaskListing, now: datetime) -> str:
    running = sum(1 for t in listing.tasks if t.status.state == TaskState.RUNNING)
    rows = []
    for record, task in zip(
        tasks.records(listing, trunc=False, now=now), tasks.ordered(listing.tasks), strict=True
    ):
        state = _name(task.status.state)
        rows.append(
            _cell(record["Name"])
            + _cell(record["Node"])
            + _cell(_name(task.desired_state))
            + _cell(record["CurrentState"], state)
            + _cell(task.status.err, "error" if task.status.err else "")
        )
    replicas = (
        f"{running}/{service.spec.replicas}"
        if service.spec.mode is ServiceMode.REPLICATED
        else f"{running} (global)"
    )
    update = _update_state(service) or "none"
    return (
        f'<p>Running: <b id="running">{escape(replicas)}</b> · Update: '
        f'<span id="update">{escape(update)}</span></p>'
        + "<h2>Tasks</h2>"
        + _table(["Slot", "Node", "Desired", "State", "Error or reason"], rows, "tasks")
        + "<h2>Spec</h2><pre>"
        + escape("\n".join(service_pretty.pretty(service, listing.tasks)))
        + "</pre>"
    )


def scale_form(service: Service) -> str:
    """The page's one write; outside #live so a live update does not wipe what is typed."""
    if service.spec.mode is not ServiceMode.REPLICATED:
        return ""
    return f"""<form id="scale" data-service="{escape(service.id)}">
<label>Replicas <input name="replicas" value="{service.spec.replicas}" size="4"></label>
<button type="submit">Scale</button> <span id="scale-result"></span></form>
<h2>Logs</h2><pre id="logs" data-service="{escape(service.id)}"></pre>"""


def node_page(node: Node, listing: TaskListing, now: datetime) -> str:
    d = node.description
    facts = [
        ("ID", node.id),
        ("State", f"{_name(node.state)} {node.message}".strip()),
        ("Availability", _name(node.availability)),
        ("Role", _name(node.role)),
        ("Address", node.addr),
        ("Engine", f"{d.engine_version} ({d.os}/{d.arch})"),
        ("CPUs", f"{d.resources.nano_cpus / 1e9:g}"),
        ("Memory", f"{d.resources.memory_bytes / 2**20:.0f} MiB"),
        ("Shoal", d.version),
        ("Labels", ", ".join(f"{k}={v}" for k, v in sorted(node.labels.items()))),
    ]
    rows = [
        _cell(r["Name"]) + _cell(r["CurrentState"]) + _cell(r["Error"])
        for r in tasks.records(listing, trunc=False, now=now)
    ]
    return (
        _table(["", ""], [_cell(k) + _cell(v) for k, v in facts], "node")
        + "<h2>Tasks</h2>"
        + _table(["Task", "State", "Error"], rows, "tasks")
    )


def networks_page(networks: list[Network]) -> str:
    rows = [
        _cell(n.name) + _cell(n.id) + _cell(n.subnet) + _cell(len(n.slices))
        for n in sorted(networks, key=lambda n: n.name)
    ]
    return _table(["Name", "ID", "Subnet", "Nodes"], rows, "networks")


def error_page(message: str) -> str:
    return f'<p class="error">{escape(message)}</p>'
