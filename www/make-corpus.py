#!/usr/bin/env python3
"""Regenerates the demo corpus in www/data/ from the shared SciFact data.

    python3 www/make-corpus.py --data ../shared/data [--docs 1000] [--chars 600]

Reads DATA/scifact/corpus.jsonl (BEIR layout: {"_id", "title", "text"}) and
DATA/minilm384-scifact.base.fvecs (all-MiniLM-L6-v2 embeddings, row i = doc i
of corpus.jsonl) and writes, for the first --docs documents:

  data/corpus.json   {"dim", "count", "source", "license", "docs": [...]},
                     one doc per line: {"id", "title", "abstract", "words"}
                     (abstract cut at a word boundary to at most --chars
                     characters; words = word count of the full abstract)
  data/vectors.i8    count x dim signed bytes, row i = docs[i]: each
                     embedding scaled so that its largest |component| is 127
                     and rounded. The page searches by cosine, which ignores
                     a vector's length, so no scale is stored.

Standard library and numpy only. The output is deterministic.
"""

import argparse
import json
import os
import sys

import numpy as np

SOURCE = (
    "SciFact (Wadden et al., 2020, https://github.com/allenai/scifact), "
    "BEIR test corpus (https://github.com/beir-cellar/beir); embeddings: "
    "sentence-transformers/all-MiniLM-L6-v2 of title + abstract"
)
LICENSE = "CC BY-NC 2.0 (https://creativecommons.org/licenses/by-nc/2.0/): non-commercial use, with attribution"


def read_fvecs_rows(path, count):
    """The first `count` rows of a TEXMEX .fvecs file as a float32 array."""
    with open(path, "rb") as f:
        dim = int(np.frombuffer(f.read(4), dtype="<i4")[0])
        f.seek(0)
        raw = np.frombuffer(f.read(count * (dim + 1) * 4), dtype="<i4")
    if raw.size != count * (dim + 1):
        sys.exit(f"{path}: fewer than {count} rows")
    rows = raw.reshape(count, dim + 1)
    if not (rows[:, 0] == dim).all():
        sys.exit(f"{path}: rows of differing dimension")
    return rows[:, 1:].copy().view("<f4"), dim


def cut(text, limit):
    """`text` shortened to at most `limit` characters at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.") + "\u2026"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the shared data directory (holds scifact/)")
    ap.add_argument("--docs", type=int, default=1000, help="how many documents (from the start)")
    ap.add_argument("--chars", type=int, default=600, help="longest abstract kept, in characters")
    ap.add_argument("--out", default=os.path.join(here, "data"), help="output directory")
    args = ap.parse_args()

    docs = []
    with open(os.path.join(args.data, "scifact", "corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            if len(docs) == args.docs:
                break
            d = json.loads(line)
            docs.append({
                "id": int(d["_id"]),
                "title": " ".join(d["title"].split()),
                "abstract": cut(d["text"], args.chars),
                "words": len(d["text"].split()),
            })
    if len(docs) < args.docs:
        sys.exit(f"corpus.jsonl has only {len(docs)} documents")

    vectors, dim = read_fvecs_rows(os.path.join(args.data, "minilm384-scifact.base.fvecs"), args.docs)
    peak = np.abs(vectors).max(axis=1, keepdims=True)
    if not (peak > 0).all() or not np.isfinite(vectors).all():
        sys.exit("an embedding is zero or not finite")
    codes = np.clip(np.rint(vectors / peak * 127.0), -127, 127).astype(np.int8)
    # How much the int8 rounding moves each vector (cosine to the original).
    back = codes.astype(np.float64)
    orig = vectors.astype(np.float64)
    cos = (back * orig).sum(1) / (np.linalg.norm(back, axis=1) * np.linalg.norm(orig, axis=1))

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "vectors.i8"), "wb") as f:
        f.write(codes.tobytes())
    with open(os.path.join(args.out, "corpus.json"), "w", encoding="utf-8", newline="\n") as f:
        head = {"dim": dim, "count": len(docs), "source": SOURCE, "license": LICENSE}
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "docs": [\n')
        f.write(",\n".join(json.dumps(d, ensure_ascii=False) for d in docs))
        f.write("\n]}\n")

    sizes = {n: os.path.getsize(os.path.join(args.out, n)) for n in ("corpus.json", "vectors.i8")}
    print(f"{len(docs)} docs x {dim} dims -> {args.out}: "
          + ", ".join(f"{n} {s / 1e6:.2f} MB" for n, s in sizes.items())
          + f"; int8 cosine to the original: min {cos.min():.5f}, mean {cos.mean():.5f}")


if __name__ == "__main__":
    main()
