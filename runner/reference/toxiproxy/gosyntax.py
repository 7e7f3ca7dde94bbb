"""The syntax errors of Go's encoding/json Decoder for a body's first value, word for word.

A port of the error paths of Go's scanner (encoding/json/scanner.go): the first invalid byte is
reported with what the scanner was looking for ("looking for beginning of object key string",
"after object key:value pair", ...); a body that ends inside its first value is "unexpected EOF";
an empty one is "EOF". What follows the first complete value is never read, as Decoder.Decode
does not read it.
"""

from __future__ import annotations

WHITESPACE = b" \t\r\n"
ESCAPES = b'"\\/bfnrt'
HEX = b"0123456789abcdefABCDEF"
DIGITS = b"0123456789"


class GoSyntaxError(Exception):
    """What Go's Decoder says about the body (the whole message)."""


def quote_char(byte: int) -> str:
    """Go's quoteChar: how the scanner names an invalid byte."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    char = chr(byte)  # Go's string(c) of a byte is the rune with that value
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    named["\v"] = "\\v"
    if char in named:
        return f"'{named[char]}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    if 0x80 <= byte <= 0xA0 or byte == 0xAD:  # not printable for Go's strconv.IsPrint
        return f"'\\u{byte:04x}'"
    return f"'{char}'"


class _Scanner:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _peek(self) -> int:
        if self.pos >= len(self.data):
            raise GoSyntaxError("unexpected EOF")
        return self.data[self.pos]

    def _fail(self, context: str) -> GoSyntaxError:
        return GoSyntaxError(f"invalid character {quote_char(self.data[self.pos])} {context}")

    def _skip_space(self) -> int:
        while self._peek() in WHITESPACE:
            self.pos += 1
        return self.data[self.pos]

    def value(self) -> None:
        byte = self._skip_space()
        if byte == ord("{"):
            self.pos += 1
            self._object()
        elif byte == ord("["):
            self.pos += 1
            self._array()
        elif byte == ord('"'):
            self.pos += 1
            self._string()
        elif byte == ord("-") or byte in DIGITS:
            self._number()
        elif byte in b"tfn":
            self._literal({ord("t"): "true", ord("f"): "false", ord("n"): "null"}[byte])
        else:
            raise self._fail("looking for beginning of value")

    def _object(self) -> None:
        if self._skip_space() == ord("}"):
            self.pos += 1
            return
        while True:
            if self._skip_space() != ord('"'):
                raise self._fail("looking for beginning of object key string")
            self.pos += 1
            self._string()
            if self._skip_space() != ord(":"):
                raise self._fail("after object key")
            self.pos += 1
            self.value()
            byte = self._skip_space()
            self.pos += 1
            if byte == ord("}"):
                return
            if byte != ord(","):
                self.pos -= 1
                raise self._fail("after object key:value pair")

    def _array(self) -> None:
        if self._skip_space() == ord("]"):
            self.pos += 1
            return
        while True:
            self.value()
            byte = self._skip_space()
            self.pos += 1
            if byte == ord("]"):
                return
            if byte != ord(","):
                self.pos -= 1
                raise self._fail("after array element")

    def _string(self) -> None:
        while True:
            byte = self._peek()
            if byte == ord('"'):
                self.pos += 1
                return
            if byte < 0x20:
                raise self._fail("in string literal")
            self.pos += 1
            if byte != ord("\\"):
                continue
            if self._peek() not in ESCAPES + b"u":
                raise self._fail("in string escape code")
            if self.data[self.pos] == ord("u"):
                self.pos += 1
                for _ in range(4):
                    if self._peek() not in HEX:
                        raise self._fail("in \\u hexadecimal character escape")
                    self.pos += 1
            else:
                self.pos += 1

    def _digits(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in DIGITS:
            self.pos += 1

    def _number(self) -> None:
        if self.data[self.pos] == ord("-"):
            self.pos += 1
            if self._peek() not in DIGITS:
                raise self._fail("in numeric literal")
        if self.data[self.pos] == ord("0"):
            self.pos += 1
        else:
            self._digits()
        if self.pos < len(self.data) and self.data[self.pos] == ord("."):
            self.pos += 1
            if self._peek() not in DIGITS:
                raise self._fail("after decimal point in numeric literal")
            self._digits()
        if self.pos < len(self.data) and self.data[self.pos] in b"eE":
            self.pos += 1
            if self._peek() in b"+-":
                self.pos += 1
            if self._peek() not in DIGITS:
                raise self._fail("in exponent of numeric literal")
            self._digits()

    def _literal(self, word: str) -> None:
        self.pos += 1
        for expected in word[1:]:
            if self._peek() != ord(expected):
                raise self._fail(f"in literal {word} (expecting {quote_char(ord(expected))})")
            self.pos += 1


def first_value_end(data: bytes) -> int:
    """Where the body's first JSON value ends; GoSyntaxError with Go's message when it is invalid."""
    if not data.strip(WHITESPACE):
        raise GoSyntaxError("EOF")
    scanner = _Scanner(data)
    scanner.value()
    return scanner.pos
