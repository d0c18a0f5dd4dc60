"""The fictional demo town (示例数据，非真实): a generator and the Chinese name lists it draws
from. Everything it makes is labelled fictional in the store's metadata."""

from __future__ import annotations

from .generator import generate_demo

__all__ = ["generate_demo"]
