"""The HTML leaderboard in a real headless browser: no horizontal scrolling at 1400 px, sorting works, notes show.

Skipped only where no Chromium/Chrome is installed (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from robin_bench.bench import leaderboard, results

from .synthetic_results import write_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((b for b in BROWSERS if shutil.which(b)), None)

PROBE = """<script>
window.addEventListener("load", () => {
  const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
               clientWidth: document.documentElement.clientWidth};
  const note = document.querySelector("p.note");
  out.noteHeight = note ? note.getBoundingClientRect().height : 0;
  const table = document.querySelector("table");
  const robust = Array.from(table.tHead.rows[0].cells).find(th => th.textContent === "Robust %");
  sortBy(robust);
  out.ascending = Array.from(table.tBodies[0].rows).map(r => parseFloat(r.cells[robust.cellIndex].dataset.v));
  sortBy(robust);
  out.descending = Array.from(table.tBodies[0].rows).map(r => parseFloat(r.cells[robust.cellIndex].dataset.v));
  const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
</body>"""


def _page(tmp_path: Path) -> Path:
    """A leaderboard page with long model names, attack sets and flags (the hard case for width)."""
    df = results.read(write_run(tmp_path / "run"))
    df.loc[df["model"] == "har", "unreliable"] = (
        "noop_attack: cw returned its inputs unchanged on every sample; "
        "transfer broke 9 samples the worst case calls robust"
    )
    df.loc[df["model"] == "robin", "model"] = "robin_mlp_pgd_at_warmup_balanced_sampling_and_a_very_long_name_x" * 2
    csv = tmp_path / "run2" / "results.csv"
    results.append_rows(csv, df.to_dict("records"))
    rows = leaderboard.load([csv]).assign(attack_set="standard+robin_strategies+transfer_from_flat_surrogate")
    page = tmp_path / "page.html"
    page.write_text(leaderboard.to_html(leaderboard.table(rows), "wide").replace("</body>", PROBE), encoding="utf-8")
    return page


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium/Chrome installed")
def test_page_fits_1400px_sorts_and_shows_notes(tmp_path: Path) -> None:
    page = _page(tmp_path)
    assert BROWSER is not None
    proc = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,900",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout)
    assert match is not None, proc.stderr[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"'))
    assert probe["innerWidth"] == 1400
    assert probe["scrollWidth"] <= probe["clientWidth"], probe  # no horizontal scrolling
    assert probe["noteHeight"] > 0  # the synthetic top ranks are not distinguishable: the note is rendered
    assert probe["ascending"] == sorted(probe["ascending"]) and probe["descending"] == sorted(
        probe["descending"], reverse=True
    )
    assert len(probe["ascending"]) == 3
