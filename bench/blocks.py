"""Pieces shared by the bench report scripts (report.py, quant_report.py, text_eval.py)."""

import glob
import json
import os


def replace_block(path, block, begin, end, new_file="# Grape benchmarks\n"):
    """Puts `block` (which starts with `begin` and ends with `end`) between those markers in the file
    `path`, or appends it when the markers are absent; the rest of the file is kept. A missing file
    starts as `new_file`."""
    text = open(path).read() if os.path.exists(path) else new_file
    start, stop = text.find(begin), text.find(end)
    if start != -1 and stop != -1 and stop > start:
        text = text[:start] + block.rstrip("\n") + text[stop + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    if not text.endswith("\n"):
        text += "\n"
    with open(path, "w") as f:
        f.write(text)


def read_results(out_dir, required_keys, log):
    """(path, result) for every `*.json` in `out_dir` that parses to an object with all `required_keys`;
    the others are skipped with a message through `log`. Each result gets `_path` and `_mtime`."""
    for path in sorted(glob.glob(os.path.join(out_dir, "*.json"))):
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            log(f"skipping {path}: {e}")
            continue
        missing = [k for k in required_keys if k not in r] if isinstance(r, dict) else list(required_keys)
        if missing:
            log(f"skipping {path}: missing keys {missing}")
            continue
        r["_path"] = path
        r["_mtime"] = os.path.getmtime(path)
        yield path, r
