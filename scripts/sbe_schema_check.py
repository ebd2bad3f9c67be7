#!/usr/bin/env python3
"""Checks crates/protocol/sbe/spot-3.schema against a Binance SBE schema XML.

    python3 scripts/sbe_schema_check.py path/to/spot_3_5.xml

Every message, field, group, var data and enum value the project's file lists must match the XML
(ids, names, types, presence, sinceVersion, order, codes). The build never reads the XML: this is
how a person updating the schema checks the project's notation against Binance's file.
"""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SBE = "{http://fixprotocol.io/2016/sbe}"
MBX = "{https://developers.binance.com/docs/binance-spot-api-docs}"


def parse_ours(path):
    schema, enums, types, messages = None, {}, {}, {}
    stack = []
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        kind = words[0]
        if kind == "schema":
            schema = (int(words[1]), int(words[2]))
        elif kind == "type":
            types[words[1]] = words[2]
        elif kind == "enum":
            enums[words[1]] = {k: int(v) for k, v in (w.split("=") for w in words[2:])}
        elif kind == "message":
            attrs = dict(w.split("=") for w in words[3:])
            message = {"name": words[1], "id": int(words[2]), "since": int(attrs.get("since", 0)), "items": []}
            messages[message["name"]] = message
            stack = [message]
        elif kind == "group":
            group = {"kind": "group", "id": int(words[1]), "name": words[2], "dimension": words[3], "items": []}
            stack[-1]["items"].append(group)
            stack.append(group)
        elif kind == "end":
            stack.pop()
        elif kind in ("field", "data"):
            flags = set(w for w in words[4:] if "=" not in w)
            attrs = dict(w.split("=") for w in words[4:] if "=" in w)
            stack[-1]["items"].append({
                "kind": kind, "id": int(words[1]), "name": words[2], "type": words[3],
                "optional": "optional" in flags, "since": int(attrs.get("since", 0)),
                "json": attrs.get("json"),
            })
        else:
            raise SystemExit(f"unknown line: {raw}")
    return schema, enums, types, messages


def theirs_items(element):
    items = []
    for child in element:
        tag = child.tag.replace(SBE, "")
        if tag == "field":
            items.append({
                "kind": "field", "id": int(child.get("id")), "name": child.get("name"), "type": child.get("type"),
                "optional": child.get("presence") == "optional", "since": int(child.get("sinceVersion", 0)),
                "json": child.get(f"{MBX}jsonPath"),
            })
        elif tag == "data":
            items.append({
                "kind": "data", "id": int(child.get("id")), "name": child.get("name"), "type": child.get("type"),
                "optional": False, "since": int(child.get("sinceVersion", 0)), "json": child.get(f"{MBX}jsonPath"),
            })
        elif tag == "group":
            items.append({
                "kind": "group", "id": int(child.get("id")), "name": child.get("name"),
                "dimension": child.get("dimensionType", "groupSizeEncoding"), "items": theirs_items(child),
            })
    return items


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    ours = Path(__file__).resolve().parent.parent / "crates/protocol/sbe/spot-3.schema"
    schema, enums, types, messages = parse_ours(ours)
    root = ET.parse(sys.argv[1]).getroot()
    problems = []
    if (int(root.get("id")), int(root.get("version"))) != schema:
        problems.append(f"schema id/version: ours {schema}, XML {root.get('id')}:{root.get('version')}")
    xml_types = {t.get("name"): t.get("primitiveType") for t in root.iter("type") if t.get("primitiveType")}
    for name, primitive in types.items():
        if xml_types.get(name) != primitive:
            problems.append(f"type {name}: ours {primitive}, XML {xml_types.get(name)}")
    xml_enums = {e.get("name"): e for e in root.iter("enum")}
    for name, values in enums.items():
        e = xml_enums.get(name)
        if e is None:
            problems.append(f"enum {name}: not in the XML")
            continue
        theirs = {(v.get(f"{MBX}jsonValue") or v.get("name")): int(v.text) for v in e}
        if theirs != values:
            problems.append(f"enum {name}: ours {values}, XML {theirs}")
    xml_messages = {m.get("name"): m for m in root.iter(f"{SBE}message")}
    for name, message in messages.items():
        m = xml_messages.get(name)
        if m is None:
            problems.append(f"message {name}: not in the XML")
            continue
        if int(m.get("id")) != message["id"] or int(m.get("sinceVersion", 0)) != message["since"]:
            problems.append(f"message {name}: id/since differ")
        theirs = theirs_items(m)
        if theirs != message["items"]:
            problems.append(f"message {name}:\n  ours {message['items']}\n  XML  {theirs}")
    if problems:
        print("\n".join(problems))
        raise SystemExit(1)
    print(f"spot-3.schema matches {sys.argv[1]}: {len(messages)} messages, {len(enums)} enums, {len(types)} types")


if __name__ == "__main__":
    main()
