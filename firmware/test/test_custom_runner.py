"""Reads the core tests' output for `pio test` (test_framework = custom).

tests/c/test_core.c is plain C with no test framework (the Unity framework
PlatformIO would use comes from its registry). It prints one "FAIL file:line:
message" line per failed check, a "fuzz: ..." line, and a final "N passed,
M failed" line; this runner turns those into PlatformIO test cases so
`pio test` reports and fails like any other suite.
"""

import re

from platformio.public import TestCase, TestCaseSource, TestRunnerBase, TestStatus

FAIL_RE = re.compile(r"^FAIL (?P<file>[^:]+):(?P<line>\d+): (?P<msg>.*)$")
SUMMARY_RE = re.compile(r"^(?P<passed>\d+) passed, (?P<failed>\d+) failed$")


class CustomTestRunner(TestRunnerBase):
    """One test case per failed check, one for the fuzzer, one for the summary."""

    def on_testing_line_output(self, line):
        super().on_testing_line_output(line)
        text = line.strip()
        fail = FAIL_RE.match(text)
        if fail:
            self.test_suite.add_case(
                TestCase(
                    name=f"check at line {fail['line']}",
                    status=TestStatus.FAILED,
                    message=fail["msg"],
                    source=TestCaseSource(filename=fail["file"], line=int(fail["line"])),
                )
            )
            return
        if text.startswith("fuzz:"):
            self.test_suite.add_case(TestCase(name="fuzz", status=TestStatus.PASSED,
                                              message=text))
            return
        summary = SUMMARY_RE.match(text)
        if summary:
            failed = int(summary["failed"])
            self.test_suite.add_case(
                TestCase(
                    name=f"core checks ({summary['passed']} passed)",
                    status=TestStatus.FAILED if failed else TestStatus.PASSED,
                    message=text,
                )
            )
            self.test_suite.on_finish()
