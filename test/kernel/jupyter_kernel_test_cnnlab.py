"""jupyter_kernel_test conformance suite for the cnnlab kernel.

Run by test/kernel/conformance.test.ts with JUPYTER_PATH pointing at a prefix where
`cnnlab install --prefix` wrote the kernelspec.
"""
import unittest

import jupyter_kernel_test as jkt


class CnnlabKernelTests(jkt.KernelTests):
    kernel_name = "cnnlab"
    language_name = "typescript"
    file_extension = ".ts"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The first cell waits for TypeScript and the library to load: give it time once.
        cls.kc.execute_interactive("1", timeout=180, output_hook=lambda msg: None)

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops, on stderr")'

    completion_samples = [
        {"text": "Math.ab", "matches": {"abs"}},
        {"text": "const zebraCount = 1; zebraC", "matches": {"zebraCount"}},
        {"text": "'text'.toUpperC", "matches": {"toUpperCase"}},
    ]

    complete_code_samples = ["1 + 1", "const x = 1", "function f() { return 1 }", "for (const i of [1]) {}"]
    incomplete_code_samples = ["function f() {", "const a = [1,", "if (true) {", "class A {\n  m() {"]
    invalid_code_samples = ["const = = 1", "1 +* 2", "let 5x = 1"]

    code_generate_error = 'throw new Error("boom")'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "'abc'.toUpperCase()", "result": "'ABC'"},
        {"code": "[1, 2, 3].length", "result": "3"},
    ]

    code_display_data = [
        {"code": 'display({"text/html": "<b>hi</b>", "text/plain": "hi"})', "mime": "text/html"},
        {"code": 'display({"application/json": {"a": 1}})', "mime": "application/json"},
    ]

    code_history_pattern = "6*"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"

    code_page_something = "Math.max?"

    code_clear_output = "clearOutput()"


if __name__ == "__main__":
    unittest.main(verbosity=2)
