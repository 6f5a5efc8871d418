#!/usr/bin/python3
"""Check recorded egress-api answers against docs/openapi.yaml.

Usage: openapi-validate.py OPENAPI.yaml RECORDS.jsonl...

Each line of a records file is one answer the API tests received:
{"method", "path" (with its query), "status", "contentType", "body"}
(tests/api/client.c and tests/api/record.sh write them). Each is matched to
its path template and method, as egress-api routes it, and must be
documented there:

- a path no template matches is answered 404, a known path with an
  undocumented method 405, both with the error body;
- the status is one the operation lists;
- the media type is one the response lists, and a JSON body is valid
  against its schema (JSON Schema 2020-12, python3-jsonschema): no missing
  or undocumented member where the schema says additionalProperties false,
  no wrong type; a 304 and a HEAD carry no body;
- an answer of GET /api/openapi.json is the document itself.

Paths outside /api/ and /metrics (the review page's files) are not the
API's and are left out. Exit 0 when every answer conforms, 1 listing each
one that does not, 2 on bad input.
"""
import json
import re
import sys

import jsonschema
import yaml

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def load_document(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


class Routes:
    """The document's paths as egress-api matches them."""

    def __init__(self, doc):
        self.doc = doc
        self.templates = []
        for template, item in doc["paths"].items():
            rest = set()
            for param in item.get("parameters", []):
                if param.get("x-egress-rest-of-path"):
                    rest.add(param["name"])
            pattern = ""
            params = 0
            for part in re.split(r"(\{[^}]+\})", template):
                if part.startswith("{"):
                    params += 1
                    pattern += ".+" if part[1:-1] in rest else "[^/]+"
                else:
                    pattern += re.escape(part)
            self.templates.append((params, template, re.compile(pattern + r"\Z"), item))
        # A literal path before a template that also matches it
        # (/api/projects/create before /api/projects/{projectId}).
        self.templates.sort(key=lambda t: t[0])

    def match(self, path, method):
        """(template, operation) for method on path; operation None: known path, other method."""
        known = None
        for _, template, pattern, item in self.templates:
            if not pattern.match(path):
                continue
            known = known or template
            if method in item:
                return template, item[method]
        return known, None


def schema_validator(doc, schema):
    """A validator of schema whose "#/components/..." references resolve in doc."""
    root = dict(schema)
    root["components"] = doc.get("components", {})
    return jsonschema.Draft202012Validator(root)


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.routes = Routes(doc)
        self.error_schema = {"$ref": "#/components/schemas/Error"}
        self.failures = []
        self.checked = 0
        self.seen = set()

    def fail(self, rec, why):
        self.failures.append(f"{rec['method']} {rec['path']} -> {rec['status']}: {why}")

    def check_json(self, rec, schema, what):
        try:
            body = json.loads(rec["body"])
        except (TypeError, ValueError):
            self.fail(rec, f"{what}: the body is not JSON: {str(rec['body'])[:200]!r}")
            return
        errors = sorted(schema_validator(self.doc, schema).iter_errors(body), key=str)
        for e in errors[:5]:
            where = "/".join(str(p) for p in e.absolute_path) or "(the body)"
            self.fail(rec, f"{what}: at {where}: {e.message[:300]}")

    def check(self, rec):
        method = rec["method"].lower()
        path = rec["path"].split("?", 1)[0]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        if not (path.startswith("/api/") or path == "/metrics"):
            return
        self.checked += 1
        status = str(rec["status"])
        head = method == "head"
        template, op = self.routes.match(path, "get" if head else method)
        if template is None:
            if status != "404":
                self.fail(rec, "no path of the document matches, yet the answer is not 404")
            elif not head:
                self.check_json(rec, self.error_schema, "404 of an unknown path")
            return
        if op is None:
            if method == "options" and status == "204":
                return  # a CORS preflight (--cors-origin)
            if status != "405":
                self.fail(rec, f"{template} documents no {method.upper()}, yet the answer is not 405")
            elif not head:
                self.check_json(rec, self.error_schema, "405")
            return
        self.seen.add(f"{method.upper() if not head else 'GET'} {template}")
        responses = op.get("responses", {})
        response = responses.get(status, responses.get("default"))
        if response is None:
            self.fail(rec, f"status {status} is not documented for {method.upper()} {template} "
                      f"(documented: {', '.join(sorted(responses))})")
            return
        response = self.deref(response)
        content = response.get("content")
        body = rec.get("body") or ""
        if head or not content:
            if not head and body.strip():
                self.fail(rec, f"status {status} documents no body, yet one came: {body[:200]!r}")
            return
        ctype = (rec.get("contentType") or "").split(";")[0].strip().lower()
        if ctype not in content:
            self.fail(rec, f"media type {ctype or '(none)'} is not documented "
                      f"(documented: {', '.join(sorted(content))})")
            return
        schema = content[ctype].get("schema")
        if ctype == "application/json":
            self.check_json(rec, schema or {}, f"{method.upper()} {template} {status}")
            if template == "/api/openapi.json" and status == "200":
                try:
                    served = json.loads(body)
                except ValueError:
                    served = None
                if served != self.doc:
                    self.fail(rec, "the document served is not docs/openapi.yaml")

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            target = self.doc
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    doc = load_document(sys.argv[1])
    checker = Checker(doc)
    for name in sys.argv[2:]:
        with open(name, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError as e:
                    print(f"{name}:{n}: not a record: {e}", file=sys.stderr)
                    return 2
                checker.check(rec)
    operations = {f"{m.upper()} {t}" for t, item in doc["paths"].items() for m in item
                  if m in METHODS}
    untested = sorted(operations - checker.seen)
    print(f"{checker.checked} answers checked, {len(checker.seen)} of {len(operations)} "
          f"operations exercised")
    if untested:
        print("not exercised: " + "; ".join(untested))
    for failure in checker.failures:
        print("NOT AS DOCUMENTED: " + failure)
    return 1 if checker.failures or checker.checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
