"""Meaning as well as words: a small intent model learnt from the topics' alternate phrasings.

The lexical engine (:mod:`bot.core.answers`) only sees words a question shares with a topic. Staff say
"can we toss it" where the documentation says "throw away". Here every phrasing of a topic (its ``asks``,
title, FAQ question and keywords) becomes a vector: the mean of WordLlama's static token embeddings (256
dimensions, MIT licence, shipped inside the ``wordllama`` wheel, so nothing is downloaded), and a
multinomial logistic regression learns which topic each vector belongs to. At question time the model's
probabilities are added to the lexical scores of the topics the lexical engine already matched: it reorders
candidates, it never brings in a topic that shares no word with the question, and confidence (so abstention)
stays the lexical coverage.

Training needs numpy and runs when the answer index is built (then it is cached with it); answering does
not import numpy: the tokenizer (byte-pair encoding, as the model's own) and the weights are plain Python,
and each token's vector is read from the weights file by its offset.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import mmap
import os
import struct
import threading
from array import array
from collections.abc import Sequence
from functools import lru_cache
from operator import mul
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
# L2 strength (sklearn's C) and passes of full-batch Adam: chosen on the read question sets
C = 100.0
ITERATIONS = 120
LEARNING_RATE = 0.1
FIRST_REAL_ID = 3  # 0 <unk>, 1 <s>, 2 </s> carry no meaning
# byte-pair merging is quadratic in a word's length: a question's first 100 words, each cut at 40 characters,
# carry its meaning (Slack allows 4,000 characters and a pasted URL is one "word")
MAX_WORDS = 100
MAX_WORD_CHARS = 40
# words already split into tokens (indexing thousands of sections repeats the same few thousand words)
WORD_CACHE = 50_000


def model_files() -> tuple[Path, Path] | None:
    """(weights, tokenizer) inside the installed ``wordllama`` package, found without importing it (its
    ``__init__`` loads much more than two data files); None when the package or a file is missing."""
    try:
        spec = importlib.util.find_spec("wordllama")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    weights, tokenizer = root / WEIGHTS, root / TOKENIZER
    return (weights, tokenizer) if weights.is_file() and tokenizer.is_file() else None


class Embedder:
    """Text -> unit vector: byte-pair tokens (Llama's SentencePiece vocabulary), their vectors averaged."""

    def __init__(self, weights: Path, tokenizer: Path) -> None:
        spec = json.loads(tokenizer.read_text(encoding="utf-8"))["model"]
        self.vocab: dict[str, int] = dict(spec["vocab"])
        merges = spec["merges"]
        self.ranks: dict[str, int] = {(m if isinstance(m, str) else " ".join(m)): k for k, m in enumerate(merges)}
        self.weights = str(weights)
        st = weights.stat()
        with open(weights, "rb") as fh:
            first = fh.read(8)
            if len(first) != 8:
                raise ValueError(f"{weights.name} is too short to hold token vectors")
            head_len = struct.unpack("<Q", first)[0]
            if head_len > min(st.st_size - 8, 1 << 20):
                raise ValueError(f"{weights.name} has a damaged header")
            header = json.loads(fh.read(head_len))
        (name,) = [k for k in header if k != "__metadata__"]
        info = header[name]
        if info["dtype"] != "F16" or len(info["shape"]) != 2:
            raise ValueError(f"unexpected embedding layout in {weights.name}: {info['dtype']} {info['shape']}")
        self.rows, self.dim = int(info["shape"][0]), int(info["shape"][1])
        self.offset = 8 + head_len + int(info["data_offsets"][0])
        if self.offset + self.rows * self.dim * 2 > st.st_size:
            raise ValueError(f"{weights.name} is shorter than its header says")
        # the file this model was trained on: a different one later (an upgrade) must not be read as it
        self.stamp = (st.st_size, st.st_mtime_ns)
        self._row = struct.Struct(f"<{self.dim}e")
        self._map: mmap.mmap | None = None
        self._lock = threading.Lock()
        self._words: dict[str, list[int]] = {}

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_map"] = None  # an open file is not pickled; it is opened again on first use
        state.pop("_row", None)
        state.pop("_lock", None)
        state.pop("_words", None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._row = struct.Struct(f"<{self.dim}e")
        self._lock = threading.Lock()
        self._words = {}

    def _bpe(self, word: str) -> list[str]:
        parts = list(word)
        ranks = self.ranks
        while len(parts) > 1:
            best, at = None, -1
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + " " + parts[i + 1])
                if r is not None and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        return parts

    def ids(self, text: str) -> list[int]:
        """Token ids as the model's tokenizer gives them (a space becomes '▁'; pieces the vocabulary lacks fall
        back to their UTF-8 bytes)."""
        out: list[int] = []
        cache = self._words
        for w in text.replace("▁", " ").split()[:MAX_WORDS]:
            word = "▁" + w[:MAX_WORD_CHARS]  # a word starts at each '▁'; merges never cross one
            got = cache.get(word)
            if got is None:
                got = self._word_ids(word)
                if len(cache) < WORD_CACHE:
                    cache[word] = got
            out.extend(got)
        return out

    def _word_ids(self, word: str) -> list[int]:
        out: list[int] = []
        for piece in self._bpe(word):
            got = self.vocab.get(piece)
            if got is not None:
                out.append(got)
            else:
                raw = piece.encode("utf-8", "replace")  # a lone surrogate (undecodable input) is a '?'
                out.extend(self.vocab[b] for b in (f"<0x{x:02X}>" for x in raw) if b in self.vocab)
        return out

    def _open(self) -> mmap.mmap:
        with self._lock:
            if self._map is None:
                with open(self.weights, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    if (st.st_size, st.st_mtime_ns) != self.stamp:
                        raise ValueError(f"{Path(self.weights).name} changed since the answer index was built")
                    self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            return self._map

    def table(self) -> NDArray[np.float16]:
        """Every token's vector as one (read-only) numpy array over the file; for training only."""
        import numpy as np

        return np.frombuffer(self._open(), dtype="<f2", count=self.rows * self.dim,
                             offset=self.offset).reshape(self.rows, self.dim)

    def embed(self, text: str) -> list[float] | None:
        """The unit mean vector of the text's tokens, or None when it has none."""
        ids = [i for i in self.ids(text) if FIRST_REAL_ID <= i < self.rows]
        if not ids:
            return None
        data = self._open()
        size = self.dim * 2
        acc = [0.0] * self.dim
        for i in ids:
            row = self._row.unpack_from(data, self.offset + i * size)
            acc = [a + b for a, b in zip(acc, row, strict=True)]
        norm = math.sqrt(sum(a * a for a in acc))
        return [a / norm for a in acc] if norm else None


class IntentModel:
    """Which topic a question is about, learnt from (topic index, phrasing) examples."""

    def __init__(self, embedder: Embedder, classes: list[int], weights: list[array[float]], bias: list[float]) -> None:
        self.embedder = embedder
        self.classes = classes
        self.weights = weights  # one array of dim floats per class
        self.bias = bias

    @classmethod
    def train(cls, examples: Sequence[tuple[int, str]], files: tuple[Path, Path] | None = None
              ) -> IntentModel | None:
        """A model for these examples, or None (no model files, or fewer than two topics with phrasings)."""
        embedder = _installed(files)
        if embedder is None:
            return None
        import numpy as np

        kept, x_rows = _unit_means(embedder, [text for _, text in examples])
        labels = [examples[k][0] for k in kept]
        classes = sorted(set(labels))
        if len(classes) < 2:
            return None
        index = {c: k for k, c in enumerate(classes)}
        x = np.hstack([x_rows, np.ones((len(kept), 1), dtype=np.float32)])
        y = np.zeros((len(kept), len(classes)), dtype=np.float32)
        y[np.arange(len(kept)), [index[c] for c in labels]] = 1.0
        w = np.zeros((x.shape[1], len(classes)), dtype=np.float32)
        m, v = np.zeros_like(w), np.zeros_like(w)
        reg = np.ones((x.shape[1], 1), dtype=np.float32)
        reg[-1] = 0.0  # the bias is not shrunk
        for t in range(1, ITERATIONS + 1):  # full-batch Adam on cross-entropy + |w|^2 / 2C
            z = x @ w
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = x.T @ (p - y) + w * reg / C
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w -= LEARNING_RATE * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        weights = [array("d", w[:-1, k].tolist()) for k in range(len(classes))]
        bias = [float(b) for b in w[-1]]
        return cls(embedder, classes, weights, bias)

    def probabilities(self, text: str) -> dict[int, float]:
        """{topic index: probability}; empty when the text has no token with a vector."""
        vec = self.embedder.embed(text)
        return self.probabilities_of(vec) if vec is not None else {}

    def probabilities_of(self, vec: Sequence[float]) -> dict[int, float]:
        """{topic index: probability} for a text already embedded."""
        if len(vec) != len(self.weights[0]):
            raise ValueError(f"a vector of {len(vec)} numbers for a model of {len(self.weights[0])}")
        logits = [sum(map(mul, w, vec)) + b0 for w, b0 in zip(self.weights, self.bias, strict=True)]
        top = max(logits)
        exps = [math.exp(z - top) for z in logits]
        total = sum(exps)
        return {c: e / total for c, e in zip(self.classes, exps, strict=True)}


class SectionVectors:
    """What each indexed section is about, as one unit vector: its heading and the start of its text.

    The library's own pages have no phrasings to learn from, so a question's meaning is compared with each
    candidate section's directly. Vectors are kept as half floats in one block of bytes (512 bytes a section)
    and read back by row, so answering needs no numpy."""

    def __init__(self, embedder: Embedder, rows: dict[int, int], blob: bytes) -> None:
        self.embedder = embedder
        self.rows = rows  # topic index -> row in blob
        self.blob = blob
        self._row = struct.Struct(f"<{embedder.dim}e")

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_row", None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._row = struct.Struct(f"<{self.embedder.dim}e")

    @classmethod
    def build(cls, texts: Sequence[tuple[int, str]], files: tuple[Path, Path] | None = None) -> SectionVectors | None:
        """Vectors for (topic index, text) pairs; None without the token vectors or without any text."""
        embedder = _installed(files)
        if embedder is None:
            return None
        kept, vecs = _unit_means(embedder, [text for _, text in texts])
        if not kept:
            return None
        rows = {texts[k][0]: row for row, k in enumerate(kept)}
        return cls(embedder, rows, vecs.astype("<f2").tobytes())

    def similarity(self, vec: Sequence[float], d: int) -> float | None:
        """Cosine similarity of an embedded question with topic d; None when d has no vector."""
        row = self.rows.get(d)
        if row is None:
            return None
        values: tuple[float, ...] = self._row.unpack_from(self.blob, row * self._row.size)
        if len(vec) != len(values):
            raise ValueError(f"a vector of {len(vec)} numbers for sections of {len(values)}")
        return float(sum(map(mul, vec, values)))


def _installed(files: tuple[Path, Path] | None) -> Embedder | None:
    """The embedder over these (or the installed package's) token-vector files; None, with a warning, without."""
    files = files or model_files()
    if files is None:
        log.warning("semantic ranking off: the wordllama package (token vectors) is not installed")
        return None
    return _embedder(*files)


def _unit_means(embedder: Embedder, texts: Sequence[str]) -> tuple[list[int], NDArray[np.float32]]:
    """Each text's unit mean token vector, as embed() computes it but with numpy (for building and training):
    (the positions of the texts that have one, their vectors as rows)."""
    import numpy as np

    table = embedder.table()
    kept: list[int] = []
    rows: list[NDArray[np.float32]] = []
    for k, text in enumerate(texts):
        ids = [i for i in embedder.ids(text) if FIRST_REAL_ID <= i < embedder.rows]
        if not ids:
            continue
        vec = table[ids].astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(vec))
        if norm:
            kept.append(k)
            rows.append(vec / norm)
    return kept, np.asarray(rows, dtype=np.float32).reshape(len(rows), embedder.dim)


@lru_cache(maxsize=2)
def _embedder(weights: Path, tokenizer: Path) -> Embedder:
    return Embedder(weights, tokenizer)
