"""Pose files as frames: ``stgcn.sources.open(path)`` (MediaPipe JSON / CSV, OpenPose
``--write_json`` output, NTU ``.skeleton``, Kinetics-skeleton JSON, our JSONL; docs/sources.md).
Iterating a source yields frame dicts (``stream``, ``timestamp``, ``persons`` (P, V, 3),
``confidence`` (P, V), ``tracks``) that ``StreamRuntime.push_frame`` takes."""
from ._stgcn import Source, open_source

open = open_source  # noqa: A001  (stgcn.sources.open, as the issue and docs name it)

__all__ = ["Source", "open"]
