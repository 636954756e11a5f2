"""The job wrapper every rule runs its command through (issue 30, item 1): the whole output in
the log, per-image progress with rate and ETA and a one-line summary (or the failure's cause) on
the console, and the command's own exit code."""

from __future__ import annotations

import io
import sys
import textwrap

from lowlight_common.joblog import Progress, run

# A command drawing a tqdm bar as it does without a terminal ("\r" redraws on stderr), then
# failing the way the CLIs do (one "prog: error: ..." line, exit 2).
CHILD = textwrap.dedent("""
    import sys, time
    from tqdm import tqdm
    print("loading model", flush=True)
    for _ in tqdm(range(3), desc="diffll", unit="img", file=sys.stderr, mininterval=0):
        time.sleep(0.02)
    print("enhance: error: label/2.txt: line 2: expected 4 numbers", file=sys.stderr)
    sys.exit(int(sys.argv[1]))
""")


def test_failure_shows_progress_and_the_cause_on_the_console_and_everything_in_the_log(tmp_path):
    console = io.StringIO()
    log = tmp_path / "logs" / "job.log"
    code = run([sys.executable, "-c", CHILD, "2"], log, "enhance demo/diffll shard 0", every=0.0, console=console)
    assert code == 2
    lines = console.getvalue().splitlines()
    progress = [line for line in lines if line.startswith("enhance demo/diffll shard 0: ")]
    assert [p.split(": ")[1].split(",")[0] for p in progress] == ["1/3 images", "2/3 images", "3/3 images"]
    assert all("ETA" in p and ("img/s" in p or "s/img" in p) for p in progress)
    assert lines[-1].startswith("FAILED enhance demo/diffll shard 0 (exit 2)")
    assert "label/2.txt: line 2: expected 4 numbers" in lines[-1] and str(log) in lines[-1]
    assert "loading model" not in console.getvalue()  # the details stay in the log
    text = log.read_text()
    assert "loading model" in text and "expected 4 numbers" in text and "3/3 images" in text
    assert "\r" not in text and "|" not in text  # the bar's redraws are replaced by the progress lines


def test_success_prints_one_summary_line(tmp_path):
    console = io.StringIO()
    code = run([sys.executable, "-c", "print('x' * 10)"], tmp_path / "a.log", "report", console=console)
    assert code == 0
    assert console.getvalue().splitlines() == [console.getvalue().splitlines()[0]]
    assert console.getvalue().startswith("done report in ")
    assert (tmp_path / "a.log").read_text().startswith("x" * 10)


def test_a_command_that_cannot_start_is_a_failure_naming_it(tmp_path):
    console = io.StringIO()
    assert run(["/nonexistent/tool"], tmp_path / "b.log", "job", console=console) == 127
    assert "FAILED job: cannot run /nonexistent/tool" in console.getvalue()


def test_progress_lines_are_throttled_but_the_last_one_is_always_shown():
    now = [0.0]
    console, log = io.StringIO(), io.StringIO()
    progress = Progress("detect", every=5.0, console=console, log=log, clock=lambda: now[0])
    progress.update(0, 250)
    for done in range(1, 251):
        now[0] = done * 0.5  # 2 img/s
        progress.update(done, 250)
    lines = console.getvalue().splitlines()
    assert lines[0] == "detect: 1/250 images, 2.00 img/s, ETA 2m04s"
    assert lines[-1] == "detect: 250/250 images, 2.00 img/s, ETA 0s"
    assert len(lines) == 26  # one per 5 s (10 images) plus the last
