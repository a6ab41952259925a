#!/usr/bin/env python3
"""Seeds for fuzz_http: KServe v2 inference request bodies (JSON, binary extension), each
prefixed by the 3 bytes fuzz/fuzz_http.cpp reads (flags, header length little-endian)."""
import json
import os
import struct
import sys


def seed(flags, header_len, body):
    return bytes([flags]) + struct.pack("<H", header_len & 0xFFFF) + body


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = []
    j = {"id": "1", "inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32",
                                "data": [1.0, 2.5, -3.0]}],
         "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}
    seeds.append(seed(0, 0, json.dumps(j).encode()))
    j = {"inputs": [{"name": "frames", "shape": [1, 2, 2], "datatype": "FP32",
                     "data": [[[1, 2], [3, 4]]]}],
         "parameters": {"sequence_id": 18446744073709551615, "sequence_start": True}}
    seeds.append(seed(0, 0, json.dumps(j).encode()))
    j = {"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["ab", ""]},
                    {"name": "b", "shape": [2], "datatype": "BOOL", "data": [True, False]},
                    {"name": "i", "shape": [2], "datatype": "INT64", "data": [-1, 7]}],
         "parameters": {"sequence_id": "cam-1", "sequence_end": False}}
    seeds.append(seed(2, 0, json.dumps(j).encode()))
    raw = struct.pack("<4f", 1, 2, 3, 4)
    head = json.dumps({"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32",
                                   "parameters": {"binary_data_size": len(raw)}}]}).encode()
    seeds.append(seed(1, len(head), head + raw))
    for i, s in enumerate(seeds):
        with open(os.path.join(out, f"seed{i}"), "wb") as f:
            f.write(s)


if __name__ == "__main__":
    main(sys.argv[1])
