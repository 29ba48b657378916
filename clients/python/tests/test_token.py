"""Client token files: 'TOKEN' or 'ROLE TOKEN', as fc_token_read reads them."""

from __future__ import annotations

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from feedcache import TokenFileError, read_token_file  # noqa: E402


class TokenFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def file(self, text: str) -> str:
        path = os.path.join(self.tmp.name, "t%d" % len(os.listdir(self.tmp.name)))
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_bare_token(self):
        self.assertEqual(read_token_file(self.file("abc123\n")), "abc123")
        self.assertEqual(read_token_file(self.file("  \tabc123  \r\n")), "abc123")

    def test_role_token_lines(self):
        for role in ("read", "write", "admin"):
            self.assertEqual(read_token_file(self.file(f"{role} tok-{role}\n")), f"tok-{role}")

    def test_first_token_line_wins(self):
        text = "# a comment\n\n   \n#admin nope\nwrite first\nadmin second\n"
        self.assertEqual(read_token_file(self.file(text)), "first")

    def test_bad_lines_never_quote_the_file(self):
        for text in ("boss s3cret\n", "read s3cret extra\n"):
            with self.assertRaises(TokenFileError) as cm:
                read_token_file(self.file("# x\n" + text))
            self.assertIn(":2: expected TOKEN or 'ROLE TOKEN'", str(cm.exception))
            self.assertNotIn("s3cret", str(cm.exception))

    def test_empty_and_missing(self):
        with self.assertRaises(TokenFileError) as cm:
            read_token_file(self.file("# only a comment\n\n"))
        self.assertIn("no token in it", str(cm.exception))
        with self.assertRaises(TokenFileError) as cm:
            read_token_file(os.path.join(self.tmp.name, "missing"))
        self.assertIn("No such file", str(cm.exception))
        self.assertIsInstance(cm.exception, ValueError)


if __name__ == "__main__":
    unittest.main()
