"""Benchmark tasks: loaders, the test splitter, and code extraction from model output.

``load_tasks(name, split=None, path=None, limit=None)`` loads one of :data:`DATASETS`; every loader
returns :class:`Task` records whose tests run in order (see ``docs/task-format.md``).
"""

from egca.tasks.errors import DatasetError
from egca.tasks.extract import ExtractedCode, Program, build_program, extract_code
from egca.tasks.registry import DATASETS, default_data_dir, load_tasks
from egca.tasks.split import SplitTests, split_tests
from egca.tasks.task import MISSING, Task, TestCase

__all__ = [
    "DATASETS",
    "MISSING",
    "DatasetError",
    "ExtractedCode",
    "Program",
    "SplitTests",
    "Task",
    "TestCase",
    "build_program",
    "default_data_dir",
    "extract_code",
    "load_tasks",
    "split_tests",
]
