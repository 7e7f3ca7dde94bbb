"""A byte cursor over a JSON body with serde_json's error texts, categories and positions.

Positions follow serde_json: an error "at" the last consumed byte reports that byte index as the
column; a "peek" error reports the next byte's. Errors created without a position (serde custom
errors such as `missing field`) get one later, where serde_json's containers would fix it.
"""

from __future__ import annotations

_RECURSION_LIMIT = 128
_WHITESPACE = b" \n\t\r"
_ESCAPES = {
    ord('"'): '"',
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}
_U64_MAX = 2**64 - 1
_I64_MIN = -(2**63)


class DeserializeError(Exception):
    """One serde_json error on its way out: message, category and (once known) byte position."""

    def __init__(self, message: str, category: str, index: int | None, path: tuple[str, ...]):
        super().__init__(message)
        self.message = message
        self.category = category  # "syntax", "eof" or "data"
        self.index = index
        self.path = path


class JsonReader:
    """A byte cursor with serde_json's error positions and serde_path_to_error's path."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.index = 0
        self.path: list[str] = []
        self.depth = _RECURSION_LIMIT

    # position helpers
    def peek(self) -> int | None:
        return self.data[self.index] if self.index < len(self.data) else None

    def eat(self) -> None:
        self.index += 1

    def next_byte(self) -> int | None:
        byte = self.peek()
        if byte is not None:
            self.index += 1
        return byte

    def skip_whitespace(self) -> int | None:
        while self.index < len(self.data) and self.data[self.index] in _WHITESPACE:
            self.index += 1
        return self.peek()

    def enter(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            raise self.syntax("recursion limit exceeded", peek=True)

    def leave(self) -> None:
        self.depth += 1

    # error constructors
    def syntax(
        self, message: str, *, peek: bool = False, category: str = "syntax"
    ) -> DeserializeError:
        index = min(len(self.data), self.index + 1) if peek else self.index
        return DeserializeError(message, category, index, tuple(self.path))

    def positioned(self, message: str) -> DeserializeError:
        return DeserializeError(message, "data", self.index, tuple(self.path))

    def unpositioned(self, message: str) -> DeserializeError:
        return DeserializeError(message, "data", None, tuple(self.path))

    def fixed(self, error: DeserializeError) -> DeserializeError:
        if error.index is None:
            error.index = self.index
        return error

    def invalid_type(self, expected: str) -> DeserializeError:
        """serde_json's `peek_invalid_type`: consume the offending scalar, name it, fail."""
        head = self.skip_whitespace()
        if head == ord("n"):
            self.eat()
            self.ident(b"ull")
            found = "null"
        elif head == ord("t"):
            self.eat()
            self.ident(b"rue")
            found = "boolean `true`"
        elif head == ord("f"):
            self.eat()
            self.ident(b"alse")
            found = "boolean `false`"
        elif head is not None and (head == ord("-") or ord("0") <= head <= ord("9")):
            found = describe_number(self.number())
        elif head == ord('"'):
            self.eat()
            found = f"string {debug_string(self.string_body())}"
        elif head == ord("["):
            found = "sequence"
        elif head == ord("{"):
            found = "map"
        elif head is None:
            return self.syntax("EOF while parsing a value", peek=True, category="eof")
        else:
            return self.syntax("expected value", peek=True)
        return self.positioned(f"invalid type: {found}, expected {expected}")

    # scalars
    def ident(self, rest: bytes) -> None:
        for expected in rest:
            byte = self.next_byte()
            if byte is None:
                raise self.syntax("EOF while parsing a value", category="eof")
            if byte != expected:
                raise self.syntax("expected ident")

    def read_string(self, expected: str) -> str:
        if self.skip_whitespace() != ord('"'):
            raise self.invalid_type(expected)
        self.eat()
        return self.string_body()

    def string_body(self) -> str:
        """The rest of a string after its opening quote, with serde_json's validation."""
        out = bytearray()
        data = self.data
        while True:
            if self.index >= len(data):
                raise self.syntax("EOF while parsing a string", category="eof")
            byte = data[self.index]
            self.index += 1
            if byte == ord('"'):
                break
            if byte == ord("\\"):
                out += self._escape().encode("utf-8", "surrogatepass")
            elif byte < 0x20:
                raise self.syntax(
                    "control character (\\u0000-\\u001F) found while parsing a string"
                )
            else:
                out.append(byte)
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError:
            raise self.syntax("invalid unicode code point") from None

    def _escape(self) -> str:
        byte = self.next_byte()
        if byte is None:
            raise self.syntax("EOF while parsing a string", category="eof")
        if byte in _ESCAPES:
            return _ESCAPES[byte]
        if byte != ord("u"):
            raise self.syntax("invalid escape")
        code = self._hex4()
        if 0xDC00 <= code <= 0xDFFF:
            raise self.syntax("lone leading surrogate in hex escape")
        if 0xD800 <= code <= 0xDBFF:
            if self.next_byte() != ord("\\") or self.next_byte() != ord("u"):
                raise self.syntax("unexpected end of hex escape")
            low = self._hex4()
            if not 0xDC00 <= low <= 0xDFFF:
                raise self.syntax("lone leading surrogate in hex escape")
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        return chr(code)

    def _hex4(self) -> int:
        chunk = self.data[self.index : self.index + 4]
        if len(chunk) < 4:
            self.index = len(self.data)
            raise self.syntax("EOF while parsing a string", category="eof")
        try:
            value = int(chunk.decode("ascii"), 16)
        except ValueError:
            raise self.syntax("invalid escape") from None
        if not all(chr(c) in "0123456789abcdefABCDEF" for c in chunk):
            raise self.syntax("invalid escape")
        self.index += 4
        return value

    def number(self) -> int | float:
        """A JSON number as serde_json classifies it: u64, i64, else f64."""
        start = self.index
        negative = self.peek() == ord("-")
        if negative:
            self.eat()
        first = self.next_byte()
        if first is None:
            raise self.syntax("EOF while parsing a value", category="eof")
        if first == ord("0"):
            if self._is_digit(self.peek()):
                raise self.syntax("invalid number", peek=True)
        elif not self._is_digit(first):
            raise self.syntax("invalid number")
        self._digits()
        is_float = False
        if self.peek() == ord("."):
            self.eat()
            is_float = True
            self._required_digits()
        if self.peek() in (ord("e"), ord("E")):
            self.eat()
            is_float = True
            if self.peek() in (ord("+"), ord("-")):
                self.eat()
            self._required_digits()
        text = self.data[start : self.index].decode("ascii")
        if not is_float:
            value = int(text)
            if (not negative and value <= _U64_MAX) or (negative and value >= _I64_MIN):
                return value
        result = float(text)
        if result in (float("inf"), float("-inf")):
            raise self.syntax("number out of range")
        return result

    @staticmethod
    def _is_digit(byte: int | None) -> bool:
        return byte is not None and ord("0") <= byte <= ord("9")

    def _digits(self) -> None:
        while self._is_digit(self.peek()):
            self.eat()

    def _required_digits(self) -> None:
        if not self._is_digit(self.peek()):
            if self.peek() is None:
                raise self.syntax("EOF while parsing a value", peek=True, category="eof")
            raise self.syntax("invalid number", peek=True)
        self._digits()

    # containers
    def next_key(self, first: bool) -> str | None:
        head = self.skip_whitespace()
        if head == ord("}"):
            return None
        if head == ord(",") and not first:
            self.eat()
            head = self.skip_whitespace()
        elif head is None:
            raise self.syntax("EOF while parsing an object", peek=True, category="eof")
        elif not first:
            raise self.syntax("expected `,` or `}`", peek=True)
        if head == ord('"'):
            self.eat()
            return self.string_body()
        if head == ord("}"):
            raise self.syntax("trailing comma", peek=True)
        if head is None:
            raise self.syntax("EOF while parsing a value", peek=True, category="eof")
        raise self.syntax("key must be a string", peek=True)

    def colon(self) -> None:
        head = self.skip_whitespace()
        if head == ord(":"):
            self.eat()
            return
        if head is None:
            raise self.syntax("EOF while parsing an object", peek=True, category="eof")
        raise self.syntax("expected `:`", peek=True)

    def has_next_element(self, first: bool) -> bool:
        head = self.skip_whitespace()
        if head is None:
            raise self.syntax("EOF while parsing a list", peek=True, category="eof")
        if head == ord("]"):
            return False
        if first:
            return True
        if head != ord(","):
            raise self.syntax("expected `,` or `]`", peek=True)
        self.eat()
        head = self.skip_whitespace()
        if head == ord("]"):
            raise self.syntax("trailing comma", peek=True)
        if head is None:
            raise self.syntax("EOF while parsing a value", peek=True, category="eof")
        return True

    def end_map_quietly(self) -> None:
        """serde_json's `end_map`, whose own error is dropped when the map already failed."""
        if self.skip_whitespace() == ord("}"):
            self.eat()

    def end_seq_quietly(self) -> None:
        head = self.skip_whitespace()
        if head == ord("]"):
            self.eat()
        elif head == ord(","):
            self.eat()
            self.skip_whitespace()

    def end_seq(self) -> None:
        head = self.skip_whitespace()
        if head == ord("]"):
            self.eat()
            return
        if head is None:
            raise self.syntax("EOF while parsing a list", peek=True, category="eof")
        if head == ord(","):
            self.eat()
            if self.skip_whitespace() == ord("]"):
                raise self.syntax("trailing comma", peek=True)
        raise self.syntax("trailing characters", peek=True)

    def ignore_value(self) -> None:
        """Skip any value (serde's `IgnoredAny`), still validating its syntax."""
        head = self.skip_whitespace()
        if head is None:
            raise self.syntax("EOF while parsing a value", peek=True, category="eof")
        if head == ord("n"):
            self.eat()
            self.ident(b"ull")
        elif head == ord("t"):
            self.eat()
            self.ident(b"rue")
        elif head == ord("f"):
            self.eat()
            self.ident(b"alse")
        elif head == ord("-") or self._is_digit(head):
            self.number()
        elif head == ord('"'):
            self.eat()
            self.string_body()
        elif head == ord("["):
            self.enter()
            self.eat()
            first = True
            while self.has_next_element(first):
                first = False
                self.ignore_value()
            self.end_seq()
            self.leave()
        elif head == ord("{"):
            self.enter()
            self.eat()
            first = True
            while self.next_key(first) is not None:
                first = False
                self.colon()
                self.ignore_value()
            self.eat()
            self.leave()
        else:
            raise self.syntax("expected value", peek=True)


def describe_number(value: int | float) -> str:
    if isinstance(value, int):
        return f"integer `{value}`"
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa.removesuffix('.0')}e{int(exponent)}"
    return f"floating point `{text}`"


def debug_string(value: str) -> str:
    """Rust's `{:?}` of a str, close enough for error texts."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'
