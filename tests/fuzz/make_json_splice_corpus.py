#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_json_splice into corpus/json_splice/.

Each file is: up to 8 lines `#PATH` (paths the target parses and uses for find / for_each /
pick / allow / deny / rename; without any, the target uses a fixed set), then the body. Re-run
after editing; inputs found by fuzzing are added as found-*.bin files by hand and are left alone.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "json_splice")


def paths(*ps):
    return b"".join(b"#" + p.encode() + b"\n" for p in ps)


PRODUCT = (b'{"id":"p-1","name":"Desk lamp","price":{"amount":1999,"currency":"EUR"},'
           b'"tags":["home","light"],"internal":{"cost":700,"supplier":"s-9"},"stock":null}')
ORDER = (b'{"order":{"id":42,"customerId":"c-17","lines":[{"productId":"p-1","qty":2},'
         b'{"productId":"p-2","qty":1,"note":"gift"},{"qty":3}]},"status":"open"}')

seeds = {
    # shapes the gateway sees
    "product": PRODUCT,
    "product_projection": paths("id", "price.amount", "internal", "tags[*]") + PRODUCT,
    "order_fanout": paths("order.lines[*].productId", "order.customerId", "order.lines[1].note")
    + ORDER,
    "order_pick": paths("order", "status") + ORDER,
    "reviews_array": paths("[*].stars", "[0]", "[*]")
    + b'[{"stars":5,"text":"great"},{"stars":3,"text":"ok \\u00e9"},{"stars":1}]',
    "pretty": paths("a.b", "a") + b'{\n  "a" : {\n    "b" : [ 1 , 2 ]\n  } ,\n  "c" : "x"\n}\n',
    "merge_dupes": paths("a", "b") + b'{"a":1,"b":{"c":2},"a":3}',
    "escaped_keys": paths("ab", "q\"uote", "caf\u00e9") + (
        b'{"a\\u0062":1,"q\\"uote":2,"caf\\u00e9":3,"sl\\/ash":4}'),
    "unicode_strings": paths("s", "[0]")
    + '{"s":"\\ud83d\\ude00 \u00e9\u20ac \\u0000 \\"\\\\\\/\\b\\f\\n\\r\\t"}'.encode(),
    "numbers": paths("[*]")
    + b'[0,-0,1.5,-2e10,3E+2,4e-2,123456789012345678901234567890,1e400,-1.0e-400]',
    "literals": paths("[*]", "[1]") + b'[true,false,null]',
    "empties": paths("o", "a", "o.x", "a[*]") + b'{"o":{},"a":[],"s":"","e":{ },"f":[ ]}',
    "deep_ok": paths("a.a.a.a") + b'{"a":' * 30 + b"1" + b"}" * 30,
    "deep_too_much": b"[" * 40 + b"]" * 40,
    "scalar_string": b'  "just a string"  ',
    "scalar_number": b"-12.5e3",
    "scalar_true": b"true",
    "array_of_arrays": paths("[*][0]", "[1][1]") + b"[[1,2],[3,4],[],[[5]]]",
    "big_array": paths("[*]") + b"[" + b",".join(str(i).encode() for i in range(300)) + b"]",
    "wide_object": paths("k7", "k150") + b"{" + b",".join(
        b'"k%d":%d' % (i, i) for i in range(200)) + b"}",
    "bad_paths": paths("a..b", "a[", "[x]", "a[*].b[*]", "]", "a[01]") + b'{"a":{"b":1}}',
    # invalid bodies (JSONTestSuite-like)
    "n_trailing_comma": b'{"a":1,}',
    "n_array_trailing_comma": b"[1,2,]",
    "n_missing_colon": b'{"a" 1}',
    "n_unclosed_array": b"[1,[2,[3]]",
    "n_unclosed_object": b'{"a":{"b":1}',
    "n_extra_close": b"[1]]",
    "n_two_values": b"{} {}",
    "n_bad_number": b"[01, 1., .5, -]",
    "n_bad_literal": b"[tru, nul]",
    "n_bad_escape": b'["\\x", "\\ud800"]',
    "n_control_char": b'["a\tb"]',
    "n_invalid_utf8": b'["\xff\xfe"]',
    "n_single_quote": b"{'a':1}",
    "n_comment": b'{"a":1} // c',
    "n_empty": b"",
    "n_whitespace": b" \n\t ",
    "n_bom": b'\xef\xbb\xbf{"a":1}',
    "n_lone_bracket": b"]",
    "n_colon_in_array": b"[1:2]",
    "n_object_key_number": b"{1:2}",
    "i_lone_surrogate_key": b'{"\\udc00":1}',
    "i_huge_exponent": b"[1e99999]",
    "i_utf16": "[\"a\"]".encode("utf-16-le"),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if not name.startswith("found-"):
            os.remove(os.path.join(OUT, name))
    for name, data in sorted(seeds.items()):
        if isinstance(data, str):
            data = data.encode()
        assert len(data) < 4096, name
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
