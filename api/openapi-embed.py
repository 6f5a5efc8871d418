#!/usr/bin/python3
"""Turn docs/openapi.yaml into the C source of the JSON egress-api serves.

Usage: openapi-embed.py docs/openapi.yaml > api/openapi_json.c

The YAML is read with python3-yaml, checked to be an OpenAPI 3.1 document
whose every "$ref" points at something in it, and written as compact JSON
into a NUL-terminated byte array, api_openapi_json (api/openapi.h). Exit 1,
naming the problem, when the document is not one.
"""
import json
import sys

import yaml


def refs(node, path="#"):
    """Yield (where, target) for every "$ref" in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            else:
                yield from refs(value, path + "/" + str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, path + "/" + str(i))


def resolve(doc, target):
    node = doc
    for part in target[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: openapi-embed.py openapi.yaml > openapi_json.c")
    source = sys.argv[1]
    try:
        with open(source, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        sys.exit(f"{source}: {e}")
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1"):
        sys.exit(f"{source}: not an OpenAPI 3.1 document")
    for where, target in refs(doc):
        if not target.startswith("#/") or not resolve(doc, target):
            sys.exit(f"{source}: {where}: $ref {target} points at nothing")
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    out = sys.stdout
    out.write("/* Generated from docs/openapi.yaml by api/openapi-embed.py: do not edit. */\n")
    out.write('#include "api/openapi.h"\n\n')
    out.write(f"const unsigned long api_openapi_json_len = {len(text)}UL;\n")
    out.write("const char api_openapi_json[] = {\n")
    for i in range(0, len(text), 16):
        out.write("    " + ", ".join(str(b) for b in text[i:i + 16]) + ",\n")
    out.write("    0};\n")


if __name__ == "__main__":
    main()
