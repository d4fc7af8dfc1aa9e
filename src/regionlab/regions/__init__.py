"""Exact partitions of input-space domains (segments, paths, planes) into activation regions."""
