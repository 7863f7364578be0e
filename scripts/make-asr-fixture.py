#!/usr/bin/env python3
"""Builds a small ASR dataset of real speech in the Hugging Face hub cache layout.

The result is what `huggingface-cli download openslr/librispeech_asr --repo-type
dataset` leaves in a cache (refs/main, snapshots/<commit>/README.md with the
dataset's `configs:`, snapshots/<commit>/clean/test/0000.parquet), with
LibriSpeech's own columns (file, audio{bytes, path}, text, speaker_id,
chapter_id, id) and its features metadata, so both audioperf and the
`datasets` library read it. The speech is espeak-ng speaking sentences,
resampled to 16 kHz mono and encoded as FLAC (LibriSpeech's format).

Rows, in order: the sentences below, then one clip longer than 30 s (speech
followed by silence: AIPerf skips clips over 30 s) and one row whose bytes are
not audio (an undecodable row).

Needs espeak-ng (apt), numpy, soundfile and pyarrow (pip).

    python3 scripts/make-asr-fixture.py fixtures/asr/hub
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

REPO = "openslr/librispeech_asr"
RATE = 16_000
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Benchmarks measure what a server does under load.",
    "Please transcribe this short sentence exactly.",
    "Speech recognition turns spoken words into text.",
    "Every request carries one clip of real speech.",
]
LONG_SENTENCE = "This clip is longer than thirty seconds, so it is skipped."
LONG_SECONDS = 31.5

README = """---
license: cc-by-4.0
configs:
- config_name: clean
  data_files:
  - split: test
    path: clean/test/*
dataset_info:
  config_name: clean
  features:
  - name: file
    dtype: string
  - name: audio
    dtype:
      audio:
        sampling_rate: 16000
  - name: text
    dtype: string
  - name: speaker_id
    dtype: int64
  - name: chapter_id
    dtype: int64
  - name: id
    dtype: string
---

A tiny stand-in for openslr/librispeech_asr (clean, test) made by
audioperf's scripts/make-asr-fixture.py: espeak-ng speech, not LibriSpeech.
"""


def speak(text: str) -> np.ndarray:
    """espeak-ng's speech for `text`, as float samples at 16 kHz."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", path, text], check=True)
        samples, rate = sf.read(path, dtype="float64")
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    # Linear interpolation is enough for a test corpus (espeak writes 22,050 Hz).
    n = int(round(len(samples) * RATE / rate))
    t = np.arange(n) * (rate / RATE)
    return np.interp(t, np.arange(len(samples)), samples)


def flac(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, RATE, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def row(i: int, audio: bytes, text: str) -> dict:
    name = f"1089-134686-{i:04d}.flac"
    return {
        "file": name,
        "audio": {"bytes": audio, "path": name},
        "text": text.upper(),
        "speaker_id": 1089,
        "chapter_id": 134686,
        "id": name[:-5],
    }


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "fixtures/asr/hub"
    rows = [row(i, flac(speak(s)), s) for i, s in enumerate(SENTENCES)]
    long = speak(LONG_SENTENCE)
    long = np.concatenate([long, np.zeros(int(LONG_SECONDS * RATE) - len(long))])
    rows.append(row(len(rows), flac(long), LONG_SENTENCE))
    rows.append(row(len(rows), b"this row's bytes are not audio", "UNDECODABLE"))

    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema(
        [
            ("file", pa.string()),
            ("audio", audio_type),
            ("text", pa.string()),
            ("speaker_id", pa.int64()),
            ("chapter_id", pa.int64()),
            ("id", pa.string()),
        ],
        metadata={
            "huggingface": json.dumps(
                {
                    "info": {
                        "features": {
                            "file": {"dtype": "string", "_type": "Value"},
                            "audio": {"sampling_rate": RATE, "_type": "Audio"},
                            "text": {"dtype": "string", "_type": "Value"},
                            "speaker_id": {"dtype": "int64", "_type": "Value"},
                            "chapter_id": {"dtype": "int64", "_type": "Value"},
                            "id": {"dtype": "string", "_type": "Value"},
                        }
                    }
                }
            )
        },
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    parquet = io.BytesIO()
    pq.write_table(table, parquet, compression="snappy")

    # A commit id derived from the content, so rebuilding identical data
    # gives the identical tree.
    commit = hashlib.sha1(parquet.getvalue() + README.encode()).hexdigest()
    repo_dir = os.path.join(out, "datasets--" + REPO.replace("/", "--"))
    snap = os.path.join(repo_dir, "snapshots", commit)
    os.makedirs(os.path.join(snap, "clean", "test"), exist_ok=True)
    os.makedirs(os.path.join(repo_dir, "refs"), exist_ok=True)
    with open(os.path.join(repo_dir, "refs", "main"), "w") as f:
        f.write(commit)
    with open(os.path.join(snap, "README.md"), "w") as f:
        f.write(README)
    with open(os.path.join(snap, "clean", "test", "0000.parquet"), "wb") as f:
        f.write(parquet.getvalue())
    print(f"{snap}: {len(rows)} rows, {len(parquet.getvalue())} bytes of parquet")


if __name__ == "__main__":
    main()
