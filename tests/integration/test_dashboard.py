"""`shoal dashboard` in a real browser (Debian's chromium driven by Playwright) against a real
cluster: what the pages show, that they follow the cluster live, and scaling from a page."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.cluster import BIN, Cluster, free_port
from tests.waiting import SLEEPER, wait_for

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
# What the issue asks of a live page: the change on screen this soon, without a reload.
LIVE_MS = 2000


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def dashboard(cluster: Cluster) -> Iterator[str]:
    """The dashboard's URL, served by `shoal dashboard` as a user starts it."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "shoal"), "dashboard", "--listen", f"127.0.0.1:{port}"],
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url + "/") or proc.poll() is not None, "the dashboard")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 1100, "height": 800})
    yield opened
    opened.close()


def _create(cluster: Cluster, name: str, *flags: str, command: list[str] = SLEEPER) -> None:
    cluster.ok("service", "create", "-d", "--name", name, *flags, "local/busybox:latest", *command)


class TestDashboard:
    def test_the_cluster_page_shows_nodes_and_replicas(
        self, cluster: Cluster, dashboard: str, page: Page
    ) -> None:
        _create(cluster, "web", "--replicas", "3")
        wait_for(lambda: cluster.running("web", 3), "3 running containers")
        page.goto(dashboard + "/")
        expect(page.locator("#nodes tr")).to_have_count(4)  # a header and 3 nodes
        for index in (1, 2):
            expect(page.locator("#nodes")).to_contain_text(f"it-agent-{index}")
        web = page.locator("#services tr", has_text="web")
        expect(web.locator("td.replicas")).to_have_text("3/3")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    def test_a_scale_from_the_cli_shows_without_a_reload(
        self, cluster: Cluster, dashboard: str, page: Page
    ) -> None:
        page.goto(dashboard + "/services/web")
        expect(page.locator("#running")).to_have_text("3/3")
        cluster.ok("service", "scale", "-d", "web=5")
        expect(page.locator("#running")).to_have_text("5/5", timeout=LIVE_MS)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    def test_a_failing_task_shows_its_error(
        self, cluster: Cluster, dashboard: str, page: Page
    ) -> None:
        _create(cluster, "broken", "--restart-condition", "none", command=["sh", "-c", "exit 3"])
        page.goto(dashboard + "/services/broken")
        expect(page.locator("#tasks")).to_contain_text("non-zero exit (3)")

    def test_a_pending_task_shows_its_reason(
        self, cluster: Cluster, dashboard: str, page: Page
    ) -> None:
        _create(cluster, "nowhere", "--constraint", "node.labels.zone==b")
        page.goto(dashboard + "/services/nowhere")
        expect(page.locator("#tasks")).to_contain_text("constraint node.labels.zone==b")

    def test_scaling_from_the_page(self, cluster: Cluster, dashboard: str, page: Page) -> None:
        """The page scales through the CLI's validation: a bad count is refused, saying why."""
        page.goto(dashboard + "/services/web")
        replicas = page.locator("#scale input[name=replicas]")
        replicas.fill("two")
        page.locator("#scale button").click()
        expect(page.locator("#scale-result")).to_contain_text("invalid replicas 'two'")
        assert cluster.ok("service", "inspect", "web").out.count('"Replicas": 5') == 1
        replicas.fill("2")
        page.locator("#scale button").click()
        expect(page.locator("#scale-result")).to_have_text("scaled to 2")
        expect(page.locator("#running")).to_have_text("2/2", timeout=10_000)

    def test_a_node_page_shows_its_facts_and_tasks(
        self, cluster: Cluster, dashboard: str, page: Page
    ) -> None:
        cluster.ok("node", "update", "--label-add", "zone=a", "it-agent-1")
        page.goto(dashboard + "/nodes/it-agent-1")
        node = page.locator("#node")
        expect(node).to_contain_text("zone=a")
        expect(node).to_contain_text("ready")
        expect(node).to_contain_text("worker")
        listed = cluster.ok("node", "ps", "it-agent-1", "--format", "json").json_lines()
        for task in listed:
            expect(page.locator("#tasks")).to_contain_text(task["Name"])

    def test_the_networks_page_lists_networks(
        self, cluster: Cluster, dashboard: str, page: Page
    ) -> None:
        cluster.ok("network", "create", "--subnet", "10.201.0.0/16", "dash-net")
        try:
            page.goto(dashboard + "/networks")
            row = page.locator("#networks tr", has_text="dash-net")
            expect(row).to_contain_text("10.201.0.0/16")
        finally:
            cluster.ok("network", "rm", "dash-net")
