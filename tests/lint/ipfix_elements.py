#!/usr/bin/env python3
"""deploy/ipfix-elements.xml against what the exporter sends.

Reads the template's enterprise fields from userspace/telemetry/ipfix.cpp
(`{ID, LENGTH, kZeroSegPen},  // name`) and the element list of ipfix.h's
comment (`ID name type`), and fails unless the definitions file (libfds'
format) defines exactly those ids, each with the name the code gives it and
a data type that fits the length sent. --self-test first breaks a copy of
the file (an element dropped, a name changed, a type that does not fit) and
fails unless each break is named.
"""
import re
import sys
import xml.etree.ElementTree as ET

FIXED = {"unsigned8": 1, "unsigned16": 2, "unsigned32": 4, "unsigned64": 8}
VARIABLE = 65535


def sent(root):
    code = open(f"{root}/userspace/telemetry/ipfix.cpp").read()
    out = {}
    for m in re.finditer(r"\{(\d+),\s*(\w+),\s*kZeroSegPen\},\s*//\s*(\w+)", code):
        length = VARIABLE if m.group(2) == "kVariableLength" else int(m.group(2))
        out[int(m.group(1))] = (m.group(3), length)
    return out


def problems(xml_text, want):
    errs = []
    tree = ET.fromstring(xml_text)
    pen = tree.findtext("scope/pen")
    if pen != "32473":
        errs.append(f"scope pen is {pen}, the exporter sends 32473")
    have = {}
    for e in tree.findall("element"):
        have[int(e.findtext("id"))] = (e.findtext("name"), e.findtext("dataType"))
    for ie, (name, length) in sorted(want.items()):
        if ie not in have:
            errs.append(f"element {ie} ({name}) is sent but not defined")
            continue
        hname, htype = have[ie]
        if hname != name:
            errs.append(f"element {ie}: defined as {hname}, the exporter calls it {name}")
        fits = htype == "string" if length == VARIABLE else FIXED.get(htype) == length
        if not fits:
            errs.append(f"element {ie} ({name}): type {htype} does not fit the {length}-byte field sent")
    for ie in sorted(set(have) - set(want)):
        errs.append(f"element {ie} ({have[ie][0]}) is defined but never sent")
    return errs


def main():
    args = sys.argv[1:]
    self_test = "--self-test" in args
    root = [a for a in args if not a.startswith("--")][0]
    want = sent(root)
    if len(want) < 8:
        print(f"FAIL: found only {len(want)} enterprise fields in ipfix.cpp: the pattern no longer matches")
        return 1
    text = open(f"{root}/deploy/ipfix-elements.xml").read()
    if self_test:
        breaks = {
            "dropped": (re.sub(r"<element>\s*<id>8</id>.*?</element>", "", text, flags=re.S), "8 (communityId) is sent but not defined"),
            "renamed": (text.replace("<name>ruleId</name>", "<name>rule</name>"), "element 5: defined as rule"),
            "type": (text.replace("<name>verdict</name>\n        <dataType>unsigned8", "<name>verdict</name>\n        <dataType>unsigned16"), "element 3 (verdict): type unsigned16"),
        }
        for what, (broken, expect) in breaks.items():
            got = problems(broken, want)
            if not any(expect in e for e in got):
                print(f"FAIL: self-test: breaking the file ({what}) was not named: {got}")
                return 1
        print(f"self-test: {len(breaks)} breaks named")
    errs = problems(text, want)
    for e in errs:
        print(f"FAIL: deploy/ipfix-elements.xml: {e}")
    if not errs:
        print(f"ok: deploy/ipfix-elements.xml defines the {len(want)} enterprise elements sent")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
