#!/usr/bin/env python3
"""Writes contexts.json: the context-signing vectors (docs/streaming.md, "Signed contexts").

Run once by hand (python3 generate.py); the TypeScript code under test plays no part.
Each `canonical` string is written out below by hand from the rules (RFC 8785), the
signature is Python's hmac over its UTF-8 bytes, and where Python's own json module
produces the same canonical form (no floats, no non-BMP object names) it is asserted too.
`context` is kept as JSON text, verbatim, so literals such as 1.0, -0 and 1e21 reach
the implementation under test as written.
"""
import hashlib
import hmac
import json
import os

SECRET = "sy-vector-secret-1b9d6bcd0b7a4e4c8f"

VECTORS = [
    ("key only", r'{"key":"u1"}', '{"key":"u1"}', True),
    ("the key plus an attribute the user added", r'{"key":"u1","email":"ceo@corp.example"}',
     '{"email":"ceo@corp.example","key":"u1"}', True),
    ("nested objects sorted, arrays kept in order, whitespace dropped",
     '{ "key": "u2", "plan": { "tier": "gold", "seats": 5, "addons": ["b", "a"] }, "beta": true, "score": null }',
     '{"beta":true,"key":"u2","plan":{"addons":["b","a"],"seats":5,"tier":"gold"},"score":null}', True),
    ("numbers as ECMAScript prints them",
     r'{"key":"n","a":1.0,"b":-0,"c":1e21,"d":1.5e-7,"e":0.1,"f":100,"g":123456789012345680000,"h":1E-6,"i":-2.50}',
     '{"a":1,"b":0,"c":1e+21,"d":1.5e-7,"e":0.1,"f":100,"g":123456789012345680000,"h":0.000001,"i":-2.5,"key":"n"}', False),
    ("string escapes: only quote, backslash and U+0000-U+001F; the rest is literal UTF-8",
     r'{"key":"\u00fc-\u20ac-\ud83d\ude00","s":"q\" b\\ t\t n\n c\u0001 f\f del\u007f ls\u2028 sl\/ e\u00e9"}',
     '{"key":"\u00fc-\u20ac-\U0001F600","s":"q\\" b\\\\ t\\t n\\n c\\u0001 f\\f del\u007f ls\u2028 sl/ e\u00e9"}', True),
    ("object names sorted by UTF-16 code units (U+1F600 before U+FB33)",
     r'{"\ufb33":6,"\ud83d\ude00":5,"\u20ac":4,"\u00e9":3,"a":2,"A":1,"1":0,"key":"k"}',
     '{"1":0,"A":1,"a":2,"key":"k","\u00e9":3,"\u20ac":4,"\U0001F600":5,"\uFB33":6}', False),
    ("targetingKey instead of key", r'{"targetingKey":"of-user","country":"GB"}',
     '{"country":"GB","targetingKey":"of-user"}', True),
    ("no key (refused where signatures are required)", r'{"country":"GB"}', '{"country":"GB"}', True),
    ("empty context (refused where signatures are required)", r'{}', '{}', True),
]

out = []
for name, context, canonical, python_agrees in VECTORS:
    if python_agrees:
        mine = json.dumps(json.loads(context), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert mine == canonical, (name, mine, canonical)
    sig = hmac.new(SECRET.encode("utf-8"), canonical.encode("utf-8"), hashlib.sha256).hexdigest()
    out.append((name, context, canonical, sig))

lines = [
    "{",
    '  "about": "Context signing: signature = hex(HMAC-SHA256(secret, UTF-8 bytes of canonical)); canonical = RFC 8785 JSON of the parsed context. Written by generate.py (Python hmac), see docs/streaming.md.",',
    f'  "secret": {json.dumps(SECRET)},',
    '  "vectors": [',
]
for i, (name, context, canonical, sig) in enumerate(out):
    lines.append("    {")
    lines.append(f"      \"name\": {json.dumps(name)},")
    lines.append(f"      \"context\": {context},")
    lines.append(f"      \"canonical\": {json.dumps(canonical)},")
    lines.append(f"      \"canonicalUtf8Hex\": \"{canonical.encode('utf-8').hex()}\",")
    lines.append(f"      \"signature\": \"{sig}\"")
    lines.append("    }" + ("," if i < len(out) - 1 else ""))
lines += ["  ]", "}", ""]
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "contexts.json"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines))
