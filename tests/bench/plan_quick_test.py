#!/usr/bin/python3
"""`bench/run plan --quick` end to end (shortened further: 1 s steps, one memory step): the
ladder runs against ringgate and NGINX on the proxy scenario, and the output directory holds
the report with a table per server and the knee verdict, ladder.csv with every step, and the
plots. Environment: RINGGATE, PLAN_LOAD and BUILD_DIR as bench/run reads them."""

import csv
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class PlanQuickTest(unittest.TestCase):
    def test_quick_plan_writes_the_report(self):
        with tempfile.TemporaryDirectory() as out:
            r = subprocess.run(
                [os.path.join(ROOT, "bench", "run"), "plan", "--quick", "--step-seconds", "1",
                 "--memory", "500", "--out", out],
                capture_output=True, text=True, timeout=280)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            with open(os.path.join(out, "ladder.csv")) as f:
                rows = list(csv.DictReader(f))
            for server in ("ringgate", "nginx"):
                steps = [x for x in rows if x["server"] == server]
                self.assertEqual(len(steps), 5, rows)
                offered = [float(x["offered_rps"]) for x in steps]
                self.assertEqual(offered, sorted(offered))
                self.assertGreater(float(steps[0]["achieved_rps"]), 0)
                self.assertGreater(float(steps[0]["cpu_us_per_request"]), 0)
            with open(os.path.join(out, "report.md")) as f:
                report = f.read()
            self.assertIn("### ringgate (closed-loop maximum", report)
            self.assertIn("### nginx (closed-loop maximum", report)
            self.assertTrue("Knee at" in report or "No knee within the ladder" in report, report)
            self.assertIn("bytes per connection", report)
            for png in ("proxy-latency.png", "proxy-throughput.png", "proxy-cpu.png",
                        "memory.png"):
                path = os.path.join(out, png)
                self.assertTrue(os.path.getsize(path) > 1000, png)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", png)


if __name__ == "__main__":
    unittest.main()
