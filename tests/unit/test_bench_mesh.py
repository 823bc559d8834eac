"""bench.mesh reads wrk's summary right: the rate, the 99th percentile in ms, and errors."""

from __future__ import annotations

import pytest

from bench.mesh import Figures, parse_wrk

SUMMARY = """Running 1s test @ http://10.77.0.11:8080/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.58ms    7.93ms  66.42ms   91.36%
    Req/Sec   308.30    153.48   690.00     75.00%
  Latency Distribution
     50%    5.52ms
     75%    9.38ms
     90%   14.58ms
     99%  {p99}
  616 requests in 1.00s, 112.49KB read
{errors}Requests/sec:    614.99
Transfer/sec:    112.31KB
"""


@pytest.mark.parametrize(("p99", "ms"), [("46.90ms", 46.9), ("812.00us", 0.812), ("1.20s", 1200.0)])
def test_rate_and_p99(p99: str, ms: float) -> None:
    figures = parse_wrk(SUMMARY.format(p99=p99, errors=""))
    assert figures.rps == 614.99
    assert figures.p99_ms == pytest.approx(ms)
    assert figures.errors == 0


def test_errors_are_counted() -> None:
    errors = (
        "  Socket errors: connect 2, read 3, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\n"
    )
    assert parse_wrk(SUMMARY.format(p99="1ms", errors=errors)) == Figures(614.99, 1.0, 10)


def test_unexpected_output() -> None:
    with pytest.raises(RuntimeError, match="unexpected wrk output"):
        parse_wrk("unable to connect to 10.77.0.11:8080 Connection refused")
