"""Helpers shared by the *-fixture.py scripts: running tshark and walking its JSON output."""
import re
import subprocess


def tshark_version():
    out = subprocess.run(["tshark", "--version"], check=True, capture_output=True, text=True).stdout
    first = out.splitlines()[0]
    m = re.match(r"(TShark \(Wireshark\) \S+?)(?: \(|\.?$)", first)
    return m.group(1) if m else first.strip()


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def find_all(obj, key):
    """Every value stored under KEY anywhere below OBJ (depth first, in order)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                out.extend(as_list(v))
            else:
                out.extend(find_all(v, key))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(find_all(v, key))
    return out


def first(obj, key):
    v = find_all(obj, key)
    return v[0] if v else None


def num(v):
    if v is None or v == "":
        return None
    return int(v, 16) if isinstance(v, str) and v.startswith("0x") else int(v)
